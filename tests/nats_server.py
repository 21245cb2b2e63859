"""A throwaway ``nats-server`` on a free loopback port, and the fixtures that provide one.

Like :mod:`redis_server`: it can be killed and started again on the same port, or paused, for
the fault tests. Without a ``nats-server`` binary, the tests that need it are skipped, unless
``CI`` is set: there they fail, since CI must run them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest
from redis_server import free_port

__all__ = ["NatsServer", "fresh_nats_server", "nats_server", "require_nats_server"]

#: Seconds allowed for the server to greet a client after it is started.
START_TIMEOUT = 10.0


def require_nats_server() -> str:
    """The path of ``nats-server``; skips the test without one, or fails it if ``CI`` is set."""
    binary = shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server") else None
    )
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but no nats-server binary was found: install nats-server")
        pytest.skip("no nats-server binary (install the Debian package nats-server)")
    return binary


class NatsServer:
    """One ``nats-server`` process on ``127.0.0.1:port``; :meth:`start` again after
    :meth:`kill` to bring it back on the same port."""

    def __init__(self, binary: str, port: int | None = None, *extra: str) -> None:
        self.binary = binary
        #: More command-line arguments, such as a password to require.
        self.extra = extra
        self.port = free_port() if port is None else port
        self._dir = tempfile.TemporaryDirectory(prefix="aiopubsub-nats-")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def __repr__(self) -> str:
        state = "running" if self._process is not None else "stopped"
        return f"<NatsServer {self.url} {state}>"

    def start(self) -> None:
        """Start the server and wait until it greets a client with ``INFO``."""
        assert self._process is None, "already running"
        self._process = subprocess.Popen(
            [
                self.binary,
                *("--addr", "127.0.0.1", "--port", str(self.port)),
                *("--log", os.path.join(self._dir.name, "nats.log")),
                *self.extra,
            ],
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
                raise RuntimeError(f"nats-server did not start on port {self.port}")
            time.sleep(0.01)

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                return sock.recv(5) == b"INFO "
        except OSError:
            return False

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


def started_nats_server(*extra: str) -> NatsServer:
    """A running server on a free port (another is tried if the port was taken meanwhile)."""
    binary = require_nats_server()
    for attempt in range(3):
        server = NatsServer(binary, None, *extra)
        try:
            server.start()
        except RuntimeError:
            server.stop()
            if attempt == 2:
                raise
        else:
            return server
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def nats_server() -> Iterator[NatsServer]:
    """A server shared by the tests of one module: they must use distinct namespaces."""
    server = started_nats_server()
    yield server
    server.stop()


@pytest.fixture
def fresh_nats_server() -> Iterator[NatsServer]:
    """A server of the test's own, which it may kill, pause and restart."""
    server = started_nats_server()
    yield server
    server.stop()
