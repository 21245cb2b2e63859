"""Replay against a model: random retain / publish / subscribe / forget / expire sequences,
some of them run inside a fan-out, on a fake clock. Each queue must hold exactly what the
model says: the live retained values its key matched when it subscribed (in key order), then
every live message published after, none twice, none missing."""

from __future__ import annotations

import asyncio
from typing import Any

import oracle
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from aiopubsub import Hub, Key, Subscriber
from aiopubsub.stores import MemoryStore

#: A few parts of two types, so that keys collide often and replay order meets both. Every
#: key and pattern starts with "k": no pattern drawn takes the hub's meta-events.
PARTS = ("a", "b", 1, 2)
keys = st.lists(st.sampled_from(PARTS), max_size=2).map(lambda rest: ("k", *rest))
patterns = st.lists(st.sampled_from((*PARTS, "*")), max_size=2).map(lambda rest: ("k", *rest))
ttls = st.one_of(st.none(), st.sampled_from([0, 0.5, 1, 2.5]))

#: The steps a callback may run inside a fan-out.
inner_steps = st.lists(
    st.one_of(
        st.tuples(st.just("retain"), keys, ttls),
        st.tuples(st.just("publish"), keys),
        st.tuples(st.just("subscribe"), patterns, st.booleans()),
    ),
    min_size=1,
    max_size=4,
)

#: The key whose callback runs the inner steps; outside every pattern drawn above.
TRIGGER = ("trigger",)


def replay_order(key: tuple[Any, ...]) -> list[tuple[int, Any]]:
    """The documented order: part by part, ``str`` parts as text, then ``int`` parts by value."""
    return [(0, part) if isinstance(part, str) else (1, part) for part in key]


class ReplayMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.hub = Hub(store=MemoryStore(clock=lambda: self.now, sweep_interval=1.0))
        self.hub.add_subscriber(TRIGGER, self._run_inner)
        self.inner: list[tuple[Any, ...]] = []
        self.counter = 0
        #: The model: key -> (message, deadline or None); per queue, its patterns and what
        #: it should hold, in order.
        self.values: dict[tuple[Any, ...], tuple[int, float | None]] = {}
        self.subscribers: list[Subscriber] = []
        self.patterns: list[list[tuple[Any, ...]]] = []
        self.expected: list[list[tuple[tuple[Any, ...], int]]] = []
        #: Deliveries made inside a fan-out, due when it ends: (message, key, recipients).
        self.deferred: list[tuple[int, tuple[Any, ...], list[int]]] = []
        self.in_fan_out = False

    def teardown(self) -> None:
        for subscriber in self.subscribers:
            subscriber.close()
        self.hub.close()

    # -- the model ----------------------------------------------------------------------------

    def _live(self) -> dict[tuple[Any, ...], int]:
        return {
            key: message
            for key, (message, deadline) in self.values.items()
            if deadline is None or deadline > self.now
        }

    def _deliver(self, key: tuple[Any, ...], message: int) -> None:
        recipients = [
            i
            for i, subscribed in enumerate(self.patterns)
            if any(oracle.matches(key, pattern) for pattern in subscribed)
        ]
        if self.in_fan_out:
            self.deferred.append((message, key, recipients))
        else:
            for i in recipients:
                self.expected[i].append((key, message))

    def _next(self) -> int:
        self.counter += 1
        return self.counter

    def _retain(self, key: tuple[Any, ...], ttl: float | None) -> None:
        message = self._next()
        self.hub.retain(key, message, ttl)
        self.values[key] = (message, None if ttl is None else self.now + ttl)
        self._deliver(key, message)

    def _publish(self, key: tuple[Any, ...]) -> None:
        message = self._next()
        self.hub.publish(key, message)
        self._deliver(key, message)

    def _subscribe(self, pattern: tuple[Any, ...], replay: bool) -> None:
        subscriber = Subscriber(self.hub, f"s{len(self.subscribers)}")
        subscriber.subscribe(pattern, replay=replay)
        self.subscribers.append(subscriber)
        self.patterns.append([pattern])
        replayed = (
            sorted(
                ((key, m) for key, m in self._live().items() if oracle.matches(key, pattern)),
                key=lambda item: replay_order(item[0]),
            )
            if replay
            else []
        )
        self.expected.append(replayed)

    def _run_inner(self, key: Key, message: Any) -> None:
        self.in_fan_out = True
        try:
            for step in self.inner:
                if step[0] == "retain":
                    self._retain(step[1], step[2])
                elif step[0] == "publish":
                    self._publish(step[1])
                else:
                    self._subscribe(step[1], step[2])
        finally:
            self.in_fan_out = False

    # -- the rules ----------------------------------------------------------------------------

    @rule(key=keys, ttl=ttls)
    def retain(self, key: tuple[Any, ...], ttl: float | None) -> None:
        self._retain(key, ttl)

    @rule(key=keys)
    def publish(self, key: tuple[Any, ...]) -> None:
        self._publish(key)

    @rule(pattern=patterns, replay=st.booleans())
    def subscribe(self, pattern: tuple[Any, ...], replay: bool) -> None:
        self._subscribe(pattern, replay)

    @rule(data=st.data(), pattern=patterns)
    def subscribe_more(self, data: st.DataObject, pattern: tuple[Any, ...]) -> None:
        """Another key for a queue, with replay: what its other keys match is not replayed."""
        if not self.subscribers:
            return
        i = data.draw(st.integers(0, len(self.subscribers) - 1))
        had = self.patterns[i]
        self.subscribers[i].subscribe(pattern, replay=True)
        if pattern in had:
            return
        self.expected[i].extend(
            sorted(
                (
                    (key, m)
                    for key, m in self._live().items()
                    if oracle.matches(key, pattern)
                    and not any(oracle.matches(key, other) for other in had)
                ),
                key=lambda item: replay_order(item[0]),
            )
        )
        had.append(pattern)

    @rule(steps=inner_steps)
    def in_a_fan_out(self, steps: list[tuple[Any, ...]]) -> None:
        self.inner = steps
        self.hub.publish(TRIGGER, None)
        for message, key, recipients in self.deferred:
            for i in recipients:
                self.expected[i].append((key, message))
        self.deferred.clear()

    @rule(seconds=st.sampled_from([0.25, 0.5, 1.0, 3.0]))
    def advance(self, seconds: float) -> None:
        self.now += seconds

    @rule(pattern=patterns)
    def forget(self, pattern: tuple[Any, ...]) -> None:
        live = self._live()
        gone = [key for key in live if oracle.matches(key, pattern)]
        assert self.hub.forget(pattern) == len(gone)
        for key in [key for key in self.values if oracle.matches(key, pattern)]:
            del self.values[key]

    # -- what must hold after every step ------------------------------------------------------

    @invariant()
    def queues_hold_what_the_model_says(self) -> None:
        for subscriber, expected in zip(self.subscribers, self.expected):
            got = []
            while True:
                try:
                    got.append(subscriber.consume_nowait())
                except asyncio.QueueEmpty:
                    break
            assert got == expected
            expected.clear()

    @invariant()
    def retained_values_are_the_live_ones(self) -> None:
        live = self._live()
        assert self.hub.retained() == live
        assert list(self.hub.retained()) == sorted(live, key=replay_order)
        assert self.hub.statistics().retained == len(live)


ReplayMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=30, deadline=None, derandomize=True, database=None
)
test_replay_against_the_model = ReplayMachine.TestCase
