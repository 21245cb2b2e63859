"""Subscriber: queue and callback subscriptions, consuming, and listeners."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any

from ._errors import (
    ConsumeQueueNotFoundError,
    PubSubError,
    SlowConsumerError,
    SubscriberClosedError,
    SubscriptionNotFoundError,
)
from ._hub import Hub
from ._inbox import Inbox, Overflow, check_bound
from ._key import Key, PossibleKey, as_key, as_pattern
from ._leaks import release_queues
from ._listeners import AsyncCallback, ListenerKeys, ListenerRemoval, Listeners, SyncCallback
from ._log import get_logger
from ._records import SubscriptionStatistics
from ._routing import check_sync_callback
from ._subscription import Messages, Subscription, check_id
from ._tasks import stop_tasks

__all__ = ["ListenerRemoval", "Subscriber"]


class Subscriber:
    """Receives messages from a :class:`Hub`, into queues or through callbacks.

    Each *subscription id* is either one queue (made by :meth:`subscribe`, read with
    :meth:`consume`) or one callback (made by :meth:`sync_subscribe`), and may be subscribed
    under several keys; a message matching several of them arrives once.

    Close a subscriber when done with it (:meth:`close`, ``await`` :meth:`aclose`, or
    ``async with``). One dropped without closing while its hub lives on has its queue
    subscriptions removed, since nobody can consume them any more (a :class:`ResourceWarning`
    says so); its callback subscriptions and sync listeners go on working, as they did in
    the original.

    :param hub: the hub to subscribe to.
    :param id_: a name for logs, meta-events and listener ids.
    :param maxsize: the default bound of this subscriber's queues, async listeners' included
        (``0``: unbounded, as in the original).
    :param overflow: what a full queue does with the next message (see :class:`Overflow`).
    :raises HubClosedError: if ``hub`` is closed.
    :raises TypeError: if ``id_`` is not a ``str``.
    """

    #: The subscription id used when none is given.
    DEFAULT_SUBSCRIPTION_ID = "default"

    def __init__(
        self,
        hub: Hub,
        id_: str,
        *,
        maxsize: int = 0,
        overflow: Overflow | str = Overflow.DROP_OLDEST,
    ) -> None:
        self._closed = True  # Until set up: nothing for __del__ to do.
        bound: tuple[int, Overflow] = (
            (0, Overflow.DROP_OLDEST)  # The defaults: nothing to check.
            if maxsize == 0 and overflow is Overflow.DROP_OLDEST and type(maxsize) is int
            else check_bound(maxsize, overflow)
        )
        self._maxsize, self._overflow = bound
        self.id = check_id(id_, "A subscriber id")
        self._hub = hub
        self._subscriptions: dict[str, Subscription] = {}
        #: The queues among the subscriptions, for a fast :meth:`consume`.
        self._inboxes: dict[str, Inbox] = {}
        #: Made with the first listener (see _listening): most subscribers have none.
        self._listeners: Listeners | None = None
        self._logger = get_logger("Subscriber")
        hub._check_open()
        #: Whether the hub knows this subscriber, to close it with itself: from the first
        #: subscription on (see _add); until then there is nothing to close.
        self._attached = False
        self._closed = False

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        return (
            f"<{type(self).__name__} {self.id!r}{state} subscriptions={len(self._subscriptions)}"
            f" listeners={0 if self._listeners is None else len(self._listeners)}>"
        )

    def _listening(self) -> Listeners:
        listeners = self._listeners
        if listeners is None:
            listeners = self._listeners = Listeners(self)
        return listeners

    def _check_open(self) -> None:
        if self._closed or self._hub._closed:
            raise SubscriberClosedError(f"Subscriber {self.id!r} is closed")

    # -- subscriptions ------------------------------------------------------------------------

    def async_subscribe(
        self,
        key: PossibleKey,
        subscription_id: str = DEFAULT_SUBSCRIPTION_ID,
        *,
        maxsize: int | None = None,
        overflow: Overflow | str | None = None,
        replay: bool = False,
    ) -> None:
        """Queue every message matching ``key`` under ``subscription_id``, for :meth:`consume`.

        All keys subscribed under one id share one queue, in publish order. ``maxsize`` and
        ``overflow`` (by default the subscriber's) are set when the id is first subscribed.
        Subscribing again under an id that was disconnected (``Overflow.DISCONNECT``) resumes
        it, with what it still holds queued.

        ``replay`` queues first the live retained values ``key`` matches (not those another key
        of the id matches), in key order, bound and overflow applying (see :meth:`Hub.retain`).

        :raises InvalidKeyError: if ``key`` is empty.
        :raises ValueError: if ``subscription_id`` is a callback subscription, or already has
            another ``maxsize`` or ``overflow``.
        :raises SubscriberClosedError: if the subscriber is closed.
        """
        self._check_open()
        pattern = as_pattern(key)
        subscription = self._subscriptions.get(subscription_id)
        if subscription is None:
            bound = check_bound(
                self._maxsize if maxsize is None else maxsize,
                self._overflow if overflow is None else overflow,
            )
            inbox = Inbox(*bound, on_overflow=self._overflow_hook(subscription_id))
            subscription = Subscription(check_id(subscription_id, "A subscription id"), None, inbox)
        elif subscription.inbox is None:
            raise ValueError(
                f"Subscription id {subscription_id!r} of subscriber {self.id!r} is a callback"
                " subscription; choose another subscription_id for a queue"
            )
        else:
            inbox = subscription.inbox
            asked = check_bound(
                inbox.maxsize if maxsize is None else maxsize,
                inbox.overflow if overflow is None else overflow,
            )
            if asked != (inbox.maxsize, inbox.overflow):
                raise ValueError(
                    f"Subscription id {subscription_id!r} of subscriber {self.id!r} already has"
                    f" maxsize={inbox.maxsize}, overflow={inbox.overflow!s}; got"
                    f" maxsize={maxsize!r}, overflow={overflow!r}"
                )
            if inbox.closed:
                inbox.reopen()
        self._add(subscription, pattern, replay)

    subscribe = async_subscribe

    def sync_subscribe(
        self,
        key: PossibleKey,
        callback: SyncCallback,
        subscription_id: str = DEFAULT_SUBSCRIPTION_ID,
        *,
        replay: bool = False,
    ) -> None:
        """Call ``callback(key, message)`` inside :meth:`Hub.publish` for each match of ``key``.
        ``replay``: first call it with the retained values, as :meth:`async_subscribe` does.

        :raises InvalidKeyError: if ``key`` is empty.
        :raises TypeError: if ``callback`` is not callable or is ``async``.
        :raises ValueError: if ``subscription_id`` is a queue or holds another callback.
        :raises SubscriberClosedError: if the subscriber is closed.
        """
        self._check_open()
        check_sync_callback(callback)
        pattern = as_pattern(key)
        subscription = self._subscriptions.get(subscription_id)
        if subscription is None:
            subscription = Subscription(
                check_id(subscription_id, "A subscription id"), callback, None
            )
        elif subscription.callback != callback:
            held = subscription.inbox if subscription.callback is None else subscription.callback
            raise ValueError(
                f"Subscription id {subscription_id!r} of subscriber {self.id!r} already holds"
                f" {held!r}; choose another subscription_id for {callback!r}"
            )
        self._add(subscription, pattern, replay)

    def _add(self, subscription: Subscription, pattern: Key, replay: bool = False) -> None:
        if not self._attached:
            self._hub._attach(self)
            self._attached = True
        id_ = subscription.id
        had = list(subscription.keys)
        new = id_ not in self._subscriptions
        if new:
            self._subscriptions[id_] = subscription
            if subscription.inbox is not None:
                self._inboxes[id_] = subscription.inbox
        try:
            subscribed = self._hub._subscribe(
                pattern, subscription, subscription.deliver, subscription.inbox, (self.id, id_)
            )
        except BaseException:
            if new:  # The hub refused it (closed, another thread): leave no empty subscription.
                del self._subscriptions[id_]
                self._inboxes.pop(id_, None)
            raise
        if subscribed:
            subscription.keys[pattern] = None
            if replay:  # Not what another key of the id had: it got those already.
                self._hub._replay((pattern,), subscription, had)

    def unsubscribe(self, key: PossibleKey, subscription_id: str = DEFAULT_SUBSCRIPTION_ID) -> None:
        """Stop delivering messages matching ``key`` to ``subscription_id``.

        Messages already queued stay queued. Unsubscribing a key that is not subscribed logs a
        warning.

        :raises SubscriptionNotFoundError: if there is no subscription ``subscription_id``.
        :raises WrongThreadError: if called from a thread other than the hub's.
        """
        subscription = self._subscription(subscription_id)
        pattern = as_key(key)
        self._hub._check_thread(
            "unsubscribe {!r} of {!r} from {!r}", subscription_id, self.id, pattern
        )
        if self._hub._unsubscribe(pattern, subscription):
            del subscription.keys[pattern]
            subscription.release()

    def _has_subscription(self, subscription_id: str) -> bool:
        """Whether ``subscription_id`` is one of this subscriber's subscriptions (a queue, a
        callback or a listener's)."""
        return subscription_id in self._subscriptions

    def _drop_subscription(self, subscription: Subscription) -> None:
        """End ``subscription``: it gets nothing more, not even from a running fan-out."""
        for pattern in subscription.keys:
            self._hub._unsubscribe(pattern, subscription, end=True)
        subscription.keys.clear()
        subscription.release()

    def _forget_subscription(self, subscription_id: str) -> None:
        """Unsubscribe ``subscription_id`` from everything and forget it (and its queue)."""
        self._drop_subscription(self._subscriptions.pop(subscription_id))
        self._inboxes.pop(subscription_id, None)

    def _subscription(self, subscription_id: str) -> Subscription:
        try:
            return self._subscriptions[subscription_id]
        except KeyError:
            raise SubscriptionNotFoundError(
                f"Subscriber {self.id!r} has no subscription {subscription_id!r}"
            ) from None

    # -- consuming ----------------------------------------------------------------------------

    async def consume(
        self, subscription_id: str = DEFAULT_SUBSCRIPTION_ID, timeout: float | None = None
    ) -> tuple[Key, Any]:
        """Return the oldest queued ``(key, message)`` of ``subscription_id``, waiting if none.

        A ``consume()`` that is cancelled or times out loses nothing: its message was either
        returned or is still queued.

        :param timeout: seconds to wait at most (``None``: no limit). Pass it by keyword; it
            is not keyword-only because that makes every call of a coroutine slower.
        :raises TimeoutError: if ``timeout`` passes first.
        :raises ConsumeQueueNotFoundError: if ``subscription_id`` has no queue (it was never
            subscribed with :meth:`subscribe`, or it is a callback subscription).
        :raises SlowConsumerError: once the queue is empty, if it was disconnected for
            overflowing (``Overflow.DISCONNECT``).
        :raises SubscriberClosedError: once the queue is empty, if the subscriber is closed.
        """
        inbox = self._inboxes.get(subscription_id)
        if inbox is not None and inbox.items:  # The fast path: a message is waiting.
            item = inbox.items.popleft()
            if inbox.watched:
                inbox.taken()
            return item
        # Everything else lives in another coroutine: a smaller frame here makes each call
        # of the fast path cheaper to create.
        return await self._consume(inbox, subscription_id, timeout)

    async def _consume(
        self, inbox: Inbox | None, subscription_id: str, timeout: float | None
    ) -> tuple[Key, Any]:
        if inbox is None:
            raise self._no_queue(subscription_id)
        if inbox.items:
            return inbox.get_nowait()
        if timeout is None:
            return await inbox.get()
        async with asyncio.timeout(timeout):
            return await inbox.get()

    def consume_nowait(self, subscription_id: str = DEFAULT_SUBSCRIPTION_ID) -> tuple[Key, Any]:
        """Return the oldest queued ``(key, message)`` of ``subscription_id`` without waiting.

        :raises asyncio.QueueEmpty: if nothing is queued.
        :raises: otherwise, what :meth:`consume` raises.
        """
        inbox = self._inboxes.get(subscription_id)
        if inbox is None:
            raise self._no_queue(subscription_id)
        return inbox.get_nowait()

    def messages(
        self, subscription_id: str = DEFAULT_SUBSCRIPTION_ID
    ) -> AsyncIterator[tuple[Key, Any]]:
        """``async for key, message in subscriber.messages():`` until the subscriber is closed.

        The loop ends once the subscriber is closed and the queue drained; a disconnected
        queue raises :class:`SlowConsumerError` instead, so that the loss is not mistaken
        for an orderly end.

        :raises ConsumeQueueNotFoundError: here, if ``subscription_id`` has no queue.
        """
        if subscription_id not in self._inboxes:
            raise self._no_queue(subscription_id)
        return Messages(self, subscription_id)

    def statistics(self, subscription_id: str = DEFAULT_SUBSCRIPTION_ID) -> SubscriptionStatistics:
        """A snapshot of the queue of ``subscription_id``: its length, bound and counts.

        :raises ConsumeQueueNotFoundError: if ``subscription_id`` has no queue.
        """
        inbox = self._inboxes.get(subscription_id)
        if inbox is None:
            raise self._no_queue(subscription_id)
        return inbox.statistics()

    def _no_queue(self, subscription_id: str) -> PubSubError:
        if self.closed:
            return SubscriberClosedError(
                f"Subscriber {self.id!r} is closed; it has no queue {subscription_id!r}"
            )
        if subscription_id in self._subscriptions:
            return ConsumeQueueNotFoundError(
                f"Subscription {subscription_id!r} of subscriber {self.id!r} is a callback"
                " subscription; it has no queue to consume from"
            )
        return ConsumeQueueNotFoundError(
            f"Subscriber {self.id!r} has no queue subscription {subscription_id!r};"
            f" call subscribe(key, subscription_id={subscription_id!r}) first"
        )

    # -- overflow -----------------------------------------------------------------------------

    def _overflow_hook(self, subscription_id: str) -> Callable[[Inbox, bool, bool], None]:
        # The inbox lives in the hub's routes: it must not keep the subscriber alive.
        ref = weakref.ref(self)

        def on_overflow(inbox: Inbox, first: bool, disconnect: bool) -> None:
            subscriber = ref()
            if subscriber is not None:
                subscriber._overflowed(subscription_id, inbox, first, disconnect)

        return on_overflow

    def _overflowed(
        self, subscription_id: str, inbox: Inbox, first: bool, disconnect: bool
    ) -> None:
        self._hub._count_drops()
        if disconnect:
            self._drop_subscription(self._subscriptions[subscription_id])
            inbox.close(
                SlowConsumerError,
                f"Subscription {subscription_id!r} of subscriber {self.id!r} was disconnected:"
                f" its queue of {inbox.maxsize} overflowed ({inbox.dropped} dropped);"
                " subscribe again to resume",
            )
        if first:
            self._logger.warning(
                "Subscription %r of subscriber %r is full (maxsize %d): %s",
                subscription_id,
                self.id,
                inbox.maxsize,
                "disconnected" if disconnect else f"dropping messages ({inbox.overflow})",
            )
            self._hub._publish_meta(
                ("slowSubscriber", self.id, subscription_id),
                {"dropped": inbox.dropped, "policy": inbox.overflow},
            )

    # -- listeners ----------------------------------------------------------------------------

    def add_sync_listener(
        self, keys: ListenerKeys, callback: SyncCallback, *, replay: bool = False
    ) -> None:
        """Call ``callback(key, message)`` inline on every publish matching one of ``keys``.
        ``replay``: call a new listener first with the retained values ``keys`` match.

        Adding the same keys and callback again changes nothing. If the callback raises, the
        hub reports it (see :class:`Hub`) and the listener stays.

        :param keys: one key, or a set of keys.
        :raises TypeError: if ``callback`` is ``async`` (use :meth:`add_async_listener`).
        :raises InvalidKeyError: if a key is empty. Nothing is subscribed after an error.
        :raises SubscriberClosedError: if the subscriber is closed.
        """
        self._check_open()
        self._listening().add_sync(keys, callback, replay)

    add_listener = add_sync_listener

    def add_async_listener(
        self, keys: ListenerKeys, callback: AsyncCallback, *, replay: bool = False
    ) -> None:
        """Run ``await callback(key, message)`` for every publish matching one of ``keys``.
        ``replay``: a new listener gets first the retained values ``keys`` match, queued.

        One task per listener awaits the calls one at a time, in publish order across all of
        ``keys``. If the callback raises, the error is reported with the key and the listener
        (see :class:`Hub`), and the listener goes on with the next message. Adding the same
        keys and callback again changes nothing.

        :param keys: one key, or a set of keys.
        :raises TypeError: if ``callback`` is not ``async`` (use :meth:`add_sync_listener`).
        :raises InvalidKeyError: if a key is empty. Nothing is subscribed after an error.
        :raises RuntimeError: if no event loop is running.
        :raises SubscriberClosedError: if the subscriber is closed.
        """
        self._check_open()
        self._listening().add_async(keys, callback, replay)

    def remove_listener(
        self, keys: ListenerKeys, callback: SyncCallback | AsyncCallback
    ) -> ListenerRemoval:
        """Remove the listener added with these ``keys`` and ``callback``, in any key form.

        The removal is done when this returns; await the result to wait for the listener's
        task to stop (it is cancelled, and messages still queued for it are dropped).

        :raises SubscriptionNotFoundError: if no such listener exists.
        :raises WrongThreadError: if called from a thread other than the hub's.
        """
        return self._listening().remove(keys, callback)

    def remove_all_listeners(self) -> ListenerRemoval:
        """Remove every listener; await the result to wait until their tasks have stopped.

        Safe to call again, also while an earlier removal is still being awaited.

        :raises WrongThreadError: if called from a thread other than the hub's.
        """
        return self._listening().remove_all()

    # -- closing ------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` or :meth:`aclose` was called (or the hub was closed)."""
        return self._closed or self._hub._closed

    def close(self) -> None:
        """Close now: unsubscribe everything, cancel async listeners. Idempotent.

        Consumers get what is already queued, then :class:`SubscriberClosedError` (an
        ``async for`` over :meth:`messages` ends). Prefer ``await`` :meth:`aclose`, which lets
        async listeners finish what is queued and waits for their tasks.

        :raises WrongThreadError: if called from a thread other than the hub's.
        """
        self._hub._check_thread("close {!r}", self)
        for task in self._shutdown(drain=False):
            task.cancel()

    async def aclose(self, timeout: float | None = 5.0) -> None:
        """Close, let async listeners finish what is queued, and wait for their tasks.

        Listener tasks still running after ``timeout`` seconds are cancelled; when this
        returns, none is left. Idempotent.
        """
        self._hub._check_thread("close {!r}", self)
        await stop_tasks(self._shutdown(drain=True), timeout)

    async def __aenter__(self) -> Subscriber:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _shutdown(self, drain: bool) -> list[asyncio.Task[None]]:
        """Stop all intake; return the listener tasks, which stop once their queue is drained."""
        if not self._closed:
            self._closed = True
            for subscription in self._subscriptions.values():
                self._drop_subscription(subscription)
            for inbox in self._inboxes.values():
                inbox.close(SubscriberClosedError, f"Subscriber {self.id!r} is closed")
            if self._listeners is not None:
                self._listeners.forget()
        return [] if self._listeners is None else list(self._listeners.tasks)

    def __del__(self) -> None:
        if self._closed or not self._inboxes:
            return  # Only queues leak (see _leaks).
        release_queues(self)
