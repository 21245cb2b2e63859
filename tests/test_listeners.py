"""Listeners: sync and async callbacks, their tasks, their errors and their removal."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import pytest
from helpers import AsyncRecorder, run, settle, wait_blocked

from aiopubsub import (
    Hub,
    InvalidKeyError,
    Key,
    Overflow,
    Subscriber,
    SubscriptionNotFoundError,
)


def listener_tasks() -> set[asyncio.Task[Any]]:
    return {task for task in asyncio.all_tasks() if task.get_name().startswith("aiopubsub ")}


async def test_sync_listener_is_called_inline_in_publish_order(
    hub: Hub, subscriber: Subscriber
) -> None:
    got: list[tuple[Key, Any]] = []
    subscriber.add_sync_listener(Key("a", "*"), lambda key, message: got.append((key, message)))
    hub.publish(("a", "1"), 1)
    hub.publish(("b", "1"), 2)
    hub.publish(("a", "2"), 3)
    assert got == [(Key("a", "1"), 1), (Key("a", "2"), 3)]


def test_add_listener_is_add_sync_listener() -> None:
    assert Subscriber.add_listener is Subscriber.add_sync_listener


async def test_sync_listener_with_a_set_of_keys_gets_each_message_once(
    hub: Hub, subscriber: Subscriber
) -> None:
    got: list[Any] = []
    subscriber.add_sync_listener({Key("a", "*"), ("a", "b"), "a"}, lambda k, m: got.append(m))
    hub.publish(("a", "b"), 1)
    hub.publish("a", 2)
    assert got == [1, 2]


async def test_adding_the_same_listener_twice_changes_nothing(
    hub: Hub, subscriber: Subscriber
) -> None:
    got: list[Any] = []

    def callback(key: Key, message: Any) -> None:
        got.append(message)

    subscriber.add_sync_listener("a", callback)
    subscriber.add_sync_listener(("a",), callback)
    hub.publish("a", 1)
    assert got == [1]


async def test_async_listener_runs_as_one_task_and_keeps_publish_order(
    hub: Hub, subscriber: Subscriber
) -> None:
    before = listener_tasks()
    recorder = AsyncRecorder()
    subscriber.add_async_listener({Key("a", "*"), Key("b")}, recorder)
    for i in range(50):
        hub.publish(("a", str(i)) if i % 2 else "b", i)
    assert len(listener_tasks() - before) == 1
    await settle()
    assert [message for _, message in recorder.got] == list(range(50))
    assert len(listener_tasks() - before) == 1
    await subscriber.remove_all_listeners()
    assert listener_tasks() == before


async def test_async_listener_that_raises_is_logged_and_goes_on(
    hub: Hub, subscriber: Subscriber, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = AsyncRecorder(fail_on={2, 3})
    subscriber.add_async_listener("a", recorder)
    with caplog.at_level(logging.ERROR, logger="aiopubsub"):
        for i in range(5):
            hub.publish("a", i)
        await settle()
    assert [message for _, message in recorder.got] == [0, 1, 2, 3, 4]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    for record in errors:
        assert record.name == "aiopubsub.Hub"
        assert "('a',)" in record.getMessage()
        assert repr(recorder) in record.getMessage()
        assert "'sub'" in record.getMessage()
        assert record.exc_info is not None
        assert isinstance(record.exc_info[1], RuntimeError)
    await subscriber.remove_all_listeners()


async def test_async_listener_raising_cancelled_error_itself_is_reported_not_stopped(
    hub: Hub, subscriber: Subscriber, caplog: pytest.LogCaptureFixture
) -> None:
    got: list[Any] = []

    async def callback(key: Key, message: Any) -> None:
        got.append(message)
        if message == 0:
            raise asyncio.CancelledError

    subscriber.add_async_listener("a", callback)
    with caplog.at_level(logging.ERROR, logger="aiopubsub"):
        hub.publish("a", 0)
        hub.publish("a", 1)
        await settle()
    assert got == [0, 1]
    assert len(caplog.records) == 1
    await subscriber.remove_all_listeners()


async def test_async_listener_yields_to_other_tasks_during_a_long_backlog(
    hub: Hub, subscriber: Subscriber
) -> None:
    order: list[str] = []

    async def callback(key: Key, message: Any) -> None:
        order.append("listener")

    async def other() -> None:
        order.append("other")

    subscriber.add_async_listener("a", callback)
    for i in range(1000):
        hub.publish("a", i)
    other_task = asyncio.get_running_loop().create_task(other())
    await other_task
    # The other task ran before the listener worked through the whole backlog.
    assert order.index("other") < 1000
    await subscriber.remove_all_listeners()


async def test_sync_listener_rejects_async_callback_and_registers_nothing(
    hub: Hub, subscriber: Subscriber
) -> None:
    with pytest.raises(TypeError, match=r"is async.*use add_async_listener"):
        subscriber.add_sync_listener({"a", "b"}, AsyncRecorder())

    async def coroutine_function(key: Key, message: Any) -> None:
        pass

    with pytest.raises(TypeError, match="coroutine_function"):
        subscriber.add_sync_listener("a", coroutine_function)
    with pytest.raises(TypeError, match="coroutine_function"):
        subscriber.add_sync_listener("a", functools.partial(coroutine_function, Key("x")))
    assert not hub.has_subscribers()
    assert repr(subscriber) == "<Subscriber 'sub' subscriptions=0 listeners=0>"


async def test_sync_listener_rejects_non_callable(subscriber: Subscriber) -> None:
    with pytest.raises(TypeError, match=r"callback must be callable, got 42"):
        subscriber.add_sync_listener("a", 42)  # type: ignore[arg-type]


async def test_async_listener_rejects_plain_function_and_registers_nothing(
    hub: Hub, subscriber: Subscriber
) -> None:
    before = listener_tasks()
    with pytest.raises(TypeError, match=r"needs an async callback, got <built-in function print>"):
        subscriber.add_async_listener("a", print)  # type: ignore[arg-type]
    assert not hub.has_subscribers()
    assert listener_tasks() == before


async def test_listener_with_an_invalid_key_registers_nothing(
    hub: Hub, subscriber: Subscriber
) -> None:
    with pytest.raises(InvalidKeyError):
        subscriber.add_sync_listener({"a", ()}, print)
    with pytest.raises(
        TypeError, match=r"^Key parts must be hashable, got \[1\] \(list\) at position 1$"
    ):
        subscriber.add_async_listener(("a", [1]), AsyncRecorder())
    with pytest.raises(ValueError, match="at least one key"):
        subscriber.add_sync_listener(set(), print)
    assert not hub.has_subscribers()


def test_async_listener_without_running_loop_raises_and_registers_nothing() -> None:
    hub = Hub()
    subscriber = Subscriber(hub, "sub")
    with pytest.raises(RuntimeError, match=r"^add_async_listener\('a', .*needs a running event"):
        subscriber.add_async_listener("a", AsyncRecorder())
    assert not hub.has_subscribers()


@pytest.mark.parametrize("form", ["a", ("a",), Key("a"), ["a"], {"a"}, frozenset({Key("a")})])
async def test_remove_listener_finds_it_in_any_key_form(
    hub: Hub, subscriber: Subscriber, form: Any
) -> None:
    sync_got: list[Any] = []

    def callback(key: Key, message: Any) -> None:
        sync_got.append(message)

    recorder = AsyncRecorder()
    subscriber.add_sync_listener(Key("a"), callback)
    subscriber.add_async_listener(("a",), recorder)
    subscriber.remove_listener(form, callback)  # type: ignore[arg-type]
    await subscriber.remove_listener(form, recorder)
    hub.publish("a", 1)
    await settle()
    assert sync_got == []
    assert recorder.got == []
    assert not hub.has_subscribers()


async def test_remove_listener_of_a_set_needs_the_same_set(
    hub: Hub, subscriber: Subscriber
) -> None:
    subscriber.add_sync_listener({"a", ("b", "*")}, print)
    with pytest.raises(
        SubscriptionNotFoundError, match=r"has no listener <built-in function print>"
    ):
        subscriber.remove_listener("a", print)
    subscriber.remove_listener({("b", "*"), Key("a")}, print)
    assert not hub.has_subscribers()


async def test_remove_unknown_listener_raises(subscriber: Subscriber) -> None:
    with pytest.raises(SubscriptionNotFoundError) as info:
        subscriber.remove_listener("a", print)
    assert isinstance(info.value, KeyError)
    assert (
        str(info.value) == "Subscriber 'sub' has no listener <built-in function print> on [('a',)]"
    )


async def test_remove_listener_stops_delivery_at_once_even_without_await(
    hub: Hub, subscriber: Subscriber
) -> None:
    recorder = AsyncRecorder()
    subscriber.add_async_listener("a", recorder)
    hub.publish("a", 1)
    await settle()
    hub.publish("a", 2)  # Queued for the listener, not yet run.
    removal = subscriber.remove_listener("a", recorder)
    hub.publish("a", 3)
    await removal
    assert recorder.got == [(Key("a"), 1)]
    assert not listener_tasks()


def test_remove_all_listeners_without_await_warns_nothing() -> None:
    async def main() -> list[asyncio.Task[Any]]:
        hub = Hub()
        subscriber = Subscriber(hub, "sub")
        subscriber.add_async_listener("a", AsyncRecorder())
        subscriber.add_sync_listener("b", print)
        tasks = list(listener_tasks())
        subscriber.remove_all_listeners()
        assert not hub.has_subscribers()
        await settle()
        return tasks

    # filterwarnings=error turns any "never awaited" or "Task was destroyed" into a failure;
    # run(), like asyncio.run, also cancels and reports anything left behind.
    tasks = run(main())
    assert all(task.cancelled() for task in tasks)


async def test_remove_all_listeners_awaited_concurrently_and_twice(
    hub: Hub, subscriber: Subscriber
) -> None:
    slow_started = asyncio.Event()

    async def slow(key: Key, message: Any) -> None:
        slow_started.set()
        await asyncio.sleep(3600)

    subscriber.add_async_listener("a", slow)
    subscriber.add_async_listener("b", AsyncRecorder())
    hub.publish("a", 1)
    await slow_started.wait()
    tasks = listener_tasks()
    assert len(tasks) == 2
    first = subscriber.remove_all_listeners()
    second = subscriber.remove_all_listeners()
    async with asyncio.timeout(5):
        await asyncio.gather(first, second, subscriber.remove_all_listeners())
    assert all(task.done() for task in tasks)
    assert not listener_tasks()
    assert repr(subscriber) == "<Subscriber 'sub' subscriptions=0 listeners=0>"


async def test_listener_removal_can_be_a_task_as_in_3_0_0(hub: Hub, subscriber: Subscriber) -> None:
    # 3.0.0's removals were coroutines: code that wrapped them in tasks must still run.
    never_ends = asyncio.Event()

    async def slow(key: Key, message: Any) -> None:
        await never_ends.wait()

    subscriber.add_async_listener("a", slow)
    hub.publish("a", 1)
    await settle()
    [listener] = listener_tasks()
    removal = asyncio.create_task(subscriber.remove_listener("a", slow))
    assert not hub.has_subscribers("a")  # removed at the call, before the task runs
    async with asyncio.timeout(5):
        await removal
    assert listener.cancelled()
    empty = asyncio.ensure_future(subscriber.remove_all_listeners())
    async with asyncio.timeout(5):
        assert await empty is None


async def test_async_listener_cut_off_by_disconnect_is_removed_and_can_be_added_again(
    hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    subscriber = Subscriber(hub, "sub", maxsize=1, overflow=Overflow.DISCONNECT)
    release = asyncio.Event()
    got: list[Any] = []

    async def slow(key: Key, message: Any) -> None:
        await release.wait()
        got.append(message)

    subscriber.add_async_listener("a", slow)
    hub.publish("a", 1)
    await settle()  # the listener holds 1
    hub.publish("a", 2)  # queued
    with caplog.at_level(logging.ERROR, logger="aiopubsub"):
        hub.publish("a", 3)  # overflows: the queue is cut off
        release.set()
        await settle()
    assert got == [1, 2]  # what was queued before the cut is still handled
    assert not listener_tasks()
    assert repr(subscriber) == "<Subscriber 'sub' subscriptions=0 listeners=0>"
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "was removed" in record.getMessage()
    assert "add it again to resume" in record.getMessage()
    subscriber.add_async_listener("a", slow)  # not a no-op: the old one is gone
    hub.publish("a", 4)
    await settle()
    assert got == [1, 2, 4]
    await subscriber.remove_all_listeners()


async def test_listener_removal_task_can_be_cancelled_and_the_removal_stays_done(
    hub: Hub, subscriber: Subscriber
) -> None:
    never_ends = asyncio.Event()

    async def stubborn(key: Key, message: Any) -> None:
        try:
            await never_ends.wait()
        finally:
            # Two more loop turns to stop once cancelled: the removal must wait them out.
            await asyncio.sleep(0)
            await asyncio.sleep(0)

    subscriber.add_async_listener("a", stubborn)
    hub.publish("a", 1)
    await settle()
    removal = asyncio.create_task(subscriber.remove_all_listeners())
    await wait_blocked(removal)  # the removal waits for the listener's task
    removal.cancel()
    with pytest.raises(asyncio.CancelledError):
        await removal
    assert not hub.has_subscribers("a")
    await settle()
    assert not listener_tasks()
    # Driven by hand, as a coroutine: close() before and after starting, the legacy throw().
    unstarted = subscriber.remove_all_listeners()
    unstarted.close()
    legacy = subscriber.remove_all_listeners()
    with pytest.raises(ValueError, match="thrown in"):
        legacy.throw(ValueError, ValueError("thrown in"), None)
    legacy.close()


async def test_listener_ids_of_callbacks_with_the_same_repr_do_not_collide(
    hub: Hub, subscriber: Subscriber
) -> None:
    got: list[str] = []

    class Named:
        def __init__(self, name: str) -> None:
            self.name = name

        def __call__(self, key: Key, message: Any) -> None:
            got.append(self.name)

        def __repr__(self) -> str:
            return "<same>"

    first, second = Named("first"), Named("second")
    subscriber.add_sync_listener("a", first)
    subscriber.add_sync_listener("a", second)
    hub.publish("a", None)
    assert got == ["first", "second"]
    subscriber.remove_listener("a", first)
    hub.publish("a", None)
    assert got == ["first", "second", "second"]


async def test_listener_and_queue_subscriptions_live_side_by_side(
    hub: Hub, subscriber: Subscriber
) -> None:
    got: list[Any] = []
    subscriber.subscribe("a")
    subscriber.add_sync_listener("a", lambda k, m: got.append(m))
    hub.publish("a", 1)
    assert got == [1]
    assert await subscriber.consume() == (Key("a"), 1)
    subscriber.remove_all_listeners()
    hub.publish("a", 2)
    assert got == [1]
    assert await subscriber.consume() == (Key("a"), 2)
