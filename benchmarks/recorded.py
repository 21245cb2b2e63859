"""The original aiopubsub's recorded production key stream, as the benchmark replays it.

The asset (``data/real_recorded_published_keys.json.bz2``, see ``data/README.md``) is a JSON
list of ``[published_key, subscription_key, matches]`` triples, 250 MB once decompressed: it
takes some 10 s to read, so it is read once per machine and what the benchmark needs is kept
in a small JSON file in the cache folder, named after the asset's SHA-256. Decisions:

* One recorded publish is a run of consecutive triples with the same published key in which no
  subscription key comes twice: the recorder wrote one triple per subscription it checked each
  publish against. That gives 4,500 publishes, 3,794 of them checked against all 489
  subscription keys and 706, at the start, against the fewer that existed then.
* The replay subscribes all 489 keys first, then publishes the 4,500 keys in order, so the
  publishes of the start-up phase may reach more subscriptions than they did when recorded.
* Every recorded ``matches`` flag is checked against :func:`matches` (the original's rule), and
  the callback calls a replay must produce are counted with it, per publish.
"""

from __future__ import annotations

import bz2
import functools
import hashlib
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from original import cache_root

__all__ = ["ASSET", "RecordedStream", "is_cached", "load", "matches"]

ASSET = Path(__file__).resolve().parent / "data" / "real_recorded_published_keys.json.bz2"
#: Bumped whenever the cached form or the way it is derived changes.
_FORMAT = 2

Parts = tuple[str, ...]


@dataclass(frozen=True)
class RecordedStream:
    """What the replay needs from the asset.

    :param subscriptions: the distinct subscription keys, in the order first recorded.
    :param publishes: the published keys, one per recorded publish, in recorded order.
    :param calls: for each publish, how many of ``subscriptions`` it matches.
    :param pairs: how many triples the asset holds.
    :param matching_pairs: how many of them are recorded as a match.
    """

    subscriptions: tuple[Parts, ...]
    publishes: tuple[Parts, ...]
    calls: tuple[int, ...]
    pairs: int
    matching_pairs: int

    def expected_calls(self, count: int) -> int:
        """The callback calls that publishing the first ``count`` keys of the stream, repeated
        from its start as often as needed, must make, one callback per subscription key."""
        rounds, rest = divmod(count, len(self.calls))
        return rounds * sum(self.calls) + sum(self.calls[:rest])


def matches(key: Sequence[str], pattern: Sequence[str]) -> bool:
    """Does a message published under ``key`` reach a subscription to ``pattern``?

    The original's rule: without ``'*'`` the two must be equal; a ``'*'`` matches exactly one
    part, and a trailing ``'*'`` one or more.
    """
    if "*" not in pattern:
        return tuple(key) == tuple(pattern)
    if len(key) < len(pattern) or (len(key) > len(pattern) and pattern[-1] != "*"):
        return False
    return all(want in ("*", part) for part, want in zip(key, pattern))


#: One triple as the asset spells it: two lists of strings without brackets inside, a flag.
_TRIPLE = re.compile(rb"\[(\[[^\[\]]*\]), ?(\[[^\[\]]*\]), ?(true|false)\]")
#: What may stand between two triples, before the first, and after the last.
_BETWEEN, _OPENING, _CLOSING = (b", ", b","), b"[", b"]"


def _triples(text: bytes) -> Iterator[tuple[bytes, bytes, bool]]:
    """The asset's triples, each key still as its JSON text.

    A regular expression rather than ``json.load``: it reads the 250 MB in a few seconds
    instead of some fifteen and never holds two million lists. Every byte between two
    matches is checked, so a triple the expression does not fit is an error, never skipped.

    :raises ValueError: where the text is not a list of such triples.
    """
    end = 0
    for index, match in enumerate(_TRIPLE.finditer(text)):
        gap = text[end : match.start()]
        allowed = (_OPENING,) if index == 0 else _BETWEEN
        if gap not in allowed:
            raise ValueError(f"unexpected {gap[:80]!r} before triple {index}")
        end = match.end()
        yield match[1], match[2], match[3] == b"true"
    if text[end:] != _CLOSING:
        raise ValueError(f"unexpected {text[end : end + 80]!r} after the last triple")


def _parts(raw: bytes) -> Parts:
    """A key as stored, the JSON text of a list of strings, as a tuple.

    :raises ValueError: for anything else.
    """
    parts = json.loads(raw)
    if not isinstance(parts, list) or not all(isinstance(part, str) for part in parts):
        raise ValueError(f"expected a list of strings, got {raw!r}")
    return tuple(parts)


def derive(asset: Path = ASSET) -> RecordedStream:
    """Read the asset and derive the stream from it (some 10 s).

    :raises ValueError: if the asset is not a list of triples of two keys (lists of strings)
        and a bool, a published key holds ``'*'``, or a recorded ``matches`` flag disagrees
        with :func:`matches`.
    """
    text = bz2.decompress(asset.read_bytes())
    subscriptions: dict[bytes, None] = {}
    publishes: list[bytes] = []
    checked: set[tuple[bytes, bytes, bool]] = set()
    current: bytes | None = None
    seen: set[bytes] = set()
    pairs = matching = 0
    for published, pattern, flag in _triples(text):
        if published != current or pattern in seen:
            current, seen = published, set()
            publishes.append(published)
        seen.add(pattern)
        subscriptions.setdefault(pattern)
        pairs += 1
        matching += flag
        checked.add((published, pattern, flag))
    keys = {raw: _parts(raw) for raw in {*publishes, *subscriptions}}
    for published, pattern, flag in checked:
        key, sub = keys[published], keys[pattern]
        if "*" in key:
            raise ValueError(f"published key {key!r} holds a wildcard")
        if matches(key, sub) != flag:
            raise ValueError(f"{key!r} against {sub!r} is recorded as matches={flag}")
    subs = tuple(keys[raw] for raw in subscriptions)
    stream = tuple(keys[raw] for raw in publishes)
    calls = tuple(sum(matches(key, sub) for sub in subs) for key in stream)
    return RecordedStream(subs, stream, calls, pairs, matching)


def _cache_file(asset: Path) -> Path:
    digest = hashlib.sha256(asset.read_bytes()).hexdigest()[:16]
    return cache_root() / f"recorded-stream-{digest}-v{_FORMAT}.json"


def _to_json(stream: RecordedStream) -> str:
    keys = sorted(set(stream.publishes))
    index = {key: i for i, key in enumerate(keys)}
    payload = {
        "subscriptions": stream.subscriptions,
        "published_keys": keys,
        "publishes": [index[key] for key in stream.publishes],
        "calls": stream.calls,
        "pairs": stream.pairs,
        "matching_pairs": stream.matching_pairs,
    }
    return json.dumps(payload, separators=(",", ":"))


def _from_json(text: str) -> RecordedStream:
    payload = json.loads(text)
    keys = [tuple(key) for key in payload["published_keys"]]
    return RecordedStream(
        tuple(tuple(sub) for sub in payload["subscriptions"]),
        tuple(keys[i] for i in payload["publishes"]),
        tuple(payload["calls"]),
        payload["pairs"],
        payload["matching_pairs"],
    )


def is_cached(asset: Path = ASSET) -> bool:
    """Has the stream of ``asset`` been derived into the cache folder?"""
    return _cache_file(asset).is_file()


@functools.cache
def load(asset: Path = ASSET) -> RecordedStream:
    """The stream, from the cache folder, derived there first if it is not yet.

    The cached file is written to a scratch name and renamed into place, so a run that is
    interrupted, or two that derive at once, never leave a half-written one.
    """
    cached = _cache_file(asset)
    try:
        return _from_json(cached.read_text(encoding="utf-8"))
    except FileNotFoundError:
        pass
    stream = derive(asset)
    cached.parent.mkdir(parents=True, exist_ok=True)
    scratch = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
    scratch.write_text(_to_json(stream), encoding="utf-8")
    scratch.replace(cached)
    return stream
