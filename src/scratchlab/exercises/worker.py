"""The grader's worker: a server that forks one child per part, which runs the part's checks.

`python -m scratchlab.exercises.worker` imports torch and the checks once, says ["ready"], then
reads one request (JSON) per line on stdin. For each it forks a child (fast: everything is
loaded) and writes JSON lines on stdout: ["pid", pid] from the server; ["start", i] before check
i, ["result", i, passed, message] after it, ["error", reason] when the code cannot be loaded and
["done"] from the child; ["exit", status] from the server once the child has ended. The grader
enforces the time limits (it kills a child's process group by its id). No torch operation runs
in the server, so forking it is safe.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import select
import signal
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from scratchlab.exercises.checklib import CheckFailed, Namespace
from scratchlab.exercises.manifest import PARTS
from scratchlab.exercises.source import resolve


@dataclass(frozen=True)
class Job:
    """One part to grade: the student's file, or None for the library's own bodies.

    `defined` lists a student's bodies as `module:qualname` (where the library defines them).
    """

    part: str
    path: str | None
    defined: tuple[str, ...]


def describe(exc: BaseException, files: set[str]) -> str:
    """One line: what was raised, and where in `files` (the code under test) it came from."""
    if isinstance(exc, CheckFailed):
        return " ".join(str(exc).split())
    where = ""
    files = {os.path.realpath(f) for f in files}
    for frame, line in traceback.walk_tb(exc.__traceback__):
        if os.path.realpath(frame.f_code.co_filename) in files:
            name = getattr(frame.f_code, "co_qualname", frame.f_code.co_name)
            where = f" in {name} at {Path(frame.f_code.co_filename).name}:{line}"
    if isinstance(exc, NotImplementedError) and not str(exc):
        return f"not written yet: NotImplementedError{where}"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}{where}: {text}"[:400]


def _load_student(job: Job) -> tuple[Namespace, set[str]]:
    path = Path(job.path)  # type: ignore[arg-type]
    name = f"scratchlab_exercise_{job.part}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CheckFailed(f"cannot load {path.name}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(path.parent))
    spec.loader.exec_module(module)
    _guard(job, module)
    return Namespace(vars(module), path.name), {str(path)}


def _load_reference(job: Job) -> tuple[Namespace, set[str]]:
    objects, files = {}, set()
    for target in map(resolve, PARTS[job.part].targets):
        module = importlib.import_module(target.module)
        objects[target.owner] = getattr(module, target.owner)
        files.add(str(module.__file__))
    return Namespace(objects, "the library"), files


def _refuse(qualname: str) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise CheckFailed(f"calls the library's own {qualname}; write the body yourself")

    return refuse


def _guard(job: Job, student: Any) -> None:
    """Make the library's own bodies of this part refuse to run (where they are loaded)."""
    for entry in job.defined:
        module_name, _, qualname = entry.partition(":")
        module = sys.modules.get(module_name)
        owner, _, method = qualname.partition(".")
        if module is None or not hasattr(module, owner):
            continue
        if method:
            setattr(getattr(module, owner), method, _refuse(qualname))
            continue
        original = getattr(module, owner)
        scope = [m for n, m in list(sys.modules.items()) if n.startswith("scratchlab")]
        for space in [*scope, student]:
            for attr, value in list(vars(space).items()):
                if value is original:
                    setattr(space, attr, _refuse(qualname))


def run_part(job: Job, send: Callable[[list[Any]], None]) -> None:
    """Grade one part in this (child) process, sending each result."""
    torch.set_num_threads(1)
    part = PARTS[job.part]
    try:
        namespace, files = _load_student(job) if job.path else _load_reference(job)
    except (Exception, SystemExit) as exc:
        where = Path(job.path).name if job.path else "the library"
        send(["error", f"cannot import {where}: {describe(exc, {str(job.path)})}"])
        return
    for i, check in enumerate(part.checks):
        send(["start", i])
        try:
            torch.manual_seed(0)
            check.run(namespace)
            send(["result", i, True, ""])
        except (Exception, SystemExit) as exc:
            send(["result", i, False, describe(exc, files)])
    send(["done"])


def _writer(fd: int) -> Callable[[list[Any]], None]:
    def send(message: list[Any]) -> None:
        message = [m[:1000] if isinstance(m, str) else m for m in message]
        os.write(fd, (json.dumps(message) + "\n").encode())  # one write: lines never interleave

    return send


def _child(alarm: int) -> None:
    """Set up a part's process: its own process group (which the grader kills at the time
    limit), no stdin, and a self-destruct a little after the limit should the grader be gone."""
    os.setpgid(0, 0)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.alarm(alarm)


def _wait(pid: int, requests: _Lines) -> int:
    """The child's exit status; if the grader goes away meanwhile, kill the child first."""
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if requests.closed(timeout=0.2):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


class _Lines:
    """Lines read from a file descriptor, and whether it has reached its end."""

    def __init__(self, fd: int) -> None:
        self.fd, self.buffer, self.eof = fd, b"", False

    def _fill(self) -> None:
        chunk = os.read(self.fd, 65536)
        self.buffer += chunk
        self.eof = not chunk

    def closed(self, timeout: float) -> bool:
        if not self.eof and select.select([self.fd], [], [], timeout)[0]:
            self._fill()
        return self.eof

    def next(self) -> str | None:
        while b"\n" not in self.buffer and not self.eof:
            self._fill()
        if b"\n" not in self.buffer:
            return None
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()


def serve() -> None:
    """Fork a child per request line on stdin until stdin closes (see the module docstring).

    A request is {"job": Job fields, "alarm": seconds after which the child ends itself}.
    """
    send = _writer(os.dup(1))
    os.dup2(2, 1)  # anything printed (by a student's code too) goes to stderr, not the protocol
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the grader stops the parts, and then us
    with contextlib.suppress(ImportError):
        importlib.import_module("torch._dynamo")  # torch.optim's first step would import it
    send(["ready"])
    requests = _Lines(0)
    while (line := requests.next()) is not None:
        request = json.loads(line)
        job = Job(**{k: tuple(v) if isinstance(v, list) else v for k, v in request["job"].items()})
        pid = os.fork()
        if pid == 0:
            _child(int(request["alarm"]))
            code = 0
            try:
                run_part(job, send)
            except BaseException:  # a failure of the grader itself: the exit status says so
                traceback.print_exc()
                code = 70
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        send(["pid", pid])
        send(["exit", _wait(pid, requests)])


if __name__ == "__main__":
    serve()
