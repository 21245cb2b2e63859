"""The hub's loop-free core: publishing, the fan-out, thread ownership, and the plumbing that
subscribers and bridges use (the methods whose names start with ``_`` and are listed below)."""

from __future__ import annotations

import reprlib
from _thread import get_ident
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

from ._errors import HubClosedError, WrongThreadError
from ._key import WILDCARD, Key, PossibleKey, as_published
from ._log import get_logger
from ._records import ErrorContext
from ._routing import NOBODY, Callback, Queue, Route, Router, Target

__all__ = ["Deferred", "ErrorHook", "HubCore"]

#: ``on_error(exc, context)``: told of every failing callback and async listener.
ErrorHook = Callable[[BaseException, ErrorContext], object]

#: Values of ``HubCore._ready`` that no thread id takes: a fan-out is running; the hub is closed.
_BUSY = -1
_CLOSED = -2

_HUB = "Hub"


class Deferred:
    """Work that must wait its turn behind the messages already pending, like a publish made
    inside a fan-out: a retain's fan-out, or telling the bridges of a forget. It sits in
    ``HubCore._pending`` where a message would, with the route it delivers to (or
    :data:`NOBODY`), and :meth:`HubCore._deliver_later` calls it instead of fanning it out."""

    __slots__ = ("args", "necessary", "run")

    def __init__(self, run: Callable[..., None], *args: Any, necessary: bool = False) -> None:
        self.run = run
        self.args = args
        #: Run even when the pending messages are abandoned (see HubCore._abandon_pending):
        #: it tells of what was done already, and leaving it out would leave others wrong.
        self.necessary = necessary


_short = reprlib.Repr()
_short.maxstring = _short.maxother = 200


class HubCore:
    """Routes each published message to its subscriptions, synchronously, in one thread.

    Knows nothing of event loops: :class:`Hub` adds them. What :class:`Subscriber` and the
    bridges use, and nothing else does, is this *plumbing*: :meth:`_subscribe`,
    :meth:`_unsubscribe`, :meth:`_check_thread`, :meth:`_report`, :meth:`_publish_meta` and
    :meth:`_count_drops`.

    The state that :meth:`publish` reads is folded into one comparison: ``_ready`` is the id of
    the hub's thread while the hub is open and no fan-out is running, and a value no thread
    has otherwise. So ``get_ident() != _ready`` sends to the slow path, at once, a publish from
    another thread, a publish made from inside a fan-out (it waits its turn), and a publish to
    a closed hub.
    """

    def __init__(self, route_cache_size: int, on_error: ErrorHook | None) -> None:
        if on_error is not None and not callable(on_error):
            raise TypeError(f"on_error must be callable or None, got {on_error!r}")
        self._router = Router(route_cache_size)
        self._routes = self._router.routes
        #: The thread allowed to publish and subscribe (that of the hub's loop, see Hub).
        self._thread = get_ident()
        #: What _ready returns to after a fan-out: the thread, or _CLOSED.
        self._idle = self._thread
        self._ready = self._thread
        self._closed = False
        self._debug = False
        #: Messages published from inside a fan-out, delivered when it ends, in order.
        self._pending: deque[tuple[Any, Route]] = deque()
        self._logger = get_logger("Hub")
        self._on_error = on_error
        self._published = 0
        self._delivered = 0
        self._dropped = 0
        self._errors = 0

    # -- publishing ---------------------------------------------------------------------------

    def publish(self, key: PossibleKey, message: Any) -> None:
        """Deliver ``message`` to every subscription whose key matches ``key``.

        Each matching subscription is called once, in the order in which it was first
        subscribed. A callback that raises is reported (see ``on_error``) and the others still
        get the message. A message published from inside a callback is delivered after the
        current fan-out, so every subscription sees messages in publish order.

        :param key: a :class:`Key` (or a ``str``, one part, or an iterable of parts) with no
            wildcard.
        :raises InvalidKeyError: if ``key`` is empty or contains ``'*'``; nothing is delivered.
        :raises TypeError: if ``key`` is not a key or has an unhashable part.
        :raises WrongThreadError: (a :class:`RuntimeError`) if called from a thread other than
            the hub's while the key has a subscriber; nothing is delivered.
        :raises HubClosedError: if the hub is closed.
        """
        try:
            route = self._routes[key]
        except (KeyError, TypeError):  # Not cached, or not a tuple (a str, a list).
            route = self._new_route(key)
        # Each shape is one straight line, the commonest first; NOBODY has neither call.
        lone = route.lone
        if lone is not None:  # One callback: no loop.
            if get_ident() != self._ready:
                if self._ready == _BUSY and get_ident() == self._thread and not self._closed:
                    self._pending.append((message, route))  # From a callback: in its turn.
                else:
                    self._publish_later(message, route)
                return
            self._ready = _BUSY
            try:
                lone(route.key, message)
            except Exception as exc:  # noqa: BLE001 - a subscriber's failure is not ours
                self._failed(exc, route.targets[0], route.key, message)
            except BaseException:
                self._abandon_pending()
                raise
            finally:
                self._ready = self._idle
            if self._pending:
                self._deliver_later()
            return
        put = route.put
        if put is not None:  # One queue: see Route.put.
            if get_ident() != self._ready:
                if self._ready == _BUSY and get_ident() == self._thread and not self._closed:
                    self._pending.append((message, route))  # From a callback: in its turn.
                else:
                    self._publish_later(message, route)
                return
            put(route.key, message)
            return
        if route is NOBODY:
            return  # From any thread: nothing is touched.
        if get_ident() != self._ready:
            if self._ready == _BUSY and get_ident() == self._thread and not self._closed:
                self._pending.append((message, route))  # From a callback: in its turn.
            else:
                self._publish_later(message, route)
            return
        self._ready = _BUSY
        try:
            # _fan_out's loop, written out here: a call per publish is a fifth of its cost.
            key = route.key
            for target in route.targets:
                try:
                    target.call(key, message)
                except Exception as exc:  # noqa: BLE001 - a subscriber's failure is not ours
                    self._failed(exc, target, key, message)
        except BaseException:
            self._abandon_pending()
            raise
        finally:
            self._ready = self._idle
        if self._pending:
            self._deliver_later()

    def _new_route(self, key: PossibleKey, counted: bool = True) -> Route:
        """The slow path of a publish: a key with no cached route (every key, in debug mode),
        or a key that is not a tuple. In debug mode, the publish is counted, if ``counted``.

        From another thread nothing is cached: that thread learns only whether anyone listens.
        """
        key = as_published(key)
        if self._closed:
            raise HubClosedError(f"{self!r} is closed")
        if get_ident() != self._thread:
            if self._debug or self._router.targets(key):
                self._refuse(key)
            return NOBODY
        route = self._router.route(key)
        if self._debug and counted:
            self._published += 1
            self._delivered += len(route.targets)
        return route

    def _publish_later(self, message: Any, route: Route) -> None:
        """The slow path of a publish that reaches somebody when ``_ready`` says not now (its
        commonest case, a publish from a callback, is written out in :meth:`publish`)."""
        if get_ident() != self._thread:
            self._refuse(route.key)
        if self._closed:
            raise HubClosedError(f"{self!r} is closed")
        self._pending.append((message, route))

    def _refuse(self, key: Key) -> None:
        raise WrongThreadError(
            f"A hub was published to under {key!r} from thread {get_ident()}, but it belongs"
            f" to the event loop in thread {self._thread}; use publish_threadsafe() from other"
            " threads"
        )

    def _fan_out(self, route: Route, message: Any) -> None:
        """Call every target of ``route`` in turn. One closed meanwhile has a call that only
        counts what it misses (routing rule 7)."""
        key = route.key
        for target in route.targets:
            try:
                target.call(key, message)
            except Exception as exc:  # noqa: BLE001 - a subscriber's failure is not ours
                self._failed(exc, target, key, message)

    def _deliver_later(self) -> None:
        """Deliver the messages published during a fan-out that has just ended, in order, and
        those they publish in turn, as one more fan-out (each message's written out as
        :meth:`_fan_out`'s: this is every relaying callback's path). A :class:`Deferred` is
        run in its turn instead."""
        pending = self._pending
        self._ready = _BUSY
        try:
            while pending:
                message, route = pending.popleft()
                if type(message) is Deferred:
                    message.run(*message.args)
                    continue
                key = route.key
                for target in route.targets:
                    try:
                        target.call(key, message)
                    except Exception as exc:  # noqa: BLE001 - a subscriber's failure is not ours
                        self._failed(exc, target, key, message)
        except BaseException:
            self._abandon_pending()
            raise
        finally:
            self._ready = self._idle

    def _as_fan_out(self, deliver: Callable[..., None], *args: Any) -> None:
        """Run ``deliver(*args)`` as :meth:`publish` runs a fan-out: what is published meanwhile
        waits for its end, then is delivered in order (publish() writes this out inline)."""
        self._ready = _BUSY
        try:
            deliver(*args)
        except BaseException:
            self._abandon_pending()
            raise
        finally:
            self._ready = self._idle
        if self._pending:
            self._deliver_later()

    def _abandon_pending(self) -> None:
        """A ``BaseException`` (``KeyboardInterrupt``, ``SystemExit``) from a callback, or the
        hub's closing, ends the fan-out: what was published behind it is dropped and counted,
        never delivered later, out of order. A necessary :class:`Deferred` (telling the
        bridges of a forget already done) still runs, in order."""
        pending = list(self._pending)
        self._pending.clear()  # The very deque: a _deliver_later() running stops at once.
        for message, route in pending:
            if type(message) is Deferred and message.necessary:
                message.run(*message.args)
            else:
                self._dropped += len(route.targets)

    # -- errors -------------------------------------------------------------------------------

    def _failed(self, exc: Exception, target: Target, key: Key, message: Any) -> None:
        owner = target.owner
        if owner is None:
            context = ErrorContext(key, message, target.callback)
        else:
            context = ErrorContext(key, message, target.callback, *owner)
        self._report(exc, context)

    def _report(self, exc: BaseException, context: ErrorContext) -> None:
        """Count a failed callback or listener and pass it to ``on_error`` (or log it once).
        A store's failure (``kind='store'``) is counted by its caller."""
        if context.kind != "store":
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

    def _count_drops(self, n: int = 1) -> None:
        """Add to the hub's total of messages lost; for the queues and bridges."""
        self._dropped += n

    # -- subscriptions ------------------------------------------------------------------------

    def _check_thread(self, doing: str, *args: object) -> None:
        """Refuse a change to the subscriptions from a thread other than the hub's: nothing
        is locked.

        :param doing: what was attempted, for the message: a :meth:`str.format` template
            filled with ``args`` only on failure (``"subscribe {!r}", key``), since this is
            on the path of every subscribe.
        :raises WrongThreadError: from another thread.
        """
        if get_ident() != self._thread:
            raise WrongThreadError(
                f"Cannot {doing.format(*args)} from thread {get_ident()}: {self!r} belongs to"
                f" thread {self._thread}; do it from the hub's thread (from another thread, hand"
                " it over with loop.call_soon_threadsafe)"
            )

    def _subscribe(
        self,
        pattern: Key,
        token: Hashable,
        call: Callback,
        queue: Queue | None = None,
        owner: tuple[str, str] | None = None,
        unread: Callable[[], int] | None = None,
    ) -> bool:
        """Subscribe the subscription identified by ``token`` under ``pattern``; the other
        arguments are those of :class:`Target`.

        :return: whether it was not subscribed under ``pattern`` yet (if it was, a warning is
            logged and nothing changes).
        :raises HubClosedError: if the hub is closed.
        :raises WrongThreadError: if called from a thread other than the hub's.
        """
        if self._closed:
            raise HubClosedError(f"{self!r} is closed")
        self._check_thread("subscribe {!r} to {!r}", token, pattern)
        if not self._router.add(pattern, token, call, queue, owner, unread):
            self._logger.warning("Repeated subscription of %r to key %r.", token, pattern)
            return False
        self._announce("addedSubscriber", pattern)
        return True

    def _unsubscribe(
        self, pattern: Key, token: Hashable, quietly: bool = False, end: bool = False
    ) -> bool:
        """Undo :meth:`_subscribe`; return whether ``token`` was subscribed there.

        Unless ``quietly``, a subscription that does not exist logs a warning (once the hub is
        closed, every subscription is gone and none is missed). With ``end``, the subscription
        is ending (closed, disconnected, removed): once it has no key left, it gets nothing
        more, not even from a fan-out already running (routing rule 7).
        """
        if not self._router.remove(pattern, token, end):
            if not quietly and not self._closed:
                self._logger.warning(
                    "Unsubscribe of %r from key %r, which it is not subscribed to.", token, pattern
                )
            return False
        self._announce("removedSubscriber", pattern)
        return True

    def _announce(self, event: str, pattern: Key) -> None:
        if not self._router.has_root(_HUB):
            return  # Nobody could receive the meta-event: don't build it.
        self._publish_meta(
            (event, *pattern),
            {"key": pattern, "currentSubscriberCount": self._router.count(pattern)},
        )

    def _publish_meta(self, parts: tuple[Hashable, ...], message: Any) -> None:
        """Publish the hub's own event ``('Hub', *parts)``, if anyone could receive it.

        A part that is ``'*'`` (from a subscribed pattern, or an id chosen so) is written
        ``'\\*'``, so that the key can be published.
        """
        if self._router.has_root(_HUB) and get_ident() == self._thread and not self._closed:
            escaped = (_HUB, *("\\*" if part == WILDCARD else part for part in parts))
            self.publish(tuple.__new__(Key, escaped), message)

    def _close_routes(self) -> None:
        """Stop publishing for good: every subscription is dropped, pending messages too."""
        self._closed = True
        self._idle = self._ready = _CLOSED
        # Messages published from a callback and not delivered yet are lost: count them.
        self._abandon_pending()
        self._router.clear()

    def _own_thread(self, thread: int) -> None:
        """Belong to ``thread`` from now on (the hub's loop runs there)."""
        self._thread = thread
        if not self._closed:
            self._idle = thread
            if self._ready != _BUSY:
                self._ready = thread
