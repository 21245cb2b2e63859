"""Stress with exact accounting: cancelled and timed-out consumers lose nothing, failing and
slow subscribers hurt nobody else, closing the hub leaves no task behind.

Each round is cheap (a task, a publish, a few loop steps), so that 10,000 rounds stay quick;
waits are bounded with ``asyncio.timeout`` and nothing depends on elapsed time.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from helpers import drain, wait_blocked, wait_until

from aiopubsub import (
    ErrorContext,
    Hub,
    HubClosedError,
    Key,
    Overflow,
    Subscriber,
    SubscriberClosedError,
)

ROUNDS = 10_000


def outcome(task: asyncio.Task[tuple[Key, Any]]) -> Any:
    """The message a finished consume task returned, or ``None`` if it was cancelled or timed
    out (the only ways it may end here)."""
    if task.cancelled():
        return None
    exc = task.exception()
    if exc is not None:
        assert isinstance(exc, TimeoutError), exc
        return None
    key, message = task.result()
    assert key == Key("a")
    return message


def assert_each_exactly_once(returned: list[Any], left: list[Any], rounds: int) -> None:
    """Every message published was returned by a consume or was still queued, and only once."""
    duplicates = [m for m, n in Counter(returned + left).items() if n > 1]
    assert duplicates == []
    assert sorted(returned + left) == list(range(rounds))


async def test_stress_cancelled_consumers_lose_nothing(hub: Hub) -> None:
    subscriber = Subscriber(hub, "s", maxsize=8)  # bounded, but never full: no drop
    subscriber.subscribe("a")
    returned: list[Any] = []
    left: list[Any] = []
    async with asyncio.timeout(60):
        for n in range(ROUNDS):
            variant = n % 5
            consumers = [asyncio.create_task(subscriber.consume())]
            if variant == 4:
                consumers.append(asyncio.create_task(subscriber.consume()))
            if variant:
                await wait_blocked(*consumers)  # they wait on the empty queue
            if variant == 3:
                consumers[0].cancel()  # cancelled while waiting, before the publish
            hub.publish("a", n)  # wakes the first consumer still waiting
            if variant == 2:
                await wait_until(consumers[0].done)  # the woken consumer takes the message
            # variant 0: cancelled before it ever ran; 1 and 4: woken but not yet run.
            consumers[0].cancel()
            if variant == 4:
                # The first ends cancelled, passing its wake-up on to the second, which is
                # then cancelled in turn, woken but not yet run.
                await wait_until(consumers[0].done)
                consumers[1].cancel()
            await asyncio.wait(consumers)
            returned.extend(m for m in map(outcome, consumers) if m is not None)
            left.extend(drain(subscriber))
    assert_each_exactly_once(returned, left, ROUNDS)
    # Each variant did what it is there for: some consumers got messages, some were left.
    assert returned
    assert left
    stats = subscriber.statistics()
    assert (stats.queued, stats.dropped) == (0, 0)


async def test_stress_timed_out_consumers_lose_nothing(hub: Hub, subscriber: Subscriber) -> None:
    subscriber.subscribe("a")
    returned: list[Any] = []
    left: list[Any] = []
    async with asyncio.timeout(60):
        for n in range(ROUNDS):
            variant = n % 4
            if variant == 1:
                hub.publish("a", n)  # already queued: returned at once, even with timeout=0
            consumer = asyncio.create_task(subscriber.consume(timeout=0 if variant < 3 else 1e-6))
            # Loop turns counted on purpose: they are the race under test. After one turn the
            # consumer waits and its timeout is due; after a second, the timeout may have fired.
            await asyncio.sleep(0)
            if variant != 1:
                # variant 0 and 3: wakes the consumer, whose timeout may fire first;
                # variant 2: published one turn later still.
                if variant == 2:
                    await asyncio.sleep(0)
                hub.publish("a", n)
            await asyncio.wait([consumer])
            message = outcome(consumer)
            if message is not None:
                returned.append(message)
            left.extend(drain(subscriber))
    assert_each_exactly_once(returned, left, ROUNDS)
    assert returned
    assert left


async def test_stress_failing_listener_beside_two_healthy_ones() -> None:
    messages = 2_000
    failures: list[tuple[BaseException, ErrorContext]] = []
    healthy: list[list[Any]] = [[], []]
    broken_got: list[Any] = []
    all_seen = asyncio.Event()

    def seen() -> None:
        if min(len(healthy[0]), len(healthy[1]), len(failures)) == messages:
            all_seen.set()

    def on_error(exc: BaseException, context: ErrorContext) -> None:
        failures.append((exc, context))
        seen()

    hub = Hub(on_error=on_error)
    subscriber = Subscriber(hub, "s")

    async def first(key: Key, message: Any) -> None:
        healthy[0].append(message)
        seen()

    async def broken(key: Key, message: Any) -> None:
        broken_got.append(message)
        raise ValueError(message)

    async def second(key: Key, message: Any) -> None:
        await asyncio.sleep(0)  # yields on each message, as real work would
        healthy[1].append(message)
        seen()

    for listener in (first, broken, second):
        subscriber.add_async_listener("a", listener)
    async with asyncio.timeout(30):
        for n in range(messages):
            hub.publish("a", n)
            if n % 100 == 0:
                await asyncio.sleep(0)  # let the listeners run meanwhile, now and then
        await all_seen.wait()
    assert healthy == [list(range(messages)), list(range(messages))]
    assert broken_got == list(range(messages))
    assert [exc.args for exc, _ in failures] == [(n,) for n in range(messages)]
    assert {(c.callback, c.kind, c.subscriber_id) for _, c in failures} == {
        (broken, "async listener", "s")
    }
    assert hub.statistics().listener_errors == messages
    await hub.aclose()


@pytest.mark.parametrize("overflow", list(Overflow))
async def test_stress_a_subscriber_that_never_consumes_blocks_nobody(overflow: Overflow) -> None:
    messages, maxsize = 5_000, 10
    hub = Hub()
    stalled = Subscriber(hub, "stalled", maxsize=maxsize, overflow=overflow)
    stalled.subscribe("a")
    stalled_listener: list[Any] = []

    async def never_done(key: Key, message: Any) -> None:
        stalled_listener.append(message)
        await asyncio.Event().wait()

    stalled.add_async_listener("a", never_done)
    others = Subscriber(hub, "others")
    others.subscribe("a")
    listened: list[Any] = []
    all_listened = asyncio.Event()

    async def listen(key: Key, message: Any) -> None:
        listened.append(message)
        if len(listened) == messages:
            all_listened.set()

    others.add_async_listener("a", listen)
    called: list[Any] = []
    hub.add_subscriber("a", lambda key, message: called.append(message))
    consumed: list[Any] = []

    async def consume_all() -> None:
        for _ in range(messages):
            consumed.append((await others.consume())[1])

    consumer = asyncio.create_task(consume_all())
    async with asyncio.timeout(30):
        for n in range(messages):
            hub.publish("a", n)
            if n % 50 == 0:
                await asyncio.sleep(0)  # let the consumers run meanwhile, now and then
        await consumer
        await all_listened.wait()
    assert consumed == listened == called == list(range(messages))
    stats = stalled.statistics()
    assert stats.queued <= maxsize
    assert stats.dropped == (1 if overflow is Overflow.DISCONNECT else messages - maxsize)
    assert stats.peak_queued == maxsize
    assert len(stalled_listener) == 1
    assert others.statistics().dropped == 0
    await hub.aclose(timeout=0)


async def test_stress_hub_aclose_leaves_the_tasks_as_before_the_hub() -> None:
    before = asyncio.all_tasks()
    hub_failures: list[BaseException] = []
    hub = Hub(on_error=lambda exc, context: hub_failures.append(exc))
    subscribers = [Subscriber(hub, f"s{n}", maxsize=50 * (n % 2)) for n in range(4)]
    stuck = asyncio.Event()

    async def quick(key: Key, message: Any) -> None:
        await asyncio.sleep(0)  # yields on each message, as real work would

    async def failing(key: Key, message: Any) -> None:
        raise ValueError(message)

    async def blocked(key: Key, message: Any) -> None:
        await stuck.wait()

    for number, subscriber in enumerate(subscribers):
        subscriber.subscribe("a")
        for listener in (quick, failing, blocked)[: number + 1]:
            subscriber.add_async_listener(("a", "*") if number % 2 else "a", listener)
    consumers = [asyncio.create_task(s.consume()) for s in subscribers]
    waiter = asyncio.create_task(hub.wait_for("never"))
    for n in range(500):
        hub.publish("a", n)
        hub.publish(("a", "b"), n)
    # Everything starts: each consumer takes a message, the waiter waits.
    await wait_until(lambda: all(consumer.done() for consumer in consumers))
    await wait_blocked(waiter)
    async with asyncio.timeout(10):
        await hub.aclose(timeout=0.05)
    # The hub's own tasks are gone; what is left is ours.
    assert asyncio.all_tasks() - before <= {*consumers, waiter}
    async with asyncio.timeout(10):
        results = await asyncio.gather(*consumers, waiter, return_exceptions=True)
    assert all(isinstance(r, (tuple, SubscriberClosedError)) for r in results[:-1])
    assert isinstance(results[-1], HubClosedError)
    assert asyncio.all_tasks() == before
