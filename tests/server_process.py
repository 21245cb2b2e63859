"""A throwaway broker process on a free loopback port: the part that ``redis_server.py`` and
``nats_server.py`` share (start and wait for a greeting, kill, pause, resume, stop)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import TypeVar

import pytest

__all__ = ["ServerProcess", "free_port", "require_binary"]

#: Seconds allowed for a server to answer after it is started.
START_TIMEOUT = 10.0

S = TypeVar("S", bound="ServerProcess")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def require_binary(name: str, *elsewhere: str) -> str:
    """The path of the program ``name`` (on PATH, or one of ``elsewhere``); skips the test
    without it, or fails it if ``CI`` is set, since CI must run it."""
    binary = shutil.which(name) or next((p for p in elsewhere if os.path.exists(p)), None)
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but no {name} binary was found: install {name}")
        pytest.skip(f"no {name} binary (install the Debian package {name})")
    return binary


class ServerProcess:
    """One server process on ``127.0.0.1:port``; :meth:`start` again after :meth:`kill` to
    bring it back on the same port. A subclass says how to run it and how to ask it whether
    it is up."""

    #: The program's name, for messages and the scratch directory.
    name = "server"

    def __init__(self, binary: str, port: int | None = None, *extra: str) -> None:
        self.binary = binary
        #: More command-line arguments, such as a password to require.
        self.extra = extra
        self.port = free_port() if port is None else port
        self._dir = tempfile.TemporaryDirectory(prefix=f"aiopubsub-{self.name}-")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        raise NotImplementedError

    def command(self) -> list[str]:
        """The command line that runs the server on :attr:`port`, writing under ``_dir``."""
        raise NotImplementedError

    def ping(self) -> bool:
        """Whether the server answers on its port."""
        raise NotImplementedError

    def __repr__(self) -> str:
        state = "running" if self._process is not None else "stopped"
        return f"<{type(self).__name__} {self.url} {state}>"

    @classmethod
    def started(cls: type[S], binary: str, *extra: str) -> S:
        """A running server on a free port (another is tried if the port was taken meanwhile)."""
        for attempt in range(3):
            server = cls(binary, None, *extra)
            try:
                server.start()
            except RuntimeError:
                server.stop()
                if attempt == 2:
                    raise
            else:
                return server
        raise AssertionError("unreachable")

    def start(self) -> None:
        """Start the server and wait until it answers."""
        assert self._process is None, "already running"
        self._process = subprocess.Popen(
            [*self.command(), *self.extra],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not self.ping():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self._process.kill()
                self._process.wait()
                self._process = None
                raise RuntimeError(f"{self.name} did not start on port {self.port}")
            time.sleep(0.01)

    def kill(self) -> None:
        """Kill the server at once (SIGKILL): its clients see their connections drop."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def pause(self) -> None:
        """Stop the server's process (SIGSTOP): connections stay open, nothing is answered."""
        assert self._process is not None, "not running"
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server run again (SIGCONT)."""
        assert self._process is not None, "not running"
        self._process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        self._dir.cleanup()
