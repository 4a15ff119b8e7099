"""Study `backprop`: every scratch layer, loss and some deep Sequentials checked and timed.

Each case's hand-written backward is compared with torch autograd (`compare_to_autograd`, in
float32 and float64) and with central finite differences (`finite_difference_check`, float64).
Its forward + backward is then timed against the same forward differentiated by torch autograd.
A seed draws the inputs and the weights. No network is trained.

    from scratchlab.studies import backprop
    result = backprop.run(quick=True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import torch
from torch import Tensor

from scratchlab import scratch
from scratchlab.experiments import RunRecord
from scratchlab.studies.base import Study, StudyResult
from scratchlab.studies.common import new_figure
from scratchlab.util import progress, resolve_device
from scratchlab.util.stats import mean_std

NAME = "backprop"
DESCRIPTION = ("every scratch layer and loss checked against autograd and finite differences, "
               "and timed")
AUTOGRAD_TOL = 1e-8  # float64 norm of (backward - autograd)
FD_TOL = 1e-5  # max relative error against central differences
METRICS = ["autograd_diff_f32", "autograd_diff_f64", "fd_rel_error", "scratch_ms", "autograd_ms",
           "speed_ratio"]
Build = Callable[[int], tuple[scratch.Layer, Tensor, Tensor | None]]


def _labels(n: int, classes: int) -> Tensor:
    return torch.randint(0, classes, (n,))


def _deep_mlp(n: int):
    acts = [scratch.ReLU, scratch.TanH, scratch.Sigmoid, scratch.LeakyReLU]
    layers = [m for i in range(8) for m in (scratch.Linear(32, 32, wstd=0.3), acts[i % 4]())]
    net = scratch.Sequential(*layers, scratch.Linear(32, 10), scratch.CrossEntropyLoss())
    return net, torch.randn(n, 32), _labels(n, 10)


def _deep_cnn(n: int):
    seq = scratch.Sequential(
        scratch.Conv2d(3, 8, 3, padding=1), scratch.BatchNorm(8), scratch.ReLU(),
        scratch.MaxPool2d(2),
        scratch.Conv2d(8, 8, 3, padding=1), scratch.TanH(), scratch.AvgPool2d(2), scratch.Flatten(),
        scratch.Linear(8 * 4 * 4, 32), scratch.Dropout(0.3), scratch.Linear(32, 10),
        scratch.CrossEntropyLoss(),
    )
    return seq, torch.randn(n, 3, 16, 16), _labels(n, 10)


def _batchnorm_eval(n: int):
    layer = scratch.BatchNorm(32)
    layer(torch.randn(4 * n, 32) * 2 + 1)  # running statistics from one training batch
    return layer.eval(), torch.randn(n, 32), None


CASES: dict[str, Build] = {
    "Linear": lambda n: (scratch.Linear(64, 32), torch.randn(n, 64), None),
    "ReLU": lambda n: (scratch.ReLU(), torch.randn(n, 64), None),
    "LeakyReLU": lambda n: (scratch.LeakyReLU(0.1), torch.randn(n, 64), None),
    "Sigmoid": lambda n: (scratch.Sigmoid(), torch.randn(n, 64), None),
    "TanH": lambda n: (scratch.TanH(), torch.randn(n, 64), None),
    "Dropout": lambda n: (scratch.Dropout(0.5), torch.randn(n, 64), None),
    "Flatten": lambda n: (scratch.Flatten(), torch.randn(n, 3, 8, 8), None),
    "BatchNorm (N, C)": lambda n: (scratch.BatchNorm(32), torch.randn(n, 32), None),
    "BatchNorm (N, C, H, W)": lambda n: (scratch.BatchNorm(4), torch.randn(n, 4, 8, 8), None),
    "BatchNorm eval": _batchnorm_eval,
    "Conv2d": lambda n: (scratch.Conv2d(3, 8, 3, stride=2, padding=1),
                         torch.randn(n, 3, 16, 16), None),
    "MaxPool2d": lambda n: (scratch.MaxPool2d(2), torch.randn(n, 4, 16, 16), None),
    "AvgPool2d": lambda n: (scratch.AvgPool2d(2), torch.randn(n, 4, 16, 16), None),
    "CrossEntropyLoss": lambda n: (scratch.CrossEntropyLoss(), torch.randn(n, 10), _labels(n, 10)),
    "BCELoss": lambda n: (scratch.BCELoss(), torch.sigmoid(torch.randn(n, 8)),
                          torch.bernoulli(torch.full((n, 8), 0.5))),
    "BCEWithLogitsLoss": lambda n: (scratch.BCEWithLogitsLoss(), torch.randn(n, 8),
                                    torch.bernoulli(torch.full((n, 8), 0.5))),
    "MLP": lambda n: (scratch.MLP(64, 10, [32, 32], activation="tanh", dropout=0.2),
                      torch.randn(n, 64), None),
    "Sequential: 8 x (Linear, act) + CE": _deep_mlp,
    "Sequential: conv net + CE": _deep_cnn,
}


@dataclass(frozen=True)
class Settings:
    """Batch sizes and repetitions."""

    check_batch: int = 8
    time_batch: int = 128
    fd_samples: int = 40
    repeats: int = 20
    cases: dict[str, Build] = field(default_factory=lambda: dict(CASES))

    @classmethod
    def quick(cls) -> Settings:
        return cls(check_batch=4, time_batch=64, fd_samples=10, repeats=5)


def case_row(name: str, build: Build, seed: int, settings: Settings, device: torch.device) -> dict:
    """One case at one seed: its checks and timings."""
    torch.manual_seed(seed)
    layer, x, y = build(settings.check_batch)
    checks = scratch.check_layer(layer, x, y, settings.fd_samples)
    passed = checks["autograd_diff_f64"] <= AUTOGRAD_TOL and checks["fd_rel_error"] <= FD_TOL
    torch.manual_seed(seed)  # the same draws again, at the timing batch size
    return {
        "study": NAME, "experiment": "sequentials" if name.startswith("Sequential") else "layers",
        "run_name": f"{name}_s{seed}", "layer": name, "repr": repr(layer).splitlines()[0],
        "seed": seed, **checks, "passed": passed,
        **scratch.time_backward(*build(settings.time_batch), settings.repeats, device),
    }


def findings(table: pd.DataFrame) -> list[str]:
    """Conclusions computed from the table."""
    per_case = table.groupby("layer", sort=False).agg(
        passed=("passed", "all"), f64=("autograd_diff_f64", "max"), fd=("fd_rel_error", "max"),
        ratio=("speed_ratio", "median"))
    failed = per_case[~per_case.passed]
    if failed.empty:
        checks = (f"All {len(per_case)} cases pass over {table.seed.nunique()} seed(s): backward "
                  f"matches autograd within {table.autograd_diff_f64.max():.1e} (float64; "
                  f"{table.autograd_diff_f32.max():.1e} in float32) and finite differences "
                  f"within a relative error of {table.fd_rel_error.max():.1e}.")
    else:
        names = ", ".join(f"{k} (autograd {r.f64:.1e}, finite differences {r.fd:.1e})"
                          for k, r in failed.iterrows())
        checks = (f"{len(failed)} of {len(per_case)} cases FAIL (autograd tolerance "
                  f"{AUTOGRAD_TOL:g}, finite differences {FD_TOL:g}): {names}.")
    best, worst = per_case.ratio.idxmax(), per_case.ratio.idxmin()
    return [checks,
            "Scratch forward + backward is faster than autograd on the same forward for "
            f"{(per_case.ratio > 1).sum()} of {len(per_case)} cases; median time ratio "
            f"(autograd / scratch) {per_case.ratio.median():.2f}.",
            f"Largest ratio: {best} ({per_case.ratio[best]:.2f}x); smallest: {worst} "
            f"({per_case.ratio[worst]:.2f}x)."]


def make_figures(table: pd.DataFrame) -> dict:
    """Check errors and timings per case (medians over seeds)."""
    per_case = table.groupby("layer", sort=False)[METRICS].median()
    fig, axes = new_figure(1, 2, (6, 0.3 * len(per_case) + 1.5))
    left, right = axes[0]
    errors = per_case[["autograd_diff_f32", "autograd_diff_f64", "fd_rel_error"]].clip(lower=1e-20)
    errors.plot.barh(ax=left, logx=True)
    left.axvline(FD_TOL, color="grey", linestyle="--", linewidth=0.8, label="tolerances")
    left.axvline(AUTOGRAD_TOL, color="grey", linestyle="--", linewidth=0.8)
    left.set_title("backward errors (log; exact 0 drawn at 1e-20)")
    per_case[["scratch_ms", "autograd_ms"]].plot.barh(ax=right, logx=True)
    right.set(title="forward + backward, median ms (log)", yticklabels=[], ylabel="")
    for ax in (left, right):
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.06), ncol=2)
        ax.invert_yaxis()
    return {"checks_and_timings": fig}


class Backprop(Study):
    """The study (see the module docstring): it measures, it trains nothing.

    Quick mode: smaller batches, fewer finite-difference samples and timing repeats. A seed
    (default 5, quick 1) draws inputs and weights; timings run on `device`, checks on the CPU.
    """

    name, description = NAME, DESCRIPTION
    settings_class, threads = Settings, 1

    def analyze(self, records: list[RunRecord]) -> StudyResult:
        settings = self.settings_for(self.quick)
        dev = resolve_device(self.device)
        jobs = [(seed, name) for seed in self.seeds for name in settings.cases]
        with self.cpu_threads(), torch.random.fork_rng():
            rows = [case_row(name, settings.cases[name], seed, settings, dev)
                    for seed, name in progress(jobs, desc="cases")]
        table = pd.DataFrame(rows)
        view = {k: v for k, v in vars(settings).items() if k != "cases"}
        view.update(device=str(dev), cases=", ".join(settings.cases))
        return StudyResult(
            NAME, table, mean_std(table, ["experiment", "layer"], METRICS), make_figures(table),
            findings(table), settings=view,
            notes=["autograd_diff: norm of (backward - autograd) for the input and each parameter "
                   "gradient, the largest; fd_rel_error: largest relative error against central "
                   "differences (float64). Timings use one CPU thread on a CPU; speed_ratio = "
                   "autograd_ms / scratch_ms (above 1: the hand-written backward is faster)."])


STUDY = Backprop
run = Backprop.run  # run(quick, seeds, device, out_dir, **options)
