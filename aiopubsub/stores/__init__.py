"""Stores of retained values: the :class:`Store` protocol, the in-memory default, and the
persistent stores (:mod:`aiopubsub.stores.sqlite`, :mod:`aiopubsub.stores.redis`), which are
imported on their own so that the core needs nothing beyond the standard library."""

from __future__ import annotations

from ._base import Store, StoreWriteError, check_ttl, key_order
from .memory import MemoryStore

__all__ = ["MemoryStore", "Store", "StoreWriteError", "check_ttl", "key_order"]
