"""Speed paths plugged into the loop from outside: CUDA graphs, the fast recipe, vmap, DDP."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
