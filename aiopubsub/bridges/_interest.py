"""What a bridge wants from the broker: the inbound patterns, counted by the local
subscriptions that want each, and the broker's subscriptions kept in step with them."""

from __future__ import annotations

import asyncio

from .. import Key
from ._backend import Backend
from ._keys import HUB, key_matches, part_error
from ._wire import Receiver

__all__ = ["Interest"]


class Interest:
    """The inbound patterns of one bridge (theory of operation, rule 3 of ``_bridge``).

    :meth:`want` changes them at once; :meth:`follow`, one task per session, subscribes and
    unsubscribes at the broker to match, and sets :attr:`synced` whenever the broker has
    confirmed everything wanted at that time.
    """

    __slots__ = ("_receiver", "changed", "subscribed", "synced", "wanted")

    def __init__(self, receiver: Receiver) -> None:
        self._receiver = receiver
        #: Pattern -> the local subscriptions wanting it (not the bridge's own).
        self.wanted: dict[Key, int] = {}
        #: What the broker has now, in this session.
        self.subscribed: set[Key] = set()
        self.changed = asyncio.Event()
        self.synced = asyncio.Event()

    def want(self, pattern: Key, count: int) -> None:
        """Record that ``count`` local subscriptions want ``pattern``. A pattern no longer
        wanted makes the receiver forget the numbers of the keys nothing wants now."""
        if pattern[0] == HUB or part_error(pattern) is not None:
            return  # Never bridged; and no remote key holds a part other than str or int.
        wanted = self.wanted
        if count > 0:
            if pattern in wanted:
                wanted[pattern] = count
                return
            wanted[pattern] = count
        elif wanted.pop(pattern, None) is not None:
            left = list(wanted)
            self._receiver.forget(lambda key: any(key_matches(key, p) for p in left))
        else:
            return
        self.synced.clear()
        self.changed.set()

    async def follow(self, backend: Backend) -> None:
        """Subscribe and unsubscribe at the broker as the wanted patterns change, from a
        session that subscribed to nothing yet; until cancelled or a fault (propagated)."""
        self.subscribed.clear()
        while True:
            self.changed.clear()
            wanted = set(self.wanted)
            new, gone = wanted - self.subscribed, self.subscribed - wanted
            if gone:
                self.subscribed -= gone
                await backend.unsubscribe(gone)
            if new:
                await backend.subscribe(new)
                self.subscribed |= new
            if not self.changed.is_set():
                self.synced.set()
                await self.changed.wait()
