"""The benchmark's reading of the original's recorded key stream (``benchmarks/recorded.py``)."""

from __future__ import annotations

import bz2
import json
import sys
from pathlib import Path

import pytest

# The benchmarks are scripts, not a package: their folder goes on the path, as run.py's does.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import recorded


def _asset(tmp_path: Path, triples: list[list[object]], separator: str = ", ") -> Path:
    path = tmp_path / "asset.json.bz2"
    path.write_bytes(bz2.compress(json.dumps(triples, separators=(separator, ":")).encode()))
    return path


@pytest.mark.parametrize(
    ("key", "pattern", "expected"),
    [
        (("a", "b"), ("a", "b"), True),
        (("a", "b"), ("a", "c"), False),
        (("a", "b", "c"), ("a", "b", "*"), True),
        (("a", "b", "c", "d"), ("a", "b", "*"), True),
        (("a", "b"), ("a", "b", "*"), False),
        (("a", "b", "c", "d"), ("a", "b", "*", "d"), True),
        (("a", "b", "c", "d", "e"), ("a", "b", "*", "d"), False),
        (("a", "x", "c"), ("a", "*", "d"), False),
    ],
)
def test_recorded_matches_follows_the_original_rule(
    key: tuple[str, ...], pattern: tuple[str, ...], expected: bool
) -> None:
    assert recorded.matches(key, pattern) is expected


@pytest.mark.parametrize("separator", [", ", ","])
def test_recorded_derive_splits_publishes_and_counts_calls(tmp_path: Path, separator: str) -> None:
    triples: list[list[object]] = [
        # One publish checked against the one subscription that existed then.
        [["a", "b"], ["a", "*"], True],
        # The same key again: a new publish, since ("a", "*") comes twice.
        [["a", "b"], ["a", "*"], True],
        [["a", "b"], ["c"], False],
        # Another key: another publish.
        [["c"], ["a", "*"], False],
        [["c"], ["c"], True],
    ]
    stream = recorded.derive(_asset(tmp_path, triples, separator))
    assert stream.subscriptions == (("a", "*"), ("c",))
    assert stream.publishes == (("a", "b"), ("a", "b"), ("c",))
    assert stream.calls == (1, 1, 1)
    assert (stream.pairs, stream.matching_pairs) == (5, 3)
    assert stream.expected_calls(7) == 7


def test_recorded_derive_refuses_a_flag_the_rule_contradicts(tmp_path: Path) -> None:
    asset = _asset(tmp_path, [[["a", "b"], ["a", "*"], False]])
    with pytest.raises(ValueError, match=r"^\('a', 'b'\) against \('a', '\*'\) is recorded"):
        recorded.derive(asset)


def test_recorded_derive_refuses_a_wildcard_published(tmp_path: Path) -> None:
    asset = _asset(tmp_path, [[["a", "*"], ["a", "*"], True]])
    with pytest.raises(ValueError, match=r"^published key \('a', '\*'\) holds a wildcard$"):
        recorded.derive(asset)


@pytest.mark.parametrize(
    "triple",
    [
        [["a", "[b]"], ["a", "*"], True],  # brackets inside a part: not what the reader fits
        [["a", 1], ["a", "*"], True],  # a part that is not a string
        [["a"], ["a"], 1],  # a flag that is not a bool
    ],
)
def test_recorded_derive_refuses_what_it_cannot_read(tmp_path: Path, triple: list[object]) -> None:
    asset = _asset(tmp_path, [[["a"], ["a"], True], triple])
    with pytest.raises(ValueError, match=r"^(unexpected|expected a list of strings)"):
        recorded.derive(asset)
