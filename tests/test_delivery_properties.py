"""Property tests of delivery: bounded queues against a simple model, FIFO order per queue,
and what count() and subscriptions() report, against the brute-force oracle."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import oracle
import pytest
from helpers import Recorder
from hypothesis import example, given, settings
from hypothesis import strategies as st
from strategies import concrete_keys, patterns

from aiopubsub import (
    Hub,
    InvalidKeyError,
    Key,
    Overflow,
    SlowConsumerError,
    Subscriber,
)

#: Fixed seed, no example database: the same examples on every run. No deadline: the machine
#: running the tests is noisy.
QUICK = settings(max_examples=150, deadline=None, derandomize=True, database=None)

#: The keys a bounded queue is subscribed under (one queue for both).
QUEUE_KEYS = ("a", "b")

#: One step of a run: publish under a key, or take one message without waiting.
steps = st.lists(
    st.one_of(st.sampled_from(QUEUE_KEYS), st.just("consume")),
    max_size=60,
)


class BoundedModel:
    """What a bounded queue should hold: the obvious list operations, nothing clever."""

    def __init__(self, maxsize: int, overflow: Overflow) -> None:
        self.maxsize = maxsize
        self.overflow = overflow
        self.items: list[tuple[Key, int]] = []
        self.dropped = 0
        self.peak = 0
        self.episodes = 0
        self.in_episode = False

    def put(self, item: tuple[Key, int]) -> None:
        if len(self.items) < self.maxsize:
            self.items.append(item)
        else:
            self.dropped += 1
            if self.overflow is Overflow.DROP_OLDEST:
                self.items = [*self.items[1:], item]
            if not self.in_episode:
                self.episodes += 1
                self.in_episode = True
        self.peak = max(self.peak, len(self.items))

    def take(self) -> tuple[Key, int] | None:
        if not self.items:
            return None
        item = self.items.pop(0)
        if not self.items:
            self.in_episode = False
        return item


# -- bounded queues against the model -----------------------------------------------------------


@QUICK
@given(
    maxsize=st.integers(min_value=1, max_value=5),
    overflow=st.sampled_from([Overflow.DROP_OLDEST, Overflow.DROP_NEWEST]),
    run=steps,
)
@example(maxsize=1, overflow=Overflow.DROP_OLDEST, run=["a", "b", "consume", "a", "a"])
@example(maxsize=1, overflow=Overflow.DROP_NEWEST, run=["a", "b", "consume", "a", "a"])
@example(maxsize=2, overflow=Overflow.DROP_OLDEST, run=["consume", "a", "b", "a", "consume"])
@example(maxsize=3, overflow=Overflow.DROP_NEWEST, run=[])
def test_bounded_queue_keeps_what_the_model_keeps(
    maxsize: int, overflow: Overflow, run: list[str]
) -> None:
    hub = Hub()
    events = Recorder()
    hub.add_subscriber(("Hub", "slowSubscriber", "*"), events)
    subscriber = Subscriber(hub, "s")
    for key in QUEUE_KEYS:
        subscriber.subscribe(key, "q", maxsize=maxsize, overflow=overflow)
    model = BoundedModel(maxsize, overflow)
    try:
        for n, step in enumerate(run):
            if step == "consume":
                expected = model.take()
                if expected is None:
                    with pytest.raises(asyncio.QueueEmpty):
                        subscriber.consume_nowait("q")
                else:
                    assert subscriber.consume_nowait("q") == expected
            else:
                hub.publish(step, n)  # never raises, whatever the queue holds
                model.put((Key(step), n))
            stats = subscriber.statistics("q")
            assert stats.queued == len(model.items) <= maxsize
            assert stats.dropped == model.dropped
            assert stats.peak_queued == model.peak
            assert len(events.got) == model.episodes
        assert [subscriber.consume_nowait("q") for _ in model.items] == model.items
        assert hub.statistics().dropped == model.dropped
    finally:
        subscriber.close()


@QUICK
@given(
    maxsize=st.integers(min_value=1, max_value=4),
    run=st.lists(st.sampled_from(["publish", "consume", "resubscribe"]), max_size=40),
)
@example(maxsize=1, run=["publish", "publish", "publish", "consume", "consume", "resubscribe"])
@example(maxsize=2, run=["publish", "publish", "publish", "resubscribe", "publish", "consume"])
def test_disconnecting_queue_follows_the_model(maxsize: int, run: list[str]) -> None:
    hub = Hub()
    subscriber = Subscriber(hub, "s")
    subscriber.subscribe("a", "q", maxsize=maxsize, overflow=Overflow.DISCONNECT)
    items: deque[int] = deque()
    connected, dropped = True, 0
    try:
        for n, step in enumerate(run):
            if step == "publish":
                hub.publish("a", n)
                if connected and len(items) < maxsize:
                    items.append(n)
                elif connected:
                    connected, dropped = False, dropped + 1
            elif step == "resubscribe":
                subscriber.subscribe("a", "q")
                connected = True
            elif items:
                assert subscriber.consume_nowait("q") == (Key("a"), items.popleft())
            elif connected:
                with pytest.raises(asyncio.QueueEmpty):
                    subscriber.consume_nowait("q")
            else:
                with pytest.raises(SlowConsumerError):
                    subscriber.consume_nowait("q")
            stats = subscriber.statistics("q")
            assert stats.queued == len(items) <= maxsize
            assert stats.dropped == dropped
            assert stats.closed == (not connected)
            assert hub.has_subscribers("a") == connected
    finally:
        subscriber.close()


# -- FIFO order per queue -----------------------------------------------------------------------

#: For each queue: the subscriber it belongs to (0 or 1) and the patterns it is subscribed under.
queue_layouts = st.lists(
    st.tuples(st.integers(min_value=0, max_value=1), st.lists(patterns(3), min_size=1, max_size=3)),
    min_size=1,
    max_size=4,
)


@QUICK
@given(
    layout=queue_layouts,
    published=st.lists(concrete_keys(3), max_size=40),
    consume_every=st.integers(min_value=0, max_value=5),
)
@example(
    layout=[(0, [("a", "*"), ("a", "b")])], published=[("a", "b"), ("a", "c")], consume_every=0
)
@example(
    layout=[(0, [("*",)]), (1, [("b",)])], published=[("b",), ("a", "b"), ("b",)], consume_every=1
)
def test_each_queue_gets_its_matches_once_in_publish_order(
    layout: list[tuple[int, list[tuple[str, ...]]]],
    published: list[tuple[str, ...]],
    consume_every: int,
) -> None:
    hub = Hub()
    subscribers = [Subscriber(hub, "s0"), Subscriber(hub, "s1")]
    queues = []
    for number, (owner, keys) in enumerate(layout):
        subscription_id = f"q{number}"
        for key in keys:
            subscribers[owner].subscribe(key, subscription_id)
        queues.append((subscribers[owner], subscription_id, keys))
    try:
        # A leading '*' also matches the addedSubscriber meta-events: start from empty queues.
        for subscriber, subscription_id, _ in queues:
            while subscriber.statistics(subscription_id).queued:
                subscriber.consume_nowait(subscription_id)
        got: dict[str, list[tuple[Key, Any]]] = {
            subscription_id: [] for _, subscription_id, _ in queues
        }
        for n, key in enumerate(published):
            hub.publish(key, n)
            if consume_every and n % consume_every == 0:
                for subscriber, subscription_id, _ in queues:
                    if subscriber.statistics(subscription_id).queued:
                        got[subscription_id].append(subscriber.consume_nowait(subscription_id))
        for subscriber, subscription_id, keys in queues:
            while subscriber.statistics(subscription_id).queued:
                got[subscription_id].append(subscriber.consume_nowait(subscription_id))
            expected = [
                (Key(*key), n)
                for n, key in enumerate(published)
                if any(oracle.matches(key, pattern) for pattern in keys)
            ]
            assert got[subscription_id] == expected
    finally:
        for subscriber in subscribers:
            subscriber.close()


# -- count() and subscriptions() ----------------------------------------------------------------


@QUICK
@given(
    layout=st.lists(st.lists(patterns(3), min_size=1, max_size=3), max_size=5),
    key=concrete_keys(4),
    within=st.one_of(st.none(), patterns(3)),
)
@example(layout=[[("a", "*"), ("a", "b")]], key=("a", "b"), within=("a", "*"))
@example(layout=[[("a", "*")], [("*",)], [("a", "b", "c")]], key=("a", "b"), within=("*",))
def test_count_and_subscriptions_agree_with_the_oracle(
    layout: list[list[tuple[str, ...]]],
    key: tuple[str, ...],
    within: tuple[str, ...] | None,
) -> None:
    hub = Hub()
    subscriber = Subscriber(hub, "s")
    try:
        for number, keys in enumerate(layout):
            callback = Recorder()
            for pattern in keys:
                if number % 2:
                    subscriber.subscribe(pattern, f"q{number}")
                else:
                    subscriber.sync_subscribe(pattern, callback, f"cb{number}")
        reached = [keys for keys in layout if any(oracle.matches(key, p) for p in keys)]
        assert hub.count(key) == len(reached)
        expected: dict[Key, int] = {}
        for keys in layout:
            for pattern in dict.fromkeys(keys):
                if within is None or oracle.matches(pattern, within):
                    expected[Key(*pattern)] = expected.get(Key(*pattern), 0) + 1
        assert hub.subscriptions(within) == expected
    finally:
        subscriber.close()


def test_count_counts_each_subscription_once(hub: Hub, subscriber: Subscriber) -> None:
    subscriber.subscribe(("a", "*"), "q")
    subscriber.subscribe(("a", "b"), "q")
    subscriber.subscribe("*", "everything")
    hub.add_subscriber(("a", "b"), Recorder())
    assert hub.count(("a", "b")) == 3
    assert hub.count(("a", "c")) == 2
    assert hub.count("z") == 1
    subscriber.unsubscribe("*", "everything")
    assert hub.count("z") == 0


def test_count_refuses_a_key_that_cannot_be_published(hub: Hub, subscriber: Subscriber) -> None:
    subscriber.subscribe("a")
    with pytest.raises(InvalidKeyError):
        hub.count(("a", "*"))
    with pytest.raises(InvalidKeyError):
        hub.count(())


def test_subscriptions_lists_subscribed_keys_within_a_pattern(
    hub: Hub, subscriber: Subscriber
) -> None:
    subscriber.subscribe(("a", "b"), "one")
    subscriber.subscribe(("a", "b"), "two")
    subscriber.subscribe(("a", "*"), "one")
    subscriber.subscribe("c", "two")
    assert hub.subscriptions() == {Key("a", "b"): 2, Key("a", "*"): 1, Key("c"): 1}
    assert hub.subscriptions(("a", "*")) == {Key("a", "b"): 2, Key("a", "*"): 1}
    assert hub.subscriptions("c") == {Key("c"): 1}
    assert hub.subscriptions("z") == {}
    subscriber.unsubscribe(("a", "b"), "one")
    assert hub.subscriptions(("a", "*")) == {Key("a", "b"): 1, Key("a", "*"): 1}
    subscriber.unsubscribe(("a", "b"), "two")
    assert Key("a", "b") not in hub.subscriptions()
