"""MemoryStore: the live retained values, in a dict, with lazy expiry, a sweep and a bound."""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .._key import WILDCARD, Key, matches
from ._base import Retained

__all__ = ["MemoryStore"]

#: Seconds between two sweeps of expired values, by default.
SWEEP_INTERVAL = 1.0


class MemoryStore:
    """The retained values of one hub, in memory: the default store, and the layer every hub
    reads from (a persistent store is written behind it).

    A value whose TTL has passed is dead at once: no read returns it (lazy expiry); a sweep,
    at most every ``sweep_interval`` seconds during :meth:`put` (and on :meth:`sweep`),
    frees the memory of those nobody read. Both count in :attr:`expired`. Beyond ``max_keys``
    values, the expired ones go first, then the one retained longest ago, counted in
    :attr:`evicted`.

    The synchronous methods are the hub's; the ``async`` ones make this a
    :class:`~aiopubsub.stores.Store` too.

    :param max_keys: the most values kept (``None``: no bound).
    :param clock: the clock TTLs are measured on, in seconds (tests pass a fake one).
    :param sweep_interval: seconds between two sweeps.
    :raises ValueError: if ``max_keys`` is not an int >= 1 or ``sweep_interval`` is negative.
    """

    def __init__(
        self,
        max_keys: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sweep_interval: float = SWEEP_INTERVAL,
    ) -> None:
        if max_keys is not None and (
            isinstance(max_keys, bool) or not isinstance(max_keys, int) or max_keys < 1
        ):
            raise ValueError(f"max_keys must be an int >= 1 or None, got {max_keys!r}")
        if not callable(clock):
            raise TypeError(f"clock must be callable, got {clock!r}")
        if not isinstance(sweep_interval, (int, float)) or not sweep_interval >= 0:
            raise ValueError(f"sweep_interval must be seconds >= 0, got {sweep_interval!r}")
        self.max_keys = max_keys
        self.clock = clock
        self._sweep_interval = float(sweep_interval)
        #: key -> (message, deadline or None), the least recently retained first.
        self._values: dict[Key, tuple[Any, float | None]] = {}
        #: (deadline, key) of every value retained with a TTL; stale entries are skipped.
        self._deadlines: list[tuple[float, int, Key]] = []
        self._tiebreak = 0
        self._next_sweep = 0.0
        #: Values that died of their TTL, and values pushed out beyond ``max_keys``.
        self.expired = 0
        self.evicted = 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} values={len(self._values)} max_keys={self.max_keys}>"

    def __len__(self) -> int:
        """The number of values held, some perhaps expired and not swept yet."""
        return len(self._values)

    # -- the hub's synchronous interface ------------------------------------------------------

    def put(self, key: Key, message: Any, ttl: float | None) -> None:
        """Keep ``message`` as the value of ``key`` for ``ttl`` seconds (``None``: forever)."""
        values = self._values
        values.pop(key, None)  # Re-inserted last: the most recently retained.
        if ttl is None:
            values[key] = (message, None)
            if not self._deadlines:
                if self.max_keys is not None and len(values) > self.max_keys:
                    self._evict()
                return
            now = self.clock()
        else:
            now = self.clock()
            deadline = now + ttl
            values[key] = (message, deadline)
            self._tiebreak += 1
            heapq.heappush(self._deadlines, (deadline, self._tiebreak, key))
        if now >= self._next_sweep:
            self._sweep(now)
        if self.max_keys is not None and len(values) > self.max_keys:
            self._evict()

    def _evict(self) -> None:
        values = self._values
        if self._deadlines:
            self._sweep(self.clock())  # The dead go first: a live value keeps its slot.
        while len(values) > self.max_keys:  # type: ignore[operator]
            key = next(iter(values))
            deadline = values.pop(key)[1]
            if deadline is not None and deadline <= self.clock():
                self.expired += 1  # Dead already: not an eviction.
            else:
                self.evicted += 1

    def get(self, key: Key) -> tuple[bool, Any]:
        """``(True, message)`` if ``key`` has a live value, else ``(False, None)``."""
        entry = self._values.get(key)
        if entry is None:
            return False, None
        deadline = entry[1]
        if deadline is not None and deadline <= self.clock():
            del self._values[key]
            self.expired += 1
            return False, None
        return True, entry[0]

    def entry(self, key: Key) -> tuple[Any, float | None] | None:
        """``(message, ttl left)`` of the live value of ``key``, or ``None``; the clock is read
        only for a value that has a TTL."""
        entry = self._values.get(key)
        if entry is None or entry[1] is None:
            return entry
        left = entry[1] - self.clock()
        if left > 0:
            return entry[0], left
        del self._values[key]
        self.expired += 1
        return None

    def live(self, pattern: Key | None = None) -> Iterator[Retained]:
        """Every live ``(key, message, ttl left)`` that ``pattern`` matches (all, for ``None``),
        in the order they were retained. Expired values met on the way are dropped."""
        now = self.clock()
        dead = []
        if pattern is not None and WILDCARD not in pattern:
            entry = self._values.get(pattern)
            entries = [] if entry is None else [(pattern, entry)]
        else:
            entries = list(self._values.items())
        found = []
        for key, (message, deadline) in entries:
            if deadline is not None and deadline <= now:
                dead.append(key)
            elif pattern is None or matches(key, pattern):
                found.append((key, message, None if deadline is None else deadline - now))
        for key in dead:
            del self._values[key]
        self.expired += len(dead)
        return iter(found)

    def remove(self, pattern: Key | None) -> list[Key]:
        """Drop the values ``pattern`` matches (all, for ``None``); return the keys of those
        that were live, in the order they were retained."""
        keys = [key for key, _, _ in self.live(pattern)]
        for key in keys:
            del self._values[key]
        return keys

    def sweep(self) -> int:
        """Drop every expired value now; return how many."""
        return self._sweep(self.clock())

    def _sweep(self, now: float) -> int:
        self._next_sweep = now + self._sweep_interval
        heap = self._deadlines
        values = self._values
        swept = 0
        while heap and heap[0][0] <= now:
            deadline, _, key = heapq.heappop(heap)
            entry = values.get(key)
            if entry is not None and entry[1] == deadline:
                del values[key]
                swept += 1
        if len(heap) > 2 * len(values) + 64:
            # Many entries were replaced or removed: rebuild from the values alone.
            self._deadlines = heap = [
                (d, i, k) for i, (k, (_, d)) in enumerate(values.items()) if d is not None
            ]
            heapq.heapify(heap)
            self._tiebreak = len(values)
        self.expired += swept
        return swept

    # -- the Store protocol -------------------------------------------------------------------

    async def save(self, key: Key, message: Any, ttl: float | None) -> None:
        """See :meth:`Store.save`."""
        self.put(key, message, ttl)

    async def save_many(self, items: Sequence[Retained]) -> None:
        """See :meth:`Store.save_many`."""
        for key, message, ttl in items:
            self.put(key, message, ttl)

    async def load(self, key: Key) -> tuple[Any, float | None] | None:
        """See :meth:`Store.load`."""
        for _, message, ttl in self.live(key):
            return message, ttl
        return None

    async def load_matching(self, pattern: Key | None = None) -> list[Retained]:
        """See :meth:`Store.load_matching`."""
        return list(self.live(pattern))

    async def clear(self, pattern: Key) -> int:
        """See :meth:`Store.clear`."""
        return len(self.remove(pattern))

    async def clear_all(self) -> int:
        """See :meth:`Store.clear_all`."""
        return len(self.remove(None))

    async def aclose(self) -> None:
        """Nothing to release."""
