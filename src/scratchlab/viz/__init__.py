"""Plots and the HTML report.

Names load on first use (`viz.render`, which worker processes import to draw figures, needs
matplotlib alone); the `.pyi` stub beside this file lists them for editors.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
