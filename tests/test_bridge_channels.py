"""Properties of the bridge's wire naming: keys as channels, patterns as globs (no Redis)."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from strategies import concrete_keys, instances, near_misses, patterns

from aiopubsub import Hub, Key
from aiopubsub._key import matches
from aiopubsub.bridges._channels import NAMESPACE_FORBIDDEN, channel_of, glob_of, key_of

#: Any str at all, surrogates included, as a key part that is not a wildcard.
any_parts = st.text(st.characters(codec=None), max_size=6).filter(lambda part: part != "*")
any_keys = st.lists(any_parts, min_size=1, max_size=4).map(tuple)
#: Namespaces the bridge accepts: anything encodable but ':' and the glob characters.
namespaces = st.one_of(
    st.sampled_from(["aiopubsub", "ns", "ns%3Asub", "app-prod", "a.b", "é ", "%"]),
    st.text(
        st.characters(codec="utf-8", exclude_characters="".join(NAMESPACE_FORBIDDEN)),
        min_size=1,
        max_size=6,
    ),
)


def redis_glob_matches(glob: str, channel: str) -> bool:
    """Redis' glob match (``stringmatchlen``) for the globs the bridge writes: ``*``, and a
    backslash taking the next character literally. The bridge never writes ``?`` or ``[``
    (nor, since namespaces cannot hold one, a backslash)."""
    regex, i = [], 0
    while i < len(glob):
        char = glob[i]
        if char == "\\":
            i += 1
            regex.append(re.escape(glob[i]))
        elif char == "*":
            regex.append(".*")
        else:
            assert char not in "?[]", f"unexpected glob character in {glob!r}"
            regex.append(re.escape(char))
        i += 1
    return re.fullmatch("".join(regex), channel, re.DOTALL) is not None


def hub_accepts(pattern: tuple[str, ...], key: tuple[str, ...]) -> bool:
    """Whether a hub subscribed under ``pattern`` delivers a message published under ``key``."""
    hub = Hub()
    received: list[Key] = []
    hub.add_subscriber(pattern, lambda k, m: received.append(k))
    hub.publish(key, None)
    return key in received  # not the hub's own meta-event, which a wildcard may receive


@given(namespaces, any_keys)
@example("aiopubsub", ("",))
@example("aiopubsub", ("", ""))
@example("aiopubsub", ("\ud800", "%", "%25", ":", "*?[]\\", "é", " "))
def test_channel_round_trips(namespace: str, key: tuple[str, ...]) -> None:
    channel = channel_of(namespace, key)
    assert key_of(namespace, channel) == key
    assert channel[len(namespace) :].isascii()  # the namespace goes as it is written


@given(namespaces, any_keys, any_keys)
@example("n", ("a:b",), ("a", "b"))
@example("n", ("",), ("", ""))
@example("n", ("%3A",), (":",))
def test_channel_encoding_is_injective(
    namespace: str, a: tuple[str, ...], b: tuple[str, ...]
) -> None:
    assert (channel_of(namespace, a) == channel_of(namespace, b)) == (a == b)


@given(any_keys)
def test_encoded_parts_hold_no_glob_character(key: tuple[str, ...]) -> None:
    assert not set(channel_of("n", key)) & set("*?[]\\")


@pytest.mark.parametrize(
    "channel", ["other:x", "n", "n:%zz", "n:%2a", "n:*", "n:a b", "n:%FF", "n:%ED%A0%80x%"]
)
def test_key_of_refuses_a_non_canonical_channel(channel: str) -> None:
    with pytest.raises(ValueError, match=r"^Channel '.*' is not|codec can't decode"):
        key_of("n", channel)


@st.composite
def pattern_and_key(draw: st.DrawFn) -> tuple[tuple[str, ...], tuple[str, ...]]:
    pattern = draw(patterns())
    key = draw(st.one_of(instances(pattern), near_misses(pattern), concrete_keys()))
    return pattern, key


@given(namespaces, pattern_and_key())
@example("n", (("a", "*"), ("a", "b", "c")))  # the glob matches, the key does not
@example("n", (("*", "b"), ("a", "x", "b")))
@example("n", (("a", "*"), ("a",)))
@example("n", (("a", "*"), ("a", "")))
@example("n", (("*",), ("",)))
def test_glob_then_exact_check_equals_the_hub(
    namespace: str, case: tuple[tuple[str, ...], tuple[str, ...]]
) -> None:
    pattern, key = case
    through_glob = redis_glob_matches(glob_of(namespace, pattern), channel_of(namespace, key))
    accepted = hub_accepts(pattern, key)
    # The glob lets through every key the hub accepts (and maybe more) ...
    assert through_glob or not accepted
    # ... and the exact check after it leaves exactly those.
    assert (through_glob and matches(key, pattern)) == accepted


def test_namespace_forbids_the_separator_and_every_glob_character() -> None:
    assert set(":*?[]\\") == NAMESPACE_FORBIDDEN
    # What a ':' would do: the channels of 'ns:sub' are channels of 'ns' too.
    assert channel_of("ns:sub", ("x",)) == channel_of("ns", ("sub", "x"))


@given(namespaces, namespaces, any_keys, patterns())
@example("ns", "ns%3Asub", ("x",), ("*",))
@example("ns%3Asub", "ns", ("x",), ("*",))
@example("n", "ns", ("x",), ("*",))
@example("ns", "n", ("s", "x"), ("*",))
def test_namespaces_never_overlap(
    namespace: str, other: str, key: tuple[str, ...], pattern: tuple[str, ...]
) -> None:
    assume(namespace != other)
    channel = channel_of(namespace, key)
    with pytest.raises(
        ValueError, match=rf"^Channel {re.escape(repr(channel))} is not in namespace"
    ):
        key_of(other, channel)
    assert not redis_glob_matches(glob_of(other, pattern), channel)
