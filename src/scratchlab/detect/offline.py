"""Load ultralytics so that it never reaches the network.

ultralytics otherwise downloads fonts (Arial.ttf) for its plots, weights for its AMP check and
for any ``.pt`` name it does not find, datasets named in a data YAML, and sends usage analytics.
`load_ultralytics` points its settings folder at a scratchlab folder, places a local font there
under the names it looks for, switches analytics and experiment loggers off and turns off
automatic package installs. Weights are never fetched: `check_model` refuses a missing file.

ultralytics weights (``.pt``) are pickles, loaded with code execution allowed by design: a ``.pt``
file is code and must come from a trusted source (`TRUST_NOTE`, shown in ``detect --help``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from scratchlab.data.cache import cache_dir
from scratchlab.errors import CheckpointError, ConfigError, require

FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
OFF_SETTINGS = ("sync", "clearml", "comet", "dvc", "mlflow", "raytune", "tensorboard", "wandb")
QUIET_SETTINGS = ("vscode_msg", "openvino_msg")
ASSETS_URL = "https://github.com/ultralytics/assets/releases"
TRUST_NOTE = (
    "A .pt weights file is a pickle: loading it runs any code it holds, so use only .pt files "
    "from a source you trust (your own training runs, the ultralytics releases). A symlink is "
    "followed to its file; a folder, a missing path or anything but a regular file is refused."
)


def config_dir() -> Path:
    """The folder ultralytics keeps its settings and fonts in: ``$YOLO_CONFIG_DIR`` when set,
    else ``$SCRATCHLAB_CACHE/ultralytics`` (default ``~/.cache/scratchlab/ultralytics``)."""
    env = os.environ.get("YOLO_CONFIG_DIR")
    return Path(env).expanduser() if env else cache_dir() / "ultralytics"


def _set_environment() -> None:
    """Environment variables ultralytics reads once, when it is first imported."""
    os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir()))
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    if os.environ.get("SCRATCHLAB_QUIET"):
        os.environ.setdefault("YOLO_VERBOSE", "False")


def _place_fonts(folder: Path) -> None:
    """Copy matplotlib's DejaVuSans under the font names ultralytics would download."""
    import matplotlib

    source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    folder.mkdir(parents=True, exist_ok=True)
    for name in FONT_NAMES:
        target = folder / name
        if not target.is_file():
            tmp = folder / f".{name}.tmp"
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)


def load_ultralytics() -> ModuleType:
    """Import ultralytics set up for offline use (idempotent).

    Raises:
        MissingDependencyError: ultralytics is not installed (``pip install 'scratchlab[detect]'``).
    """
    first = "ultralytics" not in sys.modules
    if first:
        _set_environment()
        with _keep_process_settings():
            ultralytics = require("ultralytics", "detect")
    else:
        ultralytics = require("ultralytics", "detect")
    from ultralytics.utils import SETTINGS, USER_CONFIG_DIR

    _place_fonts(Path(USER_CONFIG_DIR))
    wanted = {k: False for k in (*OFF_SETTINGS, *QUIET_SETTINGS) if k in SETTINGS.defaults}
    if any(SETTINGS.get(k) != v for k, v in wanted.items()):
        SETTINGS.update(wanted)
    return ultralytics


def check_model(model: str | Path) -> str:
    """Validate a model argument: an existing ``.pt`` file or a ``.yaml`` architecture name/path.

    A ``.pt`` file is a pickle that ultralytics loads with code execution allowed: it must come
    from a trusted source. A symlink is followed to the file it names.

    Raises:
        CheckpointError: a ``.pt`` path that is missing (it is never downloaded), a folder, or
            not a regular file.
        ConfigError: any other kind of model argument.
    """
    name = str(model)
    suffix = Path(name).suffix.lower()
    if suffix in {".yaml", ".yml"}:
        return name
    if suffix == ".pt":
        path = Path(name).expanduser()
        if path.is_dir():
            raise CheckpointError(
                f"weights {name} is a folder, not a .pt file; pass the weights file itself "
                f"(a training run keeps its own in {Path(name) / 'weights' / 'best.pt'})"
            )
        if path.exists() and not path.is_file():
            raise CheckpointError(
                f"weights {name} is not a regular file (a pipe, socket or device); pass a .pt "
                "file from a source you trust"
            )
        if not path.is_file():
            raise CheckpointError(
                f"weights file {name} not found (nothing is downloaded): get {path.name} from "
                f"{ASSETS_URL} and put it at {path.resolve()}, or pass a .yaml model such as "
                "yolov8n.yaml to start from scratch"
            )
        return str(path)
    raise ConfigError(
        f"model {name!r} is neither a .pt weights file nor a .yaml architecture (e.g. yolov8n.yaml)"
    )


def load_model(model: str | Path):
    """An ultralytics ``YOLO`` model from a local ``.pt`` file or a ``.yaml`` architecture."""
    name = check_model(model)
    load_ultralytics()
    from ultralytics import YOLO

    try:
        return YOLO(name, task="detect")
    except FileNotFoundError as exc:
        raise ConfigError(
            f"model {name!r} not found ({exc}); pass a .yaml such as yolov8n.yaml or a .pt path"
        ) from None
    except Exception as exc:
        if name.endswith(".pt"):
            raise CheckpointError(
                f"cannot load weights {name}: {type(exc).__name__}: {exc}"
            ) from None
        raise


@contextlib.contextmanager
def _keep_process_settings() -> Iterator[None]:
    """Undo what importing ultralytics changes for the whole process: print options, OMP threads."""
    import numpy as np
    import torch

    np_options = np.get_printoptions()
    opts = torch._tensor_str.PRINT_OPTS
    torch_options = dict(
        precision=opts.precision,
        threshold=opts.threshold,
        edgeitems=opts.edgeitems,
        linewidth=opts.linewidth,
        sci_mode=opts.sci_mode,
    )
    omp = os.environ.get("OMP_NUM_THREADS")
    try:
        yield
    finally:
        np.set_printoptions(**np_options)
        torch.set_printoptions(**torch_options)
        if omp is None:
            os.environ.pop("OMP_NUM_THREADS", None)


@contextlib.contextmanager
def keep_torch_settings() -> Iterator[None]:
    """Restore torch's deterministic-algorithms and cuDNN flags, which ultralytics sets globally."""
    import torch

    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn


@contextlib.contextmanager
def no_amp_download() -> Iterator[None]:
    """Skip ultralytics' AMP self-check on CUDA (it downloads a model to run it); AMP stays on."""
    from ultralytics.engine import trainer

    original = getattr(trainer, "check_amp", None)
    if original is None:
        yield
        return
    trainer.check_amp = lambda model: True
    try:
        yield
    finally:
        trainer.check_amp = original
