"""The queue behind each queue subscription: a deque plus the consumers waiting on it."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from ._key import Key

__all__ = ["Inbox"]


class Inbox:
    """A FIFO of ``(key, message)`` pairs, filled synchronously by the hub.

    Leaner than :class:`asyncio.Queue` because the hub only ever puts without waiting and
    nothing needs ``join()``. A consumer that is cancelled while waiting loses nothing: a
    message stays in the deque until a :meth:`get` returns it, and a wake-up meant for a
    cancelled consumer is passed on to the next one.
    """

    __slots__ = ("items", "_getters")

    def __init__(self) -> None:
        self.items: deque[tuple[Key, Any]] = deque()
        self._getters: deque[asyncio.Future[None]] = deque()

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"<Inbox queued={len(self.items)} waiting={len(self._getters)}>"

    def put(self, key: Key, message: Any) -> None:
        """Append a message and wake the longest-waiting consumer. The hub's callback."""
        self.items.append((key, message))
        if self._getters:
            self._wake_next()

    def _wake_next(self) -> None:
        getters = self._getters
        while getters:
            waiter = getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def get_nowait(self) -> tuple[Key, Any]:
        """Return the oldest message. :raises asyncio.QueueEmpty: if there is none."""
        if not self.items:
            raise asyncio.QueueEmpty
        return self.items.popleft()

    async def get(self) -> tuple[Key, Any]:
        """Return the oldest message, waiting for one if there is none."""
        items = self.items
        while not items:
            waiter = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                # Cancellation lands here; the message we may have been woken for stays queued.
                await waiter
            except BaseException:
                waiter.cancel()
                if waiter in self._getters:
                    self._getters.remove(waiter)
                if items:
                    # We may have been woken for a message we will not take: pass it on.
                    self._wake_next()
                raise
        return items.popleft()
