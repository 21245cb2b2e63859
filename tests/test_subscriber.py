"""Subscriber: queue and callback subscriptions, consume, unsubscribe."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from helpers import wait_blocked

from aiopubsub import (
    ConsumeQueueNotFoundError,
    Hub,
    InvalidKeyError,
    Key,
    Publisher,
    Subscriber,
    SubscriptionNotFoundError,
)


async def test_subscriber_consume_returns_messages_in_publish_order(
    hub: Hub, subscriber: Subscriber
) -> None:
    subscriber.subscribe(Key("a", "*"))
    subscriber.subscribe(Key("b"))
    for key in (Key("a", "1"), Key("b"), Key("a", "2")):
        hub.publish(key, str(key))
    got = [await subscriber.consume() for _ in range(3)]
    assert got == [
        (Key("a", "1"), str(Key("a", "1"))),
        (Key("b"), str(Key("b"))),
        (Key("a", "2"), str(Key("a", "2"))),
    ]


async def test_subscriber_overlapping_keys_queue_a_message_once(
    hub: Hub, subscriber: Subscriber
) -> None:
    subscriber.subscribe(Key("a", "*"))
    subscriber.subscribe(Key("a", "b"))
    hub.publish(Key("a", "b"), "once")
    assert hub.get_subscriber_queue_sizes(Key("a", "b")) == (1,)
    assert await subscriber.consume() == (Key("a", "b"), "once")


async def test_subscriber_consume_waits_for_a_message(hub: Hub, subscriber: Subscriber) -> None:
    subscriber.subscribe("a")
    consumer = asyncio.create_task(subscriber.consume())
    await wait_blocked(consumer)
    assert not consumer.done()
    hub.publish("a", 1)
    async with asyncio.timeout(1):
        assert await consumer == (Key("a"), 1)


async def test_subscriber_cancelled_consume_loses_nothing(hub: Hub, subscriber: Subscriber) -> None:
    subscriber.subscribe("a")
    first = asyncio.create_task(subscriber.consume())
    second = asyncio.create_task(subscriber.consume())
    await wait_blocked(first, second)
    hub.publish("a", 1)  # wakes the first...
    first.cancel()  # ...which is cancelled before it runs: its wake-up passes to the second
    async with asyncio.timeout(1):
        assert await second == (Key("a"), 1)
    with pytest.raises(asyncio.CancelledError):
        await first
    hub.publish("a", 2)
    assert await subscriber.consume() == (Key("a"), 2)


async def test_subscriber_consume_ids_are_separate_queues(hub: Hub, subscriber: Subscriber) -> None:
    subscriber.subscribe("a", "q1")
    subscriber.subscribe("a", "q2")
    hub.publish("a", 1)
    assert await subscriber.consume("q1") == (Key("a"), 1)
    assert await subscriber.consume("q2") == (Key("a"), 1)


async def test_subscriber_consume_unknown_id_raises(subscriber: Subscriber) -> None:
    with pytest.raises(
        ConsumeQueueNotFoundError,
        match=r"^Subscriber 'sub' has no queue subscription 'nope'; call subscribe",
    ):
        await subscriber.consume("nope")


async def test_subscriber_consume_of_a_callback_subscription_raises(
    subscriber: Subscriber,
) -> None:
    subscriber.sync_subscribe("a", lambda key, message: None, "cb")
    with pytest.raises(ConsumeQueueNotFoundError, match=r"^Subscription 'cb' .* is a callback"):
        await subscriber.consume("cb")
    assert issubclass(ConsumeQueueNotFoundError, KeyError)


def test_subscriber_sync_subscribe_calls_back_inline(hub: Hub, subscriber: Subscriber) -> None:
    got: list[tuple[Key, Any]] = []
    subscriber.sync_subscribe(Key("a", "*"), lambda key, message: got.append((key, message)))
    Publisher(hub, "a").publish("b", 1)
    assert got == [(Key("a", "b"), 1)]


def test_subscriber_sync_subscribe_refuses_another_callback_under_the_same_id(
    hub: Hub, subscriber: Subscriber
) -> None:
    got: list[Any] = []
    subscriber.sync_subscribe("a", lambda key, message: got.append(message), "cb")
    with pytest.raises(
        ValueError, match=r"^Subscription id 'cb' of subscriber 'sub' already holds"
    ):
        subscriber.sync_subscribe("b", print, "cb")
    with pytest.raises(
        ValueError, match=r"^Subscription id 'cb' of subscriber 'sub' is a callback"
    ):
        subscriber.subscribe("b", "cb")
    subscriber.subscribe("b", "queue")
    with pytest.raises(ValueError, match=r"^Subscription id 'queue' .* already holds <Inbox"):
        subscriber.sync_subscribe("c", print, "queue")
    hub.publish("b", 1)  # nothing was subscribed by the failed calls
    hub.publish("c", 1)
    assert got == []
    assert hub.get_all_subscriber_queue_sizes() == {Key("b"): (1,)}


def test_subscriber_sync_subscribe_refuses_async_callbacks(subscriber: Subscriber) -> None:
    async def handler(key: Key, message: Any) -> None:
        pass

    with pytest.raises(TypeError, match=r"^<function .*handler.*> is async"):
        subscriber.sync_subscribe("a", handler)  # type: ignore[arg-type]


async def test_subscriber_unsubscribe_stops_delivery_but_keeps_the_queue(
    hub: Hub, subscriber: Subscriber
) -> None:
    subscriber.subscribe(("a", "b"))
    hub.publish(("a", "b"), 1)
    subscriber.unsubscribe(Key("a", "b"))
    hub.publish(("a", "b"), 2)
    assert await subscriber.consume() == (Key("a", "b"), 1)
    assert not hub.has_subscribers()


def test_subscriber_unsubscribe_unknown_id_raises(subscriber: Subscriber) -> None:
    with pytest.raises(
        SubscriptionNotFoundError, match=r"^Subscriber 'sub' has no subscription 'x'$"
    ):
        subscriber.unsubscribe("a", "x")


def test_subscriber_refuses_an_empty_key(hub: Hub, subscriber: Subscriber) -> None:
    with pytest.raises(InvalidKeyError, match=r"^Cannot subscribe to an empty key \(\)"):
        subscriber.subscribe(())
    assert not hub.has_subscribers()


def test_subscriber_default_subscription_id_and_aliases() -> None:
    assert Subscriber.DEFAULT_SUBSCRIPTION_ID == "default"
    assert Subscriber.subscribe is Subscriber.async_subscribe
    assert Subscriber.add_listener is Subscriber.add_sync_listener


def test_subscriber_repr_shows_live_state(subscriber: Subscriber) -> None:
    subscriber.subscribe("a")
    assert repr(subscriber) == "<Subscriber 'sub' subscriptions=1 listeners=0>"


def test_publisher_prefixes_keys(hub: Hub, subscriber: Subscriber) -> None:
    got: list[Key] = []
    subscriber.sync_subscribe(Key("p", "*"), lambda key, message: got.append(key))
    publisher = Publisher(hub, "p")
    publisher.publish("a", 1)
    publisher.publish(("b", "c"), 1)
    publisher.publish(Key("d"), 1)
    assert got == [Key("p", "a"), Key("p", "b", "c"), Key("p", "d")]
    assert publisher.prefix == Key("p")
    assert publisher.has_subscribers()
    assert publisher.has_subscribers("x")
    assert not Publisher(hub, ("q", "r")).has_subscribers()
    assert repr(publisher) == "<Publisher prefix=('p',)>"
