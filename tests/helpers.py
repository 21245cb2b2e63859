"""What the tests share: callbacks that record, waits on a condition, taking what is queued,
the event loop under test, other threads and child processes."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Generic, TypeVar

from aiopubsub import Hub, Key, SlowConsumerError, Subscriber, SubscriberClosedError

T = TypeVar("T")
Tag = TypeVar("Tag")

#: The root of this checkout.
ROOT = Path(__file__).resolve().parent.parent

#: Bound, in seconds, of every wait for something that should happen. Generous for a loaded
#: machine; passing tests take a tiny fraction of it. Never an assertion on elapsed time.
WAIT = 10.0

#: The event loops the suite can run under, by the name ``--loop`` takes (see conftest.py).
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {"asyncio": asyncio.new_event_loop}
try:
    import uvloop
except ImportError:  # pragma: no cover - it is in the test extra; conftest.py says so if missing
    pass
else:
    LOOPS["uvloop"] = uvloop.new_event_loop

#: The name of the loop this run tests; conftest.py sets it from ``--loop``.
loop_name = "asyncio"

# -- callbacks that record ----------------------------------------------------------------------


class Recorder:
    """A sync callback that records every ``(key, message)`` it is called with, in order."""

    def __init__(self) -> None:
        self.got: list[tuple[Key, Any]] = []

    def __call__(self, key: Key, message: Any) -> None:
        self.got.append((key, message))

    @property
    def messages(self) -> list[Any]:
        """The messages recorded, without their keys."""
        return [message for _, message in self.got]


class AsyncRecorder:
    """An async callback (an async listener) that records every ``(key, message)``.

    :param fail_on: messages on which it raises ``RuntimeError`` after recording them.
    :param step: if true, it steps the loop once before recording each message, so that a
        backlog takes many loop turns to work through (what closing must wait for).
    """

    def __init__(self, fail_on: set[Any] | None = None, *, step: bool = False) -> None:
        self.got: list[tuple[Key, Any]] = []
        self.fail_on = set() if fail_on is None else fail_on
        self.step = step

    async def __call__(self, key: Key, message: Any) -> None:
        if self.step:
            await asyncio.sleep(0)  # the listener's task yields, as real work would
        self.got.append((key, message))
        if message in self.fail_on:
            raise RuntimeError(f"boom on {message!r}")

    @property
    def messages(self) -> list[Any]:
        """The messages recorded, without their keys."""
        return [message for _, message in self.got]


class Tagged(Generic[Tag]):
    """A sync callback that appends ``(tag, key, message)`` to a log it may share with other
    callbacks: the shared log shows the order in which they were called."""

    def __init__(self, tag: Tag, log: list[tuple[Tag, Key, Any]]) -> None:
        self.tag = tag
        self.log = log

    def __call__(self, key: Key, message: Any) -> None:
        self.log.append((self.tag, key, message))

    def __repr__(self) -> str:
        return f"<callback {self.tag!r}>"


# -- waiting on a condition ---------------------------------------------------------------------


async def wait_until(condition: Callable[[], object], timeout: float = WAIT) -> None:
    """Let the loop run until ``condition()`` is true.

    It checks after every loop turn at first, then (for waits on a server or a subprocess)
    at most every 10 ms, so that a long wait does not keep a core busy.

    :raises TimeoutError: if ``condition()`` is still false after ``timeout`` seconds.
    """
    started = time.monotonic()
    async with asyncio.timeout(timeout):
        while not condition():
            # Spinning costs nothing while the condition follows from work already queued;
            # after a millisecond it is waiting on something outside: poll gently.
            waited = time.monotonic() - started
            await asyncio.sleep(0 if waited < 0.001 else min(waited / 10, 0.01))


def blocked(task: asyncio.Task[Any]) -> bool:
    """Whether ``task`` has started and now waits on a future that is not done: it cannot run
    again until something else happens (a publish, a close, a timer).

    Reads ``Task._fut_waiter``, which both of CPython's Task implementations have kept since
    asyncio began and which uvloop's tasks share (uvloop runs ``asyncio.Task``); no public
    API tells a waiting task from one that is merely scheduled.
    """
    waiter: asyncio.Future[Any] | None = getattr(task, "_fut_waiter", None)
    return waiter is not None and not waiter.done()


async def wait_blocked(*tasks: asyncio.Task[Any], timeout: float = WAIT) -> None:
    """Wait until every task in ``tasks`` is :func:`blocked` (e.g. a consumer waits on its
    empty queue, an ``apublish`` waits for room).

    :raises AssertionError: if one of them finishes instead, which would make the wait endless.
    :raises TimeoutError: if they are not all blocked after ``timeout`` seconds.
    """

    def all_blocked() -> bool:
        done = [task for task in tasks if task.done()]
        assert not done, f"expected these tasks to wait, but they finished: {done!r}"
        return all(blocked(task) for task in tasks)

    await wait_until(all_blocked, timeout)


async def settle(timeout: float = WAIT) -> None:
    """Wait until every callback already scheduled on the loop has run and every other task
    of the loop is :func:`blocked`: nothing more happens until something from outside (the
    test, a timer, the network) does something.

    This is the barrier for asserting that something did *not* happen: whatever could still
    happen has had its chance. A task that never blocks (one that yields in a loop) makes
    this time out.

    :raises TimeoutError: if some task still has work after ``timeout`` seconds.
    """
    current = asyncio.current_task()
    async with asyncio.timeout(timeout):
        while True:
            # The loop's ready queue is first in, first out (in asyncio and in uvloop): this
            # task resumes only after every callback that was ready before it.
            await asyncio.sleep(0)
            if all(blocked(task) for task in asyncio.all_tasks() if task is not current):
                return


# -- queues -------------------------------------------------------------------------------------


def drain(subscriber: Subscriber, subscription_id: str = "default") -> list[Any]:
    """Take every queued message of ``subscription_id`` without waiting; return the messages.

    Stops at an empty queue, whether it is open, closed or disconnected.
    """
    got = []
    while True:
        try:
            got.append(subscriber.consume_nowait(subscription_id)[1])
        except (asyncio.QueueEmpty, SlowConsumerError, SubscriberClosedError):
            return got


# -- the loop, threads and processes -----------------------------------------------------------


def new_loop() -> asyncio.AbstractEventLoop:
    """A new event loop of the kind this run tests (``--loop``)."""
    return LOOPS[loop_name]()


def run(main: Coroutine[Any, Any, T]) -> T:
    """Like ``asyncio.run(main)``, on a new loop of the kind this run tests (``--loop``)."""
    with asyncio.Runner(loop_factory=new_loop) as runner:
        return runner.run(main)


def error_in_thread(function: Callable[..., object], *args: Any) -> BaseException | None:
    """Call ``function(*args)`` in another thread; return what it raised there, if anything.

    The loop is blocked meanwhile: a call that waited for the loop fails here, after a bound,
    instead of hanging.
    """
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(function, *args).exception(timeout=WAIT)
    finally:
        pool.shutdown(wait=False)


def python_env() -> dict[str, str]:
    """The environment for a child Python process: this checkout first on ``PYTHONPATH``, so
    that the child imports this tree's aiopubsub whether or not (and from wherever) it is
    installed; no ``PYTHONWARNINGS``, so that the child's ``-W`` options decide."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("PYTHONWARNINGS", None)
    return env


def run_python(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``python *args`` (this interpreter) in a child process, from the checkout's root and
    with :func:`python_env`; return it finished, its output captured as text.

    Its exit status is the caller's to assert, with its stderr as the message.

    :raises subprocess.TimeoutExpired: if it runs longer than ``timeout`` seconds.
    """
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# -- bridges ------------------------------------------------------------------------------------

_namespaces = itertools.count()


def fresh_namespace() -> str:
    """A bridge namespace no other test uses: tests share one broker server per module."""
    return f"test{os.getpid()}-{next(_namespaces)}"


def collector(hub: Hub, pattern: tuple[Any, ...], name: str) -> list[tuple[Key, Any]]:
    """A list that a sync listener on ``pattern`` fills with what ``hub`` delivers (the hub's
    own meta-events only if ``pattern`` starts with ``'Hub'``)."""
    received: list[tuple[Key, Any]] = []
    meta = pattern[0] == "Hub"

    def collect(key: Key, message: Any) -> None:
        if meta or key[0] != "Hub":
            received.append((key, message))

    Subscriber(hub, name).add_sync_listener(Key(*pattern), collect)
    return received
