"""The Hub: the public face of the core, bound to one event loop."""

from __future__ import annotations

import asyncio
import weakref
from _thread import get_ident
from collections.abc import Callable
from typing import Any, Protocol

from ._core import ErrorHook
from ._errors import HubClosedError, InvalidKeyError
from ._key import WILDCARD, Key, PossibleKey, as_key, as_pattern, as_published, could_reach, matches
from ._records import HubStatistics
from ._retaining import RetainingCore
from ._routing import NOBODY, Callback, Route, check_sync_callback
from ._tasks import stop_tasks
from .stores import Store

__all__ = ["ErrorHook", "Hub"]


class _Closeable(Protocol):
    """What the hub needs of a :class:`Subscriber` to close it (and no import cycle)."""

    def _shutdown(self, drain: bool) -> list[asyncio.Task[None]]: ...


_ANY = Key(WILDCARD)


class Hub(RetainingCore):
    """Routes every published message to the subscriptions whose keys match it.

    Delivery is synchronous: :meth:`publish` calls each matching subscription's callback before
    it returns (for a queue subscription, that callback enqueues the message). Decisions:

    * Each subscription is called once per message, even when several of its keys match.
    * Subscriptions are called in the order in which they were first subscribed.
    * A callback that raises (with any :class:`Exception`, a :class:`WrongThreadError` from
      another hub included) is passed to ``on_error`` (by default: logged once, as
      ``aiopubsub.Hub``, with the key, the message and the callback), counted in
      ``listener_errors``, and delivery goes on to the other subscriptions; the publisher never
      sees the error.
    * A message published while a fan-out is running (from inside a callback) is queued and
      delivered when the current fan-out ends, so every subscription sees messages in publish
      order. It goes to the subscriptions that matched when it was published.
    * A subscription that ends during a fan-out (closed by :meth:`close` or
      :meth:`Subscriber.close`, a listener removed, a queue disconnected by overflow) gets
      nothing more from that fan-out nor from the messages queued behind it; each delivery
      skipped so is counted in ``dropped``. One that only loses a key still gets what matched
      it when it was published, as in 3.0.0.
    * The hub belongs to one event loop and its thread (the one running when it is created, or
      else when something first subscribes from a running loop, or :meth:`bind_loop` is
      called there). :meth:`publish` and :meth:`apublish` from another thread raise
      :class:`WrongThreadError` (use :meth:`publish_threadsafe` there) before delivering or
      waiting for anything, whenever the key has a subscriber; a key that nobody subscribes
      to is a no-op from any thread (debug mode refuses that too).
    * The hub announces each effective subscribe / unsubscribe under
      ``('Hub', 'addedSubscriber', *parts)`` / ``('Hub', 'removedSubscriber', *parts)``, with
      each ``'*'`` of the subscribed key written ``'\\*'``, and the message
      ``{'key': <subscribed Key>, 'currentSubscriberCount': <subscriptions on that exact key>}``.
      Nothing is built or published when nobody could receive it.

    :param route_cache_size: how many published keys' routes to remember (oldest forgotten first).
    :param on_error: ``on_error(exc, context)`` is called, instead of logging, for every failing
        sync callback and async listener; ``context`` is an :class:`ErrorContext`. If the hook
        itself raises, both errors are logged.
    :param debug: check every publish instead of only those the hot path cannot skip: the
        thread also for a key nobody subscribes to, and count ``published`` / ``delivered``
        for :meth:`statistics`. ``None`` (the default) follows the hub's event loop:
        ``asyncio.run(..., debug=True)`` or ``python -X dev`` turn it on.
    :param store: where retained values are kept (see :meth:`retain`): by default an unbounded
        :class:`~aiopubsub.stores.MemoryStore`; pass one with ``max_keys`` to bound it, or a
        persistent store (SQLite, Redis), written behind the values kept in memory.
    :param max_retained: the most retained values kept in memory (``None``: no bound), for the
        default store or in front of a persistent one (a value pushed out of memory stays in
        the persistent store); with a :class:`~aiopubsub.stores.MemoryStore` pass its
        ``max_keys`` instead.
    :raises ValueError: if ``max_retained`` is not an int >= 1.
    :raises TypeError: if ``max_retained`` is given with a :class:`~aiopubsub.stores.MemoryStore`.
    """

    def __init__(
        self,
        *,
        route_cache_size: int = 4096,
        on_error: ErrorHook | None = None,
        debug: bool | None = None,
        store: Store | None = None,
        max_retained: int | None = None,
    ) -> None:
        super().__init__(route_cache_size, on_error, store, max_retained)
        self._debug_setting = debug
        self._set_debug(bool(debug))
        self._loop: asyncio.AbstractEventLoop | None = None
        #: The subscribers to close with the hub, by id, weakly; dead entries are pruned
        #: as the dict grows (a WeakSet cost every Subscriber() a third more).
        self._subscribers: dict[int, weakref.ref[_Closeable]] = {}
        self._prune_at = 64
        self._waiters: set[asyncio.Future[tuple[Key, Any]]] = set()
        self.bind_loop()

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return (
            f"<{type(self).__name__}{state} subscriptions={len(self._router)}"
            f" cached_routes={self._router.cached}>"
        )

    def _set_debug(self, debug: bool) -> None:
        # Debug mode checks and counts on the slow path: publish() sees no cached route.
        self._debug = debug
        self._router.hide_routes(debug)
        self._routes = self._router.routes

    # -- the event loop and closing -----------------------------------------------------------

    def bind_loop(self) -> None:
        """Belong to the running event loop, if there is one and the hub has no live loop yet.

        Called by everything that subscribes; an application rarely needs it, except to
        :meth:`publish_threadsafe` before anything has subscribed.

        :raises RuntimeError: if the hub belongs to another event loop that is running.
        """
        loop = asyncio._get_running_loop()
        if loop is None or loop is self._loop:
            return
        if self._loop is not None and self._loop.is_running():
            raise RuntimeError(
                f"{self!r} belongs to another running event loop ({self._loop!r});"
                " use one hub per loop"
            )
        self._loop = loop
        self._own_thread(get_ident())
        if self._debug_setting is None:
            self._set_debug(loop.get_debug())

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the hub belongs to, once known (see :meth:`bind_loop`)."""
        return self._loop

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` or :meth:`aclose` was called."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise HubClosedError(f"{self!r} is closed")

    def _check_thread(self, doing: str, *args: object) -> None:
        """As :meth:`HubCore._check_thread`, binding the running loop first (as subscribing
        does); once the hub's loop has stopped, another thread may tidy up (close what is
        left)."""
        self.bind_loop()
        loop = self._loop
        if loop is None or loop.is_running():
            super()._check_thread(doing, *args)

    def _attach(self, subscriber: _Closeable) -> None:
        """Remember ``subscriber`` (weakly), to close it with the hub; for :class:`Subscriber`."""
        self._check_open()
        self.bind_loop()
        subscribers = self._subscribers
        subscribers[id(subscriber)] = weakref.ref(subscriber)
        if len(subscribers) > self._prune_at:
            live = {key: ref for key, ref in subscribers.items() if ref() is not None}
            self._subscribers = live
            self._prune_at = 2 * len(live) + 64

    def _live_subscribers(self) -> list[_Closeable]:
        return [s for ref in list(self._subscribers.values()) if (s := ref()) is not None]

    def close(self) -> None:
        """Close the hub now: close every subscriber, cancel async listeners, drop every
        subscription. :meth:`publish` then raises :class:`HubClosedError`. Idempotent.

        Called from a callback, it ends the running fan-out too (see the class docstring).
        Prefer ``await`` :meth:`aclose`, which lets async listeners finish what is queued and
        waits for their tasks.

        :raises WrongThreadError: if called from a thread other than the hub's while its
            loop runs.
        """
        self._check_thread("close the hub")
        for task in self._shutdown(drain=False):
            task.cancel()
        self._close_store_soon()

    async def aclose(self, timeout: float | None = 5.0) -> None:
        """Close the hub, let async listeners finish what is queued, and wait for their tasks.

        Publishing stops at once. Listener tasks still running after ``timeout`` seconds are
        cancelled; when this returns, no task of the hub's is left. Idempotent.
        """
        self._check_thread("close the hub")
        await stop_tasks(self._shutdown(drain=True), timeout)
        await self._close_store()

    async def __aenter__(self) -> Hub:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _shutdown(self, drain: bool) -> list[asyncio.Task[None]]:
        if self._closed:
            # Closed already: the listener tasks may still be finishing; wait for them too.
            return [task for s in self._live_subscribers() for task in s._shutdown(drain)]
        # Routes first: then the subscribers' unsubscribing finds nothing left to announce.
        self._close_routes()
        tasks = []
        for subscriber in self._live_subscribers():
            tasks.extend(subscriber._shutdown(drain))
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(HubClosedError(f"{self!r} was closed"))
        return tasks

    # -- publishing ---------------------------------------------------------------------------

    async def apublish(self, key: PossibleKey, message: Any) -> None:
        """Wait until every bounded queue that ``message`` would reach has room, then publish.

        Queues that are unbounded, or closed, are never waited for. The check and the delivery
        happen in one step, so no message is dropped for want of room (unless another
        publisher fills a queue in between: then this waits again).

        :raises: what :meth:`publish` raises, at once if the key is invalid.
        """
        while True:
            me = get_ident()
            try:
                route = self._routes[key]
            except (KeyError, TypeError):  # Not cached, or not a tuple (see publish).
                route = self._new_route(key, counted=False)  # publish() below counts it.
            else:
                if me != self._thread and route is not NOBODY:
                    self._refuse(route.key)  # Before waiting on a queue of another thread.
            for queue in route.bounded:
                if len(queue.items) >= queue.maxsize and not queue.closed:
                    await queue.wait_for_room()
                    break
            else:
                put = route.put
                if put is not None and me == self._ready and not self._debug:
                    put(route.key, message)  # publish()'s own path for one queue, inlined.
                elif route is not NOBODY:
                    self.publish(route.key, message)
                return

    def publish_threadsafe(self, key: PossibleKey, message: Any) -> None:
        """Publish from any thread: the message is delivered on the hub's loop, soon.

        Messages published so from one thread arrive in the order they were published. The key
        is checked here, in the calling thread.

        :raises InvalidKeyError: if ``key`` is empty or contains ``'*'``.
        :raises RuntimeError: if the hub has no event loop yet (nothing has subscribed from a
            running loop; call :meth:`bind_loop` from the loop first).
        :raises HubClosedError: if the hub is closed.
        """
        key = as_published(key)
        self._check_open()
        loop = self._loop
        if loop is None:
            raise RuntimeError(
                f"{self!r} has no event loop yet: create it, or call its bind_loop(), inside"
                " the running loop before publishing from other threads"
            )
        loop.call_soon_threadsafe(self._publish_soon, key, message)

    def _publish_soon(self, key: Key, message: Any) -> None:
        if self._closed:
            self._dropped += 1
            self._logger.warning(
                "%r: dropped a message published from another thread under %r: the hub closed"
                " before it arrived",
                self,
                key,
            )
            return
        self.publish(key, message)

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
        :raises TypeError: if ``callback`` is not callable or is async (calling it inside
            :meth:`publish` would only create a coroutine that never runs), or if ``unread``
            is not callable.
        :raises HubClosedError: if the hub is closed.
        :raises WrongThreadError: if called from a thread other than the hub's.
        """
        check_sync_callback(callback)
        if unread is not None and not callable(unread):
            raise TypeError(f"unread must be callable or None, got {unread!r}")
        self._subscribe(as_pattern(key), callback, callback, unread=unread)

    def remove_subscriber(
        self, key: PossibleKey, callback: Callback, unread: Callable[[], int] | None = None
    ) -> None:
        """Undo :meth:`add_subscriber`; a subscription that does not exist logs a warning.

        :param unread: accepted for compatibility; the hub remembers it from the subscription.
        :raises WrongThreadError: if called from a thread other than the hub's.
        """
        self._check_thread("unsubscribe {!r} from {!r}", callback, key)
        self._unsubscribe(as_key(key), callback)

    async def wait_for(
        self,
        pattern: PossibleKey,
        predicate: Callable[[Key, Any], object] | None = None,
        timeout: float | None = None,
        *,
        replay: bool = False,
    ) -> tuple[Key, Any]:
        """Return the first ``(key, message)`` published under ``pattern`` that ``predicate``
        accepts (any, without one). With ``replay``, the live retained values ``pattern``
        matches are offered first, in key order (see :meth:`retain`).

        The temporary subscription is gone when this returns, raises, times out or is
        cancelled. If ``predicate`` raises, so does this.

        :raises TimeoutError: after ``timeout`` seconds without such a message.
        :raises HubClosedError: if the hub is or gets closed.
        """
        key = as_pattern(pattern)
        if predicate is not None and not callable(predicate):
            raise TypeError(f"predicate must be callable or None, got {predicate!r}")
        self._check_open()
        self.bind_loop()
        found: asyncio.Future[tuple[Key, Any]] = asyncio.get_running_loop().create_future()

        def offer(key: Key, message: Any) -> None:
            if found.done():
                return
            try:
                accepted = predicate is None or predicate(key, message)
            except Exception as exc:  # noqa: BLE001 - handed to the waiter
                found.set_exception(exc)
                return
            if accepted:
                found.set_result((key, message))

        token = _WaitToken()
        self._subscribe(key, token, offer)
        self._waiters.add(found)
        try:
            if replay:
                self._replay((key,), token)
            async with asyncio.timeout(timeout):
                return await found
        finally:
            self._waiters.discard(found)
            # Quietly: it is gone already if the hub was closed meanwhile.
            self._unsubscribe(key, token, quietly=True)

    # -- introspection ------------------------------------------------------------------------

    def has_subscribers(self, key: PossibleKey = _ANY) -> bool:
        """Could a message published under ``key`` reach any subscription?

        For a wildcard ``key``: could a message published under any key it matches? With no
        argument: is anything subscribed at all? The answer depends only on the current
        subscriptions, never on what was published before.
        """
        try:
            return self._routes[key] is not NOBODY  # A key published before: its route.
        except (KeyError, TypeError):
            pass
        key = as_key(key)
        if key and WILDCARD not in key:
            return bool(self._route_of(key).targets)
        if key == _ANY:
            return len(self._router) > 0
        return could_reach(key, (pattern for pattern, _ in self._router.patterns()))

    def count(self, key: PossibleKey) -> int:
        """How many subscriptions a publish under ``key`` would reach now.

        :raises InvalidKeyError: if ``key`` is empty or a wildcard (count a pattern's
            subscriptions with :meth:`subscriptions`).
        """
        key = as_key(key)
        if not key or WILDCARD in key:
            raise InvalidKeyError(
                f"count() needs a key that could be published, got {key!r}: no '*', at least"
                " one part; for the subscriptions under a pattern, use subscriptions(pattern)"
            )
        return len(self._route_of(key).targets)

    def _route_of(self, key: Key) -> Route:
        """The route of the concrete ``key``: cached, made and cached (in the hub's thread:
        only it writes the cache), or made for this question alone."""
        if get_ident() == self._thread and not self._closed:
            return self._router.route(key)
        return Route(key, tuple(self._router.targets(key)))

    def subscriptions(self, pattern: PossibleKey | None = None) -> dict[Key, int]:
        """``{subscribed key: number of subscriptions under exactly it}``, for every subscribed
        key that lies within ``pattern`` (matched by it, a wildcard key part by part), or for
        all of them; like Redis' ``PUBSUB CHANNELS``.
        """
        within = None if pattern is None else as_pattern(pattern)
        return {
            key: len(targets)
            for key, targets in self._router.patterns()
            if within is None or matches(key, within)
        }

    def statistics(self) -> HubStatistics:
        """Hub-wide totals since the hub was created."""
        self._values.sweep()  # So that ``retained`` counts live values only.
        return HubStatistics(
            subscriptions=len(self._router),
            published=self._published if self._debug else None,
            delivered=self._delivered if self._debug else None,
            dropped=self._dropped + self._router.skipped,
            listener_errors=self._errors,
            retained=len(self._values),
            expired=self._values.expired,
            evicted=self._values.evicted,
            store_errors=self._store_errors,
        )

    def get_subscriber_queue_sizes(self, key: PossibleKey) -> tuple[int, ...]:
        """The queue lengths of the queue subscriptions a publish under ``key`` would reach.

        :raises InvalidKeyError: if ``key`` is empty or a wildcard.
        """
        targets = self._route_of(as_published(key)).targets
        return tuple(t.unread() for t in targets if t.unread is not None)

    def get_all_subscriber_queue_sizes(self) -> dict[Key, tuple[int, ...]]:
        """For every key with a queue subscription, the lengths of the queues subscribed there."""
        sizes = {}
        for pattern, targets in self._router.patterns():
            queues = tuple(t.unread() for t in targets if t.unread is not None)
            if queues:
                sizes[pattern] = queues
        return sizes


class _WaitToken:
    """The subscription of one :meth:`Hub.wait_for`; its repr names it in logs."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<Hub.wait_for subscription>"
