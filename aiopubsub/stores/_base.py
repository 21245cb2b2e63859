"""The :class:`Store` protocol, and the rules every store shares: valid TTLs and key order."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Protocol

from .._key import Key

__all__ = ["MAX_TTL", "Retained", "Store", "StoreWriteError", "check_ttl", "key_order"]

#: The longest TTL accepted, in seconds (about 31 years): beyond it no store can keep the
#: deadline exactly (Redis counts milliseconds in 64 bits, SQLite adds it to the clock).
MAX_TTL = 1e9

#: One retained value as stores hand it over: ``(key, message, ttl)``, where ``ttl`` is the
#: seconds it has left to live, or ``None`` if it never expires.
Retained = tuple[Key, Any, float | None]


class StoreWriteError(OSError):
    """Values handed to a store were not written (or could not be encoded for it).

    :ivar count: how many values were not written.
    :ivar key: the key of the first of them, if known.
    """

    def __init__(self, message: str, *, count: int, key: Key | None = None) -> None:
        super().__init__(message)
        self.count = count
        self.key = key


class Store(Protocol):
    """Where a hub keeps its retained values: the classic storage-backend interface, async.

    The hub keeps the live values in memory (a :class:`~aiopubsub.stores.MemoryStore`) and
    writes a persistent store behind, in order, in batches (:meth:`save_many`, :meth:`clear`);
    it reads it at start (:meth:`Hub.load_retained`). A TTL is always the time left, in
    seconds, from the call; ``None`` never expires.
    """

    async def save(self, key: Key, message: Any, ttl: float | None) -> None:
        """Keep ``message`` as the value of ``key`` (replacing it) for ``ttl`` seconds."""

    async def save_many(self, items: Sequence[Retained]) -> None:
        """:meth:`save` each item, in order (the hub's write-behind calls this)."""

    async def load(self, key: Key) -> tuple[Any, float | None] | None:
        """The live value of ``key`` and its TTL left, or ``None``."""

    async def load_matching(self, pattern: Key | None = None) -> list[Retained]:
        """Every live value whose key ``pattern`` matches (all of them for ``None``)."""

    async def clear(self, pattern: Key) -> int:
        """Remove the values whose key ``pattern`` matches; return how many were live."""

    async def clear_all(self) -> int:
        """Remove every value; return how many were live."""

    async def aclose(self) -> None:
        """Write what is pending and release the store's resources. Idempotent."""


def check_ttl(ttl: object) -> float | None:
    """Return ``ttl`` as seconds to live (``None``: forever).

    :raises TypeError: if ``ttl`` is not a real number or ``None``.
    :raises ValueError: if ``ttl`` is negative, NaN, infinite or above :data:`MAX_TTL`; the
        message names it.
    """
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
        raise TypeError(f"ttl must be a number of seconds or None, got {ttl!r}")
    # Compared before any float(): an int too large for a float raises no OverflowError here.
    if not (0 <= ttl <= MAX_TTL):  # NaN fails this too.
        raise ValueError(
            f"ttl must be a number of seconds from 0 to {MAX_TTL:.0e} (None: never expires),"
            f" got {_short(ttl)}"
        )
    return float(ttl)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...{text[-8:]} ({len(text)} digits)"


def _part_order(part: Hashable) -> tuple[int, Any, str]:
    # str parts sort as text, int parts as numbers (bool apart), and every other part after
    # them by its type's name and then its repr: a total order for any mix of part types.
    if type(part) is str:
        return (0, part, "")
    if type(part) is int:
        return (1, part, "")
    return (2, type(part).__qualname__, repr(part))


def key_order(key: Key) -> tuple[tuple[int, Any, str], ...]:
    """The sort key in which replay delivers retained values: part by part, ``str`` parts as
    text first, then ``int`` parts by value, then any other part by its type's name and its
    ``repr``; a key that is a prefix of another comes before it."""
    return tuple(_part_order(part) for part in key)
