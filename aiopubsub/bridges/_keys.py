"""Keys as bridges see them: which parts may cross a broker, exact matching, pattern lists.

No I/O, no event loop. The hub's own key rules are read through the public :class:`Key` only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import InvalidKeyError, Key

__all__ = ["HUB", "WILDCARD", "check_parts", "check_patterns", "key_matches", "part_error"]

#: The only wildcard part: the str ``'*'``.
WILDCARD = "*"
#: The first part of each hub's own meta-events, which are never bridged.
HUB = "Hub"
#: A pattern collection, as an error message shows it.
_PATTERNS_EXAMPLE = "[('prices', '*')]"


def part_error(parts: tuple[Any, ...]) -> TypeError | None:
    """The error for a key holding a part that cannot cross a broker, or ``None``.

    Only ``str`` and ``int`` parts travel (each arrives as the type it left as); ``bool`` is
    refused although it is an ``int``, since it would arrive as ``0`` or ``1``.
    """
    for part in parts:
        kind = type(part)
        if kind is not str and kind is not int:
            return TypeError(
                f"Key part {part!r} ({kind.__name__}) of {parts!r} cannot be bridged:"
                " only str and int parts can"
            )
    return None


def check_parts(parts: tuple[Any, ...]) -> tuple[Any, ...]:
    """Return ``parts`` if every part can cross a broker.

    :raises TypeError: naming the first part that cannot (see :func:`part_error`).
    """
    error = part_error(parts)
    if error is not None:
        raise error
    return parts


def key_matches(key: tuple[Any, ...], pattern: tuple[Any, ...]) -> bool:
    """Whether ``pattern`` matches ``key`` by the hub's rules: a ``'*'`` is one part, a
    trailing ``'*'`` one or more; every other part must be equal (``1`` is not ``'1'``).

    Parts are ``str`` or ``int`` (see :func:`part_error`), which never compare equal.
    """
    if WILDCARD not in pattern:
        return key == pattern
    if len(key) < len(pattern) or (len(key) > len(pattern) and pattern[-1] != WILDCARD):
        return False
    return all(p == WILDCARD or k == p for k, p in zip(key, pattern))


def check_patterns(name: str, patterns: object) -> tuple[Key, ...]:
    """The patterns of a collection whose items are each a Key, tuple or list of parts.

    A str item is refused, not taken for a one-part key: a bare key such as ``('prices', '*')``
    given for a collection would otherwise silently become the patterns ``'prices'`` and
    ``'*'``, that is everything. The error shows the collection spelt right.

    :raises TypeError: if ``patterns`` is a str, a Key or not iterable, or an item is not a
        Key, tuple or list, or holds a part that cannot be bridged.
    :raises InvalidKeyError: if an item is empty.
    """
    if isinstance(patterns, str | Key) or not isinstance(patterns, Iterable):
        raise TypeError(
            f"{name} must be a collection of keys, each a Key, tuple or list of str,"
            f" such as [{_spelt(patterns)}], got {patterns!r}"
        )
    items = list(patterns)
    checked: list[Key] = []
    for item in items:
        if not isinstance(item, tuple | list):  # A Key is a tuple.
            right = f"[{tuple(items)!r}]" if all(isinstance(i, str) for i in items) else ""
            raise TypeError(
                f"{name} must be a collection of keys, each a Key, tuple or list of str,"
                f" such as {right or _PATTERNS_EXAMPLE}; got the item {item!r} in {patterns!r}"
            )
        if not item:
            raise InvalidKeyError(
                f"Cannot subscribe to an empty key {item!r}: nothing is published under it"
            )
        checked.append(Key(*check_parts(tuple(item))))
    return tuple(dict.fromkeys(checked))


def _spelt(patterns: object) -> str:
    """``patterns`` as the one pattern of a collection would be written, if it looks like one."""
    if isinstance(patterns, Key):
        return repr(tuple(patterns))
    if isinstance(patterns, str):
        return repr((patterns,))
    return "('prices', '*')"
