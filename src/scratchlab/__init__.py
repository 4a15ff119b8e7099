"""scratchlab: learn deep learning by building it, study it by systematic experiment.

Subpackages, one concern each: `scratch` (from-scratch engine), `optim`, `data`, `models`,
`classifiers`, `training`, `viz`, `experiments`, `studies`, `detect`, `rl`.
"""

from scratchlab.errors import ScratchlabError

__version__ = "0.1.0"
__all__ = ["ScratchlabError", "__version__"]
