"""Fixtures for detection tests: an isolated ultralytics settings folder and a blocked network."""

from __future__ import annotations

import socket
import sys

import pytest


@pytest.fixture(scope="session", autouse=True)
def ultralytics_home(tmp_path_factory):
    """A fresh, empty ultralytics settings folder for the session, set before ultralytics is
    imported.

    Yields None when ultralytics was imported earlier in the session (its folder is then fixed).
    """
    if "ultralytics" in sys.modules:
        yield None
        return
    folder = tmp_path_factory.mktemp("ultralytics_config")
    mp = pytest.MonkeyPatch()
    mp.setenv("YOLO_CONFIG_DIR", str(folder))
    yield folder
    mp.undo()


@pytest.fixture(scope="module")
def ultralytics(ultralytics_home):
    """ultralytics, imported through scratchlab's offline set-up; skips where it is not
    installed."""
    from scratchlab.detect import load_ultralytics
    from scratchlab.errors import MissingDependencyError

    try:
        return load_ultralytics()
    except MissingDependencyError:
        pytest.skip("ultralytics not installed: pip install 'scratchlab[detect]'")


class NetworkBlocker:
    """Make every internet connection or name lookup raise, and remember each attempt."""

    def __init__(self) -> None:
        self.attempts: list[str] = []
        self._mp = pytest.MonkeyPatch()

    def _refuse(self, what: str):
        self.attempts.append(what)
        raise OSError(f"network access blocked in tests: {what}")

    def start(self) -> None:
        original_connect = socket.socket.connect
        original_connect_ex = socket.socket.connect_ex

        def connect(sock, address):
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                self._refuse(f"connect {address}")
            return original_connect(sock, address)

        def connect_ex(sock, address):
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                self._refuse(f"connect_ex {address}")
            return original_connect_ex(sock, address)

        self._mp.setattr(socket.socket, "connect", connect)
        self._mp.setattr(socket.socket, "connect_ex", connect_ex)
        self._mp.setattr(
            socket, "getaddrinfo", lambda host, *a, **k: self._refuse(f"getaddrinfo {host}")
        )
        self._mp.setattr(
            socket,
            "create_connection",
            lambda address, *a, **k: self._refuse(f"create_connection {address}"),
        )

    def stop(self) -> None:
        self._mp.undo()


@pytest.fixture(scope="module")
def no_network():
    """Block the network for a whole test module; the module's tests check `attempts` stays
    empty."""
    blocker = NetworkBlocker()
    blocker.start()
    yield blocker
    blocker.stop()
