"""The Hub: the registry of subscriptions and the fan-out of every published message."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from ._errors import InvalidKeyError
from ._key import WILDCARD, Key, PossibleKey, intersects, matches
from ._log import get_logger
from ._routing import Callback, Router

__all__ = ["Hub"]

_ANY = Key(WILDCARD)
_HUB = "Hub"


def coerce_key(key: PossibleKey) -> Key:
    """Return ``key`` as a :class:`Key` (a ``str`` is one part)."""
    return key if type(key) is Key else Key.create_from(key)


def check_pattern(key: PossibleKey) -> Key:
    """Return ``key`` as a :class:`Key` fit to subscribe under.

    :raises InvalidKeyError: if the key is empty.
    """
    pattern = coerce_key(key)
    if not pattern:
        raise InvalidKeyError(
            f"Cannot subscribe to an empty key {pattern!r}: nothing is published under it"
        )
    return pattern


def check_publishable(key: Key) -> Key:
    """Return ``key`` if a message can be published under it.

    :raises InvalidKeyError: if the key is empty or contains ``'*'``.
    """
    if not key or WILDCARD in key:
        raise InvalidKeyError(
            f"Cannot publish under {key!r}: a published key needs at least one part and no '*'"
        )
    return key


def could_reach(key: Key, patterns: Iterable[Key]) -> bool:
    """Whether a message published under ``key`` (any key it matches, for a wildcard ``key``)
    would be matched by one of ``patterns``. The brute-force twin of the router's walk."""
    if not key:
        return False
    if WILDCARD in key:
        return any(intersects(key, pattern) for pattern in patterns)
    return any(matches(key, pattern) for pattern in patterns)


class Hub:
    """Routes every published message to the subscriptions whose keys match it.

    Delivery is synchronous: :meth:`publish` calls each matching subscription's callback before
    it returns (for a queue subscription, that callback enqueues the message). Decisions:

    * Each subscription is called once per message, even when several of its keys match.
    * Subscriptions are called in the order in which they were first subscribed.
    * A callback that raises is logged (``aiopubsub.Hub``, with the key and the callback) and
      delivery goes on to the other subscriptions; the publisher never sees the error.
    * A message published while a fan-out is running (from inside a callback) is queued and
      delivered when the current fan-out ends, so every subscription sees messages in publish
      order. It goes to the subscriptions that matched when it was published.
    * The hub announces each effective subscribe / unsubscribe under
      ``('Hub', 'addedSubscriber', *parts)`` / ``('Hub', 'removedSubscriber', *parts)``, with
      each ``'*'`` of the subscribed key written ``'\\*'``, and the message
      ``{'key': <subscribed Key>, 'currentSubscriberCount': <subscriptions on that exact key>}``.
      Nothing is built or published when nobody could receive it.

    :param route_cache_size: how many published keys' routes to remember (oldest forgotten first).
    """

    def __init__(self, *, route_cache_size: int = 4096) -> None:
        self._router = Router(route_cache_size)
        self._routes = self._router.cache
        self._delivering = False
        self._pending: deque[tuple[Key, Any, tuple[Callback, ...]]] = deque()
        self._logger = get_logger("Hub")

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} subscriptions={len(self._router)}"
            f" cached_routes={len(self._routes)}>"
        )

    # -- publishing ---------------------------------------------------------------------------

    def publish(self, key: PossibleKey, message: Any) -> None:
        """Deliver ``message`` to every subscription whose key matches ``key``.

        :param key: a :class:`Key` (or a ``str``, one part, or an iterable of ``str``) with no
            wildcard.
        :raises InvalidKeyError: if ``key`` is empty or contains ``'*'``; nothing is delivered.
        :raises TypeError: if ``key`` is not a key or has a part that is not a ``str``.
        """
        if type(key) is not Key:
            key = Key.create_from(key)
        callbacks = self._routes.get(key)
        if callbacks is None:
            callbacks = self._route(key)
        if not callbacks:
            return
        if self._delivering:
            self._pending.append((key, message, callbacks))
            return
        self._delivering = True
        try:
            for callback in callbacks:
                try:
                    callback(key, message)
                except Exception as exc:  # noqa: BLE001 - a subscriber's failure is not ours
                    self._callback_failed(exc, callback, key, message)
            if self._pending:
                self._deliver_pending()
        finally:
            self._delivering = False

    def _route(self, key: Key) -> tuple[Callback, ...]:
        return self._router.route(check_publishable(key))

    def _deliver_pending(self) -> None:
        pending = self._pending
        while pending:
            key, message, callbacks = pending.popleft()
            for callback in callbacks:
                try:
                    callback(key, message)
                except Exception as exc:  # noqa: BLE001
                    self._callback_failed(exc, callback, key, message)

    def _callback_failed(self, exc: Exception, callback: Callback, key: Key, message: Any) -> None:
        self._logger.error("Callback %r failed on key %r: %r", callback, key, exc, exc_info=exc)

    # -- subscriptions ------------------------------------------------------------------------

    def add_subscriber(
        self, key: PossibleKey, callback: Callback, unread: Callable[[], int] | None = None
    ) -> None:
        """Call ``callback(key, message)`` for every message published under a key matching ``key``.

        Adding the same callback under the same key again changes nothing and logs a warning.

        :param key: the key or pattern to subscribe under.
        :param unread: a zero-argument callable giving the subscription's queue length, if it
            has a queue (see :meth:`get_subscriber_queue_sizes`).
        :raises InvalidKeyError: if ``key`` is empty.
        :raises TypeError: if ``callback`` or ``unread`` is not callable.
        """
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        if unread is not None and not callable(unread):
            raise TypeError(f"unread must be callable or None, got {unread!r}")
        self.subscribe_token(check_pattern(key), callback, callback, unread)

    def remove_subscriber(
        self, key: PossibleKey, callback: Callback, unread: Callable[[], int] | None = None
    ) -> None:
        """Undo :meth:`add_subscriber`; a subscription that does not exist logs a warning.

        :param unread: accepted for compatibility; the hub remembers it from the subscription.
        """
        self.unsubscribe_token(coerce_key(key), callback)

    def subscribe_token(
        self,
        pattern: Key,
        token: Hashable,
        callback: Callback,
        unread: Callable[[], int] | None = None,
    ) -> bool:
        """Subscribe the subscription identified by ``token``; for :class:`Subscriber`.

        :return: whether it was not subscribed under ``pattern`` yet.
        """
        if not self._router.add(pattern, token, callback, unread):
            self._logger.warning("Repeated subscription of %r to key %r.", token, pattern)
            return False
        self._announce("addedSubscriber", pattern)
        return True

    def unsubscribe_token(self, pattern: Key, token: Hashable) -> bool:
        """Undo :meth:`subscribe_token`; return whether ``token`` was subscribed there."""
        if not self._router.remove(pattern, token):
            self._logger.warning(
                "Unsubscribe of %r from key %r, which it is not subscribed to.", token, pattern
            )
            return False
        self._announce("removedSubscriber", pattern)
        return True

    def _announce(self, event: str, pattern: Key) -> None:
        if not self._router.has_root(_HUB):
            return  # Nobody could receive the meta-event: don't build it.
        parts = tuple("\\*" if part == WILDCARD else part for part in pattern)
        self.publish(
            tuple.__new__(Key, (_HUB, event, *parts)),
            {"key": pattern, "currentSubscriberCount": self._router.count(pattern)},
        )

    # -- introspection ------------------------------------------------------------------------

    def has_subscribers(self, key: PossibleKey = _ANY) -> bool:
        """Could a message published under ``key`` reach any subscription?

        For a wildcard ``key``: could a message published under any key it matches? With no
        argument: is anything subscribed at all? The answer depends only on the current
        subscriptions, never on what was published before.
        """
        key = coerce_key(key)
        if key and WILDCARD not in key:
            return bool(self._router.targets(key))
        if key == _ANY:
            return len(self._router) > 0
        return could_reach(key, (pattern for pattern, _ in self._router.patterns()))

    def get_subscriber_queue_sizes(self, key: PossibleKey) -> tuple[int, ...]:
        """The queue lengths of the queue subscriptions a publish under ``key`` would reach.

        :raises InvalidKeyError: if ``key`` is empty or a wildcard.
        """
        targets = self._router.targets(check_publishable(coerce_key(key)))
        return tuple(t.unread() for t in targets if t.unread is not None)

    def get_all_subscriber_queue_sizes(self) -> dict[Key, tuple[int, ...]]:
        """For every key with a queue subscription, the lengths of the queues subscribed there."""
        sizes = {}
        for pattern, targets in self._router.patterns():
            queues = tuple(t.unread() for t in targets if t.unread is not None)
            if queues:
                sizes[pattern] = queues
        return sizes
