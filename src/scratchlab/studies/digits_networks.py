"""Study `digits-networks`: small `scratch.functional` networks on the binary digits task.

Four architectures (one layer + sigmoid; 64-32-1 ReLU; two linear layers with no activation
between; 64-32-16-8-1 ReLU), He initialisation, BCE and minibatch SGD, each trained twice from
the same weights and batches: with the hand-written backward (`network_backward` and the scratch
BCE backward) and with torch autograd. Then a learning-rate x batch-size x epochs grid for the
64-32-1 ReLU net. Digits 0-4 are class 0, 5-9 class 1 (`digits` with task binary).

These networks have one sigmoid output, BCE and He initialisation, which `run_experiment`'s
scratch engine (a `scratch.MLP` with cross-entropy) does not build; they are trained by the
project's `Trainer.fit` loop through a `FunctionalTrainer`.

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
        x, y = batch[0], batch[1]
        probs = self.model(x)
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
    out = {}
    for split in ("train", "valid"):
        x, y = get_dataset("digits", split, task="binary", flatten=True, normalize="global").tensors
        out[split] = (x.to(device), y.to(device))
    return out


def train(net: FunctionalNet, data: dict, lr: float, batch_size: int, epochs: int, seed: int,
          record: tuple[int, ...] = ()) -> dict[int, dict[str, float]]:
    """Train `net` with SGD; exact train/valid loss and accuracy after each epoch in `record` (NaN
    once diverged)."""
    (x, y), (xv, yv) = data["train"], data["valid"]
    records: dict[int, dict[str, float]] = {}

    class Record(Callback):  # exact metrics after the epochs in `record`
        def on_epoch_end(self, trainer, train_result, test_result) -> None:
            if trainer.epochs_done in record:
                (tl, ta), (vl, va) = net.evaluate(x, y), net.evaluate(xv, yv)
                records[trainer.epochs_done] = {"train_loss": tl, "train_acc": ta,
                                                "valid_loss": vl, "valid_acc": va}

    loader = TensorLoader(x, y, batch_size=batch_size, shuffle=True, seed=seed)
    with contextlib.suppress(TrainingDivergedError):  # the epochs not reached stay NaN
        FunctionalTrainer(net, lr).fit(loader, TensorLoader(xv, yv, batch_size=1024), epochs,
                                       print_every=0, callbacks=[Record()])
    return {e: records.get(e, dict.fromkeys(METRICS, math.nan)) for e in record}


def architecture_rows(data: dict, settings: Settings, seed: int,
                      device: torch.device) -> list[dict]:
    """Each architecture trained with both backward passes from the same initial weights."""
    rows = []
    for arch, layers in ARCHITECTURES.items():
        net = FunctionalNet(layers, torch.Generator().manual_seed(seed), "scratch", device)
        twin = net.clone("autograd")
        grad_diff = net.gradient_difference(*data["train"])
        metrics = {}
        for model in (net, twin):
            records = train(model, data, settings.lr, settings.batch_size, settings.epochs, seed,
                            (settings.epochs,))
            metrics[model.backward] = records[settings.epochs]
        param_diff = max(float((a - b).abs().max()) for a,
                         b in zip(net.tensors(), twin.tensors(), strict=True))
        params = sum(t.numel() for t in net.tensors())
        for backward, values in metrics.items():
            rows.append({
                "study": NAME, "experiment": "architectures",
                "run_name": f"{arch.replace(' ', '_')}_{backward}_s{seed}",
                "architecture": arch, "backward": backward, "lr": settings.lr,
                "batch_size": settings.batch_size,
                "epochs": settings.epochs, "seed": seed, "params": params, **values,
                "grad_diff": grad_diff, "param_diff": param_diff,
            })
    return rows


def grid_rows(data: dict, settings: Settings, seed: int, device: torch.device) -> list[dict]:
    """The 2-layer ReLU net over learning rate x batch size, read after each epoch count of the
    grid."""
    rows = []
    for lr, bs in itertools.product(settings.grid_lrs, settings.grid_batch_sizes):
        net = FunctionalNet(ARCHITECTURES[TWO_LAYER], torch.Generator().manual_seed(seed),
                            "scratch", device)
        records = train(net, data, lr, bs, max(settings.grid_epochs), seed, settings.grid_epochs)
        for epochs in settings.grid_epochs:
            rows.append({
                "study": NAME, "experiment": "grid",
                "run_name": f"grid_lr{lr:g}_bs{bs}_e{epochs}_s{seed}",
                "architecture": TWO_LAYER, "backward": "scratch", "lr": lr, "batch_size": bs,
                "epochs": epochs,
                "seed": seed, **records[epochs],
            })
    return rows


def findings(table: pd.DataFrame) -> list[str]:
    """Conclusions computed from the table (accuracies in percent)."""
    arch = table[table.experiment == "architectures"]
    ours = arch[arch.backward == "scratch"]
    acc = {name: part.valid_acc for name, part in ours.groupby("architecture")}
    out = []
    two = acc[TWO_LAYER]
    verdict = "meets" if two.mean() >= GOAL else "misses"
    out.append(f"The 64-32-1 ReLU net reaches {mean_text(two)}% validation accuracy: it {verdict} "
               f"the {GOAL:.0f}% goal.")
    c = compare(acc[LINEAR], acc[ONE_LAYER])
    relation = c.verdict("above", "below")
    out.append(
        f"Two linear layers without an activation against one layer: {c}, difference "
        f"{c.difference:+.1f} points: {relation}"
        + (" (no difference shown: a product of linear maps is one linear map)."
           if relation == "inconclusive" else ".")
    )
    best = max(acc, key=lambda k: acc[k].mean())
    out.append("Validation accuracy by architecture: "
               + ", ".join(f"{k} {v.mean():.1f}%" for k, v in acc.items()) + f"; best: {best}.")
    ref = arch[arch.backward == "autograd"].set_index(["architecture", "seed"]).valid_acc
    gap = (ours.set_index(["architecture", "seed"]).valid_acc - ref).abs().max()
    out.append(
        "Hand-written backward vs autograd: gradients differ by at most "
        f"{arch.grad_diff.max():.1e} at initialisation, "
        f"weights by at most {arch.param_diff.max():.1e} after training, validation accuracy by at "
        f"most {gap:.2f} points."
    )
    grid_rows = table[table.experiment == "grid"]
    if len(grid_rows):
        grid = grid_rows.groupby(["lr", "batch_size", "epochs"]).valid_acc.mean()
        (lr, bs, ep), (lr2, bs2, ep2) = grid.idxmax(), grid.idxmin()
        out.append(f"Grid: best lr={lr:g}, batch size {bs}, {ep} epochs ({grid.max():.1f}%); "
                   f"worst lr={lr2:g}, batch size {bs2}, {ep2} epochs ({grid.min():.1f}%).")
    return out


def make_figures(table: pd.DataFrame) -> dict:
    """Accuracy per architecture (both backward passes) and the grid as heat maps per epoch
    count."""
    arch = table[table.experiment == "architectures"]
    fig, axes = new_figure(1, 1, (8, 3.5))
    stats = arch.groupby(["architecture", "backward"],
                         sort=False)[["train_acc", "valid_acc"]].mean().unstack("backward")
    stats.plot.barh(ax=axes[0, 0])
    axes[0, 0].axvline(GOAL, color="grey", linestyle="--", linewidth=0.8)
    axes[0, 0].set_xlim(min(80, float(arch.valid_acc.min()) - 2), 100)
    axes[0, 0].set_xlabel("accuracy (%), mean over seeds")
    axes[0, 0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figures = {"architectures": fig}
    grid = table[table.experiment == "grid"]
    epochs = sorted(grid.epochs.unique())
    fig, axes = new_figure(1, len(epochs), (4, 3.2))
    for k, (ax, ep) in enumerate(zip(axes[0], epochs, strict=True)):
        at = grid[grid.epochs == ep]
        cells = at.groupby(["lr", "batch_size"]).valid_acc.mean().unstack("batch_size")
        image = ax.imshow(cells.to_numpy(), cmap="viridis", vmin=grid.valid_acc.min(),
                          vmax=grid.valid_acc.max())
        for (i, j), v in pd.DataFrame(cells.to_numpy()).stack().items():
            dark = v < (grid.valid_acc.min() + grid.valid_acc.max()) / 2
            ax.text(j, i, f"{v:.1f}", ha="center", va="center", color="white" if dark else "black",
                    fontsize=8)
        ax.set_xticks(range(cells.shape[1]), cells.columns)
        ax.set_yticks(range(cells.shape[0]), [f"{v:g}" for v in cells.index])
        ax.set_xlabel("batch size")
        ax.set_ylabel("learning rate" if k == 0 else "")
        ax.set_title(f"valid acc (%) after {ep} epochs", fontsize=9)
    fig.colorbar(image, ax=axes[0].tolist())
    figures["grid"] = fig
    return figures


class DigitsNetworks(Study):
    """The study (see the module docstring): functional networks trained by the shared loop.

    Args:
        quick: fewer epochs and a smaller grid.
        seeds: seeds per setting (default 5, quick 1); a seed draws the weights and batch order.
        device: auto, cpu or cuda.
        out_dir: output folder (default results/studies/digits-networks).
        settings: the budget (default: `Settings.quick()` or `Settings()`).
    """

    name, description = NAME, DESCRIPTION
    settings_class, threads = Settings, 1
    full_seeds, quick_seeds = 5, 1

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
