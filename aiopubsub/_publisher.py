"""Publisher: a handle that publishes under a fixed key prefix."""

from __future__ import annotations

from typing import Any

from ._hub import Hub
from ._key import WILDCARD, Key, PossibleKey

__all__ = ["Publisher"]

_ANY = Key(WILDCARD)


class Publisher:
    """Publishes to a :class:`Hub` under ``prefix + key``.

    :param hub: the hub to publish to.
    :param prefix: a ``str`` (one part), an iterable of ``str`` or a :class:`Key`.
    :raises TypeError: if ``prefix`` has a part that is not a ``str``.
    """

    def __init__(self, hub: Hub, prefix: PossibleKey) -> None:
        self._hub = hub
        self.prefix = Key.create_from(prefix)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} prefix={self.prefix!r}>"

    def publish(self, key: PossibleKey, message: Any) -> None:
        """Publish ``message`` under ``prefix + key``; see :meth:`Hub.publish`.

        :param key: a ``str`` (one part), an iterable of ``str`` or a :class:`Key`.
        """
        self._hub.publish(self.prefix + key, message)

    def retain(self, key: PossibleKey, message: Any, ttl: float | None = None) -> None:
        """Publish and retain ``message`` under ``prefix + key``; see :meth:`Hub.retain`."""
        self._hub.retain(self.prefix + key, message, ttl)

    async def apublish(self, key: PossibleKey, message: Any) -> None:
        """Publish under ``prefix + key`` once every bounded queue it reaches has room; see
        :meth:`Hub.apublish`."""
        await self._hub.apublish(self.prefix + key, message)

    def publish_threadsafe(self, key: PossibleKey, message: Any) -> None:
        """Publish under ``prefix + key`` from any thread; see :meth:`Hub.publish_threadsafe`."""
        self._hub.publish_threadsafe(self.prefix + key, message)

    def has_subscribers(self, key: PossibleKey = _ANY) -> bool:
        """Whether a message published under ``prefix + key`` could reach a subscription.

        With no argument: whether a message under any key longer than the prefix could reach
        one (``prefix + ('*',)``, as in 3.0.0); a subscription to exactly the prefix does not
        count.
        """
        return self._hub.has_subscribers(self.prefix + key)
