"""Policy-gradient reinforcement learning on gymnasium: REINFORCE variants and actor-critic.

Methods: `vpg` (vanilla), `bpg` (mean-return baseline), `epg` (entropy bonus), `cpg` (baseline +
entropy) and `aac` (advantage actor-critic). gymnasium comes with the optional extra
`scratchlab[rl]`; it is imported only when an environment is made. Names load on first
use, so `scratchlab.cli.rl` (the CLI) stays light (the `.pyi` stub lists them).
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
