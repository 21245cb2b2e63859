"""The outbox: local messages waiting to be sent, in batches, and what is in flight.

Loop-free but for two :class:`asyncio.Event` flags, which bind to a loop only when awaited.
"""

from __future__ import annotations

import asyncio
from collections import deque

from .. import Key

__all__ = ["Outbox"]

#: One message to send: its key and its encoded envelope.
Item = tuple[Key, bytes]


class Outbox:
    """A bounded FIFO of encoded messages, taken out in batches.

    A message appended to a full outbox pushes out the oldest, counted in :attr:`dropped`. A
    batch taken out is *in flight* until :meth:`done` (sent) or :meth:`put_back` (failed: it
    goes back to the front, to be sent again, oldest still dropped first if full).
    """

    __slots__ = (
        "_batch_size",
        "_buffer",
        "_in_flight",
        "_max",
        "_signalled",
        "dropped",
        "idle",
        "sent",
        "wake",
    )

    def __init__(self, max_buffer: int, batch_size: int) -> None:
        self._max = max_buffer
        self._batch_size = batch_size
        self._buffer: deque[Item] = deque()
        self._in_flight = 0
        #: Messages pushed out of a full outbox, or abandoned at close.
        self.dropped = 0
        #: Messages acknowledged by the broker.
        self.sent = 0
        #: Set when something was appended; the sender clears it before it waits.
        self.wake = asyncio.Event()
        #: Set while nothing is buffered or in flight.
        self.idle = asyncio.Event()
        self.idle.set()
        # Whether wake is set and idle cleared already: most appends then touch neither.
        self._signalled = False

    def __len__(self) -> int:
        """Messages buffered or in flight."""
        return len(self._buffer) + self._in_flight

    def append(self, item: Item) -> None:
        """Buffer ``item``; drop the oldest if the outbox is full. Never blocks, never raises."""
        buffer = self._buffer
        buffer.append(item)
        if len(buffer) > self._max:
            buffer.popleft()
            self.dropped += 1
        if not self._signalled:
            self._signalled = True
            self.idle.clear()
            self.wake.set()

    def take(self) -> list[Item]:
        """The next batch (empty if nothing is buffered), now in flight."""
        buffer = self._buffer
        batch = [buffer.popleft() for _ in range(min(len(buffer), self._batch_size))]
        self._in_flight = len(batch)
        return batch

    def done(self, batch: list[Item], refused: int = 0) -> None:
        """The broker took ``batch``, but for ``refused`` messages it cannot carry at all."""
        self._in_flight = 0
        self.sent += len(batch) - refused
        if not self._buffer:
            self._signalled = False
            self.idle.set()

    def put_back(self, batch: list[Item]) -> None:
        """Sending ``batch`` failed: it goes back to the front, to be sent first."""
        self._in_flight = 0
        buffer = self._buffer
        buffer.extendleft(reversed(batch))
        while len(buffer) > self._max:
            buffer.popleft()
            self.dropped += 1

    def abandon(self) -> None:
        """Drop everything still buffered (counted), at close."""
        self.dropped += len(self)
        self._buffer.clear()
        self._in_flight = 0
        self._signalled = False
        self.idle.set()

    async def wait(self) -> None:
        """Wait until something is buffered."""
        while not self._buffer:
            self._signalled = False
            self.idle.set()
            self.wake.clear()
            await self.wake.wait()
