"""Study `digits-networks`: small `scratch.functional` networks on the binary digits task.

Four architectures (one layer + sigmoid; 64-32-1 ReLU; two linear layers with no activation
between; 64-32-16-8-1 ReLU), He initialisation, BCE and minibatch SGD, each trained twice from
the same weights and batches: with the hand-written backward (`network_backward` and the scratch
BCE backward) and with torch autograd. Then a learning-rate x batch-size x epochs grid for the
64-32-1 ReLU net. Digits 0-4 are class 0, 5-9 class 1 (`digits` with task binary). The
project's `Trainer.fit` loop trains them through a `FunctionalTrainer`: `run_experiment`'s
scratch engine builds cross-entropy MLPs, not these one-output BCE networks.

    from scratchlab.studies import digits_networks
    result = digits_networks.run(quick=True)
"""

from __future__ import annotations

import contextlib
import itertools
import math
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F

from scratchlab import optim
from scratchlab.data import get_dataset
from scratchlab.errors import TrainingDivergedError
from scratchlab.experiments import RunRecord
from scratchlab.scratch import FunctionalNet
from scratchlab.scratch.functional_net import Layer
from scratchlab.studies.base import Study, StudyResult
from scratchlab.studies.common import new_figure
from scratchlab.training import BatchResult, Callback, TensorLoader, Trainer
from scratchlab.util import progress, resolve_device
from scratchlab.util.stats import compare, mean_std, mean_text
from scratchlab.viz import annotated_heatmap

NAME = "digits-networks"
DESCRIPTION = ("scratch.functional nets on binary digits: depth, linearity, hand-written "
               "backward vs autograd")
ARCHITECTURES: dict[str, list[Layer]] = {
    "1-layer sigmoid": [(64, 1, "sigmoid")],
    "64-32-1 relu": [(64, 32, "relu"), (32, 1, "sigmoid")],
    "64-32-1 linear-linear": [(64, 32, None), (32, 1, "sigmoid")],
    "64-32-16-8-1 relu": [(64, 32, "relu"), (32, 16, "relu"), (16, 8, "relu"), (8, 1, "sigmoid")],
}
TWO_LAYER, LINEAR = "64-32-1 relu", "64-32-1 linear-linear"
ONE_LAYER, DEEP = "1-layer sigmoid", "64-32-16-8-1 relu"
GOAL = 95.0  # percent validation accuracy of the 2-layer ReLU net
METRICS = ["train_loss", "train_acc", "valid_loss", "valid_acc"]


class FunctionalTrainer(Trainer):
    """Minibatch SGD on a `FunctionalNet` with BCE; accuracy thresholds P(class 1) at 0.5."""

    def __init__(self, model: FunctionalNet, lr: float) -> None:
        super().__init__(model, optim.VanillaSGD(model.pairs(), learn_rate=lr))

    def train_batch(self, batch: Any) -> BatchResult:
        x, y = batch[0], batch[1]
        probs, loss = self.model.loss_and_grads(x, y)
        self.optimizer.step()
        return BatchResult(float(loss), int(((probs >= 0.5).long() == y).sum()))

    def test_batch(self, batch: Any) -> BatchResult:
        probs, y = self.model(batch[0]), batch[1]
        loss = F.binary_cross_entropy(probs, y.to(probs.dtype))
        return BatchResult(float(loss), int(((probs >= 0.5).long() == y).sum()))


@dataclass(frozen=True)
class Settings:
    """Training budget of the architecture comparison and the grid."""

    epochs: int = 30
    lr: float = 0.1
    batch_size: int = 32
    grid_lrs: tuple[float, ...] = (0.01, 0.1, 0.5)
    grid_batch_sizes: tuple[int, ...] = (8, 32, 128)
    grid_epochs: tuple[int, ...] = (5, 15, 40)

    @classmethod
    def quick(cls) -> Settings:
        return cls(epochs=15, grid_lrs=(0.01, 0.1), grid_batch_sizes=(16, 64), grid_epochs=(3, 10))


def load_digits(device: torch.device) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Binary digits, flattened to 64 features and normalised as the seed does (one mean and one
    std over every pixel of the training set): {"train": (x, y), "valid": (x, y)}."""
    splits = {s: get_dataset("digits", s, task="binary", flatten=True, normalize="global").tensors
              for s in ("train", "valid")}
    return {s: (x.to(device), y.to(device)) for s, (x, y) in splits.items()}


def train(net: FunctionalNet, data: dict, lr: float, batch_size: int, epochs: int, seed: int,
          record: tuple[int, ...] = ()) -> dict[int, dict[str, float]]:
    """Train `net` with SGD; exact METRICS after each epoch in `record` (NaN once diverged)."""
    (x, y), (xv, yv) = data["train"], data["valid"]
    records: dict[int, dict[str, float]] = {}

    class Record(Callback):  # exact metrics after the epochs in `record`
        def on_epoch_end(self, trainer, train_result, test_result) -> None:
            if trainer.epochs_done in record:  # METRICS: train loss, acc; valid loss, acc
                metrics = [*net.evaluate(x, y), *net.evaluate(xv, yv)]
                records[trainer.epochs_done] = dict(zip(METRICS, metrics, strict=True))

    loader = TensorLoader(x, y, batch_size=batch_size, shuffle=True, seed=seed)
    with contextlib.suppress(TrainingDivergedError):  # the epochs not reached stay NaN
        FunctionalTrainer(net, lr).fit(loader, TensorLoader(xv, yv, batch_size=1024), epochs,
                                       print_every=0, callbacks=[Record()])
    return {e: records.get(e, dict.fromkeys(METRICS, math.nan)) for e in record}


def _row(experiment: str, run_name: str, arch: str, backward: str, lr: float, batch_size: int,
         epochs: int, seed: int, **values: float) -> dict:
    return {"study": NAME, "experiment": experiment, "run_name": run_name, "architecture": arch,
            "backward": backward, "lr": lr, "batch_size": batch_size, "epochs": epochs,
            "seed": seed, **values}


def architecture_rows(data: dict, settings: Settings, seed: int,
                      device: torch.device) -> list[dict]:
    """Each architecture trained with both backward passes from the same initial weights."""
    rows = []
    lr, bs, epochs = settings.lr, settings.batch_size, settings.epochs
    for arch, layers in ARCHITECTURES.items():
        net = FunctionalNet(layers, torch.Generator().manual_seed(seed), "scratch", device)
        twin = net.clone("autograd")
        grad_diff = net.gradient_difference(*data["train"])
        metrics = {model.backward: train(model, data, lr, bs, epochs, seed, (epochs,))[epochs]
                   for model in (net, twin)}
        pairs = zip(net.tensors(), twin.tensors(), strict=True)
        param_diff = max(float((a - b).abs().max()) for a, b in pairs)
        rows += [_row("architectures", f"{arch.replace(' ', '_')}_{backward}_s{seed}", arch,
                      backward, lr, bs, epochs, seed, params=sum(t.numel() for t in net.tensors()),
                      **values, grad_diff=grad_diff, param_diff=param_diff)
                 for backward, values in metrics.items()]
    return rows


def grid_rows(data: dict, settings: Settings, seed: int, device: torch.device) -> list[dict]:
    """The 2-layer ReLU net over learning rate x batch size, read after each grid epoch count."""
    rows = []
    for lr, bs in itertools.product(settings.grid_lrs, settings.grid_batch_sizes):
        net = FunctionalNet(ARCHITECTURES[TWO_LAYER], torch.Generator().manual_seed(seed),
                            "scratch", device)
        records = train(net, data, lr, bs, max(settings.grid_epochs), seed, settings.grid_epochs)
        rows += [_row("grid", f"grid_lr{lr:g}_bs{bs}_e{epochs}_s{seed}", TWO_LAYER, "scratch", lr,
                      bs, epochs, seed, **records[epochs]) for epochs in settings.grid_epochs]
    return rows


def findings(table: pd.DataFrame) -> list[str]:
    """Conclusions computed from the table (accuracies in percent)."""
    arch = table[table.experiment == "architectures"]
    ours = arch[arch.backward == "scratch"]
    acc = {name: part.valid_acc for name, part in ours.groupby("architecture")}
    verdict = "meets" if acc[TWO_LAYER].mean() >= GOAL else "misses"
    c = compare(acc[LINEAR], acc[ONE_LAYER])
    relation = c.verdict("above", "below")
    why = " (no difference shown: a product of linear maps is one linear map)"
    best = max(acc, key=lambda k: acc[k].mean())
    ref = arch[arch.backward == "autograd"].set_index(["architecture", "seed"]).valid_acc
    gap = (ours.set_index(["architecture", "seed"]).valid_acc - ref).abs().max()
    out = [
        f"The 64-32-1 ReLU net reaches {mean_text(acc[TWO_LAYER])}% validation accuracy: it "
        f"{verdict} the {GOAL:.0f}% goal.",
        f"Two linear layers without an activation against one layer: {c}, difference "
        f"{c.difference:+.1f} points: {relation}{why if relation == 'inconclusive' else ''}.",
        "Validation accuracy by architecture: "
        + ", ".join(f"{k} {v.mean():.1f}%" for k, v in acc.items()) + f"; best: {best}.",
        "Hand-written backward vs autograd: gradients differ by at most "
        f"{arch.grad_diff.max():.1e} at initialisation, weights by at most "
        f"{arch.param_diff.max():.1e} after training, validation accuracy by at most {gap:.2f} "
        "points.",
    ]
    grid_part = table[table.experiment == "grid"]
    if len(grid_part):
        grid = grid_part.groupby(["lr", "batch_size", "epochs"]).valid_acc.mean()
        (lr, bs, ep), (lr2, bs2, ep2) = grid.idxmax(), grid.idxmin()
        out.append(f"Grid: best lr={lr:g}, batch size {bs}, {ep} epochs ({grid.max():.1f}%); "
                   f"worst lr={lr2:g}, batch size {bs2}, {ep2} epochs ({grid.min():.1f}%).")
    return out


def make_figures(table: pd.DataFrame) -> dict:
    """Accuracy per architecture (both backward passes); the grid: a heat map per epoch count."""
    arch = table[table.experiment == "architectures"]
    bars, axes = new_figure(1, 1, (8, 3.5))
    stats = arch.groupby(["architecture", "backward"], sort=False)[["train_acc", "valid_acc"]]
    stats.mean().unstack("backward").plot.barh(ax=axes[0, 0])
    axes[0, 0].axvline(GOAL, color="grey", linestyle="--", linewidth=0.8)
    axes[0, 0].set(xlim=(min(80, float(arch.valid_acc.min()) - 2), 100),
                   xlabel="accuracy (%), mean over seeds")
    axes[0, 0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    grid = table[table.experiment == "grid"]
    low, high = grid.valid_acc.min(), grid.valid_acc.max()
    epochs = sorted(grid.epochs.unique())
    fig, axes = new_figure(1, len(epochs), (4, 3.2))
    for k, (ax, ep) in enumerate(zip(axes[0], epochs, strict=True)):
        cells = grid[grid.epochs == ep].groupby(["lr", "batch_size"]).valid_acc.mean()
        image = annotated_heatmap(ax, cells.unstack("batch_size"), cmap="viridis", vmin=low,
                                  vmax=high, dark=lambda v: v < (low + high) / 2)
        ax.set(xlabel="batch size", ylabel="learning rate" if k == 0 else "")
        ax.set_title(f"valid acc (%) after {ep} epochs", fontsize=9)
    fig.colorbar(image, ax=axes[0].tolist())
    return {"architectures": bars, "grid": fig}


class DigitsNetworks(Study):
    """The study (see the module docstring): functional networks trained by the shared loop.

    Quick mode: fewer epochs and a smaller grid. A seed (default 5, quick 1) draws the weights
    and the batch order.
    """

    name, description = NAME, DESCRIPTION
    settings_class, threads = Settings, 1

    def analyze(self, records: list[RunRecord]) -> StudyResult:
        settings = self.settings_for(self.quick)
        dev = resolve_device(self.device)
        data = load_digits(dev)
        rows: list[dict] = []
        with self.cpu_threads():
            for seed in progress(self.seeds, desc="seeds"):
                rows += architecture_rows(data, settings, seed, dev)
                rows += grid_rows(data, settings, seed, dev)
        table = pd.DataFrame(rows)
        group = ["experiment", "architecture", "backward", "lr", "batch_size", "epochs"]
        return StudyResult(
            NAME, table, mean_std(table, group, METRICS), make_figures(table),
            findings(table), settings=asdict(settings), notes=[
                "Each network is trained by the project's Trainer.fit loop with a "
                "FunctionalTrainer: the scratch engine of a run builds cross-entropy MLPs, not "
                "these one-output BCE networks with He initialisation.",
                "Grid epochs are read from one run per (learning rate, batch size) after that "
                "many epochs."])


STUDY = DigitsNetworks
run = DigitsNetworks.run  # run(quick, seeds, device, out_dir, **options)
