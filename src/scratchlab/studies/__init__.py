"""Packaged studies: reproducible experiments with their analysis and report section.

    scratchlab study list
    from scratchlab.studies import inductive_bias; result = inductive_bias.run(quick=True)

Names load on first use, so the `scratchlab` command starts fast (the `.pyi` stub beside this
file lists them for editors).
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
