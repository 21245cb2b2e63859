"""Key: an immutable tuple of string parts, and the rules for matching a key against a pattern."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Union

__all__ = ["WILDCARD", "Key", "PossibleKey"]

#: The part that, in a subscription, stands for one part (or, last, for one or more parts).
WILDCARD = "*"

#: What the API accepts wherever it takes a key: a :class:`Key`, one ``str`` (a one-part key),
#: or an iterable of ``str``.
PossibleKey = Union["Key", str, Iterable[str]]


def _check_parts(parts: tuple[object, ...]) -> None:
    for position, part in enumerate(parts):
        if not isinstance(part, str):
            raise TypeError(
                f"Key parts must be str, got {part!r} ({type(part).__name__})"
                f" at position {position}"
            )


class Key(tuple[str, ...]):
    """A hierarchical message key: an immutable, hashable tuple of ``str`` parts.

    ``Key('a', 'b') == ('a', 'b')``. In a subscription a part ``'*'`` is a wildcard: inside the
    key it matches exactly one part, as the last part it matches one or more parts.

    :raises TypeError: if a part is not a ``str``; the message names the part and its position.
    """

    __slots__ = ()

    def __new__(cls, *parts: str) -> Key:
        _check_parts(parts)
        return tuple.__new__(cls, parts)

    def __getnewargs__(self) -> tuple[str, ...]:
        """For :mod:`copy` and :mod:`pickle`: rebuild as ``Key(*parts)``."""
        return tuple(self)

    def __repr__(self) -> str:
        return f"Key{tuple.__repr__(self)}" if len(self) != 1 else f"Key({self[0]!r})"

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
        return matches(self, pattern)

    def __add__(self, other: PossibleKey) -> Key:  # type: ignore[override]
        """Append parts: another key, an iterable of ``str``, or one ``str`` as a single part."""
        if type(other) is Key:
            return tuple.__new__(Key, tuple.__add__(self, other))
        return tuple.__new__(Key, tuple.__add__(self, Key.create_from(other)))

    @classmethod
    def create_from(cls, x: PossibleKey) -> Key:
        """Make a key from a ``str`` (one part), an iterable of ``str`` or a :class:`Key`.

        :raises TypeError: if ``x`` is none of these, or a part is not a ``str``.
        """
        if type(x) is cls:
            return x
        if isinstance(x, str):
            return tuple.__new__(cls, (x,))
        try:
            parts = tuple(x)
        except TypeError:
            raise TypeError(
                f"A key must be a str or an iterable of str, got {x!r} ({type(x).__name__})"
            ) from None
        _check_parts(parts)
        return tuple.__new__(cls, parts)


def matches(key: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    """Whether ``key``, read literally, is matched by ``pattern`` under the wildcard rules."""
    if WILDCARD not in pattern:
        return key == pattern
    if len(key) < len(pattern) or (len(key) > len(pattern) and pattern[-1] != WILDCARD):
        return False
    return all(p == WILDCARD or k == p for k, p in zip(key, pattern))


def intersects(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether some key without wildcards is matched by both patterns ``a`` and ``b``."""
    if len(a) > len(b):
        a, b = b, a
    if len(a) < len(b) and (not a or a[-1] != WILDCARD):
        # Only a trailing '*' of the shorter pattern can take up the longer one's extra parts.
        return False
    return all(p == WILDCARD or q == WILDCARD or p == q for p, q in zip(a, b))
