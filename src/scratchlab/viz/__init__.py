"""Plots and the HTML report."""

from scratchlab.viz.fit import plot_fit

__all__ = ["plot_fit"]
