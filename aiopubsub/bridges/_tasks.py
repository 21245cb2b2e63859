"""Task plumbing of a bridge's sessions: ending tasks for sure, and reading how they ended."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any

__all__ = ["cancel_and_wait", "caused_by", "raise_failure", "shielded"]


def raise_failure(tasks: list[asyncio.Task[None]]) -> None:
    """Raise the exception of the first of ``tasks`` that ended; a task may end only so."""
    for task in tasks:
        if task.done():
            task.result()
            raise ConnectionError(f"{task.get_coro()!r} ended without an error")


def caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """Whether ``exc`` or an exception in its chain of causes and contexts is a ``kind``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and wait until they have ended.

    A task still running shortly after is cancelled again: a broker client can swallow a
    cancellation that arrives inside some of its calls (redis-py 8.1 does in ``PUNSUBSCRIBE``).
    """
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.1)


async def shielded(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` to its end even if cancelled meanwhile; then raise the cancellation."""
    task = asyncio.ensure_future(coro)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    task.result()
    if cancelled:
        raise asyncio.CancelledError
