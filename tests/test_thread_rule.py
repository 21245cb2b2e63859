"""The thread rule without exceptions: a plain publish from a thread other than the hub's is
refused whenever the key has a subscriber, whatever the shape of its route."""

from __future__ import annotations

import asyncio
import re
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from helpers import WAIT, AsyncRecorder, Recorder, error_in_thread, settle

from aiopubsub import Hub, Key, Subscriber, WrongThreadError


def one_queue(hub: Hub, subscriber: Subscriber) -> Callable[[], list[Any]]:
    subscriber.subscribe("k")
    return lambda: [message for _, message in subscriber._inboxes["default"].items]


def bounded_queue(hub: Hub, subscriber: Subscriber) -> Callable[[], list[Any]]:
    subscriber.subscribe("k", "bounded", maxsize=10)
    return lambda: [message for _, message in subscriber._inboxes["bounded"].items]


def one_callback(hub: Hub, subscriber: Subscriber) -> Callable[[], list[Any]]:
    recorder = Recorder()
    hub.add_subscriber("k", recorder)
    return lambda: recorder.messages


def one_listener(hub: Hub, subscriber: Subscriber) -> Callable[[], list[Any]]:
    recorder = Recorder()
    subscriber.add_sync_listener("k", recorder)
    return lambda: recorder.messages


def fan_out(hub: Hub, subscriber: Subscriber) -> Callable[[], list[Any]]:
    recorder = Recorder()
    subscriber.subscribe("k")
    hub.add_subscriber("k", recorder)
    return lambda: recorder.messages + [m for _, m in subscriber._inboxes["default"].items]


SHAPES = [one_queue, bounded_queue, one_callback, one_listener, fan_out]


@pytest.fixture(params=[False, True], ids=["normal", "debug"])
def any_hub(request: pytest.FixtureRequest) -> Iterator[Hub]:
    hub = Hub(debug=request.param)
    yield hub
    hub.close()


@pytest.mark.parametrize("cached", [False, True], ids=["uncached", "cached"])
@pytest.mark.parametrize("shape", SHAPES)
async def test_thread_rule_refuses_a_foreign_publish_to_every_route_shape(
    any_hub: Hub, shape: Callable[[Hub, Subscriber], Callable[[], list[Any]]], cached: bool
) -> None:
    subscriber = Subscriber(any_hub, "sub")
    delivered = shape(any_hub, subscriber)
    if cached:
        any_hub.publish("k", "warm")
    before = delivered()
    error = error_in_thread(any_hub.publish, "k", "foreign")
    assert isinstance(error, WrongThreadError)
    assert re.match(r"^A hub was published to under \('k',\) from thread \d+", str(error))
    error = error_in_thread(asyncio.run, any_hub.apublish("k", "foreign"))
    assert isinstance(error, WrongThreadError)
    await settle()
    assert delivered() == before  # nothing delivered, nothing queued
    any_hub.publish("k", "local")  # the hub's own thread still can
    # A fan-out's second subscription gets it too.
    assert sorted(delivered()) == sorted([*before, *["local"] * (2 if shape is fan_out else 1)])


async def test_thread_rule_lets_a_foreign_publish_to_nobody_pass_outside_debug_mode() -> None:
    hub = Hub(debug=False)
    assert error_in_thread(hub.publish, "nobody", 1) is None
    debug = Hub(debug=True)
    assert isinstance(error_in_thread(debug.publish, "nobody", 1), WrongThreadError)


async def test_thread_rule_keeps_threadsafe_publishes_in_order(
    hub: Hub, subscriber: Subscriber
) -> None:
    # 3.0.0's hole: publish_threadsafe(k, 1) then publish(k, 2) from one thread had 2 first.
    subscriber.subscribe("k")
    hub.publish("k", 0)  # a cached route to one idle queue, the shape that went unchecked

    def from_thread() -> None:
        hub.publish_threadsafe("k", 1)
        hub.publish("k", 2)

    assert isinstance(error_in_thread(from_thread), WrongThreadError)
    async with asyncio.timeout(WAIT):
        assert await subscriber.consume() == (Key("k"), 0)
        assert await subscriber.consume() == (Key("k"), 1)
    await settle()
    assert subscriber.statistics().queued == 0


async def test_thread_rule_strands_no_message_under_a_hammering_thread(
    hub: Hub, subscriber: Subscriber
) -> None:
    """A thread publishes as fast as it can to a one-queue route, trying plain publish() first
    and falling back to publish_threadsafe(); the loop consumes with a timeout. With the check
    of every publish, every plain attempt is refused, so every message arrives through the
    loop and none waits in the queue while its consumer sleeps."""
    subscriber.subscribe("k")
    hub.publish("k", -1)
    assert await subscriber.consume() == (Key("k"), -1)
    n = 2_000
    refused = 0
    started = threading.Event()

    def hammer() -> None:
        nonlocal refused
        started.set()
        for i in range(n):
            try:
                hub.publish("k", i)
            except WrongThreadError:
                refused += 1
                hub.publish_threadsafe("k", i)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    thread = threading.Thread(target=hammer)
    try:
        thread.start()
        got = []
        while len(got) < n:
            # A message stranded in the queue while its consumer waits would time out here.
            _, message = await subscriber.consume(timeout=WAIT)
            got.append(message)
    finally:
        thread.join(WAIT)
        sys.setswitchinterval(interval)
    assert started.is_set()
    assert got == list(range(n))
    assert refused == n
    assert subscriber.statistics().queued == 0


async def test_thread_rule_a_callback_publishing_to_another_threads_hub_is_its_own_failure() -> (
    None
):
    errors: list[tuple[BaseException, Any]] = []
    hub = Hub(on_error=lambda exc, context: errors.append((exc, context)))
    other: list[Hub] = []
    made, done = threading.Event(), threading.Event()

    def own_a_hub() -> None:  # a hub of this thread, with a subscriber
        foreign = Hub()
        foreign.add_subscriber("x", Recorder())
        other.append(foreign)
        made.set()
        done.wait(WAIT)

    thread = threading.Thread(target=own_a_hub)
    thread.start()
    log: list[tuple[str, Any]] = []

    def forwards(key: Key, message: Any) -> None:
        log.append(("forwards", message))
        hub.publish("nested", message)  # queued behind this fan-out
        other[0].publish("x", message)  # another thread's hub: raises here

    try:
        assert made.wait(WAIT)
        hub.add_subscriber("k", forwards)
        hub.add_subscriber("k", lambda key, message: log.append(("second", message)))
        hub.add_subscriber("nested", lambda key, message: log.append(("nested", message)))
        hub.publish("k", 1)
    finally:
        done.set()
        thread.join(WAIT)
    assert log == [("forwards", 1), ("second", 1), ("nested", 1)]
    [(exc, context)] = errors
    assert isinstance(exc, WrongThreadError)
    assert context.callback is forwards
    assert hub.statistics().listener_errors == 1


async def test_thread_rule_async_listener_unaffected(hub: Hub, subscriber: Subscriber) -> None:
    recorder = AsyncRecorder()
    subscriber.add_async_listener("k", recorder)
    hub.publish("k", 1)
    assert isinstance(error_in_thread(hub.publish, "k", 2), WrongThreadError)
    await settle()
    assert recorder.messages == [1]


async def test_thread_rule_apublish_refuses_a_foreign_thread_before_waiting(
    hub: Hub, subscriber: Subscriber
) -> None:
    subscriber.subscribe("k", "bounded", maxsize=1)
    hub.publish("k", 0)  # full, and the route is cached
    error = error_in_thread(asyncio.run, hub.apublish("k", 1))
    assert isinstance(error, WrongThreadError)
    assert subscriber.consume_nowait("bounded") == (Key("k"), 0)
    assert subscriber.statistics("bounded").dropped == 0
