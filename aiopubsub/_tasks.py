"""Stopping tasks: written once, for the hub, subscribers and listener removals."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

__all__ = ["stop_tasks"]


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
