"""Study `gradient-descent`: plain gradient descent on a function with several local minima.

f(x, y) = x^2 + y^2 + x (y + 2) + cos(3x), minimised from (3, 2) with its analytic gradient:
constant step sizes and step counts, then decaying ones, eta_t = eta0 d^t (`optim.VanillaSGD`
with `ExponentialDecay`), each compared with the global minimum scipy.optimize finds. It trains no
network (no configs); gradient descent is deterministic, so every setting runs once (seed 0).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
from scipy import optimize

from scratchlab import optim
from scratchlab.experiments import RunRecord
from scratchlab.studies.base import Study, StudyResult
from scratchlab.studies.common import new_figure
from scratchlab.util.stats import mean_std
from scratchlab.viz import annotated_heatmap

NAME = "gradient-descent"
DESCRIPTION = ("gradient descent on x^2 + y^2 + x(y + 2) + cos(3x): step size, steps, "
               "exponential decay")
START = (3.0, 2.0)
TOLERANCE = 0.01
DIVERGED = 100.0  # radius beyond which a run counts as diverged
METRICS = ["f_final", "gap"]


def f(p: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """f(x, y) = x^2 + y^2 + x (y + 2) + cos(3x), over the last axis of `p` (numpy or torch)."""
    x, y = p[..., 0], p[..., 1]
    cos = torch.cos if isinstance(p, torch.Tensor) else np.cos
    return x**2 + y**2 + x * (y + 2) + cos(3 * x)


def grad_f(p: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """The analytic gradient (2x + y + 2 - 3 sin 3x, 2y + x), over the last axis of `p`."""
    x, y = p[..., 0], p[..., 1]
    lib = torch if isinstance(p, torch.Tensor) else np
    return lib.stack([2 * x + y + 2 - 3 * lib.sin(3 * x), 2 * y + x], -1)


def global_minimum(box: float = 5.0) -> tuple[np.ndarray, float]:
    """(argmin, min) of f: a brute-force grid over [-box, box]^2, polished by BFGS."""
    start = optimize.brute(lambda p: float(f(np.asarray(p))), [(-box, box)] * 2, Ns=201,
                           finish=None)
    res = optimize.minimize(lambda p: float(f(p)), start, jac=grad_f, method="BFGS", tol=1e-12)
    return np.asarray(res.x), float(res.fun)


def local_minimum(p: np.ndarray) -> np.ndarray:
    """The local minimum that BFGS reaches from `p` (the basin `p` lies in)."""
    return np.asarray(optimize.minimize(lambda q: float(f(q)), p, jac=grad_f, method="BFGS").x)


def descend(lr0: float, steps: int, decay: float = 1.0,
            start: tuple[float, float] = START) -> np.ndarray:
    """The points (steps + 1, 2) of gradient descent with step size lr0 * decay^t at step t.

    Stops early (the rest NaN) once a point leaves the ball of radius `DIVERGED` around the origin,
    where f exceeds 200 times its value at the start: descent never gets there.
    """
    point = torch.tensor(start, dtype=torch.float64)
    grad = torch.zeros_like(point)
    optimizer = optim.VanillaSGD([(point, grad)], learn_rate=lr0)
    schedule = optim.ExponentialDecay(optimizer, lr0=lr0, decay=decay)
    path = np.full((steps + 1, 2), np.nan)
    path[0] = start
    for t in range(1, steps + 1):
        grad.copy_(grad_f(point))
        optimizer.step()
        schedule.step()
        if not torch.isfinite(point).all() or float(point.norm()) > DIVERGED:
            break
        path[t] = point.numpy()
    return path


@dataclass(frozen=True)
class Settings:
    """The grids of one study run."""

    step_sizes: tuple[float, ...] = (0.01, 0.03, 0.1, 0.15, 0.2, 0.3, 0.7)
    steps: tuple[int, ...] = (10, 30, 100, 300, 1000)
    decay_lr0: tuple[float, ...] = (0.1, 0.15, 0.2, 0.3)
    decays: tuple[float, ...] = (0.9, 0.95, 0.99, 0.995)
    decay_steps: int = 300

    @classmethod
    def quick(cls) -> Settings:
        return cls(steps=(10, 30, 100, 300), decay_steps=100)


def _row(experiment: str, lr0: float, steps: int, decay: float, path: np.ndarray, f_star: float,
         x_star: np.ndarray) -> dict:
    end = path[steps]
    diverged = not np.isfinite(end).all()
    value = math.nan if diverged else float(f(end))
    basin = np.full(2, np.nan) if diverged else local_minimum(end)
    last, before = end - path[steps - 1], path[steps - 1] - path[steps - 2]
    return {
        "study": NAME, "experiment": experiment,
        "run_name": f"{experiment}_lr{lr0:g}_d{decay:g}_n{steps}", "lr0": lr0, "decay": decay,
        "steps": steps, "seed": 0, "x": end[0], "y": end[1], "f_final": value,
        "gap": value - f_star,
        "dist_to_min": float(np.linalg.norm(end - x_star)),
        "last_move": float(np.linalg.norm(last)), "oscillates": bool(np.dot(last, before) < 0),
        "reached": bool(value - f_star <= TOLERANCE), "diverged": diverged, "basin_x": basin[0],
        "basin_y": basin[1], "basin_f": math.nan if diverged else float(f(basin)),
    }


def run_grid(settings: Settings) -> tuple[pd.DataFrame, dict[str, np.ndarray], np.ndarray, float]:
    """(table, paths by run name, argmin, min): every setting of both experiments."""
    x_star, f_star = global_minimum()
    rows, paths = [], {}
    longest = max(settings.steps)
    for lr in settings.step_sizes:
        path = descend(lr, longest)  # a shorter run is this run's prefix: read every count from it
        paths[f"constant_lr{lr:g}"] = path
        rows += [_row("constant", lr, n, 1.0, path, f_star, x_star) for n in settings.steps]
    for lr0 in settings.decay_lr0:
        for decay in settings.decays:
            path = descend(lr0, settings.decay_steps, decay)
            paths[f"decay_lr{lr0:g}_d{decay:g}"] = path
            rows.append(_row("decay", lr0, settings.decay_steps, decay, path, f_star, x_star))
    return pd.DataFrame(rows), paths, x_star, f_star


def findings(table: pd.DataFrame, x_star: np.ndarray, f_star: float) -> list[str]:
    """The study's conclusions, every number read from `table` and the computed minimum."""
    out = [f"scipy.optimize finds the global minimum f* = {f_star:.4f} at ({x_star[0]:.3f}, "
           f"{x_star[1]:.3f})."]
    for experiment, label in (("constant", "constant"), ("decay", "decaying")):
        part = table[table.experiment == experiment]
        hits = part[part.reached]
        if experiment == "decay":
            text = ", ".join(f"eta0={r.lr0:g} d={r.decay:g}" for r in hits.itertuples())
        else:  # the fewest steps that reach it, per step size
            text = ", ".join(f"eta={lr:g} with >= {n} steps"
                             for lr, n in hits.groupby("lr0")["steps"].min().items())
        out.append(f"{len(hits)} of {len(part)} settings with {label} step sizes end within "
                   f"{TOLERANCE} of f*: {text or 'none'}.")
    finite = table[~table.diverged]
    if len(finite):
        best = finite.loc[finite.f_final.idxmin()]
        decay_text = f", d={best.decay:g}" if best.experiment == "decay" else ""
        out.append(f"Best value found: f = {best.f_final:.4f} ({best.gap:.2g} above f*) with "
                   f"eta0={best.lr0:g}{decay_text} after {best.steps} steps.")
    missed = finite[~finite.reached & (finite.basin_f - f_star > TOLERANCE)]
    if len(missed):
        basins = missed.groupby([missed.basin_x.round(2), missed.basin_y.round(2)])
        parts = [f"{len(g)} at the local minimum f = {g.basin_f.iloc[0]:.4f} near ({bx:.2f}, "
                 f"{by:.2f})" for (bx, by), g in basins]
        out.append("Settings that miss stop in another basin: " + "; ".join(parts) + ".")
    constant = finite[finite.experiment == "constant"]
    longest = constant[constant.steps == constant.steps.max()]
    restless = longest[~longest.reached & longest.oscillates & (longest.last_move > 1e-6)]
    if len(restless):
        moves = ", ".join(f"eta={r.lr0:g} (last step {r.last_move:.2g} long)"
                          for r in restless.itertuples())
        out.append(f"Constant step sizes that still oscillate after {int(longest.steps.max())} "
                   f"steps: {moves}.")
    diverged = table[table.diverged]
    if len(diverged):
        out.append(f"{diverged.lr0.nunique()} step size(s) diverge: eta0 = "
                   f"{', '.join(f'{v:g}' for v in sorted(diverged.lr0.unique()))}.")
    return out


def _paths_figure(table: pd.DataFrame, paths: dict[str, np.ndarray], x_star: np.ndarray,
                  settings: Settings):
    fig, axes = new_figure(1, 2, (7, 5.5))
    best_decay = table[(table.experiment == "decay") & ~table.diverged].sort_values("f_final")[:3]
    panels = {"constant step sizes (diverged runs left out)":
              [f"constant_lr{lr:g}" for lr in settings.step_sizes],
              "decaying step sizes (best three)":
              [f"decay_lr{r.lr0:g}_d{r.decay:g}" for r in best_decay.itertuples()]}
    xs, ys = np.meshgrid(np.linspace(-3.5, 3.5, 300), np.linspace(-2.5, 3.0, 300))
    for ax, (title, names) in zip(axes[0], panels.items(), strict=True):
        ax.contour(xs, ys, f(np.stack([xs, ys], axis=-1)), levels=30, cmap="viridis",
                   linewidths=0.6)
        ax.plot(*START, "ko", label="start (3, 2)")
        ax.plot(*x_star, "r*", markersize=14, label="global minimum")
        for name in names:
            path = paths[name]
            if np.isfinite(path).all() and np.abs(path).max() < 10:
                ax.plot(path[:, 0], path[:, 1], ".-", markersize=2, linewidth=0.8, label=name)
        ax.set(xlabel="x", ylabel="y", xlim=(-3.5, 3.5), ylim=(-2.5, 3.0), title=title)
        ax.legend(fontsize=7, loc="upper left")
    return fig


def _curves_figure(paths: dict[str, np.ndarray], f_star: float, settings: Settings):
    fig, axes = new_figure(1, 2, (6, 4))
    curves = {"constant": [(f"lr{lr:g}", f"C{i}", "-") for i, lr in enumerate(settings.step_sizes)],
              "decay": [(f"lr{lr0:g}_d{d:g}", f"C{i}", ("-", "--", ":", "-.")[j % 4])
                        for i, lr0 in enumerate(settings.decay_lr0)
                        for j, d in enumerate(settings.decays)]}
    for ax, (prefix, lines) in zip(axes[0], curves.items(), strict=True):
        for label, colour, style in lines:
            gap = np.maximum(f(paths[f"{prefix}_{label}"]) - f_star, 1e-12)
            ax.plot(np.arange(1, len(gap) + 1), gap, style, color=colour, linewidth=0.9,
                    label=label)
        ax.axhline(TOLERANCE, color="grey", linestyle="--", linewidth=0.8)
        ax.set(xscale="log", yscale="log", xlabel="step + 1", ylabel="f - f* (log)",
               title=f"{prefix} step size")
        ax.legend(fontsize=6, ncol=2)
    return fig


def _heatmaps_figure(table: pd.DataFrame):
    fig, axes = new_figure(1, 2, (5.5, 4))
    for ax, (experiment, col) in zip(axes[0], (("constant", "steps"), ("decay", "decay")),
                                     strict=True):
        grid = table[table.experiment == experiment].pivot(index="lr0", columns=col, values="gap")
        image = annotated_heatmap(
            ax, grid, np.log10(np.clip(grid.to_numpy(dtype=float), 1e-12, None)), fontsize=7,
            text=lambda v: "div" if np.isnan(v) else f"{v:.2g}",  # NaN: a diverged run
            dark=lambda v: bool(v > 1e-3), cmap="magma_r", aspect="auto", vmin=-12, vmax=2)
        ax.set(xlabel=col, ylabel="eta0", title=f"{experiment}: f_final - f* (colour: log10)")
        fig.colorbar(image, ax=ax)
    return fig


class GradientDescent(Study):
    """The study (see the module docstring): deterministic, one run per setting (seed 0), so
    `seeds` and `device` are ignored; quick mode: at most 300 constant and 100 decayed steps."""

    name, description = NAME, DESCRIPTION
    settings_class = Settings
    full_seeds, quick_seeds = 1, 1

    def analyze(self, records: list[RunRecord]) -> StudyResult:
        settings = self.settings_for(self.quick)
        table, paths, x_star, f_star = run_grid(settings)
        figures = {"contours_and_paths": _paths_figure(table, paths, x_star, settings),
                   "learning_curves": _curves_figure(paths, f_star, settings),
                   "gap_heatmaps": _heatmaps_figure(table)}
        return StudyResult(
            NAME, table, mean_std(table, ["experiment", "lr0", "decay", "steps"], METRICS),
            figures, findings(table, x_star, f_star),
            settings={"start": START, "tolerance": TOLERANCE, **asdict(settings)},
            notes=["Gradient descent from a fixed start is deterministic: each setting runs once "
                   "(seed 0); more seeds would repeat the same numbers."])


STUDY = GradientDescent
run = GradientDescent.run  # run(quick, seeds, device, out_dir, **options)
