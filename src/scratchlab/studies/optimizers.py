"""Study `optimizers`: VanillaSGD, MomentumSGD, RMSProp and Adam on a from-scratch 5 x 128 MLP.

    from scratchlab.studies import optimizers
    result = optimizers.run(quick=True)   # CIFAR-10 from $SCRATCHLAB_DATA, else digits
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd

from scratchlab.experiments import ExperimentConfig, RunRecord
from scratchlab.studies.base import Study, StudyResult
from scratchlab.studies.common import auto_dataset, final, new_figure
from scratchlab.util.stats import compare, mean_std, mean_text
from scratchlab.viz import plot_exp_results

NAME = "optimizers"
DESCRIPTION = ("VanillaSGD, MomentumSGD, RMSProp, Adam (scratch) on a 5 x 128 scratch MLP; "
               "overfit check")
LABELS = {"sgd": "VanillaSGD", "momentum": "MomentumSGD", "rmsprop": "RMSProp", "adam": "Adam"}
WSTD = {"cifar10": 0.05, "digits": 0.15}  # initial weight std: 3,072 or 64 inputs
CLASSIC_RANGE = (35.0, 40.0)  # CIFAR-10 test accuracy the classic assignment expects
MOMENTUM = ("momentum", "adam")  # the optimizers with a momentum (Adam's beta1): 0.9
METRICS = ["train_acc", "test_acc", "best_test_acc", "train_loss", "test_loss"]


@dataclass(frozen=True)
class Settings:
    """Budget, model and learning rates of the comparison and of the overfit check."""

    dataset: str = "auto"  # auto: cifar10 when found, else digits
    data_root: str | None = None
    epochs: int = 10
    batches: int = 100
    batch_size: int = 50
    hidden: tuple[int, ...] = (128,) * 5
    wstd: float | None = None  # None: WSTD[dataset]
    reg: float = 1e-3
    limit: int | None = None  # first `limit` images of each split (quick runs)
    lrs: dict[str, float] = field(default_factory=lambda: {
        "sgd": 0.05, "momentum": 0.01, "rmsprop": 3e-4, "adam": 3e-4})
    overfit_samples: int = 20
    overfit_epochs: int = 60
    overfit_lr: float = 0.2

    @classmethod
    def quick(cls) -> Settings:
        return cls(epochs=4, batches=40, limit=2000, overfit_epochs=40)

    def resolved(self) -> Settings:
        """The settings with `dataset` (auto -> cifar10 or digits) and `wstd` decided."""
        dataset = auto_dataset(self.dataset, self.data_root)
        wstd = WSTD.get(dataset, 0.1) if self.wstd is None else self.wstd  # 0.0 stays 0.0
        return replace(self, dataset=dataset, wstd=wstd)


def configs(settings: Settings, seeds: list[int], device: str,
            runs_dir: Path) -> list[ExperimentConfig]:
    """One run per (optimizer, seed), then one overfit run per seed."""
    cifar = settings.limit and settings.dataset == "cifar10"
    base = dict(
        out_dir=runs_dir, device=device, dataset=settings.dataset, data_root=settings.data_root,
        dataset_options={"limit": settings.limit, "stratified": True} if cifar else {},
        normalize=True, engine="scratch", optimizer_impl="scratch", model_type="mlp",
        hidden_dims=list(settings.hidden), model_options={"wstd": settings.wstd},
        reg=settings.reg, bs_train=settings.batch_size, bs_test=100, batches=settings.batches,
        epochs=settings.epochs, early_stopping=None, checkpoints=False,
    )
    runs = [
        ExperimentConfig.create(**base, run_name=f"opt_{opt}_s{seed}", seed=seed, optimizer=opt,
                                lr=lr, **({"momentum": 0.9} if opt in MOMENTUM else {}))
        for seed in seeds for opt, lr in settings.lrs.items()
    ]
    overfit = dict(base, bs_train=settings.overfit_samples, batches=None,
                   epochs=settings.overfit_epochs, train_limit=settings.overfit_samples,
                   test_limit=1000, reg=0.0, eval_train=True)
    if settings.dataset == "cifar10":  # decode only what the check uses
        overfit["dataset_options"] = {"limit": 1000, "stratified": True}
    return runs + [
        ExperimentConfig.create(**overfit, run_name=f"overfit_sgd_s{seed}", seed=seed,
                                optimizer="sgd", lr=settings.overfit_lr)
        for seed in seeds
    ]


def row(run: RunRecord) -> dict:
    c, fit = run.config, run.fit
    overfit = c.run_name.startswith("overfit")
    out = {
        "study": NAME, "experiment": "overfit" if overfit else "optimizers",
        "run_name": c.run_name, "optimizer": LABELS[c.optim.optimizer], "lr": c.optim.lr,
        "dataset": c.data.dataset, "seed": c.seed,
        "train_acc": run.summary["train_eval_acc"] if overfit else final(fit.train_acc),
        "test_acc": final(fit.test_acc), "best_test_acc": fit.best_test_acc,
        "train_loss": final(fit.epoch_mean("train_loss")),
        "test_loss": final(fit.epoch_mean("test_loss")),
        "train_seconds": run.timings.train_seconds,
    }
    if overfit:
        out["epochs_to_100"] = next((i + 1 for i, a in enumerate(fit.train_acc) if a >= 100), None)
    return out


def findings(table: pd.DataFrame, overfit_samples: int = 20) -> list[str]:
    """Conclusions from the table ("inconclusive": the 95% intervals over seeds overlap)."""
    main = table[table.experiment == "optimizers"]
    dataset = main.dataset.iloc[0]
    acc = {name: part.test_acc for name, part in main.groupby("optimizer", sort=False)}
    text = ", ".join(f"{k} {mean_text(v)}%" for k, v in acc.items())
    out = [f"Final test accuracy on {dataset}: {text}."]
    for name in [n for n in ("MomentumSGD", "RMSProp") if n in acc and "VanillaSGD" in acc]:
        c = compare(acc[name], acc["VanillaSGD"])
        out.append(f"{name} vs VanillaSGD: {c}, difference {c.difference:+.1f} points: "
                   f"{c.verdict('above', 'below')}.")
    best = max(acc, key=lambda k: acc[k].mean())
    out.append(f"Best: {best} ({acc[best].mean():.1f}%).")
    if dataset == "cifar10":
        low, high = CLASSIC_RANGE
        inside = ", ".join(k for k, v in acc.items() if low <= v.mean() <= high) or "none"
        above = ", ".join(k for k, v in acc.items() if v.mean() > high) or "none"
        below = ", ".join(k for k, v in acc.items() if v.mean() < low) or "none"
        out.append(f"Classic expectation {low:.0f}-{high:.0f}%: inside {inside}; above {above}; "
                   f"below {below}.")
    over = table[table.experiment == "overfit"]
    if len(over):
        hit = over.epochs_to_100.notna()
        first = f", first at epoch {int(over.epochs_to_100.min())}" if hit.any() else ""
        out.append(f"Overfit check: VanillaSGD fits the {overfit_samples} training samples to 100% "
                   f"in {int(hit.sum())} of {len(over)} seed(s){first}; accuracy on them after the "
                   f"last epoch: {over.train_acc.min():.0f}% at worst.")
    return out


def make_figures(table: pd.DataFrame, runs: list[RunRecord], overfit_samples: int = 20) -> dict:
    """Learning curves of the first seed, final test accuracy per optimizer, the overfit curve."""
    first = min(r.config.seed for r in runs)
    fits = {LABELS[r.config.optim.optimizer]: r.fit for r in runs
            if r.config.seed == first and r.config.run_name.startswith("opt_")}
    curves_fig, _ = plot_exp_results(fits, log_loss=True)
    fig, axes = new_figure(1, 2, (5, 3.5))
    bars, curves = axes[0]
    main = table[table.experiment == "optimizers"].groupby("optimizer", sort=False).test_acc
    bars.bar(list(main.groups), main.mean(), yerr=main.std().fillna(0), capsize=4,
             color=[f"C{i}" for i in range(len(main))])
    bars.set_ylabel("final test accuracy (%)")
    bars.set_title("mean and std over seeds", fontsize=9)
    for r in runs:
        if r.config.run_name.startswith("overfit"):
            curves.plot(range(1, len(r.fit.train_acc) + 1), r.fit.train_acc,
                        label=f"seed {r.config.seed}")
    curves.set(xlabel="epoch", ylabel="training accuracy (%)")
    curves.set_title(f"overfit check: VanillaSGD on {overfit_samples} samples", fontsize=9)
    curves.legend(fontsize=7)
    fig.tight_layout()
    return {"learning_curves": curves_fig, "test_accuracy_and_overfit": fig}


class Optimizers(Study):
    """The study (see the module docstring); option `data_root`: where CIFAR-10 is."""

    name, description = NAME, DESCRIPTION
    settings_class, threads = Settings, 1
    option_names = ("data_root",)

    def configs(self, quick: bool, seeds: list[int]) -> list[ExperimentConfig]:
        self.settings = self.settings_for(quick).resolved()
        return configs(self.settings, seeds, self.device, self.runs_dir)

    def analyze(self, records: list[RunRecord]) -> StudyResult:
        table = pd.DataFrame([row(r) for r in records])
        summary = mean_std(table, ["experiment", "optimizer", "lr"], METRICS)
        return StudyResult(
            NAME, table, summary, make_figures(table, records, self.settings.overfit_samples),
            findings(table, self.settings.overfit_samples), settings=asdict(self.settings),
            notes=["Accuracies in percent. train_acc of the comparison is the last epoch's "
                   "running accuracy; of the overfit check, the trained model's accuracy on its "
                   "training samples."])


STUDY = Optimizers
run = Optimizers.run  # run(quick, seeds, device, out_dir, **options)
