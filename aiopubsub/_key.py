"""Key: an immutable tuple of hashable parts, its validation, and the rules for matching a key
against a pattern."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Union

from ._errors import InvalidKeyError

__all__ = [
    "WILDCARD",
    "Key",
    "PossibleKey",
    "as_key",
    "as_pattern",
    "as_published",
    "could_reach",
    "intersects",
    "matches",
]

#: The part that, in a subscription, stands for one part (or, last, for one or more parts).
#: Only this ``str`` is a wildcard; no part of another type ever is.
WILDCARD = "*"

#: What the API accepts wherever it takes a key: a :class:`Key`, one ``str`` (a one-part key),
#: or an iterable of hashable parts (a tuple or list, usually of ``str``).
PossibleKey = Union["Key", str, Iterable[Hashable]]


def _hashable(parts: tuple[object, ...]) -> tuple[object, ...]:
    """Return ``parts`` if every part is hashable (one C call when they are).

    :raises TypeError: naming the first unhashable part and its position.
    """
    try:
        hash(parts)
    except TypeError:
        for position, part in enumerate(parts):
            try:
                hash(part)
            except TypeError:
                raise TypeError(
                    f"Key parts must be hashable, got {part!r} ({type(part).__name__})"
                    f" at position {position}"
                ) from None
        raise  # pragma: no cover - a tuple of hashable parts is hashable
    return parts


class Key(tuple[Hashable, ...]):
    """A hierarchical message key: an immutable, hashable tuple of parts.

    ``Key('a', 'b') == ('a', 'b')``. Parts are usually ``str``, but any hashable value is a
    part, as in 3.0.0: ``Key('orders', 42)`` differs from ``Key('orders', '42')``. In a
    subscription the ``str`` ``'*'`` is a wildcard: inside the key it matches exactly one part,
    as the last part it matches one or more parts.

    ``str(key)``, ``repr(key)`` and ``format(key)`` give the tuple's text, ``('a', 'b')``, as
    3.0.0 did: tuple's own methods, so that making a label or a log line of a key runs no
    Python code (a ``Key(...)`` repr would cost every ``str()`` a tenth more).

    :raises TypeError: if a part is not hashable; the message names the part and its position.
    """

    __slots__ = ()

    def __new__(cls, *parts: Hashable) -> Key:
        return tuple.__new__(cls, _hashable(parts))

    def __getnewargs__(self) -> tuple[Hashable, ...]:
        """For :mod:`copy` and :mod:`pickle`: rebuild as ``Key(*parts)``."""
        return tuple(self)

    @property
    def is_wildcard(self) -> bool:
        """Whether any part is exactly ``'*'``."""
        return WILDCARD in self

    def is_subset_of(self, pattern: PossibleKey) -> bool:
        """Whether every key this key stands for is also matched by ``pattern``.

        For a key without ``'*'``: does ``pattern`` match it? Without ``'*'`` in ``pattern`` that
        is equality; a ``'*'`` inside ``pattern`` matches exactly one part and a trailing ``'*'``
        one or more parts. A wildcard key is compared the same way, part by part, so
        ``Key('a', 'b', '*').is_subset_of(Key('a', '*', '*'))`` is true.
        """
        if type(pattern) is not Key:
            pattern = Key.create_from(pattern)
        # matches(self, pattern), written out: a call is a sixth of this method's time.
        if self == pattern:
            return True
        if len(self) != len(pattern) and (
            len(self) < len(pattern) or not pattern or pattern[-1] != WILDCARD
        ):
            return False
        for k, p in zip(self, pattern):  # noqa: SIM110 - as in matches()
            if not (k == p or p == WILDCARD):
                return False
        return True

    def __add__(self, other: PossibleKey) -> Key:
        """Append parts: another key, an iterable of parts, or one ``str`` as a single part."""
        return tuple.__new__(Key, tuple.__add__(self, as_key(other)))

    @classmethod
    def create_from(cls, x: PossibleKey) -> Key:
        """Make a key from a ``str`` (one part), an iterable of parts or a :class:`Key`.

        :raises TypeError: if ``x`` is none of these (``bytes`` too: wrap it, ``(b'...',)``, to
            use it as one part), or a part is not hashable.
        """
        if type(x) is Key:
            return x
        if isinstance(x, str):
            return tuple.__new__(Key, (x,))
        if isinstance(x, (bytes, bytearray, memoryview, set, frozenset, dict)):
            # Iterable, but as parts they would be its bytes (ints) or an unordered jumble.
            raise TypeError(
                f"A key must be a str or an ordered iterable of parts, got {x!r}"
                f" ({type(x).__name__}); to use it as one part, wrap it: ({x!r},)"
            )
        try:
            parts = tuple(x)
        except TypeError:
            raise TypeError(
                f"A key must be a str or an iterable of parts, got {x!r} ({type(x).__name__})"
            ) from None
        return tuple.__new__(Key, _hashable(parts))


def as_key(key: PossibleKey) -> Key:
    """Return ``key`` as a :class:`Key` (a ``str`` is one part)."""
    return key if type(key) is Key else Key.create_from(key)


def as_pattern(key: PossibleKey) -> Key:
    """Return ``key`` as a :class:`Key` fit to subscribe under.

    :raises InvalidKeyError: if the key is empty.
    """
    pattern = as_key(key)
    if not pattern:
        raise InvalidKeyError(
            f"Cannot subscribe to an empty key {pattern!r}: nothing is published under it"
        )
    return pattern


def as_published(key: PossibleKey) -> Key:
    """Return ``key`` as a :class:`Key` under which a message can be published.

    :raises InvalidKeyError: if the key is empty or contains ``'*'``.
    """
    key = as_key(key)
    if not key or WILDCARD in key:
        raise InvalidKeyError(
            f"Cannot publish under {key!r}: a published key needs at least one part and no '*'"
        )
    return key


def matches(key: tuple[Hashable, ...], pattern: tuple[Hashable, ...]) -> bool:
    """Whether ``key``, read literally, is matched by ``pattern`` under the wildcard rules."""
    # Equal: one comparison in C says so. Then lengths: only a trailing '*' lets the key be
    # longer. Then part by part, with no scan for '*' first, and a loop rather than all() of
    # a generator: half the time.
    if key == pattern:
        return True
    if len(key) != len(pattern) and (
        len(key) < len(pattern) or not pattern or pattern[-1] != WILDCARD
    ):
        return False
    for k, p in zip(key, pattern):  # noqa: SIM110 - see above
        if not (k == p or p == WILDCARD):
            return False
    return True


def intersects(a: tuple[Hashable, ...], b: tuple[Hashable, ...]) -> bool:
    """Whether some key without wildcards is matched by both patterns ``a`` and ``b``."""
    if len(a) > len(b):
        a, b = b, a
    if len(a) < len(b) and (not a or a[-1] != WILDCARD):
        # Only a trailing '*' of the shorter pattern can take up the longer one's extra parts.
        return False
    return all(p == WILDCARD or q == WILDCARD or p == q for p, q in zip(a, b))


def could_reach(key: Key, patterns: Iterable[Key]) -> bool:
    """Whether a message published under ``key`` (any key it matches, for a wildcard ``key``)
    would be matched by one of ``patterns``. The brute-force twin of the router's walk."""
    if not key:
        return False
    if WILDCARD in key:
        return any(intersects(key, pattern) for pattern in patterns)
    return any(matches(key, pattern) for pattern in patterns)
