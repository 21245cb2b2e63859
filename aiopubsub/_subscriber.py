"""Subscriber: queue and callback subscriptions, consuming, and listeners."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Collection, Generator, Iterable
from typing import Any

from ._errors import ConsumeQueueNotFoundError, SubscriptionNotFoundError
from ._hub import Hub, check_pattern, coerce_key
from ._inbox import Inbox
from ._key import Key, PossibleKey
from ._log import get_logger

__all__ = ["ListenerRemoval", "Subscriber"]

SyncCallback = Callable[[Key, Any], object]
AsyncCallback = Callable[[Key, Any], Awaitable[object]]
#: One key, or a set (any collection) of keys, as listeners take them.
ListenerKeys = PossibleKey | Collection[PossibleKey]
#: A listener is known by its set of keys and its callback.
_ListenerId = tuple[frozenset[Key], object]

#: An async listener yields to the event loop after this many messages in a row that were
#: already queued, so that a backlog cannot starve the loop's other tasks.
_YIELD_EVERY = 256


def is_async_callable(callback: object) -> bool:
    """Whether calling ``callback`` returns a coroutine (``async def``, partial or ``__call__``)."""
    return inspect.iscoroutinefunction(callback) or inspect.iscoroutinefunction(
        getattr(callback, "__call__", None)  # noqa: B004 - we want the method itself
    )


class _Subscription:
    """One subscription id of one subscriber: the token the hub knows it by."""

    __slots__ = ("id", "keys", "callback", "inbox", "__weakref__")

    def __init__(self, id_: str, callback: SyncCallback | None, inbox: Inbox | None) -> None:
        self.id = id_
        self.keys: dict[Key, None] = {}
        self.callback = callback
        self.inbox = inbox

    def __repr__(self) -> str:
        target = self.inbox if self.callback is None else self.callback
        return f"<subscription {self.id!r} -> {target!r}>"

    @property
    def deliver(self) -> SyncCallback:
        return self.inbox.put if self.inbox is not None else self.callback  # type: ignore[return-value]


class ListenerRemoval:
    """Returned by :meth:`Subscriber.remove_listener` and :meth:`Subscriber.remove_all_listeners`.

    The removal has already happened when it is returned: no further message reaches those
    listeners. Awaiting it waits until their tasks have stopped; not awaiting it is fine too
    (it is not a coroutine, so nothing warns).
    """

    __slots__ = ("_tasks",)

    def __init__(self, tasks: Collection[asyncio.Task[None]]) -> None:
        self._tasks = tuple(tasks)

    def __await__(self) -> Generator[Any, None, None]:
        if self._tasks:
            yield from asyncio.wait(self._tasks).__await__()


class Subscriber:
    """Receives messages from a :class:`Hub`, into queues or through callbacks.

    Each *subscription id* is either one queue (made by :meth:`subscribe`, read with
    :meth:`consume`) or one callback (made by :meth:`sync_subscribe`), and may be subscribed
    under several keys; a message matching several of them arrives once.

    :param hub: the hub to subscribe to.
    :param id_: a name for logs and listener ids.
    """

    #: The subscription id used when none is given.
    DEFAULT_SUBSCRIPTION_ID = "default"

    def __init__(self, hub: Hub, id_: str) -> None:
        self.id = id_
        self._hub = hub
        self._subscriptions: dict[str, _Subscription] = {}
        #: The queues among the subscriptions, for a fast :meth:`consume`.
        self._inboxes: dict[str, Inbox] = {}
        #: Listener -> its subscription id and task (``None`` for a sync listener).
        self._listeners: dict[_ListenerId, tuple[str, asyncio.Task[None] | None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._logger = get_logger("Subscriber")

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.id!r} subscriptions={len(self._subscriptions)}"
            f" listeners={len(self._listeners)}>"
        )

    # -- subscriptions ------------------------------------------------------------------------

    def async_subscribe(
        self, key: PossibleKey, subscription_id: str = DEFAULT_SUBSCRIPTION_ID
    ) -> None:
        """Queue every message matching ``key`` under ``subscription_id``, for :meth:`consume`.

        All keys subscribed under one id share one queue, in publish order.

        :raises InvalidKeyError: if ``key`` is empty.
        :raises ValueError: if ``subscription_id`` is a callback subscription.
        """
        pattern = check_pattern(key)
        subscription = self._subscriptions.get(subscription_id)
        if subscription is None:
            inbox = Inbox()
            subscription = _Subscription(subscription_id, None, inbox)
        elif subscription.inbox is None:
            raise ValueError(
                f"Subscription id {subscription_id!r} of subscriber {self.id!r} is a callback"
                " subscription; choose another subscription_id for a queue"
            )
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
        """
        _check_sync(callback)
        pattern = check_pattern(key)
        subscription = self._subscriptions.get(subscription_id)
        if subscription is None:
            subscription = _Subscription(subscription_id, callback, None)
        elif subscription.callback != callback:
            held = subscription.inbox if subscription.callback is None else subscription.callback
            raise ValueError(
                f"Subscription id {subscription_id!r} of subscriber {self.id!r} already holds"
                f" {held!r}; choose another subscription_id for {callback!r}"
            )
        self._add(subscription, pattern)

    def _add(self, subscription: _Subscription, pattern: Key) -> None:
        id_ = subscription.id
        if id_ not in self._subscriptions:
            self._subscriptions[id_] = subscription
            if subscription.inbox is not None:
                self._inboxes[id_] = subscription.inbox
        inbox = subscription.inbox
        if self._hub.subscribe_token(
            pattern, subscription, subscription.deliver, None if inbox is None else inbox.__len__
        ):
            subscription.keys[pattern] = None

    def unsubscribe(self, key: PossibleKey, subscription_id: str = DEFAULT_SUBSCRIPTION_ID) -> None:
        """Stop delivering messages matching ``key`` to ``subscription_id``.

        Messages already queued stay queued. Unsubscribing a key that is not subscribed logs a
        warning.

        :raises SubscriptionNotFoundError: if there is no subscription ``subscription_id``.
        """
        subscription = self._subscription(subscription_id)
        pattern = coerce_key(key)
        if self._hub.unsubscribe_token(pattern, subscription):
            del subscription.keys[pattern]

    def _subscription(self, subscription_id: str) -> _Subscription:
        try:
            return self._subscriptions[subscription_id]
        except KeyError:
            raise SubscriptionNotFoundError(
                f"Subscriber {self.id!r} has no subscription {subscription_id!r}"
            ) from None

    # -- consuming ----------------------------------------------------------------------------

    async def consume(self, subscription_id: str = DEFAULT_SUBSCRIPTION_ID) -> tuple[Key, Any]:
        """Return the oldest queued ``(key, message)`` of ``subscription_id``, waiting if none.

        Cancelling a waiting ``consume()`` loses nothing: the message stays queued.

        :raises ConsumeQueueNotFoundError: if ``subscription_id`` has no queue (it was never
            subscribed with :meth:`subscribe`, or it is a callback subscription).
        """
        inbox = self._inboxes.get(subscription_id)
        if inbox is None:
            raise self._no_queue(subscription_id)
        items = inbox.items
        if items:
            return items.popleft()
        return await inbox.get()

    def _no_queue(self, subscription_id: str) -> ConsumeQueueNotFoundError:
        if subscription_id in self._subscriptions:
            return ConsumeQueueNotFoundError(
                f"Subscription {subscription_id!r} of subscriber {self.id!r} is a callback"
                " subscription; it has no queue to consume from"
            )
        return ConsumeQueueNotFoundError(
            f"Subscriber {self.id!r} has no queue subscription {subscription_id!r};"
            f" call subscribe(key, subscription_id={subscription_id!r}) first"
        )

    # -- listeners ----------------------------------------------------------------------------

    def add_sync_listener(self, keys: ListenerKeys, callback: SyncCallback) -> None:
        """Call ``callback(key, message)`` inline on every publish matching one of ``keys``.

        Adding the same keys and callback again changes nothing.

        :param keys: one key, or a set of keys.
        :raises TypeError: if ``callback`` is ``async`` (use :meth:`add_async_listener`).
        :raises InvalidKeyError: if a key is empty. Nothing is subscribed after an error.
        """
        _check_sync(callback)
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
        """
        if not is_async_callable(callback):
            raise TypeError(
                f"add_async_listener needs an async callback, got {callback!r};"
                " use add_sync_listener for a plain function"
            )
        patterns, listener = _listener(keys, callback)
        loop = asyncio.get_running_loop()
        if listener in self._listeners:
            return
        sub_id = self._listener_id(patterns, callback)
        for pattern in patterns:
            self.async_subscribe(pattern, sub_id)
        task = loop.create_task(
            self._listen(self._inboxes[sub_id], callback), name=f"aiopubsub {sub_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._listeners[listener] = (sub_id, task)

    async def _listen(self, inbox: Inbox, callback: AsyncCallback) -> None:
        items = inbox.items
        in_a_row = 0
        while True:
            if items and in_a_row < _YIELD_EVERY:
                key, message = items.popleft()
                in_a_row += 1
            else:
                if in_a_row:
                    # After a long backlog, let the loop's other tasks run.
                    await asyncio.sleep(0)
                in_a_row = 0
                key, message = await inbox.get()
            try:
                await callback(key, message)
            except asyncio.CancelledError as exc:
                if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                    raise  # We are being stopped.
                self._listener_failed(exc, callback, key)
            except Exception as exc:  # noqa: BLE001 - reported; the listener goes on
                self._listener_failed(exc, callback, key)

    def _listener_failed(self, exc: BaseException, callback: AsyncCallback, key: Key) -> None:
        self._logger.error(
            "Async listener %r of subscriber %r failed on key %r: %r",
            callback,
            self.id,
            key,
            exc,
            exc_info=exc,
        )

    def remove_listener(
        self, keys: ListenerKeys, callback: SyncCallback | AsyncCallback
    ) -> ListenerRemoval:
        """Remove the listener added with these ``keys`` and ``callback``, in any key form.

        The removal is done when this returns; await the result to wait for the listener's
        task to stop (it is cancelled, and messages still queued for it are dropped).

        :raises SubscriptionNotFoundError: if no such listener exists.
        """
        patterns, listener = _listener(keys, callback)
        if listener not in self._listeners:
            raise SubscriptionNotFoundError(
                f"Subscriber {self.id!r} has no listener {callback!r} on {patterns!r}"
            )
        return ListenerRemoval(self._stop_listeners([listener]))

    def remove_all_listeners(self) -> ListenerRemoval:
        """Remove every listener; await the result to wait until their tasks have stopped.

        Safe to call again, also while an earlier removal is still being awaited.
        """
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
            sub_id, task = self._listeners.pop(listener)
            subscription = self._subscriptions.pop(sub_id)
            self._inboxes.pop(sub_id, None)
            for pattern in subscription.keys:
                self._hub.unsubscribe_token(pattern, subscription)
            subscription.keys.clear()
            if task is not None:
                task.cancel()
                stopped.append(task)
        return stopped


def _listener(keys: ListenerKeys, callback: object) -> tuple[list[Key], _ListenerId]:
    """Normalise ``keys`` to sorted patterns, and identify the listener by them and ``callback``."""
    if isinstance(keys, (set, frozenset)):
        patterns = sorted({check_pattern(key) for key in keys})
    else:
        patterns = [check_pattern(keys)]  # type: ignore[arg-type]
    if not patterns:
        raise ValueError(f"A listener needs at least one key, got {keys!r}")
    return patterns, (frozenset(patterns), callback)


def _check_sync(callback: object) -> None:
    if not callable(callback):
        raise TypeError(f"callback must be callable, got {callback!r}")
    if is_async_callable(callback):
        raise TypeError(
            f"{callback!r} is async: a sync callback would only create coroutines that never run;"
            " use add_async_listener"
        )
