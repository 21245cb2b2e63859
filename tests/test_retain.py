"""Retained values: retain, retained, forget, expiry on a fake clock, the memory store's bound,
statistics, and replay to every kind of subscription."""

from __future__ import annotations

import asyncio
import math
import re
from typing import Any

import pytest
from helpers import WAIT, AsyncRecorder, Recorder, drain, error_in_thread, wait_until

from aiopubsub import (
    ErrorContext,
    Hub,
    HubClosedError,
    InvalidKeyError,
    Key,
    Overflow,
    Publisher,
    Subscriber,
    WrongThreadError,
)
from aiopubsub.bridges._plumbing import export_from
from aiopubsub.stores import MemoryStore, key_order


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def timed_hub(clock: FakeClock) -> Hub:
    return Hub(store=MemoryStore(clock=clock, sweep_interval=10.0))


# -- retaining ------------------------------------------------------------------------------------


def test_retain_publishes_and_keeps_the_last_value(hub: Hub) -> None:
    recorder = Recorder()
    hub.add_subscriber(("price", "*"), recorder)
    hub.retain(("price", "EUR"), 1)
    hub.retain(("price", "EUR"), 2)
    hub.retain(("price", "USD"), 3)
    assert recorder.messages == [1, 2, 3]
    assert hub.retained() == {Key("price", "EUR"): 2, Key("price", "USD"): 3}
    assert hub.retained(("price", "USD")) == {Key("price", "USD"): 3}
    assert hub.retained(("other", "*")) == {}


def test_publish_retains_nothing(hub: Hub) -> None:
    hub.publish("a", 1)
    assert hub.retained() == {}
    assert hub.statistics().retained == 0


def test_publisher_retain_is_under_its_prefix(hub: Hub, publisher: Publisher) -> None:
    publisher.retain("x", 5, ttl=3)
    assert hub.retained() == {Key("pub", "x"): 5}


@pytest.mark.parametrize("key", ["*", ("a", "*"), (), ("*", "b")])
def test_retain_refuses_a_key_that_cannot_be_published(hub: Hub, key: Any) -> None:
    with pytest.raises(InvalidKeyError, match=r"^Cannot retain under \(.*\): a retained key needs"):
        hub.retain(key, 1)
    assert hub.retained() == {}


@pytest.mark.parametrize("ttl", [-1, -0.5, math.nan, math.inf, 1e9 + 1, 1e16, 1e308])
def test_retain_refuses_a_bad_ttl_naming_it(hub: Hub, ttl: float) -> None:
    with pytest.raises(
        ValueError,
        match=rf"^ttl must be a number of seconds from 0 to 1e\+09 .* got {re.escape(repr(ttl))}$",
    ):
        hub.retain("a", 1, ttl=ttl)
    assert hub.retained() == {}


def test_retain_refuses_a_huge_int_ttl_with_a_value_error(hub: Hub) -> None:
    # float(10**400) would raise OverflowError: the range is checked first, on the int.
    with pytest.raises(ValueError, match=r"^ttl must be .* got 10000000000000000000\.\.\."):
        hub.retain("a", 1, ttl=10**400)
    hub.retain("a", 1, ttl=10**9)  # The bound itself is accepted.
    assert hub.retained() == {Key("a"): 1}


@pytest.mark.parametrize("ttl", ["1", True, [1]])
def test_retain_refuses_a_ttl_that_is_no_number(hub: Hub, ttl: Any) -> None:
    with pytest.raises(TypeError, match=r"^ttl must be a number of seconds or None, got "):
        hub.retain("a", 1, ttl=ttl)


def test_retain_from_another_thread_is_refused(hub: Hub) -> None:
    error = error_in_thread(hub.retain, "a", 1)
    assert isinstance(error, WrongThreadError)
    assert hub.retained() == {}


async def test_retain_on_a_closed_hub_raises(hub: Hub) -> None:
    await hub.aclose()
    with pytest.raises(HubClosedError):
        hub.retain("a", 1)


def test_forget_clears_what_a_pattern_matches(hub: Hub) -> None:
    for name in ("a", "b"):
        hub.retain(("x", name), name)
    hub.retain("y", 0)
    assert hub.forget(("x", "*")) == 2
    assert hub.forget(("x", "*")) == 0
    assert hub.retained() == {Key("y"): 0}
    with pytest.raises(InvalidKeyError):
        hub.forget(())


# -- expiry, the bound, statistics ----------------------------------------------------------------


def test_a_value_expires_after_its_ttl(timed_hub: Hub, clock: FakeClock) -> None:
    timed_hub.retain("a", 1, ttl=5)
    timed_hub.retain("b", 2)
    clock.advance(4.9)
    assert timed_hub.retained() == {Key("a"): 1, Key("b"): 2}
    clock.advance(0.1)
    assert timed_hub.retained() == {Key("b"): 2}
    statistics = timed_hub.statistics()
    assert (statistics.retained, statistics.expired, statistics.evicted) == (1, 1, 0)


def test_a_zero_ttl_is_delivered_live_and_retained_for_nobody(timed_hub: Hub) -> None:
    recorder = Recorder()
    timed_hub.add_subscriber("a", recorder)
    timed_hub.retain("a", 1, ttl=0)
    assert recorder.messages == [1]
    assert timed_hub.retained() == {}


def test_retaining_again_renews_the_ttl(timed_hub: Hub, clock: FakeClock) -> None:
    timed_hub.retain("a", 1, ttl=5)
    clock.advance(4)
    timed_hub.retain("a", 2, ttl=5)
    clock.advance(4)
    assert timed_hub.retained() == {Key("a"): 2}
    timed_hub.retain("a", 3)  # No TTL now: the old deadline must not kill it.
    clock.advance(100)
    assert timed_hub.retained() == {Key("a"): 3}


def test_the_sweep_frees_values_nobody_reads(clock: FakeClock) -> None:
    store = MemoryStore(clock=clock, sweep_interval=1.0)
    hub = Hub(store=store)
    for i in range(100):
        hub.retain(("k", i), i, ttl=1)
    clock.advance(2)
    hub.retain("other", 0)  # A retain past the sweep interval sweeps.
    assert len(store) == 1
    assert store.expired == 100


def test_max_keys_evicts_the_least_recently_retained_and_counts(hub: Hub) -> None:
    hub = Hub(store=MemoryStore(max_keys=2))
    hub.retain("a", 1)
    hub.retain("b", 2)
    hub.retain("a", 3)  # Now "b" is the oldest.
    hub.retain("c", 4)
    assert hub.retained() == {Key("a"): 3, Key("c"): 4}
    assert hub.statistics().evicted == 1


@pytest.mark.parametrize("max_keys", [0, -1, 1.5, True, "3"])
def test_memory_store_refuses_a_bad_bound_naming_it(max_keys: Any) -> None:
    with pytest.raises(
        ValueError, match=rf"^max_keys must be an int >= 1 or None, got {max_keys!r}$"
    ):
        MemoryStore(max_keys=max_keys)


def test_statistics_keep_their_fields_and_add_the_new_ones_last() -> None:
    from aiopubsub import HubStatistics

    names = [field.name for field in HubStatistics.__dataclass_fields__.values()]
    assert names[:5] == ["subscriptions", "published", "delivered", "dropped", "listener_errors"]
    assert names[5:] == ["retained", "expired", "evicted", "store_errors"]


# -- replay order ---------------------------------------------------------------------------------


def test_key_order_is_total_over_mixed_part_types() -> None:
    keys = [Key("a", 10), Key("a", 9), Key("a", "b"), Key("a"), Key("a", None), Key("a", b"x")]
    ordered = sorted(keys, key=key_order)
    assert ordered == [
        Key("a"),
        Key("a", "b"),
        Key("a", 9),
        Key("a", 10),
        Key("a", None),
        Key("a", b"x"),
    ]


# -- replay ---------------------------------------------------------------------------------------


def test_subscribe_with_replay_queues_retained_values_first_in_key_order(
    hub: Hub, subscriber: Subscriber
) -> None:
    hub.retain(("p", "b"), 2)
    hub.retain(("p", "a"), 1)
    hub.retain(("q", "a"), 0)
    subscriber.subscribe(("p", "*"), replay=True)
    hub.publish(("p", "a"), 3)
    assert drain(subscriber) == [1, 2, 3]


def test_subscribe_without_replay_gets_only_live_messages(hub: Hub, subscriber: Subscriber) -> None:
    hub.retain("a", 1)
    subscriber.subscribe("a")
    hub.publish("a", 2)
    assert drain(subscriber) == [2]


def test_replay_leaves_out_what_another_key_of_the_id_had(hub: Hub, subscriber: Subscriber) -> None:
    hub.retain(("p", "a"), 1)
    hub.retain(("q", "a"), 2)
    subscriber.subscribe(("p", "*"), replay=True)
    subscriber.subscribe(("*", "a"), replay=True)
    subscriber.subscribe(("*", "a"), replay=True)  # Repeated: nothing new.
    assert drain(subscriber) == [1, 2]


def test_replay_skips_expired_values(timed_hub: Hub, clock: FakeClock) -> None:
    subscriber = Subscriber(timed_hub, "s")
    timed_hub.retain(("k", "a"), 1, ttl=1)
    timed_hub.retain(("k", "b"), 2, ttl=3)
    clock.advance(2)
    subscriber.subscribe(("k", "*"), replay=True)
    assert drain(subscriber) == [2]


@pytest.mark.parametrize(
    ("overflow", "expected"),
    [(Overflow.DROP_OLDEST, [2, 3]), (Overflow.DROP_NEWEST, [0, 1])],
)
def test_replay_respects_the_bound_and_overflow(
    hub: Hub, subscriber: Subscriber, overflow: Overflow, expected: list[int]
) -> None:
    for i in range(4):
        hub.retain(("k", i), i)
    subscriber.subscribe(("k", "*"), maxsize=2, overflow=overflow, replay=True)
    assert drain(subscriber) == expected
    assert subscriber.statistics().dropped == 2
    assert hub.statistics().dropped == 2


def test_replay_into_a_disconnecting_queue_cuts_it_off(hub: Hub, subscriber: Subscriber) -> None:
    for i in range(4):
        hub.retain(("k", i), i)
    subscriber.subscribe(("k", "*"), maxsize=2, overflow=Overflow.DISCONNECT, replay=True)
    hub.publish(("k", 9), 9)
    assert drain(subscriber) == [0, 1]
    assert subscriber.statistics().closed


def test_sync_subscribe_and_sync_listener_replay(hub: Hub, subscriber: Subscriber) -> None:
    hub.retain(("a", "x"), 1)
    hub.retain(("b", "x"), 2)
    callback, listener = Recorder(), Recorder()
    subscriber.sync_subscribe(("a", "*"), callback, "cb", replay=True)
    subscriber.add_sync_listener({("a", "*"), ("*", "x")}, listener, replay=True)
    assert callback.messages == [1]
    assert listener.messages == [1, 2]  # Each value once, though both keys match ('a', 'x').


async def test_async_listener_replays_through_its_queue(hub: Hub, subscriber: Subscriber) -> None:
    hub.retain(("k", "b"), 2)
    hub.retain(("k", "a"), 1)
    recorder = AsyncRecorder()
    subscriber.add_async_listener(("k", "*"), recorder, replay=True)
    hub.publish(("k", "c"), 3)
    await wait_until(lambda: len(recorder.got) == 3)
    assert recorder.messages == [1, 2, 3]


async def test_wait_for_with_replay_returns_a_retained_value_at_once(hub: Hub) -> None:
    hub.retain(("cfg", "a"), 1)
    hub.retain(("cfg", "b"), 2)
    got = await hub.wait_for(("cfg", "*"), lambda key, m: m == 2, timeout=WAIT, replay=True)
    assert got == (Key("cfg", "b"), 2)
    assert hub.statistics().subscriptions == 0


async def test_wait_for_without_replay_waits_for_a_live_one(hub: Hub) -> None:
    hub.retain("a", 1)
    waiter = asyncio.create_task(hub.wait_for("a"))
    await wait_until(lambda: hub.count("a") == 1)
    hub.publish("a", 2)
    assert await asyncio.wait_for(waiter, WAIT) == (Key("a"), 2)


def test_a_failing_callback_in_replay_is_reported_and_the_replay_goes_on() -> None:
    errors: list[tuple[BaseException, ErrorContext]] = []
    hub = Hub(on_error=lambda exc, context: errors.append((exc, context)))
    hub.retain(("k", "a"), 1)
    hub.retain(("k", "b"), 2)
    got: list[Any] = []

    def callback(key: Key, message: Any) -> None:
        got.append(message)
        if message == 1:
            raise RuntimeError("boom")

    subscriber = Subscriber(hub, "s")
    subscriber.sync_subscribe(("k", "*"), callback, replay=True)
    assert got == [1, 2]
    assert [(str(exc), context.key) for exc, context in errors] == [("boom", Key("k", "a"))]
    assert hub.statistics().listener_errors == 1
    subscriber.close()


def test_a_publish_from_a_replayed_callback_comes_after_the_replay(hub: Hub) -> None:
    hub.retain(("k", "a"), 1)
    hub.retain(("k", "b"), 2)
    got: list[Any] = []

    def callback(key: Key, message: Any) -> None:
        got.append(message)
        if message == 1:
            hub.publish(("k", "c"), 3)

    subscriber = Subscriber(hub, "s")
    subscriber.sync_subscribe(("k", "*"), callback, replay=True)
    assert got == [1, 2, 3]
    subscriber.close()


def test_subscribing_with_replay_inside_a_fan_out_has_no_gap_and_no_duplicate(hub: Hub) -> None:
    """A callback retains, another subscribes with replay, a third retains again, all in one
    fan-out: the new queue gets the first value by replay and the second live, once each."""
    late = Subscriber(hub, "late")

    def first(key: Key, message: Any) -> None:
        if message == "go":
            hub.retain("v", 1)  # Queued behind this fan-out, to the routes of now.
            late.subscribe("v", replay=True)  # Replays 1 at once.
            hub.retain("v", 2)  # Queued too, and late is subscribed now.

    hub.add_subscriber("go", first)
    hub.publish("go", "go")
    assert drain(late) == [1, 2]
    late.close()


def test_only_a_retains_own_fan_out_is_sent_across_bridges_as_retained(
    timed_hub: Hub, clock: FakeClock
) -> None:
    message = {"v": 1}
    seen: list[tuple[Key, object, tuple[bool, float | None]]] = []

    def export(key: Key, got: object) -> None:  # what a bridge's outbound callback asks
        seen.append((key, got, timed_hub._retention(key, got)))
        if key == Key("k") and got is message and len(seen) == 1:
            timed_hub.publish("k", message)  # the very object, published: after, and plain
            timed_hub.retain("nested", 2, ttl=0)  # retained in a callback: in its turn

    timed_hub.add_subscriber("k", export)
    timed_hub.add_subscriber("nested", export)
    export_from(timed_hub, lambda keys: None)  # as a bridge does: else nobody asks
    timed_hub.retain("k", message, ttl=10)
    clock.advance(4)
    timed_hub.publish("k", message)
    assert seen == [
        (Key("k"), message, (True, 10)),
        (Key("k"), message, (False, None)),
        (Key("nested"), 2, (True, 0)),
        (Key("k"), message, (False, None)),
    ]
    assert timed_hub._retention(Key("k"), message) == (False, None)  # outside any fan-out


def test_hub_refuses_a_store_that_is_no_store_naming_it() -> None:
    with pytest.raises(TypeError, match=r"^store must be a Store, got 'x' \(no save_many\(\)\)$"):
        Hub(store="x")  # type: ignore[arg-type]


async def test_load_retained_without_a_persistent_store_takes_nothing(hub: Hub) -> None:
    hub.retain("a", 1)
    assert await hub.load_retained() == 0
    assert hub.retained() == {Key("a"): 1}


async def test_memory_store_is_a_store_too() -> None:
    store = MemoryStore()
    await store.save(Key("a", 1), "x", None)
    await store.save_many([(Key("a", 2), "y", 5.0)])
    assert await store.load(Key("a", 1)) == ("x", None)
    assert await store.load(Key("b")) is None
    assert [key for key, _, _ in await store.load_matching(Key("a", "*"))] == [
        Key("a", 1),
        Key("a", 2),
    ]
    assert await store.clear(Key("a", 1)) == 1
    assert await store.clear_all() == 1
    await store.aclose()


def test_max_keys_evicts_an_expired_value_before_a_live_one() -> None:
    now = [0.0]
    hub = Hub(store=MemoryStore(max_keys=2, clock=lambda: now[0]))
    hub.retain("a", 1)
    hub.retain("b", 2, ttl=0.1)
    now[0] = 0.5  # "b" is dead, not swept yet.
    hub.retain("c", 3)
    assert hub.retained() == {Key("a"): 1, Key("c"): 3}
    statistics = hub.statistics()
    assert (statistics.expired, statistics.evicted) == (1, 0)


def test_a_replay_skips_values_forgotten_during_it(hub: Hub, subscriber: Subscriber) -> None:
    for i in range(3):
        hub.retain(("k", i), i)
    got: list[Any] = []

    def forget_all(key: Key, message: Any) -> None:
        got.append(message)
        hub.forget(("k", "*"))

    subscriber.sync_subscribe(("k", "*"), forget_all, "cb", replay=True)
    assert got == [0]
    assert hub.retained() == {}


def test_a_replay_skips_values_replaced_during_it(hub: Hub, subscriber: Subscriber) -> None:
    hub.retain(("k", 0), 0)
    hub.retain(("k", 2), 2)
    got: list[tuple[Key, Any]] = []

    def replace(key: Key, message: Any) -> None:
        got.append((key, message))
        if message == 0:
            hub.retain(("k", 1), "new1")
            hub.retain(("k", 2), "new2")

    subscriber.sync_subscribe(("k", "*"), replace, "cb", replay=True)
    # The old value of ("k", 2) is not delivered after its successor went out live.
    assert got == [(Key("k", 0), 0), (Key("k", 1), "new1"), (Key("k", 2), "new2")]


def test_max_retained_bounds_the_default_store() -> None:
    hub = Hub(max_retained=2)
    for i in range(3):
        hub.retain(("k", i), i)
    assert hub.retained() == {Key("k", 1): 1, Key("k", 2): 2}
    assert hub.statistics().evicted == 1


@pytest.mark.parametrize("bound", [0, -1, 1.5, True])
def test_max_retained_refuses_a_bad_bound_naming_it(bound: Any) -> None:
    with pytest.raises(
        ValueError, match=rf"^max_retained must be an int >= 1 or None, got {bound!r}$"
    ):
        Hub(max_retained=bound)


def test_max_retained_with_a_memory_store_is_refused() -> None:
    with pytest.raises(TypeError, match=r"^max_retained=2 with <MemoryStore .*: pass max_keys"):
        Hub(store=MemoryStore(), max_retained=2)


def test_a_forget_tells_the_exporters_even_when_its_fan_out_is_abandoned(hub: Hub) -> None:
    told: list[list[Key]] = []
    export_from(hub, told.append)
    hub.retain("gone", 1)
    hub.retain("closed", 2)
    hub.add_subscriber("late", lambda key, message: None)

    def forget_then_interrupt(key: Key, message: Any) -> None:
        hub.publish("late", "dropped")  # pending behind the forget's telling
        hub.forget("gone")
        raise KeyboardInterrupt

    hub.add_subscriber("go", forget_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        hub.publish("go", None)
    assert told == [[Key("gone")]]
    assert hub.statistics().dropped == 1  # the publish, not the telling

    def forget_then_close(key: Key, message: Any) -> None:
        hub.forget("closed")
        hub.close()

    hub.add_subscriber("close", forget_then_close)
    hub.publish("close", None)
    assert told == [[Key("gone")], [Key("closed")]]


def test_a_forget_on_a_closed_hub_tells_no_exporter(hub: Hub) -> None:
    told: list[list[Key]] = []
    export_from(hub, told.append)
    hub.retain("k", 1)
    hub.close()
    assert hub.forget("k") == 1
    assert told == []


async def test_a_store_that_is_down_fails_once_per_hand_over_not_per_chunk() -> None:
    class Down:
        calls = 0

        async def save_many(self, items: Any) -> None:
            self.calls += 1
            raise ConnectionError("store down")

        async def load_matching(self, pattern: Any = None) -> list[Any]:
            return []

        async def clear(self, pattern: Any) -> int:
            return 0

        async def aclose(self) -> None:
            pass

    errors: list[tuple[BaseException, ErrorContext]] = []
    store = Down()
    hub = Hub(store=store, on_error=lambda exc, context: errors.append((exc, context)))  # type: ignore[arg-type]
    for i in range(1000):  # four chunks' worth, handed over at once
        hub.retain(("k", i), i)
    await hub._written()
    assert (store.calls, hub.statistics().store_errors) == (1, 1)
    [(exc, context)] = errors
    assert isinstance(exc, ConnectionError)
    assert (context.kind, context.key) == ("store", Key("k", 0))
    await hub.aclose()
