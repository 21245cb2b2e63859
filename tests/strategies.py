"""Hypothesis strategies for keys and patterns, shared by the property tests.

Parts come from a small alphabet so that random keys and patterns collide often, plus awkward
strings that must be taken literally. None of them is ``'Hub'``, so a generated key is never a
meta-event key, and only a pattern whose first part is ``'*'`` can match one.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

__all__ = [
    "AWKWARD_PARTS",
    "BRIDGE_INT_PARTS",
    "BRIDGE_STR_PARTS",
    "MAX_PARTS",
    "OTHER_PARTS",
    "PLAIN_PARTS",
    "WILDCARD",
    "bridge_keys",
    "bridge_parts",
    "bridge_pattern_and_key",
    "bridge_patterns",
    "concrete_keys",
    "generalisations",
    "instances",
    "key_parts",
    "near_misses",
    "pattern_parts",
    "patterns",
    "wildcard_keys",
]

WILDCARD = "*"

#: Ordinary parts: few, so that keys and patterns built from them overlap.
PLAIN_PARTS = ("a", "b", "c")

#: Parts that look special but are not wildcards: each is matched only by an equal part.
AWKWARD_PARTS = ("", " ", ".", "\\*", "**", "*a", "é")

#: Parts that are not ``str``, for the strategies told ``mixed=True``: any hashable value is a
#: part, equal to no ``str`` (``1`` is not ``'1'``), and none is a wildcard (``b'*'`` is not).
OTHER_PARTS = (0, 1, b"*", ("a",), None)

#: The longest key or pattern drawn, unless a strategy is told otherwise.
MAX_PARTS = 5


def key_parts(mixed: bool = False) -> st.SearchStrategy[Any]:
    """One part of a concrete key: never exactly ``'*'``; mostly plain, sometimes awkward, and
    with ``mixed``, sometimes not a ``str`` at all."""
    choices = [st.sampled_from(PLAIN_PARTS), st.sampled_from(AWKWARD_PARTS)]
    if mixed:
        choices.append(st.sampled_from(OTHER_PARTS))
    return st.one_of(choices)


def pattern_parts(mixed: bool = False) -> st.SearchStrategy[Any]:
    """One part of a pattern: a key part or ``'*'``."""
    return st.one_of(key_parts(mixed), st.just(WILDCARD))


def concrete_keys(
    max_size: int = MAX_PARTS, mixed: bool = False
) -> st.SearchStrategy[tuple[Any, ...]]:
    """A publishable key: 1 to ``max_size`` parts, none of them ``'*'``."""
    return st.lists(key_parts(mixed), min_size=1, max_size=max_size).map(tuple)


def patterns(max_size: int = MAX_PARTS, mixed: bool = False) -> st.SearchStrategy[tuple[Any, ...]]:
    """A subscribable key: 1 to ``max_size`` parts, each possibly ``'*'`` (anywhere)."""
    return st.lists(pattern_parts(mixed), min_size=1, max_size=max_size).map(tuple)


@st.composite
def wildcard_keys(draw: st.DrawFn, max_size: int = MAX_PARTS) -> tuple[str, ...]:
    """A pattern with at least one ``'*'``: a pattern with a ``'*'`` put in at some position."""
    parts = draw(st.lists(pattern_parts(), min_size=0, max_size=max_size - 1))
    position = draw(st.integers(min_value=0, max_value=len(parts)))
    return (*parts[:position], WILDCARD, *parts[position:])


@st.composite
def instances(draw: st.DrawFn, pattern: tuple[str, ...]) -> tuple[str, ...]:
    """A concrete key that ``pattern`` matches, read by the rules of API.md.

    Each ``'*'`` becomes one key part, a trailing ``'*'`` one to three parts; every other part
    stays as it is. The key has no ``'*'``, so it can be published.
    """
    key: list[str] = []
    for position, part in enumerate(pattern):
        if part != WILDCARD:
            key.append(part)
        elif position == len(pattern) - 1:
            key.extend(draw(st.lists(key_parts(), min_size=1, max_size=3)))
        else:
            key.append(draw(key_parts()))
    return tuple(key)


@st.composite
def generalisations(draw: st.DrawFn, key: tuple[str, ...]) -> tuple[str, ...]:
    """A pattern that matches the concrete ``key``: some parts turned into ``'*'``, and maybe
    the tail after some position folded into one trailing ``'*'``."""
    parts = [WILDCARD if draw(st.booleans()) else part for part in key]
    if draw(st.booleans()):
        cut = draw(st.integers(min_value=0, max_value=len(parts) - 1))
        parts = [*parts[:cut], WILDCARD]
    return tuple(parts)


@st.composite
def near_misses(draw: st.DrawFn, pattern: tuple[str, ...]) -> tuple[str, ...]:
    """A concrete key one edit away from matching ``pattern``: an instance of the pattern short
    of its last part (for a trailing ``'*'``: given no part at all), with one part added, or
    with one part changed. It may still match; the oracle decides."""
    edit = draw(st.sampled_from(("short", "long", "change")))
    if edit == "short" and len(pattern) > 1:
        return draw(instances(pattern[:-1]))
    key = list(draw(instances(pattern)))
    position = draw(st.integers(min_value=0, max_value=len(key) - 1))
    if edit == "change":
        key[position] = draw(key_parts())
    else:
        key.insert(position + draw(st.integers(0, 1)), draw(key_parts()))
    return tuple(key)


#: Parts a bridge carries: any str (surrogates included) or int; a pattern may hold '*'.
BRIDGE_STR_PARTS = st.one_of(
    st.sampled_from(("", " ", ".", ":", "*x", "%", "%25", "#1", "1", ">", "é", "a.b", "\ud800")),
    st.text(st.characters(codec=None), max_size=5),
).filter(lambda part: part != WILDCARD)
BRIDGE_INT_PARTS = st.one_of(st.sampled_from((0, 1, -1, 42)), st.integers())


def bridge_parts() -> st.SearchStrategy[str | int]:
    """One part of a key that crosses a broker: a str (never ``'*'``) or an int."""
    return st.one_of(BRIDGE_STR_PARTS, BRIDGE_INT_PARTS)


def bridge_keys(max_size: int = 4) -> st.SearchStrategy[tuple[str | int, ...]]:
    """A publishable key of str and int parts, as plain tuples (Key may refuse int parts)."""
    return st.lists(bridge_parts(), min_size=1, max_size=max_size).map(tuple)


def bridge_patterns(max_size: int = 4) -> st.SearchStrategy[tuple[str | int, ...]]:
    """A pattern of str and int parts, each possibly ``'*'``."""
    return st.lists(
        st.one_of(bridge_parts(), st.just(WILDCARD)), min_size=1, max_size=max_size
    ).map(tuple)


@st.composite
def bridge_pattern_and_key(
    draw: st.DrawFn,
) -> tuple[tuple[str | int, ...], tuple[str | int, ...]]:
    """A pattern and a key that it matches, or nearly: an instance, with a part changed,
    added or removed."""
    pattern = draw(bridge_patterns())
    key: list[str | int] = []
    for position, part in enumerate(pattern):
        if part != WILDCARD:
            key.append(part)
        elif position == len(pattern) - 1:
            key.extend(draw(st.lists(bridge_parts(), min_size=1, max_size=3)))
        else:
            key.append(draw(bridge_parts()))
    edit = draw(st.sampled_from(("none", "change", "add", "remove")))
    position = draw(st.integers(0, len(key) - 1))
    if edit == "change":
        key[position] = draw(bridge_parts())
    elif edit == "add":
        key.insert(position, draw(bridge_parts()))
    elif edit == "remove" and len(key) > 1:
        del key[position]
    return pattern, tuple(key)
