"""Object detection with ultralytics YOLO, offline: train, val, predict, grid search, COCO -> YOLO.

Needs the ``detect`` extra (``pip install 'scratchlab[detect]'``); ultralytics is imported only
when a model is loaded. The COCO conversion and the TACO mapping work without it. Names load on
first use, so the `scratchlab` command starts fast (the `.pyi` stub beside this file lists them).
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
