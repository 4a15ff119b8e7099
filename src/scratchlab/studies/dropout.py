"""Study `dropout`: a from-scratch 1 x 400 MLP with dropout 0, 0.4 and 0.8 on 400 training images.

Every run is an `ExperimentConfig` with `engine: scratch` (a `scratch.MLP` with `scratch.Dropout`
after its hidden layer) and a scratch optimizer, on CIFAR-10 when it is found (400 class-balanced
training images, the 10,000 test images), else on the 10-class digits (400 training images, the
899 validation images). Training accuracy is measured on the 400 images in eval mode (no dropout).

    from scratchlab.studies import dropout
    result = dropout.run(quick=True)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pandas as pd

from scratchlab.experiments import ExperimentConfig, RunRecord
from scratchlab.studies.base import Study, StudyResult
from scratchlab.studies.common import auto_dataset, final
from scratchlab.util.stats import compare, mean_std
from scratchlab.viz import figure_and_axes, plot_exp_results

NAME = "dropout"
DESCRIPTION = ("scratch MLP (1 x 400) with dropout 0, 0.4, 0.8 on 400 training images: over- "
               "and underfitting")
LEARNING_RATES = {"cifar10": 0.01, "digits": 0.01}  # MomentumSGD
METRICS = ["train_acc", "test_acc", "gap", "best_test_acc", "train_loss", "test_loss"]


@dataclass(frozen=True)
class Settings:
    """Data sizes, model and budget."""

    dataset: str = "auto"  # auto: cifar10 when found, else digits
    data_root: str | None = None
    dropouts: tuple[float, ...] = (0.0, 0.4, 0.8)
    train_size: int = 400
    test_size: int = 10000  # CIFAR-10: the first test_size test images
    hidden: tuple[int, ...] = (400,)
    epochs: int = 30
    batch_size: int = 50
    optimizer: str = "momentum"
    lr: float | None = None  # None: LEARNING_RATES[dataset]
    reg: float = 0.0
    wstd: float = 0.05

    @classmethod
    def quick(cls) -> Settings:
        return cls(epochs=12, test_size=2000)

    def resolved(self) -> Settings:
        """The settings with `dataset` (auto -> cifar10 or digits) and `lr` decided."""
        dataset = auto_dataset(self.dataset, self.data_root)
        return replace(self, dataset=dataset, lr=self.lr or LEARNING_RATES.get(dataset, 0.01))


def configs(settings: Settings, seeds: list[int], device: str,
            runs_dir: Path) -> list[ExperimentConfig]:
    """One run per (dropout, seed); each measures its training accuracy without dropout."""
    cifar = settings.dataset == "cifar10"
    options = {"limit": max(settings.test_size, settings.train_size), "stratified": True}
    return [
        ExperimentConfig.create(
            run_name=f"dropout_p{p:g}_s{seed}", out_dir=runs_dir, seed=seed, device=device,
            dataset=settings.dataset, data_root=settings.data_root,
            dataset_options=options if cifar else {}, train_limit=settings.train_size,
            normalize=True, engine="scratch", optimizer_impl="scratch", model_type="mlp",
            hidden_dims=list(settings.hidden), dropout=p, model_options={"wstd": settings.wstd},
            optimizer=settings.optimizer, lr=settings.lr, reg=settings.reg, momentum=0.9,
            bs_train=settings.batch_size, bs_test=500, batches=None, epochs=settings.epochs,
            early_stopping=None, checkpoints=False, eval_train=True,
        )
        for seed in seeds for p in settings.dropouts
    ]


def row(run: RunRecord) -> dict:
    c, fit = run.config, run.fit
    train_acc, test_acc = run.summary["train_eval_acc"], final(fit.test_acc)
    return {
        "study": NAME, "experiment": "dropout", "run_name": c.run_name, "dropout": c.model.dropout,
        "dataset": c.data.dataset, "seed": c.seed, "train_acc": train_acc, "test_acc": test_acc,
        "gap": train_acc - test_acc, "best_test_acc": fit.best_test_acc,
        "train_loss": final(fit.epoch_mean("train_loss")),
        "test_loss": final(fit.epoch_mean("test_loss")),
    }


def findings(table: pd.DataFrame, train_size: int) -> list[str]:
    """Over- and underfitting from the table ("inconclusive": 95% intervals over seeds overlap)."""
    cells = table.groupby("dropout")[["train_acc", "test_acc", "gap"]].mean().sort_index()
    p0, p_max = cells.index[0], cells.index[-1]
    best, most_gap = cells.test_acc.idxmax(), cells.gap.idxmax()
    least_train = cells.train_acc.idxmin()
    low, high = cells.loc[p0], cells.loc[p_max]
    trend = "shrinks" if high.gap < low.gap else "does not shrink"
    top = table[table.dropout == best].test_acc
    vs_best = {p: compare(part.test_acc, top) for p, part in table.groupby("dropout") if p != best}
    versus = ", ".join(f"dropout {p:g} {c.mean_a:.1f}% ({c.difference:+.1f} points, "
                       f"{c.verdict()})" for p, c in vs_best.items())
    out = [
        f"Dropout {p0:g} fits the {train_size} training images to {low.train_acc:.1f}% and reaches "
        f"{low.test_acc:.1f}% on the test set: a gap of {low.gap:.1f} points.",
        f"From dropout {p0:g} to {p_max:g} the train-test gap {trend} ({low.gap:.1f} -> "
        f"{high.gap:.1f} points) and training accuracy goes {low.train_acc:.1f}% -> "
        f"{high.train_acc:.1f}%.",
        f"Best test accuracy: dropout {best:g} ({cells.test_acc[best]:.1f}%); {versus}.",
        f"Most overfitting (largest gap, {cells.gap[most_gap]:.1f} points): dropout {most_gap:g}.",
    ]
    if least_train != best and cells.test_acc[least_train] < cells.test_acc[best]:
        c = vs_best[least_train]
        out.append(f"Dropout {least_train:g} underfits: the lowest training accuracy "
                   f"({cells.train_acc[least_train]:.1f}%) and a test accuracy "
                   f"{-c.difference:.1f} points below the best ({c.verdict()}).")
    else:
        out.append(f"No rate underfits: the lowest training accuracy (dropout {least_train:g}) "
                   "comes with the best test accuracy.")
    return out


def make_figures(table: pd.DataFrame, runs: list[RunRecord]) -> dict:
    """Learning curves of the first seed (log-scale losses) and accuracies against the rate."""
    first = min(r.config.seed for r in runs)
    fits = {f"dropout {r.config.model.dropout:g}": r.fit for r in runs if r.config.seed == first}
    curves, _ = plot_exp_results(fits, log_loss=True)
    fig, ax = figure_and_axes(figsize=(5.5, 3.8))
    stats = table.groupby("dropout")[["train_acc", "test_acc"]].agg(["mean", "std"]).fillna(0)
    for column in ("train_acc", "test_acc"):
        ax.errorbar(stats.index, stats[(column, "mean")], yerr=stats[(column, "std")], marker="o",
                    capsize=4, label=column)
    ax.set(xticks=list(stats.index), xlabel="dropout probability", ylabel="accuracy (%)")
    ax.set_title("train (eval mode, 400 images) vs test", fontsize=9)
    ax.legend()
    return {"learning_curves": curves, "accuracy_vs_dropout": fig}


class Dropout(Study):
    """The study (see the module docstring); option `data_root`: where CIFAR-10 is.

    Quick mode: fewer epochs and (CIFAR-10) 2,000 test images; 5 seeds per rate (quick 1). Runs
    go to the output folder's runs/.
    """

    name, description = NAME, DESCRIPTION
    settings_class, threads = Settings, 1
    option_names = ("data_root",)

    def configs(self, quick: bool, seeds: list[int]) -> list[ExperimentConfig]:
        self.settings = self.settings_for(quick).resolved()
        return configs(self.settings, seeds, self.device, self.runs_dir)

    def analyze(self, records: list[RunRecord]) -> StudyResult:
        table = pd.DataFrame([row(r) for r in records])
        return StudyResult(
            NAME, table, mean_std(table, ["dropout"], METRICS), make_figures(table, records),
            findings(table, self.settings.train_size), settings=asdict(self.settings), notes=[
                "Accuracies in percent; gap = train_acc - test_acc. train_acc is measured after "
                "training in evaluation mode (no dropout); train_loss during training (with "
                "dropout)."])


STUDY = Dropout
run = Dropout.run  # run(quick, seeds, device, out_dir, **options)
