"""Closing subscribers and hubs, dropped subscribers, and wait_for leaving nothing behind."""

from __future__ import annotations

import asyncio
import gc
import warnings
from typing import Any

import pytest
from helpers import AsyncRecorder, Recorder, settle, wait_blocked, wait_until

from aiopubsub import (
    Hub,
    HubClosedError,
    Key,
    Publisher,
    Subscriber,
    SubscriberClosedError,
)

REMOVED = Key("Hub", "removedSubscriber", "*")


class Stuck:
    """An async callback that records what it gets and then waits until it is released."""

    def __init__(self) -> None:
        self.got: list[Any] = []
        self.release = asyncio.Event()

    async def __call__(self, key: Key, message: Any) -> None:
        self.got.append(message)
        await self.release.wait()


async def stuck_hub() -> tuple[Hub, Subscriber, Stuck]:
    """A hub with one subscriber whose async listener is stuck on message 1."""
    hub = Hub()
    subscriber = Subscriber(hub, "s")
    stuck = Stuck()
    subscriber.add_async_listener("a", stuck)
    hub.publish("a", 1)
    await wait_until(lambda: stuck.got)  # the listener takes 1 and gets stuck
    return hub, subscriber, stuck


async def consume_all(subscriber: Subscriber) -> tuple[list[Any], BaseException | None]:
    """Consume until ``consume()`` raises; return the messages and what it raised."""
    got = []
    try:
        while True:
            got.append((await subscriber.consume())[1])
    except SubscriberClosedError as exc:
        return got, exc


async def collect_garbage() -> None:
    """Collect garbage, then settle: a dropped subscriber unsubscribes in a callback that its
    finaliser schedules on the loop."""
    gc.collect()
    await settle()


def subscribed_keys(hub: Hub) -> set[Key]:
    """The keys subscribed on ``hub``, leaving out the hub's own meta-event keys."""
    return {key for key in hub.subscriptions() if key[0] != "Hub"}


# -- closing a subscriber -----------------------------------------------------------------------


async def test_subscriber_close_removes_every_subscription_and_listener(
    hub: Hub, subscriber: Subscriber
) -> None:
    removed = Recorder()
    hub.add_subscriber(REMOVED, removed)
    subscriber.subscribe("a")
    subscriber.subscribe(("b", "*"), "q")
    subscriber.sync_subscribe("c", Recorder(), "cb")
    subscriber.add_sync_listener("d", Recorder())
    listener = AsyncRecorder()
    subscriber.add_async_listener("e", listener)
    assert subscribed_keys(hub) == {Key("a"), Key("b", "*"), Key("c"), Key("d"), Key("e")}
    subscriber.close()
    assert subscriber.closed
    assert subscribed_keys(hub) == set()
    for key in ("a", ("b", "x"), "c", "d", "e"):
        assert not hub.has_subscribers(key)
    assert sorted(message["key"] for _, message in removed.got) == [
        Key("a"),
        Key("b", "*"),
        Key("c"),
        Key("d"),
        Key("e"),
    ]
    assert all(message["currentSubscriberCount"] == 0 for _, message in removed.got)
    hub.publish("e", 1)
    await settle()
    assert listener.got == []


async def test_subscriber_close_is_idempotent(hub: Hub, subscriber: Subscriber) -> None:
    removed = Recorder()
    hub.add_subscriber(REMOVED, removed)
    subscriber.subscribe("a")
    subscriber.close()
    subscriber.close()
    await subscriber.aclose()
    assert subscriber.closed
    assert len(removed.got) == 1


async def test_closed_subscriber_refuses_new_subscriptions(
    hub: Hub, subscriber: Subscriber
) -> None:
    subscriber.close()
    with pytest.raises(SubscriberClosedError, match=r"'sub'"):
        subscriber.subscribe("a")
    with pytest.raises(SubscriberClosedError):
        subscriber.sync_subscribe("a", Recorder())
    with pytest.raises(SubscriberClosedError):
        subscriber.add_sync_listener("a", Recorder())
    with pytest.raises(SubscriberClosedError):
        subscriber.add_async_listener("a", AsyncRecorder())
    assert not hub.has_subscribers()


async def test_waiting_consumer_gets_the_queue_then_subscriber_closed_error(
    hub: Hub, subscriber: Subscriber
) -> None:
    subscriber.subscribe("a")
    waiting = asyncio.create_task(consume_all(subscriber))
    await wait_blocked(waiting)  # the consumer waits on the empty queue
    hub.publish("a", 1)
    hub.publish("a", 2)
    subscriber.close()
    async with asyncio.timeout(1):
        got, error = await waiting
    assert got == [1, 2]
    assert isinstance(error, SubscriberClosedError)


async def test_consumer_waiting_on_an_empty_queue_is_woken_by_close(
    hub: Hub, subscriber: Subscriber
) -> None:
    subscriber.subscribe("a")
    waiting = [asyncio.create_task(subscriber.consume()) for _ in range(3)]
    await wait_blocked(*waiting)
    subscriber.close()
    async with asyncio.timeout(1):
        results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(result, SubscriberClosedError) for result in results)


async def test_async_for_ends_when_the_subscriber_closes(hub: Hub, subscriber: Subscriber) -> None:
    subscriber.subscribe("a")
    got = []

    async def read() -> None:
        async for _, message in subscriber.messages():
            got.append(message)

    reader = asyncio.create_task(read())
    await wait_blocked(reader)
    hub.publish("a", 1)
    hub.publish("a", 2)
    subscriber.close()
    async with asyncio.timeout(1):
        await reader
    assert got == [1, 2]


async def test_subscriber_async_with_closes_it(hub: Hub) -> None:
    async with Subscriber(hub, "ctx") as subscriber:
        subscriber.subscribe("a")
        assert hub.has_subscribers("a")
    assert subscriber.closed
    assert not hub.has_subscribers()


async def test_subscriber_aclose_lets_async_listeners_finish_the_queue(
    hub: Hub, subscriber: Subscriber
) -> None:
    listener = AsyncRecorder(step=True)
    subscriber.add_async_listener("a", listener)
    for n in range(10):
        hub.publish("a", n)
    async with asyncio.timeout(5):
        await subscriber.aclose()
    assert listener.messages == list(range(10))


async def test_subscriber_aclose_cancels_listeners_after_the_timeout(
    hub: Hub, subscriber: Subscriber
) -> None:
    before = asyncio.all_tasks()
    stuck = Stuck()
    subscriber.add_async_listener("a", stuck)
    hub.publish("a", 1)
    hub.publish("a", 2)
    await wait_until(lambda: stuck.got)  # the listener takes 1 and gets stuck
    async with asyncio.timeout(5):
        await subscriber.aclose(timeout=0.01)
    assert stuck.got == [1]
    assert asyncio.all_tasks() == before


# -- closing the hub ----------------------------------------------------------------------------


async def test_hub_aclose_closes_every_subscriber_and_wakes_consumers() -> None:
    hub = Hub()
    one, two = Subscriber(hub, "one"), Subscriber(hub, "two")
    one.subscribe("a")
    two.subscribe("b")
    hub.publish("a", 1)
    waiting = [asyncio.create_task(consume_all(s)) for s in (one, two)]
    await wait_blocked(*waiting)  # one has taken 1; both wait for more
    await hub.aclose()
    async with asyncio.timeout(1):
        (got_one, error_one), (got_two, error_two) = await asyncio.gather(*waiting)
    assert (got_one, got_two) == ([1], [])
    assert isinstance(error_one, SubscriberClosedError)
    assert isinstance(error_two, SubscriberClosedError)
    assert one.closed
    assert two.closed
    assert hub.closed
    assert not hub.has_subscribers()


async def test_hub_aclose_lets_listeners_finish_and_leaves_no_task() -> None:
    before = asyncio.all_tasks()
    hub = Hub()
    subscriber = Subscriber(hub, "s")
    listeners = [AsyncRecorder(step=True) for _ in range(3)]
    for listener in listeners:
        subscriber.add_async_listener("a", listener)
    for n in range(20):
        hub.publish("a", n)
    async with asyncio.timeout(5):
        await hub.aclose(timeout=5)
    assert all(listener.messages == list(range(20)) for listener in listeners)
    assert asyncio.all_tasks() == before


async def test_hub_aclose_cancels_listeners_after_the_timeout() -> None:
    before = asyncio.all_tasks()
    hub = Hub()
    subscriber = Subscriber(hub, "s")
    stuck, healthy = Stuck(), AsyncRecorder(step=True)
    subscriber.add_async_listener("a", stuck)
    subscriber.add_async_listener("a", healthy)
    hub.publish("a", 1)
    hub.publish("a", 2)
    async with asyncio.timeout(5):
        await hub.aclose(timeout=0.01)
    assert stuck.got == [1]
    assert healthy.messages == [1, 2]
    assert asyncio.all_tasks() == before


async def test_hub_aclose_awaited_twice_concurrently_waits_both_times() -> None:
    # "When this returns, no task of the hub's is left" holds for every call, the second too.
    before = asyncio.all_tasks()
    hub, _subscriber, stuck = await stuck_hub()
    first = asyncio.create_task(hub.aclose(timeout=5))
    await wait_blocked(first)  # the first aclose() waits for the listener
    second = asyncio.create_task(hub.aclose(timeout=5))
    await settle()
    try:
        assert not second.done()
    finally:
        stuck.release.set()
        async with asyncio.timeout(5):
            await asyncio.gather(first, second)
    assert asyncio.all_tasks() == before


async def test_hub_close_is_idempotent_and_cancels_listeners() -> None:
    before = asyncio.all_tasks()
    hub, subscriber, _stuck = await stuck_hub()
    hub.close()
    hub.close()
    await hub.aclose()
    await settle()  # the cancelled task ends
    assert hub.closed
    assert subscriber.closed
    assert asyncio.all_tasks() == before


async def test_hub_async_with_closes_it() -> None:
    async with Hub() as hub:
        subscriber = Subscriber(hub, "s")
        subscriber.subscribe("a")
    assert hub.closed
    assert subscriber.closed


async def test_closed_hub_refuses_publish_and_subscribe() -> None:
    hub = Hub()
    subscriber = Subscriber(hub, "s")
    subscriber.subscribe("a")
    hub.publish("a", 0)  # the route is cached
    await hub.aclose()
    for key in ("a", "nobody"):
        with pytest.raises(HubClosedError):
            hub.publish(key, 1)
        with pytest.raises(HubClosedError):
            await hub.apublish(key, 1)
        with pytest.raises(HubClosedError):
            hub.publish_threadsafe(key, 1)
    with pytest.raises(HubClosedError):
        Publisher(hub, "p").publish("a", 1)
    with pytest.raises(HubClosedError):
        Subscriber(hub, "late")
    with pytest.raises(HubClosedError):
        hub.add_subscriber("a", Recorder())
    with pytest.raises(HubClosedError):
        await hub.wait_for("a", timeout=1)
    with pytest.raises((HubClosedError, SubscriberClosedError)):
        subscriber.subscribe("b")
    assert not hub.has_subscribers()
    assert subscriber.consume_nowait() == (Key("a"), 0)


async def test_hub_closing_wakes_wait_for(hub: Hub) -> None:
    waiter = asyncio.create_task(hub.wait_for("a"))
    await wait_until(lambda: hub.has_subscribers("a"))  # wait_for subscribes
    await hub.aclose()
    async with asyncio.timeout(1):
        with pytest.raises(HubClosedError):
            await waiter


# -- a subscriber dropped without closing -------------------------------------------------------


@pytest.mark.leaky
async def test_dropped_subscriber_queues_are_unsubscribed_with_a_resource_warning(
    hub: Hub,
) -> None:
    removed = Recorder()
    hub.add_subscriber(REMOVED, removed)
    dropped = Subscriber(hub, "dropped")
    dropped.subscribe("a")
    dropped.subscribe("b", "other")
    hub.publish("a", 1)
    kept = Subscriber(hub, "kept")
    kept.subscribe("a")
    del dropped
    with pytest.warns(
        ResourceWarning,
        match=r"^Subscriber 'dropped' \(queues 'default', 'other'\) was dropped without close",
    ):
        await collect_garbage()
    assert hub.count("a") == 1
    assert not hub.has_subscribers("b")
    assert hub.get_subscriber_queue_sizes("a") == (0,)
    assert sorted(message["key"] for _, message in removed.got) == [Key("a"), Key("b")]
    hub.publish("a", 2)
    assert kept.consume_nowait() == (Key("a"), 2)
    kept.close()


@pytest.mark.leaky
def test_dropped_subscriber_without_a_running_loop_is_unsubscribed_at_once() -> None:
    # No loop runs: nothing could fill the queue meanwhile, and nobody would see a warning.
    hub = Hub()
    dropped = Subscriber(hub, "dropped")
    dropped.subscribe("a")
    assert hub.count("a") == 1
    del dropped
    gc.collect()
    assert hub.count("a") == 0


async def test_dropped_subscriber_callbacks_keep_working_without_warning(hub: Hub) -> None:
    calls = Recorder()
    dropped = Subscriber(hub, "dropped")
    dropped.sync_subscribe("a", calls, "cb")
    dropped.add_sync_listener("b", calls)
    del dropped
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await collect_garbage()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
    hub.publish("a", 1)
    hub.publish("b", 2)
    assert calls.got == [(Key("a"), 1), (Key("b"), 2)]


@pytest.mark.leaky
async def test_dropped_subscriber_keeps_its_callbacks_and_loses_its_queues(hub: Hub) -> None:
    calls = Recorder()
    dropped = Subscriber(hub, "dropped")
    dropped.subscribe("a", "q")
    dropped.sync_subscribe("a", calls, "cb")
    del dropped
    with pytest.warns(ResourceWarning):
        await collect_garbage()
    assert hub.count("a") == 1
    assert hub.get_subscriber_queue_sizes("a") == ()
    hub.publish("a", 1)
    assert calls.got == [(Key("a"), 1)]


# -- wait_for leaves nothing behind -------------------------------------------------------------


async def test_wait_for_returns_the_first_match_and_unsubscribes(hub: Hub) -> None:
    waiter = asyncio.create_task(hub.wait_for(("a", "*"), lambda key, message: message > 1))
    await wait_until(lambda: hub.has_subscribers(("a", "x")))  # wait_for subscribes
    assert hub.subscriptions() == {Key("a", "*"): 1}
    hub.publish(("a", "x"), 1)
    hub.publish(("a", "y"), 2)
    hub.publish(("a", "z"), 3)
    async with asyncio.timeout(1):
        assert await waiter == (Key("a", "y"), 2)
    assert hub.subscriptions() == {}
    assert not hub.has_subscribers()


async def test_wait_for_without_predicate_takes_anything(hub: Hub) -> None:
    waiter = asyncio.create_task(hub.wait_for("a"))
    await wait_until(lambda: hub.has_subscribers("a"))  # wait_for subscribes
    hub.publish("a", None)
    async with asyncio.timeout(1):
        assert await waiter == (Key("a"), None)
    assert not hub.has_subscribers()


async def test_wait_for_timeout_raises_and_unsubscribes(hub: Hub) -> None:
    hub.add_subscriber("a", Recorder())
    with pytest.raises(TimeoutError):
        await hub.wait_for("a", lambda key, message: False, timeout=0.001)
    assert hub.subscriptions() == {Key("a"): 1}


async def test_wait_for_cancelled_unsubscribes(hub: Hub) -> None:
    waiter = asyncio.create_task(hub.wait_for("a"))
    await wait_until(lambda: hub.has_subscribers("a"))  # wait_for subscribes
    assert hub.has_subscribers("a")
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert hub.subscriptions() == {}
    assert not hub.has_subscribers()


async def test_wait_for_predicate_error_propagates_and_unsubscribes(hub: Hub) -> None:
    other = Recorder()
    hub.add_subscriber("a", other)

    def predicate(key: Key, message: Any) -> bool:
        raise LookupError(message)

    waiter = asyncio.create_task(hub.wait_for("a", predicate))
    await wait_until(lambda: hub.subscriptions() == {Key("a"): 2})  # wait_for subscribes
    hub.publish("a", "bad")  # does not raise here
    async with asyncio.timeout(1):
        with pytest.raises(LookupError, match=r"^bad$"):
            await waiter
    assert hub.subscriptions() == {Key("a"): 1}
    assert hub.statistics().listener_errors == 0
    assert other.got == [(Key("a"), "bad")]


async def test_wait_for_announces_its_temporary_subscription(hub: Hub) -> None:
    removed = Recorder()
    hub.add_subscriber(REMOVED, removed)
    waiter = asyncio.create_task(hub.wait_for("a"))
    await wait_until(lambda: hub.has_subscribers("a"))  # wait_for subscribes
    hub.publish("a", 1)
    async with asyncio.timeout(1):
        await waiter
    assert [message["key"] for _, message in removed.got] == [Key("a")]


async def test_a_subscriber_that_never_subscribed_is_closed_with_its_hub() -> None:
    hub = Hub()
    idle = Subscriber(hub, "idle")  # the hub does not hold it until it subscribes
    hub.close()
    assert idle.closed
    assert "closed" in repr(idle)
    with pytest.raises(SubscriberClosedError):
        idle.subscribe("a")
    with pytest.raises(SubscriberClosedError):
        idle.add_sync_listener("a", lambda key, message: None)
    with pytest.raises(SubscriberClosedError):
        idle.consume_nowait()
    with pytest.raises(HubClosedError):
        Subscriber(hub, "late")


@pytest.mark.leaky
async def test_the_hub_holds_only_subscribers_that_subscribed_and_forgets_dropped_ones() -> None:
    hub = Hub()
    for i in range(2000):
        Subscriber(hub, f"idle {i}")
    assert hub._live_subscribers() == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        for i in range(2000):
            Subscriber(hub, f"used {i}").subscribe("a")  # dropped: its queue is released
        gc.collect()
        await settle()
    kept = Subscriber(hub, "kept")
    kept.subscribe("b")
    assert hub._live_subscribers() == [kept]
    assert len(hub._subscribers) <= 2 * 1 + 64 + 1  # dead entries pruned as it grew
    await hub.aclose()
    assert kept.closed
