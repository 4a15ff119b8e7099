"""Everything that exists only for speed, plugged into the training loop from outside.

- `cuda_graph`: the training step captured once as a CUDA graph (`GraphedClassifierTrainer`).
- `launch`: runs sharing one GPU from threads (`shared`, `sharing_device`).
- `fast`: the airbench-style recipe (`FastTrainer`, `FastSettings`, device-resident loaders).
- `batched`: many small models of one architecture trained at once under vmap
  (`BatchedTrainer`).
- `ddp`, `distributed`: data-parallel runs over processes started by torchrun.

Names load on first use (the `.pyi` stub beside this file lists them for editors).
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
