"""Figures drawn in worker processes: the same PNG bytes as drawn here, in order, whatever a
figure or a worker does."""

import subprocess
import sys
import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.ticker import FuncFormatter

from scratchlab.viz import HtmlReport, figure_and_axes, figure_to_png, render


@pytest.fixture(autouse=True)
def no_workers_left():
    yield
    render.stop_workers()


def figure(seed: int, title: str = "run $\\pm$ std"):
    fig, ax = figure_and_axes(figsize=(3, 2))
    ax.plot(np.random.default_rng(seed).standard_normal(50).cumsum(), label=f"seed {seed}")
    ax.set_title(title)
    ax.legend()
    return fig


def test_workers_draw_each_figure_as_it_is_drawn_here_in_order():
    figures = [figure(seed) for seed in range(4)]
    unpicklable = figure(9)
    unpicklable.axes[0].yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.1f}!"))
    figures.insert(2, unpicklable)  # drawn here, the others in the workers
    expected = [figure_to_png(fig) for fig in figures]
    assert len(set(expected)) == len(figures)
    assert render.draw_pngs(figures, workers=2) == expected
    assert render.start_workers(2) == 2  # still running, reused


def test_after_a_killed_worker_the_figures_are_drawn_here_then_by_fresh_workers():
    figures = [figure(seed) for seed in range(3)]
    render.start_workers(2)
    assert render._workers is not None
    for worker in list(render._workers.idle.queue):
        worker.process.kill()
        worker.process.wait()
    assert render.draw_pngs(figures, workers=2) == [figure_to_png(fig) for fig in figures]
    assert render._workers is None  # stopped, not restarted for every figure
    assert render.draw_pngs(figures, workers=2) == [figure_to_png(fig) for fig in figures]
    assert all(w.process.poll() is None for w in render._workers.idle.queue)


def test_a_figure_that_cannot_be_drawn_raises_its_own_error():
    figures = [figure(0), figure(1, title="$\\undefinedcommand$"), figure(2)]
    with pytest.raises(ValueError, match="undefinedcommand"):
        figure_to_png(figures[1])
    with pytest.raises(ValueError, match="undefinedcommand"):
        render.draw_pngs(figures, workers=2)


@pytest.mark.parametrize(("cores", "figures", "workers"), [
    (2, 10, 0), (4, 2, 0), (4, 3, 3), (16, 7, 7), (16, 20, render.MAX_DRAW_WORKERS),
    (16, None, render.MAX_DRAW_WORKERS), (5, None, 4)])
def test_workers_only_where_cores_and_figures_make_them_pay(monkeypatch, cores, figures,
                                                            workers):
    monkeypatch.setattr(render, "usable_cores", lambda: cores)
    assert render.default_workers(figures) == workers


def test_a_report_draws_its_figures_together_when_rendered(monkeypatch):
    batches = []
    draw = render.draw_pngs
    monkeypatch.setattr("scratchlab.viz.report.draw_pngs",
                        lambda figs: batches.append(len(figs)) or draw(figs, workers=2))
    figures = [figure(seed) for seed in range(3)]
    report = HtmlReport("t").heading("a").figure(figures[0]).paragraph("x")
    report.figure(figures[1]).figure(figures[2], close=False)
    assert batches == []  # nothing drawn yet
    page = report.render()
    assert batches == [3] and page.count("<img") == 3
    assert page.index("<h2>a</h2>") < page.index("<img") < page.index("<p>x</p>")
    assert report.png_of == {id(fig): figure_to_png(fig) for fig in figures}
    assert batches == [3]


def test_a_report_closes_a_pyplot_figure_at_once_and_draws_it_later():
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    expected = figure_to_png(fig)
    report = HtmlReport("t").figure(fig)
    assert fig.number not in plt.get_fignums()  # pyplot holds no figure of a long report
    assert report.png_of == {id(fig): expected}
    assert report.render().count("<img") == 1


def test_a_script_without_a_main_guard_is_not_run_again_by_the_workers(tmp_path):
    script = tmp_path / "plots.py"
    script.write_text(textwrap.dedent("""
        from scratchlab.viz import figure_and_axes, figure_to_png
        from scratchlab.viz.render import draw_pngs
        print("script ran")
        figures = []
        for i in range(3):
            fig, ax = figure_and_axes(figsize=(2, 2))
            ax.plot([0, i])
            figures.append(fig)
        assert draw_pngs(figures, workers=2) == [figure_to_png(f) for f in figures]
        print("drawn")
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["script", "ran", "drawn"]


def test_workers_import_what_this_process_can_import(tmp_path, monkeypatch):
    (tmp_path / "custom_artist.py").write_text(textwrap.dedent("""
        from matplotlib.lines import Line2D

        class ThickLine(Line2D):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, linewidth=6, **kwargs)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))  # only this process's sys.path knows the module
    from custom_artist import ThickLine

    figures = [figure(seed) for seed in range(3)]
    for fig in figures:
        fig.axes[0].add_line(ThickLine([0, 40], [0, 1]))
    expected = [figure_to_png(fig) for fig in figures]
    drawn_here = []
    monkeypatch.setattr(render, "figure_to_png", lambda *a: drawn_here.append(a) or b"")
    assert render.draw_pngs(figures, workers=2) == expected
    assert drawn_here == []  # every figure came back from a worker
