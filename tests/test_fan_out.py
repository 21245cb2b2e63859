"""The fan-out: failures reported against the right subscription, and subscriptions closed
by a callback of the fan-out itself."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import AsyncRecorder, Recorder, Tagged, drain, settle

from aiopubsub import ErrorContext, Hub, Key, Subscriber


def failing(key: Key, message: Any) -> None:
    raise RuntimeError(f"boom on {message!r}")


def test_fan_out_reports_a_failure_against_its_own_subscription() -> None:
    # One function serving two subscription ids: the report names the one that was called.
    errors: list[ErrorContext] = []
    hub = Hub(on_error=lambda exc, context: errors.append(context))
    subscriber = Subscriber(hub, "sub")
    subscriber.sync_subscribe("a", failing, "first")
    subscriber.sync_subscribe("b", failing, "second")
    hub.add_subscriber("b", failing)
    hub.publish("b", 1)
    assert [(c.subscriber_id, c.subscription_id, c.callback, c.key) for c in errors] == [
        ("sub", "second", failing, Key("b")),
        (None, None, failing, Key("b")),
    ]
    hub.publish("a", 2)
    assert (errors[-1].subscription_id, errors[-1].message) == ("first", 2)
    assert hub.statistics().listener_errors == 3
    subscriber.close()


def test_fan_out_goes_on_after_a_failure_in_the_middle(hub: Hub) -> None:
    log: list[tuple[str, Key, Any]] = []
    hub.add_subscriber("k", Tagged("first", log))
    hub.add_subscriber("k", failing)
    hub.add_subscriber("k", Tagged("last", log))
    hub.publish("k", 1)
    assert [tag for tag, _, _ in log] == ["first", "last"]
    assert hub.statistics().listener_errors == 1


async def test_fan_out_hub_closed_by_a_callback_delivers_nothing_more(hub: Hub) -> None:
    early, late = Subscriber(hub, "early"), Subscriber(hub, "late")
    early.subscribe("k")
    late_listener = Recorder()
    late_async = AsyncRecorder()
    log: list[tuple[str, Key, Any]] = []

    def closes(key: Key, message: Any) -> None:
        log.append(("closes", key, message))
        hub.publish("k", "nested")  # queued behind this fan-out, then dropped with it
        hub.close()

    hub.add_subscriber("k", closes)
    late.subscribe("k")
    late.add_sync_listener("k", late_listener)
    late.add_async_listener("k", late_async)
    hub.publish("k", 1)
    await settle()
    assert drain(early) == [1]  # before the callback: delivered
    assert drain(late) == []  # after it: nothing, queue or listener alike
    assert late_listener.got == []
    assert late_async.got == []
    assert log == [("closes", Key("k"), 1)]
    # Skipped: the late queue, listener and async listener (3); the nested publish would
    # have reached all five subscriptions.
    assert hub.statistics().dropped == 3 + 5


async def test_fan_out_subscriber_closed_by_a_callback_gets_nothing_more(hub: Hub) -> None:
    closing = Subscriber(hub, "closing")
    other = Subscriber(hub, "other")
    listener = Recorder()

    def closes(key: Key, message: Any) -> None:
        closing.close()

    closing.add_sync_listener("k", closes)
    closing.subscribe("k")
    closing.add_sync_listener("k", listener)
    other.subscribe("k")
    hub.publish("k", 1)
    assert drain(closing) == []
    assert listener.got == []
    assert drain(other) == [1]  # the rest of the fan-out goes on
    assert hub.statistics().dropped == 2
    hub.publish("k", 2)
    assert drain(other) == [2]
    other.close()


@pytest.mark.parametrize("nested_first", [False, True])
def test_fan_out_nested_publishes_are_delivered_in_order_after_it(
    hub: Hub, nested_first: bool
) -> None:
    log: list[tuple[str, Key, Any]] = []

    def republishes(key: Key, message: Any) -> None:
        log.append(("republishes", key, message))
        if message == 1:
            hub.publish("k", 2)
            hub.publish("other", 3)

    if nested_first:
        hub.add_subscriber("other", Tagged("other", log))
    hub.add_subscriber("k", republishes)
    hub.add_subscriber("k", Tagged("second", log))
    if not nested_first:
        hub.add_subscriber("other", Tagged("other", log))
    hub.publish("k", 1)
    assert [(tag, message) for tag, _, message in log] == [
        ("republishes", 1),
        ("second", 1),
        ("republishes", 2),
        ("second", 2),
        ("other", 3),
    ]


def test_fan_out_lone_callback_publishing_to_itself_sees_messages_in_turn(hub: Hub) -> None:
    depth = 0
    seen: list[tuple[int, Any]] = []

    def recurses(key: Key, message: int) -> None:
        nonlocal depth
        depth += 1
        seen.append((depth, message))
        if message < 3:
            hub.publish(key, message + 1)
        depth -= 1

    hub.add_subscriber("k", recurses)
    hub.publish("k", 0)
    assert seen == [(1, 0), (1, 1), (1, 2), (1, 3)]  # never nested


def test_fan_out_unsubscribing_does_not_cut_what_already_matched(
    hub: Hub, subscriber: Subscriber
) -> None:
    # As in 3.0.0: a message goes to the subscriptions that matched when it was published,
    # even if they lose that key meanwhile; only ending a subscription cuts it off.
    other = Recorder()

    def churns(key: Key, message: Any) -> None:
        if message == 1:
            hub.publish("x", 2)  # queued behind this fan-out, for both subscriptions
            subscriber.unsubscribe("x")
            subscriber.subscribe("x")
            hub.remove_subscriber("x", other)

    hub.add_subscriber("x", churns)
    subscriber.subscribe("x")
    hub.add_subscriber("x", other)
    hub.publish("x", 1)
    assert drain(subscriber) == [1, 2]
    assert other.messages == [1, 2]
    assert hub.statistics().dropped == 0


def test_fan_out_a_base_exception_drops_what_was_published_behind_it(
    hub: Hub, subscriber: Subscriber
) -> None:
    subscriber.subscribe("b")

    def interrupts(key: Key, message: Any) -> None:
        hub.publish("b", "behind")
        raise KeyboardInterrupt

    hub.add_subscriber("a", interrupts)
    with pytest.raises(KeyboardInterrupt):
        hub.publish("a", 1)
    assert hub.statistics().dropped == 1
    hub.publish("b", "later")
    assert drain(subscriber) == ["later"]  # never "behind", late and out of order


def test_fan_out_listener_ids_are_spelled_as_in_3_0_0(hub: Hub, subscriber: Subscriber) -> None:
    subscriber.add_sync_listener({Key("a", "b"), Key("c")}, print)
    assert [id_ for id_ in subscriber._subscriptions] == [
        f"callback-[('a', 'b'), ('c',)]-{print!r}"
    ]
