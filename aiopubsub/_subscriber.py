"""Subscriber: queue and callback subscriptions, consuming, and listeners."""

from __future__ import annotations

import asyncio
import functools
import warnings
import weakref
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Coroutine,
    Generator,
    Iterable,
)
from typing import Any

from ._errors import (
    ConsumeQueueNotFoundError,
    PubSubError,
    SlowConsumerError,
    SubscriberClosedError,
    SubscriptionNotFoundError,
)
from ._hub import Hub, check_pattern, coerce_key, stop_tasks
from ._inbox import Inbox, Overflow
from ._key import Key, PossibleKey
from ._log import get_logger
from ._records import ErrorContext, SubscriptionStatistics
from ._routing import check_sync_callback, is_async_callable

__all__ = ["ListenerRemoval", "Subscriber"]

SyncCallback = Callable[[Key, Any], object]
AsyncCallback = Callable[[Key, Any], Awaitable[object]]
#: One key, or a ``set`` / ``frozenset`` of keys, as listeners take them (any other
#: collection is read as one key: a tuple or list of ``str`` parts).
ListenerKeys = PossibleKey | Collection[PossibleKey]
#: A listener is known by its set of keys and its callback.
_ListenerId = tuple[frozenset[Key], object]

#: An async listener yields to the event loop after this many messages in a row that were
#: already queued, so that a backlog cannot starve the loop's other tasks.
_YIELD_EVERY = 256


def check_bound(maxsize: object, overflow: object) -> tuple[int, Overflow]:
    """Return ``(maxsize, overflow)`` if they describe a queue bound.

    ``overflow`` may also be the value of a member (``'drop_newest'``), as read from JSON.

    :raises TypeError: if ``maxsize`` is not an ``int``, or ``overflow`` neither an
        :class:`Overflow` nor a ``str``.
    :raises ValueError: if ``maxsize`` is negative, or ``overflow`` a ``str`` that is no
        member's value.
    """
    if not isinstance(maxsize, int) or isinstance(maxsize, bool):
        raise TypeError(f"maxsize must be an int (0: unbounded), got {maxsize!r}")
    if maxsize < 0:
        raise ValueError(f"maxsize must be >= 0 (0: unbounded), got {maxsize!r}")
    if isinstance(overflow, Overflow):
        return maxsize, overflow
    choices = ", ".join(f"Overflow.{member.name} ({member.value!r})" for member in Overflow)
    if isinstance(overflow, str):
        try:
            return maxsize, Overflow(overflow)
        except ValueError:
            raise ValueError(f"overflow must be one of {choices}; got {overflow!r}") from None
    raise TypeError(f"overflow must be one of {choices}; got {overflow!r}")


class _Delivery(functools.partial[object]):
    """A callback subscription's callback as the hub calls it: the user's callback, made
    distinct per subscription (the same function may serve several) and knowing its owner,
    so that a failure is reported against the right subscription. Calling it adds no Python
    frame: ``functools.partial`` is implemented in C.
    """

    __slots__ = ("subscription",)

    subscription: _Subscription


class _Subscription:
    """One subscription id of one subscriber: the token the hub knows it by."""

    __slots__ = ("id", "subscriber_id", "keys", "callback", "inbox", "deliver", "__weakref__")

    def __init__(
        self, id_: str, subscriber_id: str, callback: SyncCallback | None, inbox: Inbox | None
    ) -> None:
        self.id = id_
        self.subscriber_id = subscriber_id
        self.keys: dict[Key, None] = {}
        self.callback = callback
        self.inbox = inbox
        #: What the hub calls for each message.
        self.deliver: SyncCallback
        if inbox is not None:
            self.deliver = inbox.put
        else:
            delivery = _Delivery(callback)  # type: ignore[arg-type]
            delivery.subscription = self
            self.deliver = delivery

    def __repr__(self) -> str:
        target = self.inbox if self.callback is None else self.callback
        return f"<subscription {self.id!r} -> {target!r}>"

    def release(self) -> None:
        """After losing keys: let publishers waiting for room in its queue look again."""
        if self.inbox is not None:
            self.inbox.wake_putters()


class ListenerRemoval(Coroutine[Any, Any, None]):
    """Returned by :meth:`Subscriber.remove_listener` and :meth:`Subscriber.remove_all_listeners`.

    The removal has already happened when it is returned: no further message reaches those
    listeners. Awaiting it waits until their tasks have stopped; not awaiting it is fine too
    (it is not a native coroutine, so nothing warns). It is a
    :class:`collections.abc.Coroutine`, so that code written for 3.0.0, where these methods
    were coroutine functions, can still pass it to :func:`asyncio.create_task`.
    """

    __slots__ = ("_tasks", "_steps")

    def __init__(self, tasks: Collection[asyncio.Task[None]]) -> None:
        self._tasks = tuple(tasks)
        self._steps: Generator[Any, None, None] | None = None

    def __await__(self) -> Generator[Any, None, None]:
        if self._tasks:
            yield from asyncio.wait(self._tasks).__await__()

    def send(self, value: Any) -> Any:
        """Step the wait, as a task driving this coroutine does."""
        if self._steps is None:
            self._steps = self.__await__()
        return self._steps.send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        """Raise ``typ`` (an exception or its type) inside the wait, as a task does."""
        if self._steps is None:
            self._steps = self.__await__()
        if val is None:
            return self._steps.throw(typ)
        # The legacy three-argument form, passed on in the one-argument form (the other is
        # deprecated from Python 3.12).
        return self._steps.throw(val if tb is None else val.with_traceback(tb))

    def close(self) -> None:
        """Stop waiting; the removal itself stays done."""
        if self._steps is not None:
            self._steps.close()


class _Messages:
    """The async iterator of :meth:`Subscriber.messages`."""

    __slots__ = ("_subscriber", "_subscription_id")

    def __init__(self, subscriber: Subscriber, subscription_id: str) -> None:
        self._subscriber = subscriber
        self._subscription_id = subscription_id

    def __aiter__(self) -> _Messages:
        return self

    async def __anext__(self) -> tuple[Key, Any]:
        try:
            return await self._subscriber.consume(self._subscription_id)
        except SubscriberClosedError:
            raise StopAsyncIteration from None


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
        self._maxsize, self._overflow = check_bound(maxsize, overflow)
        self.id = id_
        self._hub = hub
        self._subscriptions: dict[str, _Subscription] = {}
        #: The queues among the subscriptions, for a fast :meth:`consume`.
        self._inboxes: dict[str, Inbox] = {}
        #: Listener -> its subscription id and task (``None`` for a sync listener).
        self._listeners: dict[_ListenerId, tuple[str, asyncio.Task[None] | None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._logger = get_logger("Subscriber")
        hub.attach(self)
        self._closed = False

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return (
            f"<{type(self).__name__} {self.id!r}{state} subscriptions={len(self._subscriptions)}"
            f" listeners={len(self._listeners)}>"
        )

    def _check_open(self) -> None:
        if self._closed:
            raise SubscriberClosedError(f"Subscriber {self.id!r} is closed")

    # -- subscriptions ------------------------------------------------------------------------

    def async_subscribe(
        self,
        key: PossibleKey,
        subscription_id: str = DEFAULT_SUBSCRIPTION_ID,
        *,
        maxsize: int | None = None,
        overflow: Overflow | str | None = None,
    ) -> None:
        """Queue every message matching ``key`` under ``subscription_id``, for :meth:`consume`.

        All keys subscribed under one id share one queue, in publish order. ``maxsize`` and
        ``overflow`` (by default the subscriber's) are set when the id is first subscribed.
        Subscribing again under an id that was disconnected (``Overflow.DISCONNECT``) resumes
        it, with what it still holds queued.

        :raises InvalidKeyError: if ``key`` is empty.
        :raises ValueError: if ``subscription_id`` is a callback subscription, or already has
            another ``maxsize`` or ``overflow``.
        :raises SubscriberClosedError: if the subscriber is closed.
        """
        self._check_open()
        pattern = check_pattern(key)
        subscription = self._subscriptions.get(subscription_id)
        if subscription is None:
            bound = check_bound(
                self._maxsize if maxsize is None else maxsize,
                self._overflow if overflow is None else overflow,
            )
            inbox = Inbox(self._hub.owner, *bound, on_overflow=self._overflow_hook(subscription_id))
            subscription = _Subscription(subscription_id, self.id, None, inbox)
        elif subscription.inbox is None:
            raise ValueError(
                f"Subscription id {subscription_id!r} of subscriber {self.id!r} is a callback"
                " subscription; choose another subscription_id for a queue"
            )
        else:
            inbox = subscription.inbox
            if (maxsize is not None and maxsize != inbox.maxsize) or (
                overflow is not None and overflow is not inbox.overflow
            ):
                raise ValueError(
                    f"Subscription id {subscription_id!r} of subscriber {self.id!r} already has"
                    f" maxsize={inbox.maxsize}, overflow={inbox.overflow!s}; got"
                    f" maxsize={maxsize!r}, overflow={overflow!r}"
                )
            if inbox.closed is not None:
                inbox.reopen()
        self._add(subscription, pattern)

    subscribe = async_subscribe

    def sync_subscribe(
        self,
        key: PossibleKey,
        callback: SyncCallback,
        subscription_id: str = DEFAULT_SUBSCRIPTION_ID,
    ) -> None:
        """Call ``callback(key, message)`` inside :meth:`Hub.publish` for each match of ``key``.

        :raises InvalidKeyError: if ``key`` is empty.
        :raises TypeError: if ``callback`` is not callable or is ``async``.
        :raises ValueError: if ``subscription_id`` is a queue or holds another callback.
        :raises SubscriberClosedError: if the subscriber is closed.
        """
        self._check_open()
        check_sync_callback(callback)
        pattern = check_pattern(key)
        subscription = self._subscriptions.get(subscription_id)
        if subscription is None:
            subscription = _Subscription(subscription_id, self.id, callback, None)
        elif subscription.callback != callback:
            held = subscription.inbox if subscription.callback is None else subscription.callback
            raise ValueError(
                f"Subscription id {subscription_id!r} of subscriber {self.id!r} already holds"
                f" {held!r}; choose another subscription_id for {callback!r}"
            )
        self._add(subscription, pattern)

    def _add(self, subscription: _Subscription, pattern: Key) -> None:
        id_ = subscription.id
        new = id_ not in self._subscriptions
        if new:
            self._subscriptions[id_] = subscription
            if subscription.inbox is not None:
                self._inboxes[id_] = subscription.inbox
        unread = None if subscription.inbox is None else subscription.inbox.__len__
        try:
            subscribed = self._hub.subscribe_token(
                pattern, subscription, subscription.deliver, unread
            )
        except BaseException:
            if new:  # The hub refused it (closed, another thread): leave no empty subscription.
                del self._subscriptions[id_]
                self._inboxes.pop(id_, None)
            raise
        if subscribed:
            subscription.keys[pattern] = None

    def unsubscribe(self, key: PossibleKey, subscription_id: str = DEFAULT_SUBSCRIPTION_ID) -> None:
        """Stop delivering messages matching ``key`` to ``subscription_id``.

        Messages already queued stay queued. Unsubscribing a key that is not subscribed logs a
        warning.

        :raises SubscriptionNotFoundError: if there is no subscription ``subscription_id``.
        :raises WrongThreadError: if called from a thread other than the hub's.
        """
        subscription = self._subscription(subscription_id)
        pattern = coerce_key(key)
        self._hub.check_thread(
            "unsubscribe {!r} of {!r} from {!r}", subscription_id, self.id, pattern
        )
        if self._hub.unsubscribe_token(pattern, subscription):
            del subscription.keys[pattern]
            subscription.release()

    def _subscription(self, subscription_id: str) -> _Subscription:
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
            return inbox.items.popleft() if not inbox.maxsize else inbox.get_nowait()
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
        return _Messages(self, subscription_id)

    def statistics(self, subscription_id: str = DEFAULT_SUBSCRIPTION_ID) -> SubscriptionStatistics:
        """A snapshot of the queue of ``subscription_id``: its length, bound and counts.

        :raises ConsumeQueueNotFoundError: if ``subscription_id`` has no queue.
        """
        inbox = self._inboxes.get(subscription_id)
        if inbox is None:
            raise self._no_queue(subscription_id)
        return SubscriptionStatistics(
            queued=len(inbox),
            peak_queued=inbox.peak_queued,
            maxsize=inbox.maxsize,
            overflow=inbox.overflow,
            delivered=inbox.delivered,
            dropped=inbox.dropped,
            closed=inbox.closed is not None,
        )

    def _no_queue(self, subscription_id: str) -> PubSubError:
        if self._closed:
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
        self._hub.count_drops()
        if disconnect:
            subscription = self._subscriptions[subscription_id]
            self._drop_subscription(subscription)
            dropped = inbox.dropped
            inbox.close(
                lambda: SlowConsumerError(
                    f"Subscription {subscription_id!r} of subscriber {self.id!r} was disconnected:"
                    f" its queue of {inbox.maxsize} overflowed ({dropped} dropped);"
                    " subscribe again to resume"
                )
            )
        if first:
            self._logger.warning(
                "Subscription %r of subscriber %r is full (maxsize %d): %s",
                subscription_id,
                self.id,
                inbox.maxsize,
                "disconnected" if disconnect else f"dropping messages ({inbox.overflow})",
            )
            self._hub.publish_meta(
                ("slowSubscriber", self.id, subscription_id),
                {"dropped": inbox.dropped, "policy": inbox.overflow},
            )

    # -- listeners ----------------------------------------------------------------------------

    def add_sync_listener(self, keys: ListenerKeys, callback: SyncCallback) -> None:
        """Call ``callback(key, message)`` inline on every publish matching one of ``keys``.

        Adding the same keys and callback again changes nothing.

        :param keys: one key, or a set of keys.
        :raises TypeError: if ``callback`` is ``async`` (use :meth:`add_async_listener`).
        :raises InvalidKeyError: if a key is empty. Nothing is subscribed after an error.
        :raises SubscriberClosedError: if the subscriber is closed.
        """
        self._check_open()
        check_sync_callback(callback)
        patterns, listener = _listener(keys, callback)
        if listener in self._listeners:
            return
        sub_id = self._listener_id(patterns, callback)
        for pattern in patterns:
            self.sync_subscribe(pattern, callback, sub_id)
        self._listeners[listener] = (sub_id, None)

    add_listener = add_sync_listener

    def add_async_listener(self, keys: ListenerKeys, callback: AsyncCallback) -> None:
        """Run ``await callback(key, message)`` for every publish matching one of ``keys``.

        One task per listener awaits the calls one at a time, in publish order across all of
        ``keys``. If the callback raises, the error is logged with the key and the listener,
        and the listener goes on with the next message. Adding the same keys and callback
        again changes nothing.

        :param keys: one key, or a set of keys.
        :raises TypeError: if ``callback`` is not ``async`` (use :meth:`add_sync_listener`).
        :raises InvalidKeyError: if a key is empty. Nothing is subscribed after an error.
        :raises RuntimeError: if no event loop is running.
        :raises SubscriberClosedError: if the subscriber is closed.
        """
        self._check_open()
        if not is_async_callable(callback):
            raise TypeError(
                f"add_async_listener needs an async callback, got {callback!r};"
                " use add_sync_listener for a plain function"
            )
        patterns, listener = _listener(keys, callback)
        loop = asyncio._get_running_loop()
        if loop is None:
            raise RuntimeError(
                f"add_async_listener({keys!r}, {callback!r}) needs a running event loop to start"
                " the listener's task: call it from inside a coroutine"
            )
        if listener in self._listeners:
            return
        sub_id = self._listener_id(patterns, callback)
        for pattern in patterns:
            self.async_subscribe(pattern, sub_id)
        task = loop.create_task(
            self._listen(sub_id, self._inboxes[sub_id], callback), name=f"aiopubsub {sub_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._listeners[listener] = (sub_id, task)

    async def _listen(self, sub_id: str, inbox: Inbox, callback: AsyncCallback) -> None:
        items = inbox.items
        in_a_row = 0
        while True:
            if items and in_a_row < _YIELD_EVERY:
                key, message = items.popleft()
                if inbox.maxsize:
                    inbox.taken()
                in_a_row += 1
            else:
                if in_a_row:
                    # After a long backlog, let the loop's other tasks run.
                    await asyncio.sleep(0)
                in_a_row = 0
                try:
                    key, message = await inbox.get()
                except SubscriberClosedError:
                    return  # Closed, and everything queued was handled.
                except SlowConsumerError:
                    self._forget_listener(sub_id)
                    self._logger.error(
                        "Async listener %r of subscriber %r was removed: its queue of %d"
                        " overflowed (Overflow.DISCONNECT, %d dropped); add it again to resume",
                        callback,
                        self.id,
                        inbox.maxsize,
                        inbox.dropped,
                    )
                    return
            try:
                await callback(key, message)
            except asyncio.CancelledError as exc:
                if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                    raise  # We are being stopped.
                self._listener_failed(exc, callback, sub_id, key, message)
            except Exception as exc:  # noqa: BLE001 - reported; the listener goes on
                self._listener_failed(exc, callback, sub_id, key, message)

    def _listener_failed(
        self, exc: BaseException, callback: AsyncCallback, sub_id: str, key: Key, message: Any
    ) -> None:
        context = ErrorContext(key, message, callback, self.id, sub_id, kind="async listener")
        self._hub.report(exc, context)

    def remove_listener(
        self, keys: ListenerKeys, callback: SyncCallback | AsyncCallback
    ) -> ListenerRemoval:
        """Remove the listener added with these ``keys`` and ``callback``, in any key form.

        The removal is done when this returns; await the result to wait for the listener's
        task to stop (it is cancelled, and messages still queued for it are dropped).

        :raises SubscriptionNotFoundError: if no such listener exists.
        :raises WrongThreadError: if called from a thread other than the hub's.
        """
        patterns, listener = _listener(keys, callback)
        if listener not in self._listeners:
            raise SubscriptionNotFoundError(
                f"Subscriber {self.id!r} has no listener {callback!r} on {patterns!r}"
            )
        self._hub.check_thread("remove a listener of {!r}", self.id)
        return ListenerRemoval(self._stop_listeners([listener]))

    def remove_all_listeners(self) -> ListenerRemoval:
        """Remove every listener; await the result to wait until their tasks have stopped.

        Safe to call again, also while an earlier removal is still being awaited.

        :raises WrongThreadError: if called from a thread other than the hub's.
        """
        self._hub.check_thread("remove the listeners of {!r}", self.id)
        self._stop_listeners(list(self._listeners))
        return ListenerRemoval(self._tasks)

    def _listener_id(self, patterns: list[Key], callback: object) -> str:
        """A free subscription id for a new listener, spelled as the original did."""
        sub_id = base = f"callback-{patterns!r}-{callback!r}"
        suffix = 1
        while sub_id in self._subscriptions:  # Two callbacks may share a repr.
            suffix += 1
            sub_id = f"{base}#{suffix}"
        return sub_id

    def _stop_listeners(self, listeners: Iterable[_ListenerId]) -> list[asyncio.Task[None]]:
        stopped = []
        for listener in listeners:
            task = self._drop_listener(listener)
            if task is not None:
                task.cancel()
                stopped.append(task)
        return stopped

    def _forget_listener(self, sub_id: str) -> None:
        """Remove the listener of ``sub_id`` whose task is ending by itself (disconnected)."""
        for listener, (listener_sub_id, _) in list(self._listeners.items()):
            if listener_sub_id == sub_id:
                self._drop_listener(listener)

    def _drop_listener(self, listener: _ListenerId) -> asyncio.Task[None] | None:
        """Unsubscribe ``listener`` and forget it and its queue; return its task, if any."""
        sub_id, task = self._listeners.pop(listener)
        self._drop_subscription(self._subscriptions.pop(sub_id))
        self._inboxes.pop(sub_id, None)
        return task

    def _drop_subscription(self, subscription: _Subscription) -> None:
        for pattern in subscription.keys:
            self._hub.unsubscribe_token(pattern, subscription)
        subscription.keys.clear()
        subscription.release()

    # -- closing ------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` or :meth:`aclose` was called (or the hub was closed)."""
        return self._closed

    def close(self) -> None:
        """Close now: unsubscribe everything, cancel async listeners. Idempotent.

        Consumers get what is already queued, then :class:`SubscriberClosedError` (an
        ``async for`` over :meth:`messages` ends). Prefer ``await`` :meth:`aclose`, which lets
        async listeners finish what is queued and waits for their tasks.

        :raises WrongThreadError: if called from a thread other than the hub's.
        """
        self._hub.check_thread("close {!r}", self)
        for task in self._shutdown(drain=False):
            task.cancel()

    async def aclose(self, timeout: float | None = 5.0) -> None:
        """Close, let async listeners finish what is queued, and wait for their tasks.

        Listener tasks still running after ``timeout`` seconds are cancelled; when this
        returns, none is left. Idempotent.
        """
        self._hub.check_thread("close {!r}", self)
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
                inbox.close(self._closed_error)
            self._listeners.clear()
        return list(self._tasks)

    def _closed_error(self) -> SubscriberClosedError:
        return SubscriberClosedError(f"Subscriber {self.id!r} is closed")

    def __del__(self) -> None:
        # Only queues leak: nobody can consume them any more. A callback subscription (or a
        # sync listener) keeps working, as in the original; an async listener's task keeps
        # its subscriber alive.
        if self._closed:
            return
        queues = [s for s in self._subscriptions.values() if s.inbox is not None and s.keys]
        if not queues:
            return
        self._closed = True
        held = [(pattern, s) for s in queues for pattern in s.keys]
        loop = self._hub.loop
        if loop is None or not loop.is_running():
            # No loop to deliver to: whatever would fill the queues is not running either.
            for pattern, subscription in held:
                self._hub.unsubscribe_token(pattern, subscription)
            return
        # Unsubscribe from the loop, soon: the garbage collector may run anywhere, even in
        # the middle of a fan-out or in another thread. If the hub is gone by then, it went
        # with this subscriber and nothing leaked.
        hub = weakref.ref(self._hub)
        name = f"Subscriber {self.id!r} (queues {', '.join(repr(s.id) for s in queues)})"

        def unsubscribe() -> None:
            live = hub()
            if live is None or live.closed:
                return
            for pattern, subscription in held:
                live.unsubscribe_token(pattern, subscription)
            warnings.warn(
                f"{name} was dropped without close() while its hub is in use;"
                " its queues have been unsubscribed (its callbacks, if any, keep working)",
                ResourceWarning,
                stacklevel=1,
            )

        loop.call_soon_threadsafe(unsubscribe)


def _listener(keys: ListenerKeys, callback: object) -> tuple[list[Key], _ListenerId]:
    """Normalise ``keys`` to sorted patterns, and identify the listener by them and ``callback``."""
    if isinstance(keys, (set, frozenset)):
        patterns = sorted({check_pattern(key) for key in keys})
    else:
        patterns = [check_pattern(keys)]  # type: ignore[arg-type]
    if not patterns:
        raise ValueError(f"A listener needs at least one key, got {keys!r}")
    return patterns, (frozenset(patterns), callback)
