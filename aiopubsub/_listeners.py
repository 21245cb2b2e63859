"""A subscriber's listeners: sync callbacks and async ones, each async one with its task."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Coroutine, Generator, Iterable
from typing import TYPE_CHECKING, Any

from ._errors import SlowConsumerError, SubscriberClosedError, SubscriptionNotFoundError
from ._inbox import Inbox
from ._key import Key, PossibleKey, as_pattern
from ._records import ErrorContext
from ._routing import check_sync_callback, is_async_callable

if TYPE_CHECKING:
    from ._subscriber import Subscriber

__all__ = ["AsyncCallback", "ListenerKeys", "ListenerRemoval", "Listeners", "SyncCallback"]

SyncCallback = Callable[[Key, Any], object]
AsyncCallback = Callable[[Key, Any], Awaitable[object]]
#: One key, or a ``set`` / ``frozenset`` of keys, as listeners take them (any other
#: collection is read as one key: a tuple or list of parts).
ListenerKeys = PossibleKey | Collection[PossibleKey]
#: A listener is known by its set of keys and its callback.
_ListenerId = tuple[frozenset[Key], object]

#: An async listener yields to the event loop after this many messages in a row that were
#: already queued, so that a backlog cannot starve the loop's other tasks.
_YIELD_EVERY = 256


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


class Listeners:
    """The listeners of one :class:`Subscriber`, each on a subscription of its own.

    A sync listener is a callback subscription; an async one is a queue subscription drained
    by one task that awaits the callback for each message in turn.
    """

    def __init__(self, subscriber: Subscriber) -> None:
        self._subscriber = subscriber
        #: Listener -> its subscription id and task (``None`` for a sync listener).
        self._listeners: dict[_ListenerId, tuple[str, asyncio.Task[None] | None]] = {}
        #: Tasks not ended yet, those of removed listeners that are still stopping included.
        self.tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._listeners)

    def add_sync(self, keys: ListenerKeys, callback: SyncCallback, replay: bool = False) -> None:
        """See :meth:`Subscriber.add_sync_listener`."""
        check_sync_callback(callback)
        patterns, listener = _identify(keys, callback)
        if listener in self._listeners:
            return
        sub_id = self._free_id(patterns, callback)
        for pattern in patterns:
            self._subscriber.sync_subscribe(pattern, callback, sub_id)
        self._listeners[listener] = (sub_id, None)
        if replay:
            self._replay(patterns, sub_id)

    def add_async(self, keys: ListenerKeys, callback: AsyncCallback, replay: bool = False) -> None:
        """See :meth:`Subscriber.add_async_listener`."""
        if not is_async_callable(callback):
            raise TypeError(
                f"add_async_listener needs an async callback, got {callback!r};"
                " use add_sync_listener for a plain function"
            )
        patterns, listener = _identify(keys, callback)
        loop = asyncio._get_running_loop()
        if loop is None:
            raise RuntimeError(
                f"add_async_listener({keys!r}, {callback!r}) needs a running event loop to start"
                " the listener's task: call it from inside a coroutine"
            )
        if listener in self._listeners:
            return
        sub_id = self._free_id(patterns, callback)
        subscriber = self._subscriber
        for pattern in patterns:
            subscriber.async_subscribe(pattern, sub_id)
        inbox = subscriber._inboxes[sub_id]
        task = loop.create_task(self._listen(sub_id, inbox, callback), name=f"aiopubsub {sub_id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        self._listeners[listener] = (sub_id, task)
        if replay:
            self._replay(patterns, sub_id)

    def _replay(self, patterns: list[Key], sub_id: str) -> None:
        """Deliver to the new listener of ``sub_id`` the retained values ``patterns`` match."""
        subscriber = self._subscriber
        subscriber._hub._replay(patterns, subscriber._subscriptions[sub_id])

    async def _listen(self, sub_id: str, inbox: Inbox, callback: AsyncCallback) -> None:
        items = inbox.items
        in_a_row = 0
        while True:
            if items and in_a_row < _YIELD_EVERY:
                key, message = items.popleft()
                if inbox.watched:
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
                    self._disconnected(sub_id, inbox, callback)
                    return
            try:
                await callback(key, message)
            except asyncio.CancelledError as exc:
                if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                    raise  # We are being stopped.
                self._failed(exc, callback, sub_id, key, message)
            except Exception as exc:  # noqa: BLE001 - reported; the listener goes on
                self._failed(exc, callback, sub_id, key, message)

    def _failed(
        self, exc: BaseException, callback: AsyncCallback, sub_id: str, key: Key, message: Any
    ) -> None:
        subscriber = self._subscriber
        context = ErrorContext(key, message, callback, subscriber.id, sub_id, kind="async listener")
        subscriber._hub._report(exc, context)

    def _disconnected(self, sub_id: str, inbox: Inbox, callback: AsyncCallback) -> None:
        """Forget the listener of ``sub_id``, whose task ends: its queue overflowed."""
        for listener, (listener_sub_id, _) in list(self._listeners.items()):
            if listener_sub_id == sub_id:
                self._drop(listener)
        self._subscriber._logger.error(
            "Async listener %r of subscriber %r was removed: its queue of %d overflowed"
            " (Overflow.DISCONNECT, %d dropped); add it again to resume",
            callback,
            self._subscriber.id,
            inbox.maxsize,
            inbox.dropped,
        )

    def remove(self, keys: ListenerKeys, callback: object) -> ListenerRemoval:
        """See :meth:`Subscriber.remove_listener`."""
        patterns, listener = _identify(keys, callback)
        if listener not in self._listeners:
            raise SubscriptionNotFoundError(
                f"Subscriber {self._subscriber.id!r} has no listener {callback!r} on {patterns!r}"
            )
        self._subscriber._hub._check_thread("remove a listener of {!r}", self._subscriber.id)
        return ListenerRemoval(self._stop([listener]))

    def remove_all(self) -> ListenerRemoval:
        """See :meth:`Subscriber.remove_all_listeners`."""
        self._subscriber._hub._check_thread("remove the listeners of {!r}", self._subscriber.id)
        self._stop(list(self._listeners))
        return ListenerRemoval(self.tasks)

    def forget(self) -> None:
        """Forget every listener without touching subscriptions: the subscriber is closing."""
        self._listeners.clear()

    def _free_id(self, patterns: list[Key], callback: object) -> str:
        """A free subscription id for a new listener, spelled as the original did:
        ``callback-[('a', 'b')]-<callback's repr>``."""
        sub_id = base = f"callback-[{', '.join(map(str, patterns))}]-{callback!r}"
        suffix = 1
        while self._subscriber._has_subscription(sub_id):  # Two callbacks may share a repr.
            suffix += 1
            sub_id = f"{base}#{suffix}"
        return sub_id

    def _stop(self, listeners: Iterable[_ListenerId]) -> list[asyncio.Task[None]]:
        stopped = []
        for listener in listeners:
            task = self._drop(listener)
            if task is not None:
                task.cancel()
                stopped.append(task)
        return stopped

    def _drop(self, listener: _ListenerId) -> asyncio.Task[None] | None:
        """Unsubscribe ``listener`` and forget it and its queue; return its task, if any."""
        sub_id, task = self._listeners.pop(listener)
        self._subscriber._forget_subscription(sub_id)
        return task


def _identify(keys: ListenerKeys, callback: object) -> tuple[list[Key], _ListenerId]:
    """Normalise ``keys`` to ordered patterns, and identify the listener by them and ``callback``.

    :raises InvalidKeyError: if a key is empty.
    :raises ValueError: if there is no key.
    """
    if isinstance(keys, (set, frozenset)):
        unique = {as_pattern(key) for key in keys}
        try:
            patterns = sorted(unique)
        except TypeError:  # Parts of several types (str and int) do not compare: by text.
            patterns = sorted(unique, key=repr)
    else:
        patterns = [as_pattern(keys)]  # type: ignore[arg-type]
    if not patterns:
        raise ValueError(f"A listener needs at least one key, got {keys!r}")
    return patterns, (frozenset(patterns), callback)
