"""Stopping tasks, written once: for the hub, subscribers, listener removals and bridges."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Coroutine, Iterable
from typing import Any

__all__ = ["cancel_and_wait", "raise_first_failure", "run_shielded", "stop_tasks"]


async def stop_tasks(tasks: Collection[asyncio.Task[None]], timeout: float | None) -> None:
    """Wait up to ``timeout`` seconds for ``tasks`` to end, cancel the rest, wait for those.

    Never raises what the tasks raise (their own done-callbacks report that), and returns once
    every task is done. If the caller is cancelled while waiting, the tasks are left running.
    """
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)


def raise_first_failure(tasks: list[asyncio.Task[None]]) -> None:
    """Raise the exception of the first of ``tasks`` that ended; a task may end only so."""
    for task in tasks:
        if task.done():
            task.result()
            raise ConnectionError(f"{task.get_coro()!r} ended without an error")


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


async def run_shielded(coro: Coroutine[Any, Any, None]) -> None:
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
