"""Properties of both brokers' naming, int parts included (no broker): Redis channels and globs,
NATS subjects and subscription subjects. Keys are plain tuples: ``Key`` may refuse int parts."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from strategies import bridge_keys, bridge_pattern_and_key, bridge_patterns
from test_bridge_channels import redis_glob_matches

from aiopubsub import Key
from aiopubsub.bridges import _channels, _subjects
from aiopubsub.bridges._keys import check_patterns, key_matches, part_error
from aiopubsub.bridges.nats import _tokens_match

Parts = tuple[str | int, ...]


def hub_would_match(key: Parts, pattern: Parts) -> bool:
    """The hub's own answer where ``Key`` takes the parts; the bridge's matcher otherwise."""
    if all(isinstance(part, str) for part in (*key, *pattern)):
        return Key(*key).is_subset_of(Key(*pattern))  # type: ignore[arg-type]
    return key_matches(key, pattern)


# -- Redis ------------------------------------------------------------------------------------


@given(bridge_keys())
@example((1,))
@example(("1",))
@example(("#1",))
@example((-5, "", 0))
def test_redis_channel_round_trips_with_int_parts(key: Parts) -> None:
    channel = _channels.channel_of("ns", key)
    back = _channels.key_of("ns", channel)
    assert back == key
    assert [type(part) for part in back] == [type(part) for part in key]


@given(bridge_keys(), bridge_keys())
@example((1,), ("1",))
@example((1,), ("#1",))
@example(("",), ("", ""))
def test_redis_channel_encoding_is_injective(a: Parts, b: Parts) -> None:
    same = a == b and [type(x) for x in a] == [type(x) for x in b]
    assert (_channels.channel_of("ns", a) == _channels.channel_of("ns", b)) == same


@given(bridge_pattern_and_key())
@example(((1, "*"), (1, "x")))
@example((("*",), ("1",)))
@example(((1,), ("1",)))
def test_redis_glob_is_a_superset_then_exact_check_equals_the_hub(
    case: tuple[Parts, Parts],
) -> None:
    pattern, key = case
    glob = _channels.glob_of("ns", pattern)
    channel = _channels.channel_of("ns", key)
    through_glob = redis_glob_matches(glob, channel)
    assert (_channels.glob_regex(glob).fullmatch(channel) is not None) == through_glob
    accepted = hub_would_match(key, pattern)
    assert through_glob or not accepted
    assert (through_glob and key_matches(key, pattern)) == accepted


@pytest.mark.parametrize("channel", ["ns:#", "ns:#01", "ns:#+1", "ns:# 1", "ns:#1x", "ns:#-0"])
def test_redis_key_of_refuses_a_non_canonical_int_part(channel: str) -> None:
    with pytest.raises(ValueError, match=rf"^Channel {re.escape(repr(channel))} is not a canon"):
        _channels.key_of("ns", channel)


# -- NATS -------------------------------------------------------------------------------------


@given(bridge_keys())
@example(("",))
@example((".", "*x", ">", " "))
@example((1, "1", "#1", "%"))
def test_nats_subject_round_trips_and_holds_valid_tokens(key: Parts) -> None:
    subject = _subjects.subject_of("ns", key)
    tokens = subject.split(".")
    assert len(tokens) == len(key) + 1
    for token in tokens:
        assert token
        assert not set(token) & set("*> \t\r\n"), token
        assert token.isascii()
    back = _subjects.key_of("ns", subject)
    assert back == key
    assert [type(part) for part in back] == [type(part) for part in key]


@given(bridge_keys(), bridge_keys())
@example((1,), ("1",))
@example(("",), ("%",))
@example(("a.b",), ("a", "b"))
def test_nats_subject_encoding_is_injective(a: Parts, b: Parts) -> None:
    same = a == b and [type(x) for x in a] == [type(x) for x in b]
    assert (_subjects.subject_of("ns", a) == _subjects.subject_of("ns", b)) == same


@given(bridge_pattern_and_key())
@example((("a", "*"), ("a", "b", "c")))
@example((("*", "b"), ("a", "b")))
@example((("a", "*", "c"), ("a", "b", "x", "c")))
@example(((1, "*"), ("1", "x")))
def test_nats_subscription_matches_exactly_what_the_hub_matches(
    case: tuple[Parts, Parts],
) -> None:
    pattern, key = case
    subscription = _subjects.subscription_of("ns", pattern).split(".")
    subject = _subjects.subject_of("ns", key).split(".")
    assert _tokens_match(subscription, subject) == hub_would_match(key, pattern)


@given(bridge_patterns())
def test_nats_wildcards_map_mid_to_star_and_trailing_to_gt(pattern: Parts) -> None:
    tokens = _subjects.subscription_of("ns", pattern).split(".")[1:]
    for position, (part, token) in enumerate(zip(pattern, tokens)):
        if part == "*":
            assert token == (">" if position == len(pattern) - 1 else "*")
        else:
            assert token not in ("*", ">")


@pytest.mark.parametrize(
    "subject", ["other.x", "ns", "ns.", "ns..x", "ns.%zz", "ns.a%2e", "ns.#01", "ns.%2a", "ns.~"]
)
def test_nats_key_of_refuses_a_non_canonical_subject(subject: str) -> None:
    with pytest.raises(ValueError, match=r"^Subject .* is not"):
        _subjects.key_of("ns", subject)


# -- parts ------------------------------------------------------------------------------------


@pytest.mark.parametrize("part", [True, False, 1.5, b"x", ("a",), None, frozenset()])
def test_only_str_and_int_parts_cross_a_broker(part: object) -> None:
    error = part_error(("a", part))
    assert isinstance(error, TypeError)
    assert re.match(
        rf"^Key part {re.escape(repr(part))} \({type(part).__name__}\) of \('a', .*\) cannot be"
        r" bridged: only str and int parts can$",
        str(error),
    )
    with pytest.raises(TypeError, match=r"cannot be bridged"):
        _channels.channel_of("ns", ("a", part))
    with pytest.raises(TypeError, match=r"cannot be bridged"):
        _subjects.subject_of("ns", ("a", part))
    with pytest.raises(TypeError, match=r"cannot be bridged"):
        check_patterns("outbound", [("a", part)])
    assert part_error(("a", 1, "*")) is None
