"""Read-only records the library hands out: statistics and the context of an error."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from ._key import Key

if TYPE_CHECKING:
    from ._inbox import Overflow

__all__ = ["ErrorContext", "HubStatistics", "SubscriptionStatistics"]


@dataclasses.dataclass(frozen=True, slots=True)
class SubscriptionStatistics:
    """A snapshot of one queue subscription, from :meth:`Subscriber.statistics`."""

    #: Messages in the queue now.
    queued: int
    #: The most messages the queue has held at once.
    peak_queued: int
    #: The bound (``0``: unbounded) and what happens beyond it.
    maxsize: int
    overflow: Overflow
    #: Messages that entered the queue.
    delivered: int
    #: Messages lost to overflow (the dropped oldest, or the refused newest).
    dropped: int
    #: Whether the subscription was cut off (``Overflow.DISCONNECT``) or its subscriber closed.
    closed: bool


@dataclasses.dataclass(frozen=True, slots=True)
class HubStatistics:
    """Hub-wide totals, from :meth:`Hub.statistics`."""

    #: Live subscriptions (one per queue, callback, or listener, however many keys each has;
    #: a pending :meth:`Hub.wait_for` counts too).
    subscriptions: int
    #: Calls to ``publish`` that were accepted (whether or not anyone was subscribed), and
    #: messages handed to a subscription (one per subscription each publish reached). Counted
    #: only in debug mode (``Hub(debug=True)``, or an asyncio loop in debug mode), ``None``
    #: otherwise: debug mode checks every publish on the slow path, without the route cache,
    #: which makes the cheapest publishes several times slower.
    published: int | None
    delivered: int | None
    #: Messages lost: by bounded queues to overflow, sent with :meth:`Hub.publish_threadsafe`
    #: that arrived after the hub closed, and deliveries a fan-out skipped because their
    #: subscription was closed during it (by a callback of that same fan-out).
    dropped: int
    #: Failures of sync callbacks and async listeners, each also passed to ``on_error``.
    listener_errors: int
    #: Live retained values (see :meth:`Hub.retain`), values that died of their TTL, and
    #: values pushed out beyond the store's ``max_keys``.
    retained: int = 0
    expired: int = 0
    evicted: int = 0
    #: Failures of the persistent store (each also passed to ``on_error``, ``kind='store'``).
    store_errors: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class ErrorContext:
    """What failed, passed to the hub's ``on_error(exc, context)`` hook with the exception."""

    #: The key and message being delivered when the callback raised.
    key: Key
    message: Any
    #: The callback or async listener that raised.
    callback: object
    #: The id of the :class:`Subscriber` it belongs to, and its subscription id; both ``None``
    #: for a callback added with :meth:`Hub.add_subscriber` directly.
    subscriber_id: str | None = None
    subscription_id: str | None = None
    #: ``'callback'`` for a sync callback (called inside ``publish``), ``'async listener'``;
    #: from the Redis bridge, ``'bridge encode'`` (a local message its codec refused; the
    #: callback is the bridge) or ``'bridge decode'`` (a message from Redis it could not read;
    #: the key is the one-part channel name, the message the raw bytes).
    kind: str = "callback"
