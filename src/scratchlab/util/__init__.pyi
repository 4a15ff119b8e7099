from .atomic import atomic_write_bytes, atomic_write_json, atomic_write_text, torch_save_atomic
from .device import resolve_device
from .laps import Laps, SharedClock
from .preload import import_in_background
from .progress_bars import progress
from .seeding import get_rng_state, seed_everything, set_rng_state
from .stats import Comparison, Stat, ci95, compare, fmt_pm, mean_std, mean_text
from .threads import cpu_jobs, threads_per_worker, torch_threads, usable_cores

__all__ = [
    "Comparison",
    "Laps",
    "SharedClock",
    "Stat",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "ci95",
    "compare",
    "cpu_jobs",
    "fmt_pm",
    "get_rng_state",
    "import_in_background",
    "mean_std",
    "mean_text",
    "progress",
    "resolve_device",
    "seed_everything",
    "set_rng_state",
    "threads_per_worker",
    "torch_save_atomic",
    "torch_threads",
    "usable_cores",
]
