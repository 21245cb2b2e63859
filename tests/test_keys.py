"""Keys as 3.0.0 had them: any hashable part, the tuple's text, ids that are str."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from helpers import Recorder, wait_until

import aiopubsub
from aiopubsub import Hub, InvalidKeyError, Key, Publisher, Subscriber
from aiopubsub.loop import Loop


def test_key_takes_int_parts_distinct_from_their_text(hub: Hub) -> None:
    ints, texts = Recorder(), Recorder()
    hub.add_subscriber(Key("orders", 42), ints)
    hub.add_subscriber(("orders", "42"), texts)
    Publisher(hub, "orders").publish((42,), "int")
    hub.publish(("orders", "42"), "text")
    assert ints.got == [(Key("orders", 42), "int")]
    assert texts.got == [(Key("orders", "42"), "text")]
    assert type(ints.got[0][0][1]) is int


def test_key_int_parts_match_wildcards(hub: Hub, subscriber: Subscriber) -> None:
    # The original's own tests subscribe Key('a', idx) with an int idx.
    for idx in range(3):
        subscriber.subscribe(Key("a", idx))
    subscriber.subscribe(("b", "*"), "wild")
    for idx in range(3):
        hub.publish(Key("a", idx), idx)
    hub.publish(("b", 7, "x"), "deep")
    assert [subscriber.consume_nowait()[1] for _ in range(3)] == [0, 1, 2]
    assert subscriber.consume_nowait("wild") == (Key("b", 7, "x"), "deep")
    assert Key("a", 1).is_subset_of(("a", "*"))
    assert not Key("a", 1).is_wildcard


@pytest.mark.parametrize("part", [1, None, 2.5, b"x", ("t", 1), frozenset({1})])
def test_key_any_hashable_part_is_a_part_and_never_a_wildcard(hub: Hub, part: object) -> None:
    recorder = Recorder()
    hub.add_subscriber(("a", part), recorder)
    hub.publish(("a", part), 1)
    assert recorder.got == [(Key("a", part), 1)]
    assert not Key("a", part).is_wildcard


def test_key_only_the_str_star_is_a_wildcard(hub: Hub) -> None:
    with pytest.raises(InvalidKeyError):
        hub.publish(("a", "*"), 1)
    hub.publish(("a", b"*"), 1)  # bytes: a plain part


@pytest.mark.parametrize("part", [[1], {"a": 1}, {1}])
def test_key_refuses_an_unhashable_part_naming_it(hub: Hub, part: object) -> None:
    pattern = rf"^Key parts must be hashable, got {re.escape(repr(part))} \(\w+\) at position 1$"
    with pytest.raises(TypeError, match=pattern):
        Key("a", part)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=pattern):
        hub.publish(("a", part), 1)
    with pytest.raises(TypeError, match=pattern):
        hub.add_subscriber(["a", part], Recorder())
    assert not hub.has_subscribers()


@pytest.mark.parametrize("key", [b"ab", {"a", "b"}, {"a": 1}])
def test_key_refuses_a_key_that_is_not_an_ordered_iterable(hub: Hub, key: object) -> None:
    with pytest.raises(TypeError, match=r"^A key must be a str or an ordered iterable of parts"):
        hub.publish(key, 1)  # type: ignore[arg-type]


def test_key_text_is_the_tuples_as_in_3_0_0() -> None:
    key = Key("a", "b")
    assert str(key) == "('a', 'b')"
    assert f"{key}" == "('a', 'b')"
    with pytest.raises(TypeError, match=r"^unsupported format string passed to Key.__format__"):
        format(key, ">12")  # as in 3.0.0: format the text, f"{str(key):>12}"
    assert f"label {Key('x')}" == "label ('x',)"
    assert str(Key("o", 42)) == "('o', 42)"
    assert repr(key) == "('a', 'b')"  # and repr too, as in 3.0.0


def test_key_str_and_list_keys_publish_like_their_key(hub: Hub) -> None:
    recorder = Recorder()
    hub.add_subscriber(("a", "b"), recorder)
    hub.add_subscriber("c", recorder)
    hub.publish(["a", "b"], 1)
    hub.publish(("a", "b"), 2)
    hub.publish("c", 3)
    hub.publish("c", 4)
    assert recorder.got == [(Key("a", "b"), 1), (Key("a", "b"), 2), (Key("c"), 3), (Key("c"), 4)]
    assert all(type(key) is Key for key, _ in recorder.got)


@pytest.mark.parametrize("bad", [5, None, b"id", ("a",)])
def test_subscriber_id_must_be_str(hub: Hub, bad: object) -> None:
    with pytest.raises(
        TypeError, match=rf"^A subscriber id must be a str, got {re.escape(repr(bad))}"
    ):
        Subscriber(hub, bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [5, None])
def test_subscription_id_must_be_str(hub: Hub, subscriber: Subscriber, bad: object) -> None:
    pattern = rf"^A subscription id must be a str, got {bad!r} \(\w+\)$"
    with pytest.raises(TypeError, match=pattern):
        subscriber.subscribe("a", bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=pattern):
        subscriber.sync_subscribe("a", Recorder(), bad)  # type: ignore[arg-type]
    assert not hub.has_subscribers()
    assert hub.subscriptions() == {}


async def test_loop_logs_an_uncaught_exception_as_3_0_0_did(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def fails() -> None:
        raise ValueError("boom")

    loop = Loop(fails, delay=None)
    with caplog.at_level(logging.ERROR, logger="aiopubsub.Loop"):
        loop.start()
        await wait_until(lambda: not loop.is_running)
    [record] = [r for r in caplog.records if r.name == "aiopubsub.Loop"]
    assert record.getMessage().startswith("Uncaught exception in _run")
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)
    await loop.stop_wait()


#: The public methods and properties of Hub: shared/API.md's, and those the README documents.
HUB_API = {
    "retain",
    "retained",
    "forget",
    "load_retained",
    "add_subscriber",
    "remove_subscriber",
    "publish",
    "apublish",
    "publish_threadsafe",
    "has_subscribers",
    "count",
    "subscriptions",
    "statistics",
    "get_subscriber_queue_sizes",
    "get_all_subscriber_queue_sizes",
    "wait_for",
    "bind_loop",
    "loop",
    "closed",
    "close",
    "aclose",
}


def test_hub_shows_only_the_documented_api() -> None:
    assert {name for name in dir(Hub) if not name.startswith("_")} == HUB_API


def test_no_module_is_over_about_500_lines() -> None:
    package = Path(aiopubsub.__file__).parent
    sizes = {
        str(path.relative_to(package)): len(path.read_text(encoding="utf-8").splitlines())
        for path in package.rglob("*.py")
    }
    assert {name: n for name, n in sizes.items() if n > 520} == {}


def test_subscriber_resubscribing_with_the_same_bound_as_strings_is_fine(
    subscriber: Subscriber,
) -> None:
    subscriber.subscribe("a", "q", maxsize=2, overflow="drop_newest")
    subscriber.subscribe("b", "q", maxsize=2, overflow="drop_newest")
    with pytest.raises(ValueError, match=r"already has maxsize=2, overflow=drop_newest"):
        subscriber.subscribe("c", "q", maxsize=2, overflow="drop_oldest")
    assert set(subscriber._subscriptions["q"].keys) == {Key("a"), Key("b")}


async def test_hub_debug_mode_counts_an_apublish_once() -> None:
    hub = Hub(debug=True)
    recorder = Recorder()
    hub.add_subscriber("a", recorder)
    await hub.apublish("a", 1)
    hub.publish("a", 2)
    statistics = hub.statistics()
    assert (statistics.published, statistics.delivered) == (2, 2)
    assert recorder.messages == [1, 2]
