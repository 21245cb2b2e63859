"""A brute-force reference for key matching, written straight from the rules in API.md.

Deliberately naive and independent of the library: a recursive matcher and an exhaustive search
for a common concrete key. Keys and patterns are plain tuples of ``str``; ``'*'`` is the wildcard.
"""

from __future__ import annotations

import functools
import itertools

__all__ = ["WILDCARD", "intersects", "matches"]

WILDCARD = "*"


def matches(key: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    """Whether ``key``, read part by part, is matched by ``pattern``.

    The rules, one per branch: a ``'*'`` that is the last part of ``pattern`` takes one or more
    parts; any other ``'*'`` takes exactly one part; any other part takes one equal part; both
    must run out together. Without any ``'*'`` this is plain equality. A ``'*'`` in ``key`` is
    read literally: it is taken only by a ``'*'`` of ``pattern``.
    """
    if not pattern:
        return not key
    head, rest = pattern[0], pattern[1:]
    if head == WILDCARD and not rest:
        return len(key) >= 1
    if not key:
        return False
    if head != WILDCARD and head != key[0]:
        return False
    return matches(key[1:], rest)


@functools.cache
def intersects(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether some concrete key (no part is ``'*'``) is matched by both ``a`` and ``b``.

    Brute force: try every candidate key of length 1 to ``max(len(a), len(b)) + 1`` whose part at
    position ``i`` is either a literal (non-``'*'``) part that ``a`` or ``b`` has at position
    ``i``, or one fresh part that appears in neither pattern.

    Why these candidates suffice: suppose a concrete key ``k`` matches both, and let
    ``m = max(len(a), len(b))``.

    1. Length: ``k`` matches a pattern ``p`` only if ``len(k) >= len(p)``, and
       ``len(k) > len(p)`` only if ``p`` ends in ``'*'``. So ``len(k) >= m``, and if
       ``len(k) > m + 1`` then every pattern shorter than ``k`` ends in ``'*'``, and so does
       every pattern shorter than ``k[:m + 1]``: the truncation still matches both (the parts
       it keeps are checked exactly as before, and each trailing ``'*'`` still takes at least
       one part). So some witness has length ``m`` or ``m + 1``, within the range tried.
    2. Parts: at position ``i`` a pattern either has a literal, which the witness must equal
       (so the witness's part is one of the candidates), or a ``'*'`` (placed there or a
       trailing one reaching this far), which takes any part, so the part can be swapped for
       the fresh one. The fresh part is not ``'*'`` and, being absent from both patterns,
       equals no literal either, so the swapped key is concrete and still matches both.

    Hence if any witness exists, one is among the candidates; and every candidate is concrete,
    so a candidate matching both is a witness. Shorter lengths are tried too, only to keep the
    search dumb; they never match.
    """
    fresh = _fresh_part(a + b)
    longest = max(len(a), len(b))
    for length in range(1, longest + 2):
        choices = [_choices_at(i, a, b, fresh) for i in range(length)]
        for candidate in itertools.product(*choices):
            if matches(candidate, a) and matches(candidate, b):
                return True
    return False


def _choices_at(i: int, a: tuple[str, ...], b: tuple[str, ...], fresh: str) -> list[str]:
    literals = {p[i] for p in (a, b) if i < len(p) and p[i] != WILDCARD}
    return [*sorted(literals, key=repr), fresh]  # Parts of mixed types: a fixed order.


def _fresh_part(used: tuple[str, ...]) -> str:
    return next(
        candidate for candidate in (f"fresh{n}" for n in itertools.count()) if candidate not in used
    )
