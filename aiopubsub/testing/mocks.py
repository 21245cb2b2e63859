"""MockHub: a stand-in for :class:`aiopubsub.Hub` that records what is published."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from .._key import Key, PossibleKey, as_key, as_pattern, as_published, could_reach

__all__ = ["MockHub"]

_ANY = Key("*")
_Callback = Callable[[Key, Any], Any]


class MockHub:
    """Records publishes instead of delivering them.

    ``published`` lists every ``(key, message)``, ``published_by_key`` maps each key to its
    messages, ``subscribers`` maps each subscribed key to its callbacks (which are never
    called). Keys are checked and matched exactly as :class:`aiopubsub.Hub` does.

    It has the hub methods a :class:`aiopubsub.Publisher` calls, and the original's; not
    ``count``, ``subscriptions``, ``statistics``, ``wait_for`` or closing, and a
    :class:`aiopubsub.Subscriber` cannot use it.
    """

    def __init__(self) -> None:
        self.published: list[tuple[Key, Any]] = []
        self.published_by_key: defaultdict[Key, list[Any]] = defaultdict(list)
        self.subscribers: defaultdict[Key, list[_Callback]] = defaultdict(list)

    def publish(self, key: PossibleKey, message: Any) -> None:
        """Record ``message`` under ``key``; refuses the keys :meth:`Hub.publish` refuses."""
        key = as_published(key)
        self.published.append((key, message))
        self.published_by_key[key].append(message)

    async def apublish(self, key: PossibleKey, message: Any) -> None:
        """Record as :meth:`publish` does; a mock has no queue to wait for."""
        self.publish(key, message)

    def publish_threadsafe(self, key: PossibleKey, message: Any) -> None:
        """Record as :meth:`publish` does, at once, in the calling thread (not thread-safe)."""
        self.publish(key, message)

    def add_subscriber(self, key: PossibleKey, callback: _Callback, unread: object = None) -> None:
        """Record ``callback`` under ``key``."""
        self.subscribers[as_pattern(key)].append(callback)

    def remove_subscriber(
        self, key: PossibleKey, callback: _Callback, unread: object = None
    ) -> None:
        """Forget ``callback`` under ``key``. :raises ValueError: if it was not recorded."""
        pattern = as_key(key)
        self.subscribers[pattern].remove(callback)
        if not self.subscribers[pattern]:
            del self.subscribers[pattern]

    def has_subscribers(self, key: PossibleKey = _ANY) -> bool:
        """Answers as :meth:`Hub.has_subscribers` would for the recorded subscriptions."""
        return could_reach(as_key(key), self.subscribers)

    def get_subscriber_queue_sizes(self, key: PossibleKey) -> tuple[int, ...]:
        """How many messages were published under exactly ``key``, as a one-item tuple."""
        return (len(self.published_by_key.get(as_key(key), ())),)
