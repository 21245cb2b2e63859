"""Loop: run a coroutine function over and over in a task, with a delay between runs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ._log import get_logger

__all__ = ["Loop"]


class Loop:
    """Runs ``await coro()`` again and again in one task until stopped.

    If ``coro()`` raises, the error is logged and the loop stops (``is_running`` turns false);
    the error is not re-raised into the task, so nothing reports it a second time.

    :param coro: a zero-argument coroutine function.
    :param delay: seconds to sleep after each run, or ``None`` to only yield to the event loop
        between runs (so that a ``coro`` that never suspends cannot starve other tasks).
    :param name: the task's name; by default derived from ``coro``.
    """

    def __init__(
        self, coro: Callable[[], Awaitable[object]], delay: float | None, name: str | None = None
    ) -> None:
        if delay is not None and delay < 0:
            raise ValueError(f"delay must be None or >= 0, got {delay!r}")
        self.coro = coro
        self.delay = delay
        self.name = name if name is not None else f"[{getattr(coro, '__name__', '?')}, {coro!r}]"
        self.task: asyncio.Task[None] | None = None
        self._running = False
        #: Tasks started and not ended yet: the current one, and stopped ones winding down.
        self._tasks: set[asyncio.Task[None]] = set()
        self._logger = get_logger("Loop")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} running={self.is_running}>"

    @property
    def is_running(self) -> bool:
        """Whether the loop has been started, has not been asked to stop, and has not stopped."""
        return self._running and self.task is not None and not self.task.done()

    def start(self) -> None:
        """Start the task, if not running. Needs a running event loop.

        Right after :meth:`stop`, this starts a new task at once; the old one, already
        cancelled, ends at its next ``await`` without running ``coro`` again.
        """
        if self.is_running:
            return
        loop = asyncio.get_running_loop()
        self._running = True
        self.task = loop.create_task(self._run(), name=self.name)
        self._tasks.add(self.task)
        self.task.add_done_callback(self._tasks.discard)

    def stop(self) -> None:
        """Cancel the task; it stops at its next ``await``. ``is_running`` is false at once."""
        self._running = False
        if self.task is not None:
            self.task.cancel()

    async def stop_wait(self) -> None:
        """Cancel the task and wait until it, and any task stopped before, has ended."""
        self.stop()
        if self._tasks:
            # Wait for the tasks without being cancelled with them (asyncio.wait never raises).
            await asyncio.wait(list(self._tasks))

    async def _run(self) -> None:
        while True:
            try:
                await self.coro()
            except Exception as exc:
                self._logger.error(
                    "Uncaught exception in _run of loop %s: %r; the loop stopped",
                    self.name,
                    exc,
                    exc_info=exc,
                )
                return
            # Even with no delay, yield: a coroutine that never suspends would starve the loop.
            await asyncio.sleep(self.delay or 0)
