"""Hub: fan-out, ordering, errors, meta-events and introspection."""

from __future__ import annotations

import asyncio
import copy
import logging
import pickle
from typing import Any

import pytest
from helpers import Recorder, Tagged

from aiopubsub import Hub, InvalidKeyError, Key, Publisher, Subscriber


def test_hub_publish_reaches_exact_and_wildcard_subscriptions(hub: Hub) -> None:
    exact, inner, trailing, other = Recorder(), Recorder(), Recorder(), Recorder()
    hub.add_subscriber(Key("a", "b", "c"), exact)
    hub.add_subscriber(Key("a", "*", "c"), inner)
    hub.add_subscriber(Key("a", "*"), trailing)
    hub.add_subscriber(Key("b", "*"), other)

    hub.publish(Key("a", "b", "c"), 1)
    hub.publish(Key("a", "x"), 2)
    hub.publish(Key("a", "x", "y", "z"), 3)

    assert exact.messages == [1]
    assert inner.messages == [1]
    assert trailing.messages == [1, 2, 3]
    assert other.messages == []


def test_hub_publish_delivers_a_key_instance_whatever_form_was_given(hub: Hub) -> None:
    recorder = Recorder()
    hub.add_subscriber(Key("a", "b"), recorder)
    hub.publish(("a", "b"), 1)
    hub.publish(Key("a", "b"), 2)
    assert [type(key) for key, _ in recorder.got] == [Key, Key]
    hub.add_subscriber("solo", recorder)
    hub.publish("solo", 3)
    assert recorder.got[-1] == (Key("solo"), 3)


def test_hub_calls_subscriptions_in_the_order_they_were_first_subscribed(hub: Hub) -> None:
    log: list[tuple[str, Key, Any]] = []
    first, second, third = Tagged("1", log), Tagged("2", log), Tagged("3", log)
    hub.add_subscriber(Key("a", "*"), second)  # second subscribes first, under a wildcard
    hub.add_subscriber(Key("a", "b"), first)
    hub.add_subscriber(Key("*", "b"), third)
    hub.add_subscriber(Key("a", "b"), second)  # a later key does not move it
    hub.publish(Key("a", "b"), None)
    assert [name for name, _, _ in log] == ["2", "1", "3"]


def test_hub_delivers_once_to_a_callback_subscribed_under_overlapping_keys(hub: Hub) -> None:
    recorder = Recorder()
    hub.add_subscriber(Key("a", "*"), recorder)
    hub.add_subscriber(Key("a", "b"), recorder)
    hub.add_subscriber(Key("*", "*"), recorder)
    recorder.got.clear()  # ('*', '*') also received the meta-events of its own subscriptions
    hub.publish(Key("a", "b"), "once")
    assert recorder.messages == ["once"]


def test_hub_publish_from_a_callback_is_delivered_after_the_current_fan_out(hub: Hub) -> None:
    log: list[tuple[str, Key, Any]] = []
    late = Tagged("late", log)

    def republish(key: Key, message: Any) -> None:
        log.append(("early", key, message))
        if message == 1:
            hub.publish(Key("a"), 2)

    hub.add_subscriber(Key("a"), republish)
    hub.add_subscriber(Key("a"), late)
    hub.publish(Key("a"), 1)
    # Depth-first delivery would have given 'late' message 2 before message 1.
    assert [(name, message) for name, _, message in log] == [
        ("early", 1),
        ("late", 1),
        ("early", 2),
        ("late", 2),
    ]


@pytest.mark.parametrize("maxsize", [0, 5])
def test_hub_publish_from_a_callback_to_a_lone_queue_waits_for_the_fan_out(
    hub: Hub, maxsize: int
) -> None:
    # A key routed to one queue alone takes the hub's shortest path; from inside a callback
    # it must still wait for the current fan-out, or the queue would see 'b' before 'a'.
    def forward(key: Key, message: Any) -> None:
        hub.publish("b", message)

    hub.add_subscriber("a", forward)  # first subscribed: called first
    subscriber = Subscriber(hub, "sub", maxsize=maxsize)
    subscriber.subscribe("b")
    hub.publish("b", 0)  # the lone-queue route of ('b',) is cached
    subscriber.consume_nowait()
    subscriber.subscribe("a")
    hub.publish("a", 1)
    assert [subscriber.consume_nowait() for _ in range(2)] == [(Key("a"), 1), (Key("b"), 1)]


def test_hub_callback_failing_on_a_message_published_from_a_callback_is_reported() -> None:
    # Messages published during a fan-out are delivered by a second loop: it must report a
    # failing callback and go on just like the first.
    errors: list[tuple[Exception, Any]] = []
    hub = Hub(on_error=lambda exc, context: errors.append((exc, context.message)))
    late = Recorder()

    def forward(key: Key, message: Any) -> None:
        hub.publish("b", message)

    def fail(key: Key, message: Any) -> None:
        raise ValueError(message)

    hub.add_subscriber("a", forward)
    hub.add_subscriber("b", fail)
    hub.add_subscriber("b", late)
    hub.publish("a", 7)
    assert [(type(exc), message) for exc, message in errors] == [(ValueError, 7)]
    assert late.got == [(Key("b"), 7)]


def test_hub_callback_error_is_logged_and_delivery_goes_on(
    hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(key: Key, message: Any) -> None:
        raise RuntimeError("boom")

    after = Recorder()
    hub.add_subscriber(Key("a"), broken)
    hub.add_subscriber(Key("a"), after)
    with caplog.at_level(logging.ERROR, logger="aiopubsub.Hub"):
        hub.publish(Key("a"), "m")  # must not raise
    assert after.messages == ["m"]
    [record] = [r for r in caplog.records if r.name == "aiopubsub.Hub"]
    assert "broken" in record.getMessage()
    assert "('a',)" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)


@pytest.mark.parametrize("key", [Key(), Key("a", "*"), Key("*"), ("a", "*", "b"), ()])
def test_hub_publish_refuses_empty_and_wildcard_keys(hub: Hub, key: tuple[str, ...]) -> None:
    recorder = Recorder()
    hub.add_subscriber(Key("*"), recorder)
    recorder.got.clear()  # the meta-event of its own subscription
    with pytest.raises(InvalidKeyError, match=r"^Cannot publish under \(.*\): "):
        hub.publish(key, "m")
    assert recorder.messages == []


@pytest.mark.parametrize("key", [Key("a", "b"), Key("x", "*"), Key("")])
def test_key_survives_copy_and_pickle(key: Key) -> None:
    for copied in (copy.copy(key), copy.deepcopy(key), pickle.loads(pickle.dumps(key))):
        assert type(copied) is Key
        assert copied == key
    # Meta-event messages hold keys: a deep copy of one must work too.
    message = {"key": key, "currentSubscriberCount": 1}
    assert copy.deepcopy(message) == message


def test_key_is_subset_of_takes_any_key_form() -> None:
    assert not Key("a", "b").is_subset_of("a*")  # one part 'a*', not the characters
    assert Key("a*").is_subset_of("a*")
    assert Key("a", "b").is_subset_of(("a", "*"))
    assert Key("a", "b").is_subset_of(["a", "b"])
    assert Key("a", 1).is_subset_of(("a", "*"))
    assert not Key("a", 1).is_subset_of(("a", "1"))
    with pytest.raises(TypeError, match="Key parts must be hashable"):
        Key("a").is_subset_of(("a", {}))


def test_hub_count_refuses_a_pattern_and_points_to_subscriptions(hub: Hub) -> None:
    hub.add_subscriber(("a", "*"), print)
    assert hub.count(("a", "b")) == 1
    with pytest.raises(InvalidKeyError, match=r"^count\(\) needs .*use subscriptions\(pattern\)"):
        hub.count(("a", "*"))
    assert hub.subscriptions(("a", "*")) == {Key("a", "*"): 1}


def test_hub_publish_refuses_unhashable_parts(hub: Hub) -> None:
    with pytest.raises(
        TypeError, match=r"^Key parts must be hashable, got \{\} \(dict\) at position 1$"
    ):
        hub.publish(("a", {}), "m")


def test_hub_refuses_an_empty_subscription_key(hub: Hub) -> None:
    with pytest.raises(InvalidKeyError, match=r"^Cannot subscribe to an empty key \(\)"):
        hub.add_subscriber(Key(), Recorder())
    assert not hub.has_subscribers()


def test_hub_add_subscriber_refuses_a_non_callable(hub: Hub) -> None:
    with pytest.raises(TypeError, match=r"^callback must be callable, got 'nope'$"):
        hub.add_subscriber(Key("a"), "nope")  # type: ignore[arg-type]
    assert not hub.has_subscribers()


def test_hub_add_subscriber_refuses_an_async_callable(hub: Hub) -> None:
    # Called inside publish(), it would only create a coroutine that never runs.
    async def callback(key: Key, message: Any) -> None:
        pass

    with pytest.raises(TypeError, match=r"^<function .*callback at .*> is async: .*add_async"):
        hub.add_subscriber(Key("a"), callback)
    assert not hub.has_subscribers()


def test_hub_repeated_subscription_is_one_and_warns(
    hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    hub.add_subscriber(Key("a"), recorder)
    with caplog.at_level(logging.WARNING, logger="aiopubsub.Hub"):
        hub.add_subscriber(Key("a"), recorder)
    assert "Repeated subscription" in caplog.text
    hub.publish(Key("a"), 1)
    assert recorder.messages == [1]
    hub.remove_subscriber(Key("a"), recorder)
    hub.publish(Key("a"), 2)
    assert recorder.messages == [1]


def test_hub_removing_an_unknown_subscription_warns(
    hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="aiopubsub.Hub"):
        hub.remove_subscriber(Key("a"), Recorder())
    assert "not subscribed" in caplog.text


def test_hub_meta_events_announce_added_and_removed_subscribers(hub: Hub) -> None:
    meta = Recorder()
    hub.add_subscriber(Key("Hub", "*"), meta)
    first, second = Recorder(), Recorder()
    hub.add_subscriber(Key("a", "*", "c"), first)
    hub.add_subscriber(Key("a", "*", "c"), second)
    hub.remove_subscriber(Key("a", "*", "c"), first)
    hub.remove_subscriber(Key("a", "*", "c"), second)
    assert [(key, message) for key, message in meta.got] == [
        (
            Key("Hub", "addedSubscriber", "Hub", "\\*"),
            {"key": Key("Hub", "*"), "currentSubscriberCount": 1},
        ),
        (
            Key("Hub", "addedSubscriber", "a", "\\*", "c"),
            {"key": Key("a", "*", "c"), "currentSubscriberCount": 1},
        ),
        (
            Key("Hub", "addedSubscriber", "a", "\\*", "c"),
            {"key": Key("a", "*", "c"), "currentSubscriberCount": 2},
        ),
        (
            Key("Hub", "removedSubscriber", "a", "\\*", "c"),
            {"key": Key("a", "*", "c"), "currentSubscriberCount": 1},
        ),
        (
            Key("Hub", "removedSubscriber", "a", "\\*", "c"),
            {"key": Key("a", "*", "c"), "currentSubscriberCount": 0},
        ),
    ]
    for key, _ in meta.got:
        assert not key.is_wildcard


def test_hub_meta_events_reach_a_leading_wildcard_too(hub: Hub) -> None:
    everything = Recorder()
    hub.add_subscriber(Key("*"), everything)
    hub.add_subscriber(Key("x"), Recorder())
    assert [key for key, _ in everything.got] == [
        Key("Hub", "addedSubscriber", "\\*"),
        Key("Hub", "addedSubscriber", "x"),
    ]


def test_hub_repeated_or_unknown_subscriptions_announce_nothing(hub: Hub) -> None:
    meta, recorder = Recorder(), Recorder()
    hub.add_subscriber(Key("Hub", "*"), meta)
    hub.add_subscriber(Key("a"), recorder)
    hub.add_subscriber(Key("a"), recorder)
    hub.remove_subscriber(Key("b"), recorder)
    assert len(meta.got) == 2  # its own subscription, then ('a',) once


def test_hub_meta_event_from_a_callback_keeps_publish_order(hub: Hub) -> None:
    log: list[tuple[str, Key, Any]] = []
    meta = Tagged("meta", log)
    hub.add_subscriber(Key("Hub", "addedSubscriber", "*"), meta)

    def subscribe_more(key: Key, message: Any) -> None:
        log.append(("cb", key, message))
        hub.add_subscriber(Key("late"), Recorder())

    hub.add_subscriber(Key("a"), subscribe_more)
    hub.add_subscriber(Key("a"), Tagged("second", log))
    del log[:]
    hub.publish(Key("a"), 1)
    assert [name for name, _, _ in log] == ["cb", "second", "meta"]


def test_hub_has_subscribers_follows_the_rules(hub: Hub) -> None:
    assert not hub.has_subscribers()
    hub.add_subscriber(Key("a", "*", "c"), Recorder())
    assert hub.has_subscribers()
    assert hub.has_subscribers(Key("a", "b", "c"))
    assert not hub.has_subscribers(Key("a", "b"))
    assert hub.has_subscribers(Key("a", "*"))  # ('a', 'x', 'c') would reach it
    assert hub.has_subscribers(Key("*", "b", "*"))
    assert not hub.has_subscribers(Key("b", "*"))
    assert not hub.has_subscribers(Key("a", "*", "d"))
    assert not hub.has_subscribers(Key())


def test_hub_has_subscribers_does_not_depend_on_what_was_published(hub: Hub) -> None:
    recorder = Recorder()
    hub.add_subscriber(Key("a", "b"), recorder)
    before = [hub.has_subscribers(k) for k in (Key("a", "*"), Key("a", "b"), Key("*"))]
    hub.publish(Key("a", "b"), 1)
    hub.publish(Key("a", "c"), 1)
    after = [hub.has_subscribers(k) for k in (Key("a", "*"), Key("a", "b"), Key("*"))]
    assert before == after == [True, True, True]
    hub.remove_subscriber(Key("a", "b"), recorder)
    assert [hub.has_subscribers(k) for k in (Key("a", "*"), Key("a", "b"), Key("*"))] == [
        False,
        False,
        False,
    ]


async def test_hub_queue_sizes_count_each_queue_once(hub: Hub) -> None:
    subscriber, other = Subscriber(hub, "s"), Subscriber(hub, "o")
    subscriber.subscribe(Key("a", "*"))
    subscriber.subscribe(Key("a", "b"))
    other.subscribe(Key("a", "b"), "q2")
    hub.add_subscriber(Key("a", "b"), Recorder())  # no queue: not counted
    publisher = Publisher(hub, "a")
    publisher.publish("b", 1)
    publisher.publish("c", 2)
    assert hub.get_subscriber_queue_sizes(Key("a", "b")) == (2, 1)
    assert hub.get_subscriber_queue_sizes(Key("a", "z")) == (2,)
    assert hub.get_subscriber_queue_sizes(Key("z")) == ()
    assert hub.get_all_subscriber_queue_sizes() == {Key("a", "*"): (2,), Key("a", "b"): (2, 1)}
    with pytest.raises(InvalidKeyError, match=r"^Cannot publish under \('a', '\*'\)"):
        hub.get_subscriber_queue_sizes(Key("a", "*"))


def test_hub_repr_shows_live_state(hub: Hub) -> None:
    hub.add_subscriber(Key("a"), Recorder())
    hub.publish(Key("a"), 1)
    assert repr(hub) == "<Hub subscriptions=1 cached_routes=1>"


def test_hub_route_cache_is_bounded() -> None:
    hub = Hub(route_cache_size=8)
    recorder = Recorder()
    hub.add_subscriber(Key("k", "*"), recorder)
    for i in range(100):
        hub.publish(Key("k", str(i)), i)
    assert recorder.messages == list(range(100))
    assert repr(hub).endswith("cached_routes=8>")


def test_hub_refuses_a_route_cache_size_below_one() -> None:
    with pytest.raises(ValueError, match=r"^cache_size must be an int of at least 1, got 0$"):
        Hub(route_cache_size=0)


@pytest.mark.parametrize(
    ("setting", "loop_debug", "counted"),
    [(None, True, True), (None, False, False), (False, True, False), (True, False, True)],
)
async def test_hub_debug_mode_follows_the_loop_unless_set(
    setting: bool | None, loop_debug: bool, counted: bool
) -> None:
    loop = asyncio.get_running_loop()
    was = loop.get_debug()
    loop.set_debug(loop_debug)
    try:
        hub = Hub(debug=setting)
        hub.publish("a", 1)
        assert (hub.statistics().published == 1) is counted
        assert (hub.statistics().published is None) is not counted
    finally:
        loop.set_debug(was)
