"""A throwaway ``redis-server`` on a free loopback port, and the fixtures that provide one.

The server keeps nothing on disk (``--save ''``, ``--appendonly no``) and can be killed and
started again on the same port, for the fault tests. Without a ``redis-server`` binary, the
tests that need it are skipped, unless ``CI`` is set: there they fail, since CI must run them.
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

__all__ = [
    "RedisServer",
    "fresh_redis_server",
    "redis_server",
    "require_redis_server",
    "started_redis_server",
]

#: Seconds allowed for the server to answer PING after it is started.
START_TIMEOUT = 10.0


def require_redis_server() -> str:
    """The path of ``redis-server``; skips the test without one, or fails it if ``CI`` is set."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but no redis-server binary was found: install redis-server")
        pytest.skip("no redis-server binary (install the Debian package redis-server)")
    return binary


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One ``redis-server`` process on ``127.0.0.1:port``; :meth:`start` again after
    :meth:`kill` to bring it back on the same port."""

    def __init__(self, binary: str, port: int | None = None, *extra: str) -> None:
        self.binary = binary
        #: More command-line arguments, such as a password to require.
        self.extra = extra
        self.port = free_port() if port is None else port
        self._dir = tempfile.TemporaryDirectory(prefix="aiopubsub-redis-")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def __repr__(self) -> str:
        state = "running" if self._process is not None else "stopped"
        return f"<RedisServer {self.url} {state}>"

    def start(self) -> None:
        """Start the server and wait until it answers ``PING``."""
        assert self._process is None, "already running"
        self._process = subprocess.Popen(
            [
                self.binary,
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", self._dir.name),
                *("--logfile", os.path.join(self._dir.name, "redis.log")),
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
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.01)

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
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


def started_redis_server(*extra: str) -> RedisServer:
    """A running server on a free port (another is tried if the port was taken meanwhile)."""
    return _started(require_redis_server(), *extra)


def _started(binary: str, *extra: str) -> RedisServer:
    # Another process could take the free port before the server binds it: try another.
    for attempt in range(3):
        server = RedisServer(binary, None, *extra)
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
def redis_server() -> Iterator[RedisServer]:
    """A server shared by the tests of one module: they must use distinct namespaces."""
    server = _started(require_redis_server())
    yield server
    server.stop()


@pytest.fixture
def fresh_redis_server() -> Iterator[RedisServer]:
    """A server of the test's own, which it may kill and restart."""
    server = _started(require_redis_server())
    yield server
    server.stop()
