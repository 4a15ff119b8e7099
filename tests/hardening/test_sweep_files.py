"""Bad sweep YAML files: refused as a whole before the first run, nothing written."""

from __future__ import annotations

import pytest
import yaml

BASE = {"dataset": "digits", "test_split": "valid", "model_type": "mlp", "hidden_dims": [8],
        "epochs": 1, "batches": 1, "device": "cpu", "early_stopping": None}
DEEP = "{a: " * 100_000 + "1" + "}" * 100_000
NESTED = "{a: " * 900 + "1" + "}" * 900

# a mapping is dumped as YAML over a valid sweep (name x, BASE, out_dir sweep-out); a string is
# the whole file
SWEEPS = [
    "name: [unclosed", "just a string", "- a\n- list", "42", "", "~", "name: x\nname: y\n",
    "name: x\nbase: &a [*a]\n", "\t", "name: !!python/object/apply:os.system ['true']\n",
    "name: x\nbase: {dataset_options: " + DEEP + "}\n",
    "name: x\nout_dir: out\nbase: {dataset: digits, test_split: valid, dataset_options: "
    + NESTED + "}\n",
    {"name": None}, {"name": ""}, {"name": "bad name"}, {"name": ".."}, {"name": "."},
    {"name": "../up"}, {"name": "a/b"}, {"name": ".hidden"}, {"name": "x" * 300},
    {"name": 12}, {"name": ["x"]},
    {"bogus": 1}, {"base": "epochs: 3"}, {"base": [1, 2]}, {"grid": [1]}, {"grid": "lr"},
    {"grid": {"lr": 0.1}}, {"grid": {"lr": []}}, {"grid": {"learning_rate": [0.1]}},
    {"grid": {"seed": [1, 2]}}, {"grid": {"run_name": ["a"]}}, {"grid": {"out_dir": ["a"]}},
    {"grid": {"lr": [0.1, 0.1]}}, {"grid": {"lr": [-1, 0.1]}}, {"grid": {"lr": [0.1, "x"]}},
    {"grid": {"lr": [float("inf")]}}, {"grid": {"lr": [float("nan")]}},
    {"grid": {"filters_per_layer": [[0]]}}, {"grid": {"device": ["gpu"]}},
    {"grid": {"dropout": [0.5, 2.0]}}, {"grid": {"lr": [0.1, -1], "epochs": [1, 0]}},
    {"grid": {"lr": [0.01 * i for i in range(1, 101)], "bs_train": list(range(1, 101)),
              "reg": [0.001 * i for i in range(1, 101)]}},
    {"grid": {"dataset": ["digits", "nosuch"]}}, {"grid": {"model_type": ["mlp", "transformer"]}},
    {"grid": {"test_split": ["valid", "holdout"]}},
    {"grid": {"dataset_options": [{}, {"colour": "red"}]}},
    {"grid": {"hidden_dims": [[8], [100_000_000]]}},
    {"seeds": 0}, {"seeds": -1}, {"seeds": "two"}, {"seeds": 1.5}, {"seeds": 1_000_000_000},
    {"seeds": 100_000}, {"seeds": True},
    {"base": {"seed": 1.7}}, {"base": {"seed": "x"}}, {"base": {"seed": -1}},
    {"base": {"seed": 2**63}}, {"base": {"epochs": 0}}, {"base": {"epochz": 3}},
    {"base": {"optimizer": "nadam"}}, {"base": {"lr": float("inf")}},
    {"base": {"reg": float("nan")}}, {"base": {"epochs": "1e400"}},
    {"base": {"dataset": "nosuch"}}, {"base": {"dataset": "cifar10"}},
    {"base": {"dataset": "cifar10", "data_root": "missing"}},
    {"base": {"dataset": "edges", "test_split": "test", "dataset_options": {"data_per_class": 0}}},
    {"base": {"model_type": "mlp", "filters_per_layer": [32]}},
    {"base": {"model_type": "cnn", "filters_per_layer": [100_000], "layers_per_block": 1}},
    {"base": {"run_name": "x"}}, {"base": {"out_dir": "elsewhere"}},
    {"out_dir": [1, 2]}, {"out_dir": "file.txt"}, {"out_dir": "file.txt/sub"},
    {"out_dir": "readonly"}, {"out_dir": ""},
]


def sweep_text(content) -> str:
    if isinstance(content, str):
        return content
    data = {"name": "x", "out_dir": "sweep-out", **content}
    base = content.get("base", {})
    data["base"] = {**BASE, **base} if isinstance(base, dict) else base
    if isinstance(base, dict) and "model_type" in base and base["model_type"] != "mlp":
        data["base"].pop("hidden_dims")
    return yaml.safe_dump(data)


@pytest.mark.parametrize("content", SWEEPS, ids=lambda c: repr(c)[:60])
def test_sweep(content, refuse, work):
    (work / "file.txt").write_text("a file\n")
    (work / "readonly").mkdir()
    (work / "readonly").chmod(0o555)
    (work / "sweep.yaml").write_text(sweep_text(content))
    refuse(["sweep", "sweep.yaml"])


def test_sweep_out_dir_flag_that_is_a_file(refuse, work):
    (work / "file.txt").write_text("a file\n")
    (work / "sweep.yaml").write_text(sweep_text({}))
    refuse(["sweep", "sweep.yaml", "--out-dir", "file.txt"])


CASES = [*SWEEPS, "--out-dir file"]
