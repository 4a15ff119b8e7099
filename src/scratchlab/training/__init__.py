"""Training: the trainer loop, its callbacks, results, checkpoints and in-memory loaders.

Speed paths (CUDA graphs, the fast CIFAR recipe, many models at once, data-parallel runs) live in
`scratchlab.training.accel` and plug into this loop from outside. Names load on first use
(the `.pyi` stub beside this file lists them for editors).
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
