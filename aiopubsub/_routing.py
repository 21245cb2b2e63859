"""The subscription index: which callbacks does a message published under a key reach?

Theory of operation
===================

1. A *pattern* is a non-empty tuple of parts. A part ``'*'`` inside a pattern matches exactly
   one part of a key; a ``'*'`` as the last part matches one or more parts. A published key
   never contains ``'*'`` (the hub refuses it), so routing only ever matches concrete keys.
2. Subscriptions live in a trie keyed by pattern parts; ``'*'`` is an ordinary edge label.
   Each node holds the *tokens* subscribed under exactly the pattern spelled by its path.
   A token is whatever identifies one subscription: a queue, or a callback under one id.
3. Routing a key of ``n`` parts walks the trie depth-first, following at depth ``i`` the edge
   ``key[i]`` and the edge ``'*'``. A node reached after all ``n`` parts contributes its tokens;
   a ``'*'`` node reached with parts left over contributes its tokens too (rule 1: a trailing
   ``'*'`` takes up the rest). Each node lies at one depth, so it is visited at most once, and
   the work is bounded by the key's length times the wildcard fan-out of the patterns that
   could match it, not by the number of subscriptions.
4. A token subscribed under several matching patterns is reached once: the route is the set of
   tokens, ordered by when each token was first subscribed, so that every subscription sees
   a publish exactly once and fan-out order is stable.
5. Routes are cached per published key in a dict of at most ``cache_size`` entries; when it
   is full the oldest quarter is evicted. A change under a plain pattern forgets the one
   route it can alter (that of the equal key); a change under a wildcard pattern empties
   the cache. Memory is thus bounded whatever keys are published, and subscribing costs at
   most one clear of that bounded cache, whatever was published before.
6. Nothing here knows about asyncio, queues or errors: the router maps keys to callables.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Hashable, Iterator
from typing import Any

from ._key import WILDCARD, Key

__all__ = ["Callback", "Route", "Router", "Target", "check_sync_callback", "is_async_callable"]

#: What a subscription is called with for each message: ``callback(key, message)``.
Callback = Callable[[Key, Any], Any]
#: A cached route: the callbacks in fan-out order, or, put there by the hub for a route that
#: is one callback that can never publish in turn, that callback alone (see Hub.publish).
Route = tuple[Callback, ...] | Callback


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
    """One subscription as the router knows it: a token, what to call, and its queue length."""

    __slots__ = ("token", "callback", "unread", "order", "patterns")

    def __init__(
        self, token: Hashable, callback: Callback, unread: Callable[[], int] | None, order: int
    ) -> None:
        self.token = token
        self.callback = callback
        self.unread = unread
        self.order = order
        #: How many patterns this token is subscribed under.
        self.patterns = 0


class _Node:
    __slots__ = ("children", "tokens")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        #: Tokens subscribed under the pattern that ends here, in subscription order.
        self.tokens: dict[Hashable, None] = {}


class Router:
    """A trie of subscription patterns with a bounded cache of routes per published key."""

    def __init__(self, cache_size: int = 4096) -> None:
        if cache_size < 1:
            raise ValueError(f"cache_size must be at least 1, got {cache_size!r}")
        self._root = _Node()
        self._targets: dict[Hashable, Target] = {}
        self._nodes: dict[Key, _Node] = {}
        self._order = itertools.count()
        self.cache_size = cache_size
        #: Published key -> the callbacks it reaches. Read directly by the hub's hot path;
        #: always the same dict object.
        self.cache: dict[Key, Route] = {}

    def __len__(self) -> int:
        """The number of distinct tokens subscribed."""
        return len(self._targets)

    def add(
        self,
        pattern: Key,
        token: Hashable,
        callback: Callback,
        unread: Callable[[], int] | None = None,
    ) -> bool:
        """Subscribe ``token`` under ``pattern``; return whether it was not subscribed there yet.

        A token keeps the ``callback`` and ``unread`` it was first subscribed with.
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
            target = self._targets[token] = Target(token, callback, unread, next(self._order))
        target.patterns += 1
        self._invalidate(pattern)
        return True

    def remove(self, pattern: Key, token: Hashable) -> bool:
        """Unsubscribe ``token`` from ``pattern``; return whether it was subscribed there."""
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
        self._invalidate(pattern)
        return True

    def _invalidate(self, pattern: Key) -> None:
        """Forget the cached routes that a change under ``pattern`` may have altered."""
        if WILDCARD in pattern:
            self.cache.clear()
        else:
            self.cache.pop(pattern, None)  # A plain pattern matches only itself.

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

    def count(self, pattern: Key) -> int:
        """How many tokens are subscribed under exactly ``pattern``."""
        node = self._nodes.get(pattern)
        return 0 if node is None else len(node.tokens)

    def patterns(self) -> Iterator[tuple[Key, list[Target]]]:
        """Every subscribed pattern with its targets, in the order the patterns were created."""
        for pattern, node in self._nodes.items():
            yield pattern, [self._targets[token] for token in node.tokens]

    def has_root(self, part: str) -> bool:
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

    def route(self, key: Key) -> tuple[Callback, ...]:
        """The callbacks a publish under the concrete ``key`` reaches, cached (rule 5)."""
        callbacks = tuple(target.callback for target in self.targets(key))
        cache = self.cache
        if len(cache) >= self.cache_size:
            # Evict the oldest quarter at once: deleting one entry at a time from the front
            # of a dict leaves a trail of dead slots that each later eviction walks past.
            for stale in list(itertools.islice(cache, max(1, self.cache_size // 4))):
                del cache[stale]
        cache[key] = callbacks
        return callbacks


def _by_order(target: Target) -> int:
    return target.order
