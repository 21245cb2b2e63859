"""The Hub: the registry of subscriptions and the fan-out of every published message."""

from __future__ import annotations

import asyncio
import reprlib
import weakref
from _thread import get_ident
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from typing import Any, Protocol

from ._errors import HubClosedError, InvalidKeyError, WrongThreadError
from ._inbox import Inbox, ThreadOwner
from ._key import WILDCARD, Key, PossibleKey, intersects, matches
from ._log import get_logger
from ._records import ErrorContext, HubStatistics
from ._routing import Callback, Route, Router, check_sync_callback

__all__ = ["ErrorHook", "Hub"]

#: ``on_error(exc, context)``: told of every failing callback and async listener.
ErrorHook = Callable[[BaseException, ErrorContext], object]


class _Closeable(Protocol):
    """What the hub needs of a :class:`Subscriber` to close it (and no import cycle)."""

    def _shutdown(self, drain: bool) -> list[asyncio.Task[None]]: ...


_ANY = Key(WILDCARD)
_PUT_BOUNDED = Inbox._put_bounded
_QUEUE_PUTS = (Inbox._put, _PUT_BOUNDED)


class _ThreadGuard:
    """Leads every cached route that calls a callback: refuses a publish from a thread other
    than the hub's before any callback runs. Holds no reference to the hub (no cycle)."""

    __slots__ = ("thread",)

    def __init__(self) -> None:
        self.thread = get_ident()

    def __repr__(self) -> str:
        return f"<thread guard of thread {self.thread}>"

    def __call__(self, key: Key, message: Any) -> None:
        if get_ident() != self.thread:
            self.refuse(key)

    def refuse(self, key: Key) -> None:
        raise WrongThreadError(
            f"A hub was published to under {key!r} from thread {get_ident()}, but it belongs"
            f" to the event loop in thread {self.thread}; use publish_threadsafe() from other"
            " threads"
        )


_short = reprlib.Repr()
_short.maxstring = _short.maxother = 200
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
    * A callback that raises is passed to ``on_error`` (by default: logged once, as
      ``aiopubsub.Hub``, with the key, the message and the callback) and delivery goes on to
      the other subscriptions; the publisher never sees the error.
    * A message published while a fan-out is running (from inside a callback) is queued and
      delivered when the current fan-out ends, so every subscription sees messages in publish
      order. It goes to the subscriptions that matched when it was published.
    * The hub belongs to one event loop and its thread (the one running when it is created, or
      else when it is first used from a running loop). :meth:`publish` from another thread
      raises :class:`WrongThreadError` (use :meth:`publish_threadsafe` there) before
      delivering anything, except in two cases that checking would cost every publish: a key
      that no subscription matches (a no-op), and a cached route to one queue with room and
      nobody waiting (the message is appended). Debug mode checks those too.
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
        thread on every call (not only when a callback would run or a consumer would be
        woken), and count ``published`` / ``delivered`` for :meth:`statistics`. ``None``
        (the default) follows the hub's event loop: ``asyncio.run(..., debug=True)`` or
        ``python -X dev`` turn it on.
    """

    def __init__(
        self,
        *,
        route_cache_size: int = 4096,
        on_error: ErrorHook | None = None,
        debug: bool | None = None,
    ) -> None:
        if on_error is not None and not callable(on_error):
            raise TypeError(f"on_error must be callable or None, got {on_error!r}")
        self._router = Router(route_cache_size)
        self._routes: dict[Key, Route] = {}
        self._delivering = False
        self._pending: deque[tuple[Key, Any, Route]] = deque()
        self._logger = get_logger("Hub")
        self._on_error = on_error
        #: The thread allowed to publish: that of the hub's loop.
        self._thread = get_ident()
        self._guard = _ThreadGuard()
        self._debug_setting = debug
        self._debug = bool(debug)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._subscribers: weakref.WeakSet[_Closeable] = weakref.WeakSet()
        self._waiters: set[asyncio.Future[tuple[Key, Any]]] = set()
        self._published = 0
        self._delivered = 0
        self._dropped = 0
        self._errors = 0
        self._use_cache()
        self.bind_loop()

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return (
            f"<{type(self).__name__}{state} subscriptions={len(self._router)}"
            f" cached_routes={len(self._routes)}>"
        )

    # -- the event loop and closing -----------------------------------------------------------

    @property
    def owner(self) -> ThreadOwner:
        """For queues: ``owner.thread`` is the thread allowed to wake consumers and overflow."""
        return self._guard

    def bind_loop(self) -> None:
        """Belong to the running event loop, if there is one and the hub has no live loop yet.

        Called by everything that subscribes; an application rarely needs it, except to
        :meth:`publish_threadsafe` before anything has subscribed.
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
        self._thread = self._guard.thread = get_ident()
        if self._debug_setting is None:
            self._debug = loop.get_debug()
        self._use_cache()

    def _use_cache(self) -> None:
        """Point the hot path at the route cache, or, in debug mode or once closed, at an
        empty dict so that every publish goes through :meth:`_route`."""
        self._routes = {} if self._debug or self._closed else self._router.cache

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

    def check_thread(self, doing: str, *args: object) -> None:
        """Refuse a change to the subscriptions from a thread other than the hub's: nothing
        is locked. Once the hub's loop has stopped, another thread may tidy up (close what is
        left). Binds the running loop first, as subscribing does (see :meth:`bind_loop`).

        :param doing: what was attempted, for the message: a :meth:`str.format` template
            filled with ``args`` only on failure (``"subscribe {!r}", key``), since this is
            on the path of every subscribe.
        :raises WrongThreadError: from another thread, unless the hub's loop has stopped.
        """
        self.bind_loop()
        loop = self._loop
        if get_ident() != self._thread and (loop is None or loop.is_running()):
            raise WrongThreadError(
                f"Cannot {doing.format(*args)} from thread {get_ident()}: {self!r} belongs to"
                f" thread {self._thread}; do it from the hub's thread (from another thread, hand"
                " it over with loop.call_soon_threadsafe)"
            )

    def attach(self, subscriber: _Closeable) -> None:
        """Remember ``subscriber`` (weakly), to close it with the hub; for :class:`Subscriber`."""
        self._check_open()
        self.bind_loop()
        self._subscribers.add(subscriber)

    def close(self) -> None:
        """Close the hub now: close every subscriber, cancel async listeners, drop every
        subscription. :meth:`publish` then raises :class:`HubClosedError`. Idempotent.

        Prefer ``await`` :meth:`aclose`, which lets async listeners finish what is queued and
        waits for their tasks.
        """
        self.check_thread("close the hub")
        for task in self._shutdown(drain=False):
            task.cancel()

    async def aclose(self, timeout: float | None = 5.0) -> None:
        """Close the hub, let async listeners finish what is queued, and wait for their tasks.

        Publishing stops at once. Listener tasks still running after ``timeout`` seconds are
        cancelled; when this returns, no task of the hub's is left. Idempotent.
        """
        self.check_thread("close the hub")
        tasks = self._shutdown(drain=True)
        await stop_tasks(tasks, timeout)

    async def __aenter__(self) -> Hub:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _shutdown(self, drain: bool) -> list[asyncio.Task[None]]:
        if self._closed:
            # Closed already: the listener tasks may still be finishing; wait for them too.
            return [task for s in list(self._subscribers) for task in s._shutdown(drain)]
        self._closed = True
        tasks = []
        for subscriber in list(self._subscribers):
            tasks.extend(subscriber._shutdown(drain))
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(HubClosedError(f"{self!r} was closed"))
        self._router = Router(self._router.cache_size)
        self._use_cache()
        self._pending.clear()
        return tasks

    # -- publishing ---------------------------------------------------------------------------

    def publish(self, key: PossibleKey, message: Any) -> None:
        """Deliver ``message`` to every subscription whose key matches ``key``.

        :param key: a :class:`Key` (or a ``str``, one part, or an iterable of ``str``) with no
            wildcard.
        :raises InvalidKeyError: if ``key`` is empty or contains ``'*'``; nothing is delivered.
        :raises TypeError: if ``key`` is not a key or has a part that is not a ``str``.
        :raises WrongThreadError: (a :class:`RuntimeError`) if called from a thread other than
            the hub's, with the exceptions listed in the class docstring.
        :raises HubClosedError: if the hub is closed.
        """
        if type(key) is not Key:
            key = Key.create_from(key)
        # In debug mode, and once closed, _routes is an empty dict: every publish takes the
        # slow path, which checks and counts. Otherwise this is the whole check.
        callbacks = self._routes.get(key)
        if callbacks is None:
            callbacks = self._route(key)
        if not callbacks:
            return
        if self._delivering:
            # A fan-out is running: in this thread (a callback publishing), or in the hub's
            # thread while this one is another. Only the first may queue behind it.
            if get_ident() != self._thread:
                self._guard.refuse(key)
            self._pending.append((key, message, callbacks))
            return
        if type(callbacks) is not tuple:
            # One queue: its put cannot fail, and it publishes (an overflow's meta-event) only
            # after its own message is in, so it needs none of the bookkeeping below, which
            # orders the publishes made during a fan-out. (type() rather than isinstance():
            # cheaper, but mypy does not narrow on it.)
            callbacks(key, message)  # type: ignore[operator]
            return
        self._delivering = True
        try:
            for callback in callbacks:
                try:
                    callback(key, message)
                except WrongThreadError:
                    raise  # The publisher's mistake, not the subscriber's.
                except Exception as exc:  # noqa: BLE001 - a subscriber's failure is not ours
                    self._callback_failed(exc, callback, key, message)
            if self._pending:
                self._deliver_pending()
        finally:
            self._delivering = False

    def _route(self, key: Key) -> Route:
        """The slow path of :meth:`publish`: a key not in the route cache, or debug mode."""
        check_publishable(key)
        self._check_open()
        if get_ident() != self._thread:
            # Only the hub's thread fills the cache; outside debug mode, another may learn
            # that nobody listens (that publish touches nothing).
            if self._debug or self._router.targets(key):
                self._guard.refuse(key)
            return ()
        callbacks = self._router.cache.get(key)
        if callbacks is None:
            callbacks = self._new_route(key)
        if self._debug:
            self._published += 1
            if type(callbacks) is not tuple:
                self._delivered += 1
            elif callbacks:
                self._delivered += len(callbacks) - (callbacks[0] is self._guard)
        return callbacks

    def _new_route(self, key: Key) -> Route:
        """Route ``key`` and cache the route.

        A route that is one queue is cached as its put method alone, for the shortest path
        through :meth:`publish`; see there. That put checks the thread itself whenever it
        would wake a consumer or overflow, and otherwise only appends. Any other non-empty
        route is led by the thread guard, so that a publish from a foreign thread is refused
        before anything is delivered.
        """
        callbacks = self._router.route(key)
        if len(callbacks) == 1 and getattr(callbacks[0], "__func__", None) in _QUEUE_PUTS:
            self._router.cache[key] = callbacks[0]
            return callbacks[0]
        if callbacks:
            callbacks = self._router.cache[key] = (self._guard, *callbacks)
        return callbacks

    def _deliver_pending(self) -> None:
        pending = self._pending
        while pending:
            key, message, callbacks = pending.popleft()
            for callback in callbacks if isinstance(callbacks, tuple) else (callbacks,):
                try:
                    callback(key, message)
                except WrongThreadError:
                    raise
                except Exception as exc:  # noqa: BLE001
                    self._callback_failed(exc, callback, key, message)

    async def apublish(self, key: PossibleKey, message: Any) -> None:
        """Wait until every bounded queue that ``message`` would reach has room, then publish.

        Queues that are unbounded, or closed, are never waited for. The check and the delivery
        happen in one step, so no message is dropped for want of room (unless another
        publisher fills a queue in between: then this waits again).

        :raises: what :meth:`publish` raises, at once if the key is invalid.
        """
        if type(key) is not Key:
            key = Key.create_from(key)
        callbacks = self._router.cache.get(key)
        if callbacks is not None and type(callbacks) is not tuple:
            # A route to one queue (see _new_route): its put is a bound Inbox method.
            lone: Inbox = callbacks.__self__  # type: ignore[union-attr]
            if lone.has_room:
                self.publish(key, message)
                return
        while True:
            callbacks = self._router.cache.get(key)
            if callbacks is None:  # Only a checked key of an open hub is ever cached.
                check_publishable(key)
                self._check_open()
                self.bind_loop()
                callbacks = self._new_route(key)
            for callback in callbacks if isinstance(callbacks, tuple) else (callbacks,):
                # A bounded queue's callback is its bound _put_bounded method.
                if getattr(callback, "__func__", None) is _PUT_BOUNDED:
                    inbox: Inbox = callback.__self__  # type: ignore[attr-defined]
                    if not inbox.has_room:
                        await inbox.wait_for_room()
                        break
            else:
                self.publish(key, message)
                return

    def publish_threadsafe(self, key: PossibleKey, message: Any) -> None:
        """Publish from any thread: the message is delivered on the hub's loop, soon.

        The key is checked here, in the calling thread.

        :raises InvalidKeyError: if ``key`` is empty or contains ``'*'``.
        :raises RuntimeError: if the hub has no event loop yet (nothing has subscribed from a
            running loop; call :meth:`bind_loop` from the loop first).
        :raises HubClosedError: if the hub is closed.
        """
        key = check_publishable(coerce_key(key))
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

    # -- errors -------------------------------------------------------------------------------

    def _callback_failed(self, exc: Exception, callback: Callback, key: Key, message: Any) -> None:
        # A Subscriber's callback knows its subscription (see _subscriber._Delivery); one
        # added with add_subscriber is its own subscription.
        owner = getattr(callback, "subscription", None)
        if owner is None:
            context = ErrorContext(key, message, callback)
        else:
            user_callback = getattr(callback, "func", callback)
            context = ErrorContext(key, message, user_callback, owner.subscriber_id, owner.id)
        self.report(exc, context)

    def report(self, exc: BaseException, context: ErrorContext) -> None:
        """Count a failed callback or listener and pass it to ``on_error`` (or log it once)."""
        self._errors += 1
        hook = self._on_error
        if hook is not None:
            try:
                hook(exc, context)
            except Exception as hook_exc:
                self._logger.error(
                    "on_error hook %r failed on %r while handling %r",
                    hook,
                    context,
                    exc,
                    exc_info=hook_exc,
                )
            else:
                return
        owner = (
            ""
            if context.subscriber_id is None
            else f" of subscriber {context.subscriber_id!r} ({context.subscription_id!r})"
        )
        self._logger.error(
            "%s %r%s failed on key %r with message %s: %r",
            context.kind.capitalize(),
            context.callback,
            owner,
            context.key,
            # A message can be huge: its repr is cut short in the log.
            _short.repr(context.message),
            exc,
            exc_info=exc,
        )

    def count_drops(self, n: int = 1) -> None:
        """Add to the hub's total of messages lost to overflow; for the queues."""
        self._dropped += n

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
        """
        check_sync_callback(callback)
        if unread is not None and not callable(unread):
            raise TypeError(f"unread must be callable or None, got {unread!r}")
        self.subscribe_token(check_pattern(key), callback, callback, unread)

    def remove_subscriber(
        self, key: PossibleKey, callback: Callback, unread: Callable[[], int] | None = None
    ) -> None:
        """Undo :meth:`add_subscriber`; a subscription that does not exist logs a warning.

        :param unread: accepted for compatibility; the hub remembers it from the subscription.
        """
        self.check_thread("unsubscribe {!r} from {!r}", callback, key)
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
        :raises WrongThreadError: if called from a thread other than the hub's: the routing
            table is not locked.
        """
        self._check_open()
        self.check_thread("subscribe {!r} to {!r}", token, pattern)
        if not self._router.add(pattern, token, callback, unread):
            self._logger.warning("Repeated subscription of %r to key %r.", token, pattern)
            return False
        self._announce("addedSubscriber", pattern)
        return True

    def unsubscribe_token(self, pattern: Key, token: Hashable) -> bool:
        """Undo :meth:`subscribe_token`; return whether ``token`` was subscribed there."""
        if not self._router.remove(pattern, token):
            if not self._closed:
                self._logger.warning(
                    "Unsubscribe of %r from key %r, which it is not subscribed to.", token, pattern
                )
            return False
        self._announce("removedSubscriber", pattern)
        return True

    def _announce(self, event: str, pattern: Key) -> None:
        if not self._router.has_root(_HUB):
            return  # Nobody could receive the meta-event: don't build it.
        self.publish_meta(
            (event, *pattern),
            {"key": pattern, "currentSubscriberCount": self._router.count(pattern)},
        )

    def publish_meta(self, parts: tuple[str, ...], message: Any) -> None:
        """Publish the hub's own event ``('Hub', *parts)``, if anyone could receive it.

        A part that is ``'*'`` (from a subscribed pattern, or an id chosen so) is written
        ``'\\*'``, so that the key can be published.
        """
        if self._router.has_root(_HUB) and get_ident() == self._thread and not self._closed:
            escaped = (_HUB, *("\\*" if part == WILDCARD else part for part in parts))
            self.publish(tuple.__new__(Key, escaped), message)

    async def wait_for(
        self,
        pattern: PossibleKey,
        predicate: Callable[[Key, Any], object] | None = None,
        timeout: float | None = None,
    ) -> tuple[Key, Any]:
        """Return the first ``(key, message)`` published under ``pattern`` that ``predicate``
        accepts (any, without one).

        The temporary subscription is gone when this returns, raises, times out or is
        cancelled. If ``predicate`` raises, so does this.

        :raises TimeoutError: after ``timeout`` seconds without such a message.
        :raises HubClosedError: if the hub is or gets closed.
        """
        key = check_pattern(pattern)
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

        token = _WaitToken(offer)
        self.subscribe_token(key, token, offer)
        self._waiters.add(found)
        try:
            async with asyncio.timeout(timeout):
                return await found
        finally:
            self._waiters.discard(found)
            # Quietly: it is gone already if the hub was closed meanwhile.
            if self._router.remove(key, token):
                self._announce("removedSubscriber", key)

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

    def count(self, key: PossibleKey) -> int:
        """How many subscriptions a publish under ``key`` would reach now.

        :raises InvalidKeyError: if ``key`` is empty or a wildcard (count a pattern's
            subscriptions with :meth:`subscriptions`).
        """
        key = coerce_key(key)
        if not key or WILDCARD in key:
            raise InvalidKeyError(
                f"count() needs a key that could be published, got {key!r}: no '*', at least"
                " one part; for the subscriptions under a pattern, use subscriptions(pattern)"
            )
        return len(self._router.targets(key))

    def subscriptions(self, pattern: PossibleKey | None = None) -> dict[Key, int]:
        """``{subscribed key: number of subscriptions under exactly it}``, for every subscribed
        key that lies within ``pattern`` (matched by it, a wildcard key part by part), or for
        all of them; like Redis' ``PUBSUB CHANNELS``.
        """
        within = None if pattern is None else check_pattern(pattern)
        return {
            key: len(targets)
            for key, targets in self._router.patterns()
            if within is None or matches(key, within)
        }

    def statistics(self) -> HubStatistics:
        """Hub-wide totals since the hub was created."""
        return HubStatistics(
            subscriptions=len(self._router),
            published=self._published if self._debug else None,
            delivered=self._delivered if self._debug else None,
            dropped=self._dropped,
            listener_errors=self._errors,
        )

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


class _WaitToken:
    """The subscription of one :meth:`Hub.wait_for`; its repr names it in logs."""

    __slots__ = ("offer",)

    def __init__(self, offer: Callback) -> None:
        self.offer = offer

    def __repr__(self) -> str:
        return "<Hub.wait_for subscription>"


async def stop_tasks(tasks: list[asyncio.Task[None]], timeout: float | None) -> None:
    """Wait up to ``timeout`` seconds for ``tasks`` to end, cancel the rest, wait for those."""
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
