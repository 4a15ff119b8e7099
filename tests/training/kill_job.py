"""Runs of the `scratchlab` command that SIGKILL themselves part way through an atomic file write
(for test_kill_during_checkpoint.py).

A server: it imports scratchlab, torch and the data code once, then for each request line on
stdin, `{"cwd": DIR, "argv": [...], "kill_at": "POINT:N" | null}`, forks a process that runs the
command in DIR (output to DIR/job.log) and answers `{"status": S}` on stdout: the exit status,
-9 for a kill. With kill_at the process kills itself at its Nth atomic write, where POINT is
`partial` (temp file half written), `written` (temp fully written, not renamed) or `renamed`
(just renamed over the target).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback

import scratchlab.util.atomic as atomic
from scratchlab.cli import main

POINTS = ("partial", "written", "renamed")


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class HalfWriter:
    """A file whose first write stops half way: half the bytes on disk, then the kill."""

    def __init__(self, file):
        self.file = file

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()

    def write(self, data: bytes) -> None:
        self.file.write(data[: len(data) // 2])
        self.file.flush()
        os.fsync(self.file.fileno())
        die()


class KillingOs:
    """`os` as util.atomic sees it, counting atomic writes and dying at the chosen one."""

    def __init__(self, point: str, nth: int) -> None:
        if point not in POINTS or nth < 1:
            raise ValueError(f"bad kill point {point}:{nth}")
        self.point, self.nth, self.calls = point, nth, 0

    def __getattr__(self, name: str):
        return getattr(os, name)

    def fdopen(self, fd, *args, **kwargs):
        self.calls += 1
        file = os.fdopen(fd, *args, **kwargs)
        return HalfWriter(file) if self.here("partial") else file

    def replace(self, src, dst) -> None:
        if self.here("written"):
            die()
        os.replace(src, dst)
        if self.here("renamed"):
            die()

    def here(self, point: str) -> bool:
        return self.point == point and self.calls == self.nth


def child(request: dict) -> int:
    """Run one command (in the forked process); its exit status."""
    os.chdir(request["cwd"])
    log = os.open("job.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    if request.get("kill_at"):
        point, nth = request["kill_at"].split(":")
        atomic.os = KillingOs(point, int(nth))
    try:
        main(request["argv"])
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def serve() -> None:
    import sklearn.datasets
    import sklearn.model_selection  # noqa: F401

    import scratchlab.experiments.run  # noqa: F401

    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = child(request)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"status": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    serve()
