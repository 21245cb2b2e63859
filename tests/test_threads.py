"""Publishing from other threads: publish_threadsafe delivers on the loop, publish refuses."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from helpers import error_in_thread, run, wait_blocked, wait_until

from aiopubsub import (
    ConsumeQueueNotFoundError,
    Hub,
    HubClosedError,
    InvalidKeyError,
    Key,
    Overflow,
    Publisher,
    Subscriber,
    WrongThreadError,
)


class ThreadRecorder:
    """A sync callback that records each message with the thread it was delivered in."""

    def __init__(self) -> None:
        self.got: list[tuple[Any, int]] = []

    def __call__(self, key: Key, message: Any) -> None:
        self.got.append((message, threading.get_ident()))


async def consume_n(subscriber: Subscriber, n: int) -> list[Any]:
    """Consume ``n`` messages, within a bound; return the messages."""
    async with asyncio.timeout(5):
        return [(await subscriber.consume())[1] for _ in range(n)]


async def test_publish_threadsafe_from_a_thread_delivers_on_the_hub_loop() -> None:
    hub = Hub()
    subscriber = Subscriber(hub, "s")
    subscriber.subscribe("a")
    calls = ThreadRecorder()
    hub.add_subscriber("a", calls)

    def publish_many() -> None:
        for n in range(100):
            hub.publish_threadsafe("a", n)

    thread = threading.Thread(target=publish_many)
    thread.start()
    assert await consume_n(subscriber, 100) == list(range(100))
    thread.join()
    assert [message for message, _ in calls.got] == list(range(100))
    assert {ident for _, ident in calls.got} == {threading.get_ident()}


async def test_publish_threadsafe_from_run_in_executor(hub: Hub, subscriber: Subscriber) -> None:
    subscriber.subscribe(("a", "*"))
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, hub.publish_threadsafe, ("a", "b"), "hello")
    assert await consume_n(subscriber, 1) == ["hello"]


async def test_publish_threadsafe_from_several_threads_keeps_each_thread_in_order() -> None:
    hub = Hub()
    subscriber = Subscriber(hub, "s")
    subscriber.subscribe(("t", "*"))

    def publish_many(thread: int) -> None:
        for n in range(250):
            hub.publish_threadsafe(("t", str(thread)), n)

    threads = [threading.Thread(target=publish_many, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    async with asyncio.timeout(5):
        got = [await subscriber.consume() for _ in range(1000)]
    for thread in threads:
        thread.join()
    for t in range(4):
        assert [message for key, message in got if key == Key("t", str(t))] == list(range(250))


async def test_publisher_publish_threadsafe_uses_its_prefix(
    hub: Hub, subscriber: Subscriber, publisher: Publisher
) -> None:
    subscriber.subscribe(("pub", "a"))
    assert error_in_thread(publisher.publish_threadsafe, "a", 1) is None
    async with asyncio.timeout(5):
        assert await subscriber.consume() == (Key("pub", "a"), 1)


async def test_publish_threadsafe_from_the_loop_thread_delivers_soon(
    hub: Hub, subscriber: Subscriber
) -> None:
    subscriber.subscribe("a")
    hub.publish_threadsafe("a", 1)
    assert subscriber.statistics().queued == 0  # not inline
    assert await consume_n(subscriber, 1) == [1]


@pytest.mark.parametrize("route", ["cold", "cached", "cached-with-a-waiting-consumer"])
async def test_publish_from_another_thread_raises_and_delivers_nothing(
    hub: Hub, subscriber: Subscriber, route: str
) -> None:
    calls = ThreadRecorder()
    hub.add_subscriber("a", calls)  # called before the queue
    subscriber.subscribe("a")
    consumer = None
    if route != "cold":
        hub.publish("a", 0)  # the route is now cached
        subscriber.consume_nowait()
        calls.got.clear()
    if route == "cached-with-a-waiting-consumer":
        consumer = asyncio.create_task(subscriber.consume())
        await wait_blocked(consumer)
    try:
        before = hub.statistics()
        error = error_in_thread(hub.publish, "a", 1)
        assert isinstance(error, RuntimeError)
        assert "publish_threadsafe" in str(error)
        assert calls.got == []
        assert subscriber.statistics().queued == 0
        assert hub.statistics() == before
        # The hub is not hurt: its own thread still publishes.
        hub.publish("a", 2)
        assert [message for message, _ in calls.got] == [2]
        if consumer is not None:
            async with asyncio.timeout(1):
                assert await consumer == (Key("a"), 2)
    finally:
        if consumer is not None:
            consumer.cancel()


async def test_debug_mode_refuses_another_thread_even_for_idle_queues() -> None:
    # Outside debug mode, a cached route to one queue nobody waits on is not checked (that
    # check would cost every publish); debug mode checks every publish.
    hub = Hub(debug=True)
    subscriber = Subscriber(hub, "sub")
    subscriber.subscribe("a")
    hub.publish("a", 0)
    subscriber.consume_nowait()
    error = error_in_thread(hub.publish, "a", 1)
    assert isinstance(error, WrongThreadError)
    assert "publish_threadsafe" in str(error)
    assert subscriber.statistics().queued == 0


async def test_publish_from_another_thread_to_several_queues_raises_before_any_is_filled(
    hub: Hub,
) -> None:
    # Two queues, cached route; the second has a waiting consumer, the first does not. The
    # refusal must come before the first queue gets the message, not when the second is woken.
    first, second = Subscriber(hub, "first"), Subscriber(hub, "second")
    first.subscribe("a")
    second.subscribe("a")
    hub.publish("a", 0)
    first.consume_nowait()
    second.consume_nowait()
    consumer = asyncio.create_task(second.consume())
    await wait_blocked(consumer)
    try:
        error = error_in_thread(hub.publish, "a", 1)
        assert isinstance(error, WrongThreadError)
        assert first.statistics().queued == 0
        assert second.statistics().queued == 0
        hub.publish("a", 2)
        async with asyncio.timeout(1):
            assert await consumer == (Key("a"), 2)
        assert first.consume_nowait() == (Key("a"), 2)
    finally:
        consumer.cancel()


@pytest.mark.parametrize("overflow", list(Overflow))
async def test_publish_from_another_thread_to_a_full_queue_raises_and_drops_nothing(
    hub: Hub, overflow: Overflow
) -> None:
    subscriber = Subscriber(hub, "sub", maxsize=1, overflow=overflow)
    subscriber.subscribe("a")
    hub.publish("a", 0)  # the route is cached, the queue full
    error = error_in_thread(hub.publish, "a", 1)
    assert isinstance(error, WrongThreadError)
    stats = subscriber.statistics()
    assert (stats.queued, stats.dropped, stats.closed) == (1, 0, False)
    assert subscriber.consume_nowait() == (Key("a"), 0)


async def test_publisher_publish_from_another_thread_raises(
    hub: Hub, subscriber: Subscriber, publisher: Publisher
) -> None:
    subscriber.subscribe(("pub", "a"))
    error = error_in_thread(publisher.publish, "a", 1)
    assert isinstance(error, RuntimeError)
    assert "publish_threadsafe" in str(error)
    assert subscriber.statistics().queued == 0


async def test_publish_from_another_thread_during_a_fan_out_raises(hub: Hub) -> None:
    # While the hub's thread is inside a fan-out, a publish from another thread must not
    # slip into the queue of messages deferred until the fan-out ends.
    calls = ThreadRecorder()
    hub.add_subscriber("b", calls)
    hub.publish("b", 0)  # the route is cached
    errors: list[BaseException | None] = []

    def meanwhile(key: Key, message: Any) -> None:
        errors.append(error_in_thread(hub.publish, "b", "from another thread"))

    hub.add_subscriber("a", meanwhile)
    hub.publish("a", 1)
    [error] = errors
    assert isinstance(error, WrongThreadError)
    assert [message for message, _ in calls.got] == [0]


def test_queue_made_before_the_loop_thread_overflows_in_the_hubs_thread() -> None:
    # Hub and bounded queue made here, with no loop; the loop then runs in another thread and
    # the hub binds to it. Overflowing there is the hub's own thread: the policy applies.
    hub = Hub()
    subscriber = Subscriber(hub, "sub", maxsize=2)
    subscriber.subscribe("a")

    async def in_the_loop_thread() -> list[Any]:
        hub.bind_loop()
        for n in range(4):
            hub.publish("a", n)
        return [subscriber.consume_nowait()[1] for _ in range(2)]

    pool = ThreadPoolExecutor(max_workers=1)
    try:
        got = pool.submit(run, in_the_loop_thread()).result(timeout=5)
    finally:
        pool.shutdown()
    assert got == [2, 3]
    assert subscriber.statistics().dropped == 2


async def test_subscribe_from_another_thread_raises_and_leaves_nothing(
    hub: Hub, subscriber: Subscriber
) -> None:
    error = error_in_thread(subscriber.subscribe, "a")
    assert isinstance(error, WrongThreadError)
    assert "do it from the hub's thread" in str(error)
    assert not hub.has_subscribers("a")
    with pytest.raises(ConsumeQueueNotFoundError):
        subscriber.consume_nowait()
    error = error_in_thread(hub.add_subscriber, "a", ThreadRecorder())
    assert isinstance(error, WrongThreadError)
    assert hub.subscriptions() == {}
    subscriber.subscribe("a")  # the hub's own thread still can
    hub.publish("a", 1)
    assert subscriber.consume_nowait() == (Key("a"), 1)


@pytest.mark.parametrize(
    "change",
    [
        lambda hub, subscriber: subscriber.unsubscribe("a"),
        lambda hub, subscriber: subscriber.remove_listener("b", print),
        lambda hub, subscriber: subscriber.remove_all_listeners(),
        lambda hub, subscriber: subscriber.close(),
        lambda hub, subscriber: hub.remove_subscriber("c", print),
        lambda hub, subscriber: hub.close(),
    ],
    ids=[
        "unsubscribe",
        "remove_listener",
        "remove_all_listeners",
        "close",
        "remove_subscriber",
        "hub.close",
    ],
)
async def test_unsubscribing_or_closing_from_another_thread_raises_and_changes_nothing(
    hub: Hub, subscriber: Subscriber, change: Callable[[Hub, Subscriber], object]
) -> None:
    subscriber.subscribe("a")
    subscriber.add_sync_listener("b", print)
    hub.add_subscriber("c", print)
    before = hub.subscriptions()
    error = error_in_thread(change, hub, subscriber)
    assert isinstance(error, WrongThreadError)
    assert "do it from the hub's thread" in str(error)
    assert hub.subscriptions() == before
    assert not hub.closed
    assert not subscriber.closed
    change(hub, subscriber)  # the hub's own thread can


@pytest.mark.parametrize(
    ("key", "error"),
    [(("a", "*"), InvalidKeyError), ((), InvalidKeyError), (("a", []), TypeError)],
)
async def test_publish_threadsafe_checks_the_key_in_the_calling_thread(
    hub: Hub, subscriber: Subscriber, key: Any, error: type[Exception]
) -> None:
    subscriber.subscribe(("a", "*"))
    raised = error_in_thread(hub.publish_threadsafe, key, 1)
    assert isinstance(raised, error)
    assert subscriber.statistics().queued == 0
    # A marker sent the same way afterwards arrives after anything the refused call scheduled.
    assert error_in_thread(hub.publish_threadsafe, ("a", "marker"), 2) is None
    await wait_until(lambda: subscriber.statistics().queued)
    assert subscriber.consume_nowait() == (Key("a", "marker"), 2)
    assert subscriber.statistics().queued == 0


async def test_publish_threadsafe_to_a_closed_hub_raises_in_the_calling_thread() -> None:
    hub = Hub()
    await hub.aclose()
    assert isinstance(error_in_thread(hub.publish_threadsafe, "a", 1), HubClosedError)


async def test_publish_threadsafe_arriving_after_the_hub_closed_is_dropped_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = Hub()
    subscriber = Subscriber(hub, "s")
    subscriber.subscribe("a")
    loop_errors: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda loop, context: loop_errors.append(context))
    try:
        assert error_in_thread(hub.publish_threadsafe, "a", 1) is None
        hub.close()  # before the message reached the loop
        await wait_until(lambda: hub.statistics().dropped == 1)  # it arrived, and was dropped
    finally:
        loop.set_exception_handler(None)
    assert loop_errors == []
    assert subscriber.statistics().queued == 0
