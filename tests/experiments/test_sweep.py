import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from scratchlab.errors import ScratchlabError
from scratchlab.experiments import expand, load_sweep, run_configs
from scratchlab.experiments.sweep import SweepSpec
from scratchlab.training import FitResult

from .conftest import TINY


def write_sweep(tmp_path, out_dir, grid=None, name="sw", seeds=1, base=None):
    spec = {
        "name": name,
        "out_dir": str(out_dir),
        "seeds": seeds,
        "base": {**TINY, "epochs": 4, **(base or {})},
        "grid": grid or {"hidden_dims": [[8], [16]], "lr": [0.01, 0.02]},
    }
    path = tmp_path / f"{name}_{out_dir.name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def cli(*args, **kwargs):
    return [sys.executable, "-m", "scratchlab", *map(str, args)]


def fits(directory):
    out = {}
    for path in sorted(Path(directory).glob("sw_*.json")):
        if not path.name.endswith(".sweep.json"):
            out[path.stem] = FitResult.from_dict(json.loads(path.read_text())["results"])
    return out


def test_names_follow_the_classic_convention():
    spec = SweepSpec(
        name="exp1_1",
        grid={"filters_per_layer": [[32], [64]], "layers_per_block": [2, 4]},
        base={"dataset": "digits"},
    )
    names = [c.run_name for c in expand(spec, "out")]
    assert names == ["exp1_1_L2_K32", "exp1_1_L4_K32", "exp1_1_L2_K64", "exp1_1_L4_K64"]
    spec = SweepSpec(name="lr", grid={"lr": [0.1, 0.01]}, seeds=2, base={"seed": 5})
    assert [c.run_name for c in expand(spec, "out")] == [
        "lr_lr0.1_s5",
        "lr_lr0.1_s6",
        "lr_lr0.01_s5",
        "lr_lr0.01_s6",
    ]


def test_killed_sweep_finishes_only_missing_runs_with_identical_numbers(tmp_path):
    env = {**os.environ, "SCRATCHLAB_QUIET": "1", "PYTHONUNBUFFERED": "1"}
    straight = tmp_path / "straight"
    subprocess.run(
        cli("sweep", write_sweep(tmp_path, straight)),
        check=True,
        env=env,
        capture_output=True,
        timeout=300,
    )
    killed = tmp_path / "killed"
    sweep_file = write_sweep(tmp_path, killed)
    proc = subprocess.Popen(cli("sweep", sweep_file), stdout=subprocess.PIPE, text=True, env=env)
    finished = []
    for line in proc.stdout:
        if line.strip().startswith("ok"):
            finished.append(line.split()[1])
        if len(finished) == 2:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    times = {name: (killed / f"{name}.json").stat().st_mtime_ns for name in finished}
    rerun = subprocess.run(
        cli("sweep", sweep_file), check=True, env=env, capture_output=True, text=True, timeout=300
    )
    statuses = dict(
        line.split()[:2][::-1] for line in rerun.stdout.splitlines() if line.startswith("  ")
    )
    assert all(statuses[name] == "done" for name in finished)
    assert sorted(s for s in statuses.values() if s != "done") == ["ok"] * (4 - len(finished))
    assert {name: (killed / f"{name}.json").stat().st_mtime_ns for name in finished} == times
    assert fits(killed) == fits(straight) and len(fits(straight)) == 4
    compare = subprocess.run(
        cli("results", "compare", killed), check=True, env=env, capture_output=True, text=True
    )
    assert sum(name in compare.stdout for name in fits(killed)) == 4


def test_a_model_that_cannot_take_the_input_is_refused_before_any_run(tmp_path):
    grid = {"pool_every": [1, 6]}
    base = {"model_type": "cnn", "filters_per_layer": [4], "layers_per_block": 6,
            "hidden_dims": [8], "epochs": 1}
    configs = expand(load_sweep(write_sweep(tmp_path, tmp_path / "out", grid=grid, base=base)))
    with pytest.raises(ScratchlabError, match="cannot take a map"):
        run_configs(configs)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.json"))


def test_a_failing_run_is_recorded_and_the_others_finish(tmp_path):
    grid = {"lr": [1e-3, 1e30]}  # the second diverges: its loss becomes NaN while training
    base = {"model_type": "mlp", "hidden_dims": [8], "epochs": 1}
    configs = expand(load_sweep(write_sweep(tmp_path, tmp_path / "out", grid=grid, base=base)))
    outcomes = run_configs(configs)
    assert [o.status for o in outcomes] == ["ok", "failed"]
    failed = json.loads((tmp_path / "out" / f"{outcomes[1].config.run_name}.json").read_text())
    assert failed["status"] == "failed" and "loss became nan" in failed["error"]
    with pytest.raises(ScratchlabError, match="fail-fast"):
        run_configs(configs, fail_fast=True)


@pytest.fixture
def one_thread():
    """Workers run with one thread each; CPU float sums are bit-identical only for equal thread
    counts."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_local_processes_give_the_same_numbers(tmp_path, one_thread):
    one = expand(load_sweep(write_sweep(tmp_path, tmp_path / "one")))
    two = expand(load_sweep(write_sweep(tmp_path, tmp_path / "two")))
    run_configs(one)
    assert [o.status for o in run_configs(two, jobs=2)] == ["ok"] * 4
    assert fits(tmp_path / "one") == fits(tmp_path / "two")


def test_threads_give_the_same_numbers(tmp_path, one_thread):
    one = expand(load_sweep(write_sweep(tmp_path, tmp_path / "one")))
    threads = expand(load_sweep(write_sweep(tmp_path, tmp_path / "two")))
    run_configs(one)
    assert [o.status for o in run_configs(threads, executor="threads", jobs=3)] == ["ok"] * 4
    assert fits(tmp_path / "one") == fits(tmp_path / "two")


def test_ray_workers_elsewhere_send_every_record_to_the_driver(tmp_path, one_thread, monkeypatch):
    """Ray workers run in another working directory (so the relative out_dir is another folder
    for them): the driver still writes every results file, with the numbers of local runs."""
    ray = pytest.importorskip("ray", reason="Ray is the optional extra scratchlab[distributed]")
    driver, worker = tmp_path / "driver", tmp_path / "worker"
    driver.mkdir()
    worker.mkdir()
    monkeypatch.chdir(driver)
    local = expand(load_sweep(write_sweep(tmp_path, tmp_path / "local")))
    remote = expand(load_sweep(write_sweep(tmp_path, Path("ray"))))
    run_configs(local)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"working_dir": str(worker)},
    )
    try:
        records = run_configs(remote, executor="ray")
    finally:
        ray.shutdown()
    assert [r.status for r in records] == ["ok"] * 4
    assert fits(driver / "ray") == fits(tmp_path / "local") and len(fits(driver / "ray")) == 4
    # the runs' checkpoints stayed where the workers ran: not in the driver's folder
    assert (tmp_path / "local" / "checkpoints").is_dir()
    assert not (driver / "ray" / "checkpoints").exists()
