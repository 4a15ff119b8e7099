"""Experiments: one config per run, many runs, sweeps, stored records, tables and reports.

    config -> run_experiment / run_configs -> RunRecord (<out_dir>/<run_name>.json) -> tables,
    plots, reports

Names load on first use, so `scratchlab --help` and reading results stay fast (the `.pyi` stub
beside this file lists them for editors).
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
