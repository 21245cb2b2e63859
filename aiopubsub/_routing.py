"""The subscription index and the route cache: which targets does a message under a key reach?

Theory of operation
===================

1. A *pattern* is a non-empty tuple of parts. A part ``'*'`` inside a pattern matches exactly
   one part of a key; a ``'*'`` as the last part matches one or more parts. A published key
   never contains ``'*'`` (the hub refuses it), so routing only ever matches concrete keys.
2. Subscriptions live in a trie keyed by pattern parts; ``'*'`` is an ordinary edge label.
   Each node holds the *tokens* subscribed under exactly the pattern spelled by its path.
   A token is whatever identifies one subscription: a queue, or a callback under one id.
   Each token has one :class:`Target`: what to call, and what reports and back-pressure
   need to know about it.
3. Routing a key of ``n`` parts walks the trie depth-first, following at depth ``i`` the edge
   ``key[i]`` and the edge ``'*'``. A node reached after all ``n`` parts contributes its tokens;
   a ``'*'`` node reached with parts left over contributes its tokens too (rule 1: a trailing
   ``'*'`` takes up the rest). Each node lies at one depth, so it is visited at most once, and
   the work is bounded by the key's length times the wildcard fan-out of the patterns that
   could match it, not by the number of subscriptions.
4. A token subscribed under several matching patterns is reached once: the route holds the
   set of targets, ordered by when each token was first subscribed, so that every
   subscription sees a publish exactly once and fan-out order is stable.
5. A :class:`Route` is one shape for every key: the targets in order, plus what the publish
   needs to know, computed here once (at most one target; the lone queue that needs no
   bookkeeping; the bounded queues ``apublish`` waits for). Every key that reaches nobody
   shares :data:`NOBODY`.
6. Routes are cached per published key in a dict of at most ``cache_size`` entries that this
   module alone writes; when it is full the oldest quarter is evicted. A change under a plain
   pattern forgets the one route it can alter (that of the equal key); a change under a
   wildcard pattern empties the cache. Memory is thus bounded whatever keys are published,
   and subscribing costs at most one clear of that bounded cache.
7. A route already being delivered keeps its targets: a subscription that loses its last key
   in the middle of a fan-out still gets the messages that matched it when they were
   published, as in 3.0.0. A subscription that *ends* (closed, disconnected, a listener
   removed) dies at once instead: ``live`` turns false and its ``call`` becomes one that only
   counts the message it misses (:attr:`Router.skipped`), so it gets nothing more, and
   whoever delivers pays nothing per target for that.
8. Nothing here knows about asyncio, threads or errors: the router maps keys to targets.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Awaitable, Callable, Hashable, Iterator, Mapping, Sized
from types import MappingProxyType
from typing import Any, Protocol

from ._key import WILDCARD, Key

__all__ = [
    "NOBODY",
    "Callback",
    "Queue",
    "Route",
    "Router",
    "Target",
    "check_sync_callback",
    "is_async_callable",
]

#: What a subscription is called with for each message: ``callback(key, message)``.
Callback = Callable[[Key, Any], Any]


class Queue(Protocol):
    """What the router needs of a queue subscription's queue (an ``Inbox``)."""

    @property
    def maxsize(self) -> int: ...

    @property
    def closed(self) -> bool: ...

    @property
    def items(self) -> Sized: ...

    def __len__(self) -> int: ...

    def wait_for_room(self) -> Awaitable[None]: ...


def is_async_callable(callback: object) -> bool:
    """Whether calling ``callback`` returns a coroutine (``async def``, partial or ``__call__``)."""
    return inspect.iscoroutinefunction(callback) or inspect.iscoroutinefunction(
        getattr(callback, "__call__", None)  # noqa: B004 - we want the method itself
    )


def check_sync_callback(callback: object) -> None:
    """Refuse what cannot be called inside ``publish()``: a non-callable, or an async callable.

    :raises TypeError: naming ``callback``.
    """
    if not callable(callback):
        raise TypeError(f"callback must be callable, got {callback!r}")
    if is_async_callable(callback):
        raise TypeError(
            f"{callback!r} is async: a sync callback would only create coroutines that never run;"
            " use add_async_listener"
        )


class Target:
    """One subscription as the router knows it.

    :param token: what identifies the subscription.
    :param call: what a publish calls: ``call(key, message)``; also what a failure report
        names as the callback (:attr:`callback` keeps it once the target is dead).
    :param queue: the subscription's queue, for a queue subscription.
    :param owner: ``(subscriber id, subscription id)`` for a :class:`Subscriber`'s subscription.
    :param unread: a zero-argument callable giving the queue's length, for
        ``get_subscriber_queue_sizes``; by default that of ``queue``.
    """

    __slots__ = (
        "token",
        "call",
        "callback",
        "queue",
        "owner",
        "unread",
        "order",
        "patterns",
        "live",
    )

    def __init__(
        self,
        token: Hashable,
        call: Callback,
        queue: Queue | None,
        owner: tuple[str, str] | None,
        unread: Callable[[], int] | None,
        order: int,
    ) -> None:
        self.token = token
        self.call = call
        self.callback = call
        self.queue = queue
        self.owner = owner
        self.unread = queue.__len__ if unread is None and queue is not None else unread
        self.order = order
        #: How many patterns this token is subscribed under.
        self.patterns = 0
        #: False once removed from the index (rule 7).
        self.live = True

    def __repr__(self) -> str:
        return f"<Target {self.token!r}{'' if self.live else ' dead'}>"


class Route:
    """Everything a publish under one key needs, computed when the route is made (rule 5).

    :ivar key: the published key, as the :class:`Key` every target is called with (a publish
        under an equal tuple finds this route and delivers this key).
    :ivar targets: the targets, in fan-out order.
    :ivar lone: the call of the only target, if there is exactly one and it is a callback
        (the publish then calls it without a loop).
    :ivar put: the call of the only target, if there is exactly one and it is a queue: a
        queue's put publishes nothing before its own message is in (an overflow announces
        itself after), so it needs none of the bookkeeping that orders nested publishes.
    :ivar bounded: the bounded queues among the targets, which ``apublish`` waits for.
    """

    __slots__ = ("key", "targets", "lone", "put", "bounded")

    def __init__(self, key: Key, targets: tuple[Target, ...]) -> None:
        self.key = key
        self.targets = targets
        self.lone: Callback | None = None
        self.put: Callback | None = None
        if len(targets) == 1:
            if targets[0].queue is None:
                self.lone = targets[0].call
            else:
                self.put = targets[0].call
        self.bounded = tuple(
            t.queue for t in targets if t.queue is not None and t.queue.maxsize > 0
        )

    def __repr__(self) -> str:
        return f"<Route to {len(self.targets)} target(s)>"


#: The route of every key that reaches nobody.
NOBODY = Route(Key(), ())
#: What :attr:`Router.routes` shows while its routes are hidden (debug mode).
_NO_ROUTES: Mapping[Any, Route] = MappingProxyType({})


class _Node:
    __slots__ = ("children", "tokens")

    def __init__(self) -> None:
        self.children: dict[Hashable, _Node] = {}
        #: Tokens subscribed under the pattern that ends here, in subscription order.
        self.tokens: dict[Hashable, None] = {}


class Router:
    """A trie of subscription patterns with a bounded cache of routes per published key.

    :param cache_size: how many published keys' routes to remember.
    """

    def __init__(self, cache_size: int = 4096) -> None:
        if not isinstance(cache_size, int) or cache_size < 1:
            raise ValueError(f"cache_size must be an int of at least 1, got {cache_size!r}")
        self._root = _Node()
        self._targets: dict[Hashable, Target] = {}
        self._nodes: dict[Key, _Node] = {}
        self._order = itertools.count()
        self._cache_size = cache_size
        self._cache: dict[Key, Route] = {}
        #: Messages that dead targets missed (rule 7).
        self.skipped = 0
        #: The cached routes, read-only: the hot path's one read, ``routes[key]``, which any
        #: tuple equal to a cached key finds too (hence ``Any``).
        self.routes: Mapping[Any, Route] = self._cache

    def __len__(self) -> int:
        """The number of distinct tokens subscribed."""
        return len(self._targets)

    @property
    def cached(self) -> int:
        """How many routes are cached."""
        return len(self._cache)

    def hide_routes(self, hidden: bool) -> None:
        """Show the cached routes in :attr:`routes` (the default), or an empty mapping instead,
        so that every publish takes its slow path (debug mode); :meth:`route` still caches.

        Whoever holds :attr:`routes` reads it again after this.
        """
        self.routes = _NO_ROUTES if hidden else self._cache

    def add(
        self,
        pattern: Key,
        token: Hashable,
        call: Callback,
        queue: Queue | None = None,
        owner: tuple[str, str] | None = None,
        unread: Callable[[], int] | None = None,
    ) -> bool:
        """Subscribe ``token`` under ``pattern``; return whether it was not subscribed there yet.

        A token keeps the ``call``, ``queue``, ``owner`` and ``unread`` it was first subscribed
        with (see :class:`Target`).
        """
        node = self._nodes.get(pattern)
        if node is None:
            node = self._root
            for part in pattern:
                node = node.children.setdefault(part, _Node())
            self._nodes[pattern] = node
        elif token in node.tokens:
            return False
        node.tokens[token] = None
        target = self._targets.get(token)
        if target is None:
            target = self._targets[token] = Target(
                token, call, queue, owner, unread, next(self._order)
            )
        target.patterns += 1
        self._invalidate(pattern)
        return True

    def remove(self, pattern: Key, token: Hashable, end: bool = False) -> bool:
        """Unsubscribe ``token`` from ``pattern``; return whether it was subscribed there.

        :param end: the subscription is ending: once it has no pattern left, it dies (rule 7).
        """
        node = self._nodes.get(pattern)
        if node is None or token not in node.tokens:
            return False
        del node.tokens[token]
        if not node.tokens:
            del self._nodes[pattern]
            self._prune(pattern)
        target = self._targets[token]
        target.patterns -= 1
        if not target.patterns:
            del self._targets[token]
            if end:
                self._kill(target)
        self._invalidate(pattern)
        return True

    def _kill(self, target: Target) -> None:
        target.live = False
        target.call = self._skip

    def _skip(self, key: Key, message: Any) -> None:
        """The call of a dead target (rule 7)."""
        self.skipped += 1

    def clear(self) -> None:
        """Remove every subscription (each target dies, rule 7) and every cached route."""
        for target in self._targets.values():
            self._kill(target)
        self._targets.clear()
        self._nodes.clear()
        self._root = _Node()
        self._cache.clear()

    def _invalidate(self, pattern: Key) -> None:
        """Forget the cached routes that a change under ``pattern`` may have altered."""
        if WILDCARD in pattern:
            self._cache.clear()
        else:
            self._cache.pop(pattern, None)  # A plain pattern matches only itself.

    def _prune(self, pattern: Key) -> None:
        """Drop the nodes along ``pattern`` that no longer lead to any subscription."""
        path = [self._root]
        for part in pattern:
            path.append(path[-1].children[part])
        for depth in range(len(pattern), 0, -1):
            node = path[depth]
            if node.tokens or node.children:
                return
            del path[depth - 1].children[pattern[depth - 1]]

    def target(self, token: Hashable) -> Target | None:
        """The target of ``token``, if it is subscribed."""
        return self._targets.get(token)

    def count(self, pattern: Key) -> int:
        """How many tokens are subscribed under exactly ``pattern``."""
        node = self._nodes.get(pattern)
        return 0 if node is None else len(node.tokens)

    def patterns(self) -> Iterator[tuple[Key, list[Target]]]:
        """Every subscribed pattern with its targets, in the order the patterns were created."""
        for pattern, node in self._nodes.items():
            yield pattern, [self._targets[token] for token in node.tokens]

    def has_root(self, part: Hashable) -> bool:
        """Whether any pattern could match a key whose first part is ``part``."""
        children = self._root.children
        return part in children or WILDCARD in children

    def targets(self, key: Key) -> list[Target]:
        """The targets a publish under the concrete ``key`` reaches, each once, in order."""
        tokens: dict[Hashable, None] = {}
        last = len(key)
        stack = [(self._root, 0)]
        while stack:
            node, depth = stack.pop()
            if depth == last:
                tokens.update(node.tokens)
                continue
            children = node.children
            child = children.get(key[depth])
            if child is not None:
                stack.append((child, depth + 1))
            star = children.get(WILDCARD)
            if star is not None:
                if depth + 1 < last:
                    # Rule 3: a trailing '*' here takes up the parts still left.
                    tokens.update(star.tokens)
                stack.append((star, depth + 1))
        targets = [self._targets[token] for token in tokens]
        targets.sort(key=_by_order)
        return targets

    def route(self, key: Key) -> Route:
        """The route of a publish under the concrete ``key``: cached, or made and cached
        (rule 6)."""
        cache = self._cache
        route = cache.get(key)
        if route is not None:
            return route
        targets = self.targets(key)
        route = Route(key, tuple(targets)) if targets else NOBODY
        if len(cache) >= self._cache_size:
            # Evict the oldest quarter at once: deleting one entry at a time from the front
            # of a dict leaves a trail of dead slots that each later eviction walks past.
            for stale in list(itertools.islice(cache, max(1, self._cache_size // 4))):
                del cache[stale]
        cache[key] = route
        return route


def _by_order(target: Target) -> int:
    return target.order
