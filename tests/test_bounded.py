"""Bounded queues: overflow policies, statistics, slowSubscriber, apublish, consume variants."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import re
from typing import Any

import pytest
from helpers import Recorder, drain, wait_blocked, wait_until

from aiopubsub import (
    ConsumeQueueNotFoundError,
    Hub,
    HubClosedError,
    InvalidKeyError,
    Key,
    Overflow,
    Publisher,
    SlowConsumerError,
    Subscriber,
    SubscriberClosedError,
    SubscriptionStatistics,
)
from aiopubsub.utils import ThrottledPublisher

SLOW = Key("Hub", "slowSubscriber", "*")


# -- configuring the bound ----------------------------------------------------------------------


def test_subscriber_bound_is_the_default_of_its_queues(hub: Hub) -> None:
    subscriber = Subscriber(hub, "s", maxsize=2, overflow=Overflow.DROP_NEWEST)
    subscriber.subscribe("a")
    subscriber.subscribe("b", "other")
    for subscription_id in ("default", "other"):
        stats = subscriber.statistics(subscription_id)
        assert (stats.maxsize, stats.overflow) == (2, Overflow.DROP_NEWEST)


def test_subscriber_without_a_bound_has_unbounded_drop_oldest_queues(
    hub: Hub, subscriber: Subscriber
) -> None:
    subscriber.subscribe("a")
    for n in range(1000):
        hub.publish("a", n)
    stats = subscriber.statistics()
    assert (stats.maxsize, stats.overflow) == (0, Overflow.DROP_OLDEST)
    assert (stats.queued, stats.dropped) == (1000, 0)


def test_subscribe_bound_overrides_the_subscriber_default(hub: Hub) -> None:
    subscriber = Subscriber(hub, "s", maxsize=2, overflow=Overflow.DROP_NEWEST)
    subscriber.subscribe("a", "q", maxsize=5, overflow=Overflow.DISCONNECT)
    subscriber.subscribe("a", "half", maxsize=7)
    assert (subscriber.statistics("q").maxsize, subscriber.statistics("q").overflow) == (
        5,
        Overflow.DISCONNECT,
    )
    assert (subscriber.statistics("half").maxsize, subscriber.statistics("half").overflow) == (
        7,
        Overflow.DROP_NEWEST,
    )


def test_subscribe_existing_id_again_with_the_same_or_no_bound_is_fine(
    hub: Hub, subscriber: Subscriber
) -> None:
    subscriber.subscribe("a", "q", maxsize=3, overflow=Overflow.DROP_NEWEST)
    subscriber.subscribe("b", "q", maxsize=3, overflow=Overflow.DROP_NEWEST)
    subscriber.subscribe("c", "q")
    assert hub.subscriptions() == {Key("a"): 1, Key("b"): 1, Key("c"): 1}
    assert subscriber.statistics("q").maxsize == 3


@pytest.mark.parametrize(
    "bound",
    [{"maxsize": 4}, {"overflow": Overflow.DROP_OLDEST}, {"maxsize": 0}],
)
def test_subscribe_existing_id_with_another_bound_raises_and_changes_nothing(
    hub: Hub, subscriber: Subscriber, bound: dict[str, Any]
) -> None:
    subscriber.subscribe("a", "q", maxsize=3, overflow=Overflow.DROP_NEWEST)
    before = subscriber.statistics("q")
    with pytest.raises(ValueError, match=r"'q'.*maxsize"):
        subscriber.subscribe("b", "q", **bound)
    assert subscriber.statistics("q") == before
    assert hub.subscriptions() == {Key("a"): 1}


@pytest.mark.parametrize(
    ("maxsize", "error"),
    [(-1, ValueError), (1.5, TypeError), ("3", TypeError), (None, TypeError)],
)
def test_subscriber_refuses_a_bad_maxsize(hub: Hub, maxsize: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match=rf"maxsize.*{re.escape(repr(maxsize))}"):
        Subscriber(hub, "s", maxsize=maxsize)


@pytest.mark.parametrize(
    ("maxsize", "error"), [(-1, ValueError), (1.5, TypeError), ("3", TypeError)]
)
def test_subscribe_refuses_a_bad_maxsize_and_subscribes_nothing(
    hub: Hub, subscriber: Subscriber, maxsize: Any, error: type[Exception]
) -> None:
    with pytest.raises(error, match=rf"maxsize.*{re.escape(repr(maxsize))}"):
        subscriber.subscribe("a", maxsize=maxsize)
    assert not hub.has_subscribers()
    with pytest.raises(ConsumeQueueNotFoundError):
        subscriber.consume_nowait()


@pytest.mark.parametrize(("overflow", "error"), [("sideways", ValueError), (0, TypeError)])
def test_subscriber_and_subscribe_refuse_a_bad_overflow(
    hub: Hub, subscriber: Subscriber, overflow: Any, error: type[Exception]
) -> None:
    with pytest.raises(error, match=rf"overflow.*'drop_newest'.*{re.escape(repr(overflow))}"):
        Subscriber(hub, "s", overflow=overflow)
    with pytest.raises(error, match=rf"overflow.*{re.escape(repr(overflow))}"):
        subscriber.subscribe("a", maxsize=2, overflow=overflow)
    assert not hub.has_subscribers()


def test_overflow_may_be_given_as_its_value(hub: Hub, subscriber: Subscriber) -> None:
    subscriber.subscribe("a", maxsize=1, overflow="drop_newest")
    assert subscriber.statistics().overflow is Overflow.DROP_NEWEST
    hub.publish("a", 1)
    hub.publish("a", 2)
    assert drain(subscriber) == [1]


# -- the overflow policies ----------------------------------------------------------------------


def test_drop_oldest_keeps_the_newest_maxsize(hub: Hub, subscriber: Subscriber) -> None:
    subscriber.subscribe("a", maxsize=3, overflow=Overflow.DROP_OLDEST)
    for n in range(10):
        hub.publish("a", n)
        assert subscriber.statistics().queued <= 3
    stats = subscriber.statistics()
    assert (stats.queued, stats.peak_queued, stats.dropped) == (3, 3, 7)
    assert drain(subscriber) == [7, 8, 9]


def test_drop_newest_keeps_the_oldest_maxsize(hub: Hub, subscriber: Subscriber) -> None:
    subscriber.subscribe("a", maxsize=3, overflow=Overflow.DROP_NEWEST)
    for n in range(10):
        hub.publish("a", n)
        assert subscriber.statistics().queued <= 3
    stats = subscriber.statistics()
    assert (stats.queued, stats.peak_queued, stats.delivered, stats.dropped) == (3, 3, 3, 7)
    assert drain(subscriber) == [0, 1, 2]


def test_drop_newest_accepts_again_once_there_is_room(hub: Hub, subscriber: Subscriber) -> None:
    subscriber.subscribe("a", maxsize=2, overflow=Overflow.DROP_NEWEST)
    for n in range(4):
        hub.publish("a", n)
    assert subscriber.consume_nowait() == (Key("a"), 0)
    hub.publish("a", 4)
    hub.publish("a", 5)
    assert drain(subscriber) == [1, 4]


async def test_disconnect_returns_what_was_queued_then_raises(
    hub: Hub, subscriber: Subscriber
) -> None:
    subscriber.subscribe("a", maxsize=2, overflow=Overflow.DISCONNECT)
    for n in range(5):
        hub.publish("a", n)
    assert not hub.has_subscribers("a")
    stats = subscriber.statistics()
    assert (stats.queued, stats.dropped, stats.closed) == (2, 1, True)
    assert await subscriber.consume() == (Key("a"), 0)
    assert await subscriber.consume() == (Key("a"), 1)
    with pytest.raises(SlowConsumerError, match=r"'default'"):
        await subscriber.consume()
    # It stays cut off: asking again raises again, nothing arrived meanwhile.
    hub.publish("a", 5)
    with pytest.raises(SlowConsumerError):
        subscriber.consume_nowait()
    assert isinstance(SlowConsumerError(), ConnectionError)


async def test_disconnect_then_subscribing_again_resumes(hub: Hub, subscriber: Subscriber) -> None:
    subscriber.subscribe("a", "q", maxsize=2, overflow=Overflow.DISCONNECT)
    for n in range(3):
        hub.publish("a", n)
    subscriber.subscribe("a", "q")  # resume, with what is still queued
    assert hub.has_subscribers("a")
    assert not subscriber.statistics("q").closed
    assert subscriber.consume_nowait("q") == (Key("a"), 0)
    hub.publish("a", 3)
    async with asyncio.timeout(1):
        assert [await subscriber.consume("q") for _ in range(2)] == [(Key("a"), 1), (Key("a"), 3)]


async def test_disconnect_ends_messages_with_slow_consumer_error(
    hub: Hub, subscriber: Subscriber
) -> None:
    subscriber.subscribe("a", maxsize=1, overflow=Overflow.DISCONNECT)
    hub.publish("a", 0)
    hub.publish("a", 1)
    got = []

    async def read() -> None:
        async with asyncio.timeout(1):
            async for _, message in subscriber.messages():
                got.append(message)

    with pytest.raises(SlowConsumerError):
        await read()
    assert got == [0]


@pytest.mark.parametrize("overflow", list(Overflow))
def test_full_queue_never_raises_into_publish_nor_stops_the_fan_out(
    hub: Hub, overflow: Overflow
) -> None:
    before, after = Recorder(), Recorder()
    hub.add_subscriber("a", before)
    slow = Subscriber(hub, "slow", maxsize=1, overflow=overflow)
    slow.subscribe("a")
    hub.add_subscriber("a", after)
    other = Subscriber(hub, "other")
    other.subscribe("a")
    for n in range(20):
        hub.publish("a", n)  # never raises
    assert [m for _, m in before.got] == list(range(20))
    assert [m for _, m in after.got] == list(range(20))
    assert drain(other) == list(range(20))
    assert slow.statistics().queued == 1
    assert slow.statistics().dropped == (1 if overflow is Overflow.DISCONNECT else 19)


def test_one_queue_under_several_keys_is_bounded_as_one(hub: Hub, subscriber: Subscriber) -> None:
    subscriber.subscribe(("a", "*"), maxsize=2)
    subscriber.subscribe(("a", "b"))
    subscriber.subscribe("c")
    for n in range(3):
        hub.publish(("a", "b"), n)
        hub.publish("c", n)
    assert subscriber.statistics().queued == 2
    assert drain(subscriber) == [2, 2]


# -- statistics ---------------------------------------------------------------------------------


def test_statistics_is_a_frozen_record(hub: Hub, subscriber: Subscriber) -> None:
    subscriber.subscribe("a", maxsize=4, overflow=Overflow.DROP_NEWEST)
    for n in range(6):
        hub.publish("a", n)
    subscriber.consume_nowait()
    stats = subscriber.statistics()
    assert isinstance(stats, SubscriptionStatistics)
    assert stats == SubscriptionStatistics(
        queued=3,
        peak_queued=4,
        maxsize=4,
        overflow=Overflow.DROP_NEWEST,
        delivered=4,
        dropped=2,
        closed=False,
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.queued = 0  # type: ignore[misc]
    # A snapshot: later traffic does not change it.
    hub.publish("a", 6)
    assert stats.queued == 3
    assert subscriber.statistics().queued == 4


def test_statistics_of_a_closed_subscriber_say_closed(hub: Hub, subscriber: Subscriber) -> None:
    subscriber.subscribe("a")
    hub.publish("a", 1)
    subscriber.close()
    stats = subscriber.statistics()
    assert (stats.queued, stats.closed) == (1, True)


def test_statistics_of_an_unknown_or_callback_id_raises(hub: Hub, subscriber: Subscriber) -> None:
    subscriber.sync_subscribe("a", Recorder(), "cb")
    with pytest.raises(ConsumeQueueNotFoundError, match=r"'nope'"):
        subscriber.statistics("nope")
    with pytest.raises(ConsumeQueueNotFoundError, match=r"'cb'"):
        subscriber.statistics("cb")


@pytest.mark.parametrize("debug", [True, False])
def test_hub_statistics_totals(debug: bool) -> None:
    errors: list[BaseException] = []
    hub = Hub(on_error=lambda exc, context: errors.append(exc), debug=debug)
    fast = Subscriber(hub, "fast")
    fast.subscribe("a")
    slow = Subscriber(hub, "slow", maxsize=1)
    slow.subscribe(("a",))
    slow.subscribe(("b", "*"), "other", maxsize=1, overflow=Overflow.DROP_NEWEST)

    def broken(key: Key, message: Any) -> None:
        raise RuntimeError(message)

    hub.add_subscriber("a", broken)
    for n in range(3):
        hub.publish("a", n)
        hub.publish(("b", "c"), n)
    hub.publish("nobody", 0)  # accepted, reaches nobody
    stats = hub.statistics()
    assert stats.subscriptions == 4
    # Message counts cost the hot path, so only debug mode keeps them.
    assert stats.published == (7 if debug else None)
    assert stats.delivered == (3 * 3 + 3 if debug else None)
    assert stats.dropped == 2 + 2
    assert stats.listener_errors == 3 == len(errors)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.dropped = 0  # type: ignore[misc]
    fast.close()
    slow.close()


def test_hub_statistics_do_not_count_a_refused_publish(hub: Hub, subscriber: Subscriber) -> None:
    subscriber.subscribe("a")
    hub.publish("a", 0)
    before = hub.statistics()
    with pytest.raises(InvalidKeyError):
        hub.publish(("a", "*"), 1)
    with pytest.raises(InvalidKeyError):
        hub.publish((), 1)
    assert hub.statistics() == before


# -- the slowSubscriber meta-event --------------------------------------------------------------


@pytest.mark.parametrize("overflow", [Overflow.DROP_OLDEST, Overflow.DROP_NEWEST])
def test_slow_subscriber_is_announced_once_per_overflow_episode(
    hub: Hub, subscriber: Subscriber, overflow: Overflow
) -> None:
    events = Recorder()
    hub.add_subscriber(SLOW, events)
    subscriber.subscribe("a", "q", maxsize=2, overflow=overflow)
    for n in range(5):
        hub.publish("a", n)
    assert events.got == [
        (Key("Hub", "slowSubscriber", "sub", "q"), {"dropped": 1, "policy": overflow})
    ]
    subscriber.consume_nowait("q")  # not emptied: the episode goes on
    for n in range(3):
        hub.publish("a", n)
    assert len(events.got) == 1
    drain(subscriber, "q")  # emptied: the episode ends
    for n in range(3):
        hub.publish("a", n)
    assert len(events.got) == 2
    key, message = events.got[1]
    assert key == Key("Hub", "slowSubscriber", "sub", "q")
    assert message["policy"] == overflow
    assert message["dropped"] >= 1


def test_slow_subscriber_is_announced_on_each_disconnect(hub: Hub, subscriber: Subscriber) -> None:
    events = Recorder()
    hub.add_subscriber(SLOW, events)
    subscriber.subscribe("a", "q", maxsize=1, overflow=Overflow.DISCONNECT)
    for n in range(3):
        hub.publish("a", n)
    assert events.got == [
        (Key("Hub", "slowSubscriber", "sub", "q"), {"dropped": 1, "policy": Overflow.DISCONNECT})
    ]
    drain(subscriber, "q")
    with pytest.raises(SlowConsumerError):
        subscriber.consume_nowait("q")
    subscriber.subscribe("a", "q")
    for n in range(3):
        hub.publish("a", n)
    assert len(events.got) == 2


def test_slow_subscriber_meta_event_escapes_a_star_id(hub: Hub) -> None:
    # An id of '*' would make the meta-event's key a pattern, which cannot be published.
    events = Recorder()
    hub.add_subscriber(SLOW, events)
    star = Subscriber(hub, "*")
    star.subscribe("a", "*", maxsize=1)
    hub.publish("a", 0)
    hub.publish("a", 1)  # overflows; must not raise InvalidKeyError into publish()
    assert [key for key, _ in events.got] == [Key("Hub", "slowSubscriber", "\\*", "\\*")]
    assert star.consume_nowait("*") == (Key("a"), 1)


def test_slow_subscriber_meta_event_comes_after_the_message_that_overflowed(
    hub: Hub, subscriber: Subscriber
) -> None:
    everything = Recorder()
    hub.add_subscriber("*", everything)
    subscriber.subscribe("a", maxsize=1)
    everything.got.clear()  # the addedSubscriber meta-events
    hub.publish("a", 0)
    hub.publish("a", 1)
    hub.publish("a", 2)
    assert [key for key, _ in everything.got] == [
        Key("a"),
        Key("a"),
        Key("Hub", "slowSubscriber", "sub", "default"),
        Key("a"),
    ]


def test_slow_subscriber_to_everything_does_not_feed_itself(
    hub: Hub, subscriber: Subscriber
) -> None:
    # The queue also receives its own meta-events: they must not start a new episode each.
    events = Recorder()
    hub.add_subscriber(SLOW, events)
    subscriber.subscribe("*", maxsize=2)
    for n in range(10):
        hub.publish("a", n)
    assert len(events.got) == 1
    assert subscriber.statistics().queued == 2


# -- apublish -----------------------------------------------------------------------------------


async def test_apublish_waits_for_room_then_delivers(hub: Hub, subscriber: Subscriber) -> None:
    subscriber.subscribe("a", maxsize=1, overflow=Overflow.DROP_NEWEST)
    hub.publish("a", 0)
    task = asyncio.create_task(hub.apublish("a", 1))
    await wait_blocked(task)
    assert not task.done()
    assert subscriber.statistics().dropped == 0
    assert subscriber.consume_nowait() == (Key("a"), 0)
    async with asyncio.timeout(1):
        await task
    assert subscriber.consume_nowait() == (Key("a"), 1)
    assert subscriber.statistics().dropped == 0


async def test_apublish_waits_for_every_bounded_queue(hub: Hub) -> None:
    one = Subscriber(hub, "one", maxsize=1)
    two = Subscriber(hub, "two", maxsize=2)
    unbounded = Subscriber(hub, "unbounded")
    for subscriber in (one, two, unbounded):
        subscriber.subscribe("a")
    hub.publish("a", 0)
    hub.publish("a", 1)  # one drops 0
    task = asyncio.create_task(hub.apublish("a", 2))
    await wait_blocked(task)
    one.consume_nowait()
    await wait_blocked(task)
    assert not task.done()  # two is still full
    two.consume_nowait()
    async with asyncio.timeout(1):
        await task
    assert drain(one) == [2]
    assert drain(two) == [1, 2]
    assert drain(unbounded) == [0, 1, 2]


async def test_apublish_never_waits_for_an_unbounded_queue(
    hub: Hub, subscriber: Subscriber
) -> None:
    subscriber.subscribe("a")
    for n in range(100):
        hub.publish("a", n)
    async with asyncio.timeout(1):
        await hub.apublish("a", 100)
    assert subscriber.statistics().queued == 101


async def test_apublish_never_waits_for_a_closed_queue(hub: Hub) -> None:
    closed = Subscriber(hub, "closed", maxsize=1)
    closed.subscribe("a")
    hub.publish("a", 0)
    task = asyncio.create_task(hub.apublish("a", 1))
    await wait_blocked(task)
    assert not task.done()
    closed.close()
    async with asyncio.timeout(1):
        await task
    assert drain(closed) == [0]


async def test_apublish_stops_waiting_for_a_queue_that_is_unsubscribed(
    hub: Hub, subscriber: Subscriber
) -> None:
    # The message would no longer reach the full queue: nothing to wait for.
    subscriber.subscribe("a", maxsize=1)
    other = Subscriber(hub, "other")
    other.subscribe("a")
    hub.publish("a", 0)
    task = asyncio.create_task(hub.apublish("a", 1))
    await wait_blocked(task)
    subscriber.unsubscribe("a")
    try:
        async with asyncio.timeout(0.5):
            await task
    finally:
        task.cancel()
    assert drain(other) == [0, 1]
    assert drain(subscriber) == [0]


async def test_apublish_invalid_key_raises_at_once(hub: Hub, subscriber: Subscriber) -> None:
    subscriber.subscribe(("a", "*"), maxsize=1)
    hub.publish(("a", "b"), 0)  # the queue is full
    async with asyncio.timeout(1):
        with pytest.raises(InvalidKeyError):
            await hub.apublish(("a", "*"), 1)
        with pytest.raises(InvalidKeyError):
            await hub.apublish((), 1)
    assert drain(subscriber) == [0]


async def test_apublish_raises_when_the_hub_closes_while_waiting(
    hub: Hub, subscriber: Subscriber
) -> None:
    subscriber.subscribe("a", maxsize=1)
    hub.publish("a", 0)
    task = asyncio.create_task(hub.apublish("a", 1))
    await wait_blocked(task)
    await hub.aclose()
    async with asyncio.timeout(1):
        with pytest.raises(HubClosedError):
            await task


async def test_apublish_cancelled_while_waiting_publishes_nothing_and_passes_the_room_on(
    hub: Hub, subscriber: Subscriber
) -> None:
    subscriber.subscribe("a", maxsize=1)
    hub.publish("a", 0)
    first = asyncio.create_task(hub.apublish("a", 1))
    second = asyncio.create_task(hub.apublish("a", 2))
    await wait_blocked(first, second)  # both wait for room
    subscriber.consume_nowait()  # room for one: the first is woken...
    first.cancel()  # ...and cancelled before it runs: the room passes to the second
    async with asyncio.timeout(1):
        await asyncio.wait([first, second])
    assert first.cancelled()
    assert second.result() is None
    assert drain(subscriber) == [2]
    assert subscriber.statistics().dropped == 0


async def test_publisher_apublish_waits_under_its_prefix(
    hub: Hub, subscriber: Subscriber, publisher: Publisher
) -> None:
    subscriber.subscribe(("pub", "a"), maxsize=1)
    publisher.publish("a", 0)
    task = asyncio.create_task(publisher.apublish("a", 1))
    await wait_blocked(task)
    assert not task.done()
    assert subscriber.consume_nowait() == (Key("pub", "a"), 0)
    async with asyncio.timeout(1):
        await task
    assert subscriber.consume_nowait() == (Key("pub", "a"), 1)


async def test_throttled_publisher_keeps_working(
    hub: Hub, subscriber: Subscriber, publisher: Publisher
) -> None:
    subscriber.subscribe(("pub", "a"))
    throttled = ThrottledPublisher(hub, publisher, max_qsize=0, delay_sequence_factory=lambda: [0])
    got: list[Any] = []

    async def consume_five() -> None:
        for _ in range(5):
            got.append((await subscriber.consume())[1])

    consumer = asyncio.create_task(consume_five())
    async with asyncio.timeout(5):
        for n in range(5):
            await throttled.publish("a", n)
            assert subscriber.statistics().queued == 0
        await consumer
    assert got == list(range(5))


# -- consuming ----------------------------------------------------------------------------------


async def test_consume_timeout_raises_timeout_error_and_keeps_the_queue(
    hub: Hub, subscriber: Subscriber
) -> None:
    subscriber.subscribe("a")
    with pytest.raises(TimeoutError):
        await subscriber.consume(timeout=0)
    with pytest.raises(TimeoutError):
        await subscriber.consume(timeout=0.001)
    hub.publish("a", 1)
    assert await subscriber.consume(timeout=0) == (Key("a"), 1)


async def test_consume_timeout_returns_a_message_that_arrives_in_time(
    hub: Hub, subscriber: Subscriber
) -> None:
    subscriber.subscribe("a")
    consumer = asyncio.create_task(subscriber.consume(timeout=5))
    await wait_blocked(consumer)
    hub.publish("a", 1)
    async with asyncio.timeout(1):
        assert await consumer == (Key("a"), 1)


async def test_consume_timing_out_as_a_message_arrives_loses_nothing(
    hub: Hub, subscriber: Subscriber
) -> None:
    subscriber.subscribe("a", maxsize=2)
    consumer = asyncio.create_task(subscriber.consume(timeout=0))
    # One loop turn exactly, the state under test: the consumer has started waiting and its
    # timeout is already due, but has not fired yet.
    await asyncio.sleep(0)
    hub.publish("a", 1)  # wakes it, but the timeout fires before it runs
    async with asyncio.timeout(1):
        await asyncio.wait([consumer])
    if isinstance(consumer.exception(), TimeoutError):
        assert subscriber.consume_nowait() == (Key("a"), 1)
    else:
        assert consumer.result() == (Key("a"), 1)
    assert subscriber.statistics().queued == 0


@pytest.mark.parametrize(
    ("function", "names"),
    [
        (Subscriber.__init__, ["maxsize", "overflow"]),
        (Subscriber.subscribe, ["maxsize", "overflow"]),
    ],
)
def test_bounds_are_keyword_only(function: Any, names: list[str]) -> None:
    parameters = inspect.signature(function).parameters
    for name in names:
        assert parameters[name].kind is inspect.Parameter.KEYWORD_ONLY, name


def test_consume_timeout_is_the_last_parameter_and_defaults_to_none() -> None:
    # Not keyword-only on purpose: a keyword-only default costs every consume() call a
    # lookup in __kwdefaults__ (measured: about 5% of publish -> consume).
    parameters = list(inspect.signature(Subscriber.consume).parameters.values())
    assert [p.name for p in parameters] == ["self", "subscription_id", "timeout"]
    assert parameters[-1].default is None


def test_consume_nowait_raises_queue_empty_and_changes_nothing(
    hub: Hub, subscriber: Subscriber
) -> None:
    subscriber.subscribe("a")
    with pytest.raises(asyncio.QueueEmpty):
        subscriber.consume_nowait()
    hub.publish("a", 1)
    hub.publish("a", 2)
    assert subscriber.consume_nowait() == (Key("a"), 1)
    assert subscriber.consume_nowait() == (Key("a"), 2)
    with pytest.raises(asyncio.QueueEmpty):
        subscriber.consume_nowait()
    assert subscriber.statistics().queued == 0


def test_consume_nowait_of_an_unknown_id_raises(subscriber: Subscriber) -> None:
    with pytest.raises(ConsumeQueueNotFoundError, match=r"'nope'"):
        subscriber.consume_nowait("nope")


async def test_messages_yields_in_order_until_the_subscriber_is_closed(
    hub: Hub, subscriber: Subscriber
) -> None:
    subscriber.subscribe("a")
    subscriber.subscribe("b")
    got: list[tuple[Key, Any]] = []

    async def read() -> None:
        async for key, message in subscriber.messages():
            got.append((key, message))

    reader = asyncio.create_task(read())
    hub.publish("a", 1)
    await wait_until(lambda: got)
    await wait_blocked(reader)  # it took 1 and waits again
    hub.publish("b", 2)
    hub.publish("a", 3)
    subscriber.close()
    async with asyncio.timeout(1):
        await reader
    assert got == [(Key("a"), 1), (Key("b"), 2), (Key("a"), 3)]


def test_messages_of_an_unknown_id_raises_at_once(subscriber: Subscriber) -> None:
    with pytest.raises(ConsumeQueueNotFoundError):
        subscriber.messages("nope")


async def test_consume_after_close_returns_the_queue_then_raises(
    hub: Hub, subscriber: Subscriber
) -> None:
    subscriber.subscribe("a")
    hub.publish("a", 1)
    subscriber.close()
    assert await subscriber.consume(timeout=1) == (Key("a"), 1)
    with pytest.raises(SubscriberClosedError):
        await subscriber.consume(timeout=1)
    with pytest.raises(SubscriberClosedError):
        subscriber.consume_nowait()
