"""Training: the trainer loop, callbacks, results, checkpoints, loaders (speed paths: `accel`)."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
