"""`scratchlab check`: grade each part in its own process, under a time limit, and report.

Parts run one after another, each in a process forked from a worker server that has torch and
the checks loaded (`scratchlab.exercises.worker`), so a part starts in milliseconds. A part that
raises, loops or crashes fails alone, with a one-line reason, and the others still run.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scratchlab.exercises.manifest import PARTS, Part
from scratchlab.exercises.worker import Job

DEFAULT_TIME_LIMIT = 60.0
STARTUP_LIMIT = 300.0  # seconds for the worker server to import torch and the checks


@dataclass
class CheckResult:
    name: str
    passed: bool
    message: str = ""


@dataclass
class PartResult:
    """How one part fared: each check, and why grading stopped early (if it did)."""

    part: str
    title: str
    checks: list[CheckResult]
    seconds: float
    reason: str | None = None
    passed: bool = field(init=False)
    score: int = field(init=False)
    max_score: int = field(init=False)
    first_failure: str | None = field(init=False)

    def __post_init__(self) -> None:
        self.score = sum(c.passed for c in self.checks)
        self.max_score = len(self.checks)
        self.passed = self.score == self.max_score and self.reason is None
        failed = next((c for c in self.checks if not c.passed), None)
        if failed is None or (self.reason and failed.message.startswith("not run")):
            self.first_failure = self.reason
        else:
            self.first_failure = f"{failed.name}: {failed.message}"


class Server:
    """The worker server (`python -m scratchlab.exercises.worker`) and its line protocol."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "scratchlab.exercises.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        self.buffer = b""
        try:
            ready = self.receive(time.monotonic() + STARTUP_LIMIT)
        except EOFError:
            ready = None
        if ready != ["ready"]:
            self.process.kill()
            raise RuntimeError(f"the grader's worker server did not start (it said {ready})")

    def alive(self) -> bool:
        return self.process.poll() is None

    def submit(self, job: Job, time_limit: float) -> None:
        request = {"job": asdict(job), "alarm": math.ceil(time_limit) + 30}
        self.process.stdin.write((json.dumps(request) + "\n").encode())  # type: ignore[union-attr]

    def receive(self, deadline: float) -> list[Any] | None:
        """The next message, or None at the deadline; EOFError when the server is gone."""
        fd = self.process.stdout.fileno()  # type: ignore[union-attr]
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise EOFError("the grader's worker server ended")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def close(self) -> None:
        if self.alive():
            self.process.stdin.close()  # type: ignore[union-attr]
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


_server: Server | None = None


def _the_server() -> Server:
    """One server per process, started on first use and ended at exit."""
    global _server
    if _server is None or not _server.alive():
        _server = Server()
        atexit.register(_server.close)
    return _server


@dataclass
class _Run:
    """What the grader has heard of one part's process so far."""

    job: Job
    results: dict[int, CheckResult] = field(default_factory=dict)
    current: int | None = None
    pid: int | None = None
    done: bool = False
    reason: str | None = None

    def where(self) -> str:
        part = PARTS[self.job.part]
        if self.current is not None:
            return f"in check '{part.checks[self.current].name}'"
        return f"while loading {Path(self.job.path).name if self.job.path else 'the library'}"

    def hear(self, message: list[Any]) -> bool:
        """Take in one message; True once the part's process has ended."""
        kind, args = message[0], message[1:]
        if kind == "pid":
            self.pid = args[0]
        elif kind == "start":
            self.current = args[0]
        elif kind == "result":
            name = PARTS[self.job.part].checks[args[0]].name
            self.results[args[0]] = CheckResult(name, *args[1:])
            self.current = None
        elif kind == "error":
            self.reason = args[0]
        elif kind == "done":
            self.done = True
        elif kind == "exit":
            if not self.done and self.reason is None:
                where = f" {self.where()}" if self.current is not None else ""
                self.reason = f"the part's process ended (exit status {args[0]}){where}"
            return True
        return False


def grade_part(job: Job, time_limit: float) -> PartResult:
    """Run one part's checks in a child process; stop it at `time_limit` seconds."""
    part, server, run = PARTS[job.part], _the_server(), _Run(job)
    start = time.monotonic()
    try:
        server.submit(job, time_limit)
        while True:
            message = server.receive(start + time_limit)
            if message is None:
                run.reason = f"stopped at the time limit of {time_limit:g} s {run.where()}"
                _stop(server, run.pid)
                break
            if run.hear(message):
                break
    except (EOFError, BrokenPipeError):
        run.reason = "the grader's worker server ended"
    except KeyboardInterrupt:
        _kill(run.pid)
        server.process.kill()  # mid-part: the next grading starts a fresh server
        raise
    seconds = min(time.monotonic() - start, time_limit)
    not_run = f"not run: {run.reason}" if run.reason else "not run"
    checks = [
        run.results.get(i, CheckResult(c.name, False, not_run)) for i, c in enumerate(part.checks)
    ]
    return PartResult(part.name, part.title, checks, round(seconds, 3), run.reason)


def _kill(pid: int | None) -> None:
    """Kill a part's process group (its id is the child's), then the child itself."""
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _stop(server: Server, pid: int | None) -> None:
    """Kill the part's child process (by its id) and wait for the server to see it end."""
    deadline = time.monotonic() + 10
    while pid is None:
        message = server.receive(deadline)
        if message is None:
            break
        pid = message[1] if message[0] == "pid" else None
    _kill(pid)
    while (message := server.receive(deadline)) is not None and message[0] != "exit":
        pass
    if message is None:
        server.process.kill()  # the server is stuck: the next part starts a new one
        server.process.wait()


def grade(
    jobs: list[Job],
    time_limit: float = DEFAULT_TIME_LIMIT,
    on_result: Callable[[PartResult], None] | None = None,
) -> list[PartResult]:
    """Grade every job in turn; `on_result` sees each part's result as it comes."""
    results = []
    for job in jobs:
        result = grade_part(job, time_limit)
        if on_result is not None:
            on_result(result)
        results.append(result)
    return results


def reference_jobs(parts: list[Part]) -> list[Job]:
    """Jobs that grade the library's own bodies of `parts` (resolved in the worker)."""
    return [Job(part.name, None, ()) for part in parts]


COLUMNS = "{:<18} {:>7} {:>7}  {}"


def table_header() -> str:
    return COLUMNS.format("part", "checks", "time", "first failing check")


def table_row(result: PartResult) -> str:
    checks = f"{result.score}/{result.max_score}"
    seconds = f"{result.seconds:.1f}s"
    return COLUMNS.format(result.part, checks, seconds, result.first_failure or "-")


def summary(results: list[PartResult]) -> str:
    passed = sum(r.passed for r in results)
    score, total = sum(r.score for r in results), sum(r.max_score for r in results)
    seconds = sum(r.seconds for r in results)
    return f"{passed} of {len(results)} parts pass ({score}/{total} checks) in {seconds:.1f} s"


def report_json(results: list[PartResult], graded: str) -> dict[str, Any]:
    """The results as a grading system reads them: totals, then each part and check."""
    return {
        "graded": graded,
        "passed": all(r.passed for r in results),
        "parts_passed": sum(r.passed for r in results),
        "parts": len(results),
        "score": sum(r.score for r in results),
        "max_score": sum(r.max_score for r in results),
        "seconds": round(sum(r.seconds for r in results), 3),
        "results": [asdict(r) for r in results],
    }


def dumps(results: list[PartResult], graded: str) -> str:
    return json.dumps(report_json(results, graded), indent=2)
