"""Low-level helpers shared by every layer: seeding, devices, threads, atomic files, progress bars
and statistics over seeds.

Sits at the bottom of the import layers next to `scratchlab.errors`; it imports nothing else from
scratchlab. Names load on first use (importing torch is slow; the CLI parser needs none); the
`.pyi` stub beside this file lists them for editors.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
