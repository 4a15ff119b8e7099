"""scratchlab: learn deep learning by building it, study it by systematic experiment.

Subpackages, one concern each: `scratch` (from-scratch engine), `optim`, `data`, `models`,
`classifiers`, `training`, `viz`, `experiments`, `studies`, `detect`, `rl`.
"""

import os

from scratchlab.errors import ScratchlabError

# Up to 32 CUDA streams run side by side (the driver's default of 8 hardware queues makes the
# batched groups of a study wait on one another: docs/speed.md). Read when CUDA starts, so set
# on import; a value the user set wins.
os.environ.setdefault("CUDA_DEVICE_MAX_CONNECTIONS", "32")

__version__ = "0.1.0"
__all__ = ["ScratchlabError", "__version__"]
