"""Datasets: CIFAR-10, digits, populations, edges, shapes, behind one `get_dataset` registry.

    from scratchlab.data import get_dataset
    train = get_dataset("cifar10", "train", root="~/data", limit=5000)

Dataset modules are imported on first use of their name; the names below load on first use too
(the `.pyi` stub beside this file lists them for editors).
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
