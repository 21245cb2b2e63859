"""Hypothesis strategies for keys and patterns, shared by the property tests.

Parts come from a small alphabet so that random keys and patterns collide often, plus awkward
strings that must be taken literally. None of them is ``'Hub'``, so a generated key is never a
meta-event key, and only a pattern whose first part is ``'*'`` can match one.
"""

from __future__ import annotations

from hypothesis import strategies as st

__all__ = [
    "AWKWARD_PARTS",
    "PLAIN_PARTS",
    "WILDCARD",
    "concrete_keys",
    "key_parts",
    "patterns",
    "wildcard_keys",
]

WILDCARD = "*"

#: Ordinary parts: few, so that keys and patterns built from them overlap.
PLAIN_PARTS = ("a", "b", "c")

#: Parts that look special but are not wildcards: each is matched only by an equal part.
AWKWARD_PARTS = ("", " ", ".", "\\*", "**", "*a", "é")

MAX_PARTS = 5


def key_parts() -> st.SearchStrategy[str]:
    """One part of a concrete key: never exactly ``'*'``; mostly plain, sometimes awkward."""
    return st.one_of(
        st.sampled_from(PLAIN_PARTS),
        st.sampled_from(AWKWARD_PARTS),
    )


def pattern_parts() -> st.SearchStrategy[str]:
    """One part of a pattern: a key part or ``'*'``."""
    return st.one_of(key_parts(), st.just(WILDCARD))


def concrete_keys(max_size: int = MAX_PARTS) -> st.SearchStrategy[tuple[str, ...]]:
    """A publishable key: 1 to ``max_size`` parts, none of them ``'*'``."""
    return st.lists(key_parts(), min_size=1, max_size=max_size).map(tuple)


def patterns(max_size: int = MAX_PARTS) -> st.SearchStrategy[tuple[str, ...]]:
    """A subscribable key: 1 to ``max_size`` parts, each possibly ``'*'`` (anywhere)."""
    return st.lists(pattern_parts(), min_size=1, max_size=max_size).map(tuple)


@st.composite
def wildcard_keys(draw: st.DrawFn, max_size: int = MAX_PARTS) -> tuple[str, ...]:
    """A pattern with at least one ``'*'``: a pattern with a ``'*'`` put in at some position."""
    parts = draw(st.lists(pattern_parts(), min_size=0, max_size=max_size - 1))
    position = draw(st.integers(min_value=0, max_value=len(parts)))
    return (*parts[:position], WILDCARD, *parts[position:])
