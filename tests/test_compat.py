"""The original's extras: Publisher, ThrottledPublisher, MockHub and Loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import settle, wait_until

from aiopubsub import Hub, InvalidKeyError, Key, Publisher, Subscriber
from aiopubsub.loop import Loop
from aiopubsub.testing.mocks import MockHub
from aiopubsub.utils import ThrottledPublisher

# -- Publisher ----------------------------------------------------------------------------------


async def test_publisher_prefixes_its_keys(hub: Hub, subscriber: Subscriber) -> None:
    publisher = Publisher(hub, prefix=Key("a"))
    subscriber.subscribe(("a", "*"))
    publisher.publish(("b", "c"), 1)
    publisher.publish("bc", 2)  # A str is one part.
    assert await subscriber.consume() == (Key("a", "b", "c"), 1)
    assert await subscriber.consume() == (Key("a", "bc"), 2)
    assert repr(publisher) == "<Publisher prefix=('a',)>"


def test_publisher_str_prefix_is_one_part(hub: Hub) -> None:
    assert Publisher(hub, "exchange").prefix == Key("exchange")


def test_publisher_rejects_bad_prefix_and_keys(hub: Hub) -> None:
    with pytest.raises(TypeError, match=r"got \[1\] \(list\) at position 1"):
        Publisher(hub, ("a", [1]))
    publisher = Publisher(hub, "a")
    with pytest.raises(InvalidKeyError, match=r"Cannot publish under \(.a., .\*.\)"):
        publisher.publish("*", 1)


def test_publisher_has_subscribers(hub: Hub, subscriber: Subscriber) -> None:
    publisher = Publisher(hub, "a")
    assert not publisher.has_subscribers()
    subscriber.subscribe(("a", "b"))
    assert publisher.has_subscribers()
    assert publisher.has_subscribers("b")
    assert not publisher.has_subscribers("c")
    assert not Publisher(hub, "x").has_subscribers()


# -- ThrottledPublisher -------------------------------------------------------------------------


async def test_throttled_publisher_waits_until_queues_drain(
    hub: Hub, subscriber: Subscriber
) -> None:
    subscriber.subscribe(("p", "*"))
    waits: list[float] = []

    def delays() -> Iterator[float]:
        while True:  # each delay taken is one check that found the queues too full
            waits.append(0.0)
            yield 0.0

    throttled = ThrottledPublisher(
        hub, Publisher(hub, "p"), max_qsize=2, delay_sequence_factory=delays
    )
    await throttled.publish("x", 1)
    await throttled.publish("y", 2)
    assert hub.get_subscriber_queue_sizes(("p", "y")) == (2,)
    publishing = asyncio.ensure_future(throttled.publish("x", 3))
    await wait_until(lambda: len(waits) >= 3)  # it has found the queues too full, again
    assert not publishing.done()  # Three queued, more than max_qsize.
    assert await subscriber.consume() == (Key("p", "x"), 1)
    async with asyncio.timeout(5):
        await publishing
    assert hub.get_subscriber_queue_sizes(("p", "x")) == (2,)


async def test_throttled_publisher_keeps_using_the_last_delay(
    hub: Hub, subscriber: Subscriber, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscriber.subscribe("p")
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(delay: float) -> None:
        slept.append(delay)
        if len(slept) == 5:
            await subscriber.consume()
        await real_sleep(0)

    throttled = ThrottledPublisher(hub, Publisher(hub, ()), 0, lambda: iter([0.001, 0.002]))
    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    await throttled.publish("p", 1)
    assert slept == [0.001, 0.002, 0.002, 0.002, 0.002]


async def test_throttled_publisher_without_delay_raises(hub: Hub, subscriber: Subscriber) -> None:
    subscriber.subscribe("p")
    throttled = ThrottledPublisher(hub, Publisher(hub, ()), 0, lambda: [])
    with pytest.raises(ValueError, match="gave no delay"):
        await throttled.publish("p", 1)


async def test_throttled_publisher_str_key_is_one_part(hub: Hub, subscriber: Subscriber) -> None:
    subscriber.subscribe(("p", "abc"))
    throttled = ThrottledPublisher(hub, Publisher(hub, "p"), 5, lambda: [0.0])
    await throttled.publish("abc", 1)
    assert await subscriber.consume() == (Key("p", "abc"), 1)


def test_throttled_publisher_rejects_negative_max_qsize(hub: Hub) -> None:
    with pytest.raises(ValueError, match="max_qsize must be >= 0, got -1"):
        ThrottledPublisher(hub, Publisher(hub, "p"), -1, lambda: [0.0])


# -- MockHub ------------------------------------------------------------------------------------


def test_mock_hub_records_publishes() -> None:
    mock = MockHub()
    publisher = Publisher(mock, "a")  # type: ignore[arg-type]
    publisher.publish("b", 1)
    publisher.publish("b", 2)
    mock.publish(("c",), 3)
    assert mock.published == [(Key("a", "b"), 1), (Key("a", "b"), 2), (Key("c"), 3)]
    assert mock.published_by_key == {Key("a", "b"): [1, 2], Key("c"): [3]}
    assert mock.get_subscriber_queue_sizes(("a", "b")) == (2,)
    with pytest.raises(InvalidKeyError):
        mock.publish(("a", "*"), 4)


async def test_mock_hub_records_what_a_publisher_sends_every_way() -> None:
    mock = MockHub()
    publisher = Publisher(mock, "a")  # type: ignore[arg-type]
    await publisher.apublish("b", 1)
    publisher.publish_threadsafe("c", 2)
    assert mock.published == [(Key("a", "b"), 1), (Key("a", "c"), 2)]
    with pytest.raises(InvalidKeyError):
        await mock.apublish("*", 3)
    with pytest.raises(InvalidKeyError):
        mock.publish_threadsafe("*", 3)
    assert len(mock.published) == 2


def test_mock_hub_matches_keys_like_the_hub() -> None:
    mock, hub = MockHub(), Hub()
    subscriber = Subscriber(hub, "sub")
    for pattern in [("a", "*", "c"), ("b", "*")]:
        mock.add_subscriber(pattern, print)
        subscriber.subscribe(pattern)
    for key in ["a", ("a", "x", "c"), ("a", "x"), ("b",), ("b", "x", "y"), ("a", "*"), "*", ()]:
        assert mock.has_subscribers(key) == hub.has_subscribers(key), key
    assert mock.has_subscribers()
    assert hub.has_subscribers()
    mock.remove_subscriber(("b", "*"), print)
    mock.remove_subscriber(("a", "*", "c"), print)
    assert not mock.has_subscribers()
    assert mock.subscribers == {}


# -- Loop ---------------------------------------------------------------------------------------


async def test_loop_runs_until_stopped() -> None:
    runs: list[int] = []

    async def work() -> None:
        runs.append(len(runs))

    loop = Loop(work, delay=None)
    assert not loop.is_running
    loop.start()
    loop.start()  # Already running: nothing changes.
    await wait_until(lambda: len(runs) >= 3)
    assert loop.is_running
    assert len(runs) >= 3
    async with asyncio.timeout(5):
        await loop.stop_wait()
    assert not loop.is_running
    count = len(runs)
    await settle()  # it would run again now, if it could
    assert len(runs) == count


async def test_loop_stop_without_wait_and_restart() -> None:
    runs: list[int] = []

    async def work() -> None:
        runs.append(1)

    loop = Loop(work, delay=0, name="worker")
    loop.start()
    await wait_until(lambda: runs)
    first = loop.task
    assert first is not None
    loop.stop()
    await wait_until(first.done)
    assert not loop.is_running
    assert "worker" in repr(loop)
    count = len(runs)
    loop.start()
    await wait_until(lambda: len(runs) > count)
    assert loop.is_running
    await loop.stop_wait()


async def test_loop_stop_then_start_at_once_runs_again() -> None:
    # As in 3.0.0: stop() makes is_running false at once, and start() right after restarts.
    runs: list[int] = []

    async def work() -> None:
        runs.append(1)

    loop = Loop(work, delay=0)
    loop.start()
    await wait_until(lambda: runs)
    loop.stop()
    assert not loop.is_running
    old = loop.task
    loop.start()
    assert loop.is_running
    assert loop.task is not old
    assert old is not None
    await wait_until(old.done)
    count = len(runs)
    await wait_until(lambda: len(runs) > count)
    assert len(runs) > count  # the new task runs
    async with asyncio.timeout(5):
        await loop.stop_wait()
    assert old is not None
    assert old.done()
    assert loop.task is not None
    assert loop.task.done()


async def test_loop_logs_an_error_and_stops(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise RuntimeError("loop body broke")

    loop = Loop(broken, delay=None)
    with caplog.at_level(logging.ERROR, logger="aiopubsub"):
        loop.start()
        async with asyncio.timeout(5):
            assert loop.task is not None
            await loop.task
    assert not loop.is_running
    [record] = caplog.records
    assert record.name == "aiopubsub.Loop"
    assert "loop body broke" in record.getMessage()


async def test_loop_stop_wait_before_start_returns() -> None:
    async def work() -> Any:
        return None

    await Loop(work, None).stop_wait()


def test_loop_rejects_negative_delay() -> None:
    async def work() -> None:
        pass

    with pytest.raises(ValueError, match="delay must be None or >= 0, got -1"):
        Loop(work, -1)
