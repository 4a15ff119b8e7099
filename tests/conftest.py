"""Shared fixtures: paths to the data beside the checkout, temporary run folders, seeding."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")


def pytest_configure(config: pytest.Config) -> None:
    """With several test workers (`make test`), each computes on its share of the cores, and so
    do the processes its tests start: they would otherwise each use every core."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        threads = max(1, (os.cpu_count() or 1) // workers)
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        import torch

        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """`SCRATCHLAB_SHARED_DATA`, else the `shared/data` folder beside (or inside) the checkout."""
    env = os.environ.get("SCRATCHLAB_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates += [REPO_ROOT.parent / "shared" / "data", REPO_ROOT / "shared" / "data"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


@pytest.fixture(scope="session")
def cifar_npz() -> Path:
    """The CIFAR-10 JPEG-bytes archive from ../shared/data (skips where it is absent)."""
    path = shared_data_dir() / "cifar10-jpeg.npz"
    if not path.is_file():
        pytest.skip(f"CIFAR-10 archive not found at {path} (set SCRATCHLAB_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def taco_annotations() -> Path:
    """The real TACO annotations file from ../shared/data (skips where it is absent)."""
    path = shared_data_dir() / "taco" / "annotations.json"
    if not path.is_file():
        pytest.skip(f"TACO annotations not found at {path} (set SCRATCHLAB_SHARED_DATA)")
    return path


@pytest.fixture(autouse=True)
def _quiet_progress(monkeypatch):
    """No progress bars in test output."""
    monkeypatch.setenv("SCRATCHLAB_QUIET", "1")


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors run fastest on one thread (and do not stall on a busy machine); a module
    takes it with `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _interpreter_problem() -> str | None:
    """Why the interpreter cannot run the kernels here, or None where it can."""
    if importlib.util.find_spec("triton") is None:
        return "needs Triton"
    import triton

    version = tuple(int(part) for part in triton.__version__.split(".")[:2])
    try:
        int(np.array([3]))
    except TypeError:  # NumPy 2.4 and later: only 0-d arrays become Python ints
        if version < (3, 8):
            return (f"Triton {triton.__version__}'s interpreter cannot use a kernel's integer "
                    f"argument as a loop bound under NumPy {np.__version__}")
    return None


@pytest.fixture
def triton_interpreter(request):
    """Runs a Python script in Triton's interpreter on a CPU (the requesting test's folder on
    its path) and returns what it prints; skips where the interpreter cannot run the kernels."""
    problem = _interpreter_problem()
    if problem is not None:
        pytest.skip(problem)
    folder = str(Path(request.path).parent)
    env = {**os.environ, "TRITON_INTERPRET": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [folder, os.environ.get("PYTHONPATH")]))}

    def interpret(script: str) -> str:
        done = subprocess.run([sys.executable, "-W", "ignore", "-c", textwrap.dedent(script)],
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.strip()
    return interpret
