"""Property tests: key matching, the router and the whole hub against the brute-force oracle."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections import defaultdict
from typing import Any

import oracle
import pytest
from helpers import Tagged, new_loop
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from strategies import (
    AWKWARD_PARTS,
    PLAIN_PARTS,
    WILDCARD,
    concrete_keys,
    generalisations,
    instances,
    near_misses,
    pattern_parts,
    patterns,
    wildcard_keys,
)

from aiopubsub import Hub, Key, Subscriber, SubscriptionNotFoundError
from aiopubsub._key import intersects, matches
from aiopubsub._routing import Router

#: Fixed seed, no example database: the same examples on every run. No deadline: the machine
#: running the tests is noisy.
QUICK = settings(max_examples=100, deadline=None, derandomize=True, database=None)
MACHINE = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

#: Any key, empty or not, wildcard or not, for the round-trip properties.
any_parts = st.lists(pattern_parts(), max_size=4).map(tuple)

Sub = tuple[str, str]


# -- matching one key against one pattern ----------------------------------------------------


@QUICK
@given(key=st.one_of(concrete_keys(mixed=True), patterns(mixed=True)), pattern=patterns(mixed=True))
@example(key=("a", "b", "c"), pattern=("a", "b", "*"))
@example(key=("a", "b", "c", "d"), pattern=("a", "b", "*"))
@example(key=("a", "b"), pattern=("a", "b", "*"))
@example(key=("a", "b", "c", "d"), pattern=("a", "b", "*", "d"))
@example(key=("a", "b", "c", "d", "e"), pattern=("a", "b", "*", "d"))
@example(key=("a", "b", "*"), pattern=("a", "b", "*"))
@example(key=("a", "b", "*"), pattern=("a", "*", "*"))
@example(key=("a", "*"), pattern=("a", "*", "*"))
@example(key=("\\*",), pattern=("*",))
@example(key=("*",), pattern=("\\*",))
@example(key=("",), pattern=("*",))
@example(key=("a", 1), pattern=("a", "1"))
@example(key=("a", b"*"), pattern=("a", "*"))
@example(key=("a", "b"), pattern=("a", b"*"))
def test_matches_and_is_subset_of_agree_with_oracle(
    key: tuple[str, ...], pattern: tuple[str, ...]
) -> None:
    expected = oracle.matches(key, pattern)
    assert matches(key, pattern) == expected
    assert Key(*key).is_subset_of(Key(*pattern)) == expected


@QUICK
@given(case=patterns().flatmap(lambda pattern: st.tuples(st.just(pattern), instances(pattern))))
def test_matches_every_instance_of_a_pattern(case: tuple[tuple[str, ...], tuple[str, ...]]) -> None:
    pattern, key = case
    assert oracle.matches(key, pattern)  # The strategy itself follows the rules.
    assert matches(key, pattern)
    assert Key(*key).is_subset_of(Key(*pattern))


@QUICK
@given(key=concrete_keys(), other=concrete_keys())
@example(key=("a", "b"), other=("a", "b"))
def test_matches_without_wildcard_is_equality(key: tuple[str, ...], other: tuple[str, ...]) -> None:
    assert matches(key, other) == (key == other)
    assert Key(*key).is_subset_of(Key(*other)) == (key == other)


@QUICK
@given(key=wildcard_keys())
def test_matches_a_wildcard_key_against_itself(key: tuple[str, ...]) -> None:
    assert oracle.matches(key, key)
    assert matches(key, key)
    assert Key(*key).is_subset_of(Key(*key))


@QUICK
@given(a=patterns(mixed=True), b=patterns(mixed=True))
@example(a=("a", "*"), b=("*", "b"))
@example(a=("a", "*"), b=("a", "b", "c", "d"))
@example(a=("a", "b"), b=("a", "b", "*"))
@example(a=("*", "b"), b=("a", "*", "c"))
@example(a=("a", "*", "c"), b=("a", "*"))
@example(a=("\\*",), b=("*",))
def test_intersects_agrees_with_oracle(a: tuple[str, ...], b: tuple[str, ...]) -> None:
    expected = oracle.intersects(a, b)
    assert intersects(a, b) == expected
    assert intersects(b, a) == expected


@QUICK
@given(data=st.data(), key=concrete_keys())
def test_intersects_two_patterns_matching_one_key(
    data: st.DataObject, key: tuple[str, ...]
) -> None:
    a = data.draw(generalisations(key), label="a")
    b = data.draw(generalisations(key), label="b")
    assert oracle.matches(key, a)
    assert oracle.matches(key, b)
    assert oracle.intersects(a, b)
    assert intersects(a, b)


@QUICK
@given(subscribed=st.lists(patterns(), max_size=4), key=patterns())
def test_hub_has_subscribers_agrees_with_oracle(
    subscribed: list[tuple[str, ...]], key: tuple[str, ...]
) -> None:
    hub = Hub()
    for pattern in subscribed:
        hub.add_subscriber(pattern, Tagged(("hub", str(pattern)), []))
    if WILDCARD in key:
        expected = any(oracle.intersects(key, pattern) for pattern in subscribed)
    else:
        expected = any(oracle.matches(key, pattern) for pattern in subscribed)
    assert hub.has_subscribers(key) == expected
    assert hub.has_subscribers(Key(*key)) == expected
    assert hub.has_subscribers() == bool(subscribed)


# -- Key round trips --------------------------------------------------------------------------


@QUICK
@given(parts=st.one_of(any_parts, st.lists(st.text(max_size=3), max_size=4).map(tuple)))
def test_key_round_trips_through_tuple_create_from_and_repr(parts: tuple[str, ...]) -> None:
    key = Key(*parts)
    assert key == parts
    assert hash(key) == hash(parts)
    assert tuple(key) == parts
    assert Key.create_from(parts) == key
    assert type(Key.create_from(parts)) is Key
    assert Key.create_from(list(parts)) == key
    assert Key.create_from(iter(parts)) == key
    assert Key.create_from(key) is key
    assert eval(repr(key), {"Key": Key}) == key
    assert key.is_wildcard == (WILDCARD in parts)


@QUICK
@given(a=any_parts, b=any_parts, c=any_parts, part=pattern_parts())
def test_key_concatenation_is_tuple_concatenation(
    a: tuple[str, ...], b: tuple[str, ...], c: tuple[str, ...], part: str
) -> None:
    joined = Key(*a) + Key(*b)
    assert type(joined) is Key
    assert joined == a + b
    assert Key(*a) + b == joined
    assert Key(*a) + list(b) == joined
    assert type(Key(*a) + b) is Key
    assert Key(*a) + part == Key(*a, part)
    assert (Key(*a) + b) + c == Key(*a) + (Key(*b) + c)
    assert (Key(*a) + b)[: len(a)] == Key(*a)


# -- the router against the oracle ------------------------------------------------------------


def _trie_paths(router: Router) -> set[tuple[str, ...]]:
    """Every path spelled by a node of the router's trie (the root excluded)."""
    paths: set[tuple[str, ...]] = set()
    stack = [((), router._root)]
    while stack:
        path, node = stack.pop()
        for part, child in node.children.items():
            paths.add((*path, part))
            stack.append(((*path, part), child))
    return paths


TOKENS = ("t0", "t1", "t2", "t3")
#: Short keys and patterns, so that the few live subscriptions of a run overlap often.
short_patterns = patterns(max_size=3, mixed=True)
short_keys = concrete_keys(max_size=4, mixed=True)
ROOT_PARTS = (*PLAIN_PARTS, *AWKWARD_PARTS, WILDCARD, "Hub")


class RouterMachine(RuleBasedStateMachine):
    """Random add / remove / route on a Router, checked against a model of live subscriptions."""

    def __init__(self) -> None:
        super().__init__()
        self.cache_size = 4096
        self.router = Router(self.cache_size)
        self.callbacks = {token: Tagged(("router", token), []) for token in TOKENS}
        #: token -> the patterns it is subscribed under.
        self.model: dict[str, dict[Key, None]] = {token: {} for token in TOKENS}
        #: token -> when it last went from no pattern to one: the routing order.
        self.order: dict[str, int] = {}
        self.clock = itertools.count()

    @initialize(cache_size=st.sampled_from((1, 2, 4096)))
    def make_router(self, cache_size: int) -> None:
        self.cache_size = cache_size
        self.router = Router(cache_size)

    def live_pairs(self) -> list[tuple[str, Key]]:
        return [(token, pattern) for token, held in self.model.items() for pattern in held]

    def expected_tokens(self, key: Key) -> list[str]:
        hits = [
            token
            for token, held in self.model.items()
            if any(oracle.matches(key, pattern) for pattern in held)
        ]
        return sorted(hits, key=self.order.__getitem__)

    # rules

    @rule(token=st.sampled_from(TOKENS), pattern=short_patterns)
    def add(self, token: str, pattern: tuple[str, ...]) -> None:
        self.check_add(token, Key(*pattern))

    @rule(pairs=st.lists(st.tuples(st.sampled_from(TOKENS), short_patterns), max_size=4))
    def add_many(self, pairs: list[tuple[str, tuple[str, ...]]]) -> None:
        for token, pattern in pairs:
            self.check_add(token, Key(*pattern))

    @precondition(lambda self: self.live_pairs())
    @rule(data=st.data())
    def add_again(self, data: st.DataObject) -> None:
        self.check_add(*data.draw(st.sampled_from(self.live_pairs())))

    @rule(token=st.sampled_from(TOKENS), pattern=short_patterns)
    def remove(self, token: str, pattern: tuple[str, ...]) -> None:
        self.check_remove(token, Key(*pattern))

    @precondition(lambda self: self.live_pairs())
    @rule(data=st.data())
    def remove_live(self, data: st.DataObject) -> None:
        self.check_remove(*data.draw(st.sampled_from(self.live_pairs())))

    @rule(key=short_keys)
    def route(self, key: tuple[str, ...]) -> None:
        self.check_route(Key(*key))

    @precondition(lambda self: self.live_pairs())
    @rule(data=st.data())
    def route_a_match(self, data: st.DataObject) -> None:
        _, pattern = data.draw(st.sampled_from(self.live_pairs()))
        self.check_route(Key(*data.draw(instances(pattern))))

    @precondition(lambda self: self.live_pairs())
    @rule(data=st.data())
    def route_a_near_miss(self, data: st.DataObject) -> None:
        _, pattern = data.draw(st.sampled_from(self.live_pairs()))
        self.check_route(Key(*data.draw(near_misses(pattern))))

    def check_add(self, token: str, pattern: Key) -> None:
        held = self.model[token]
        new = pattern not in held
        assert self.router.add(pattern, token, self.callbacks[token]) == new
        if new:
            if not held:
                self.order[token] = next(self.clock)
            held[pattern] = None

    def check_remove(self, token: str, pattern: Key) -> None:
        held = self.model[token]
        present = pattern in held
        assert self.router.remove(pattern, token) == present
        if present:
            del held[pattern]
            if not held:
                del self.order[token]

    def check_route(self, key: Key) -> None:
        expected = self.expected_tokens(key)
        assert [target.token for target in self.router.targets(key)] == expected
        callbacks = tuple(self.callbacks[token] for token in expected)
        route = self.router.route(key)
        assert tuple(target.call for target in route.targets) == callbacks
        assert self.router.routes[key] is route

    # invariants

    @invariant()
    def cached_routes_are_current_and_bounded(self) -> None:
        assert self.router.cached <= self.cache_size
        for key, route in self.router._cache.items():
            assert [target.token for target in route.targets] == self.expected_tokens(key)
            assert all(target.live for target in route.targets)

    @invariant()
    def counts_patterns_and_roots_agree(self) -> None:
        by_pattern: dict[Key, set[str]] = defaultdict(set)
        for token, pattern in self.live_pairs():
            by_pattern[pattern].add(token)
        assert len(self.router) == len(self.order)
        listed = {
            pattern: {target.token for target in targets}
            for pattern, targets in self.router.patterns()
        }
        assert listed == by_pattern
        for pattern, tokens in by_pattern.items():
            assert self.router.count(pattern) == len(tokens)
        for part in ROOT_PARTS:
            expected = any(pattern[0] in (part, WILDCARD) for pattern in by_pattern)
            assert self.router.has_root(part) == expected

    @invariant()
    def trie_holds_only_prefixes_of_live_patterns(self) -> None:
        prefixes = {
            pattern[:end] for _, pattern in self.live_pairs() for end in range(1, len(pattern) + 1)
        }
        assert _trie_paths(self.router) == prefixes


def test_router_routes_like_the_oracle() -> None:
    run_state_machine_as_test(RouterMachine, settings=MACHINE)


# -- the whole hub against the oracle ---------------------------------------------------------

SUBSCRIBERS = ("s0", "s1")
QUEUE_IDS = (Subscriber.DEFAULT_SUBSCRIPTION_ID, "q1")
CALLBACK_IDS = ("c0", "c1")
#: A callback added with Hub.add_subscriber, no Subscriber involved.
HUB_SUB: Sub = ("hub", "h0")
QUEUE_SUBS: tuple[Sub, ...] = tuple(itertools.product(SUBSCRIBERS, QUEUE_IDS))
CALLBACK_SUBS: tuple[Sub, ...] = (*itertools.product(SUBSCRIBERS, CALLBACK_IDS), HUB_SUB)
ALL_SUBS = QUEUE_SUBS + CALLBACK_SUBS


def _meta_key(event: str, pattern: Key) -> Key:
    return Key("Hub", event, *("\\*" if part == WILDCARD else part for part in pattern))


class HubMachine(RuleBasedStateMachine):
    """Random subscribe / unsubscribe / publish / consume on a Hub with two Subscribers.

    The model holds the live patterns of every subscription and, for each, what it must have
    received: a queue's current contents, or every call of a callback. Meta-events are part of
    the model too: a pattern starting with ``'*'`` receives them.
    """

    def __init__(self) -> None:
        super().__init__()
        self.runner: asyncio.Runner | None = None
        self.start(4096)

    def start(self, cache_size: int) -> None:
        self.cache_size = cache_size
        self.hub = Hub(route_cache_size=cache_size)
        self.subscribers = {name: Subscriber(self.hub, name) for name in SUBSCRIBERS}
        #: Every call of every callback, in call order.
        self.log: list[tuple[Sub, Key, Any]] = []
        self.callbacks = {sub: Tagged(sub, self.log) for sub in CALLBACK_SUBS}
        self.live: dict[Sub, dict[Key, None]] = {sub: {} for sub in ALL_SUBS}
        #: Subscription ids the subscribers know (once subscribed, an id stays known).
        self.known: set[Sub] = set()
        self.order: dict[Sub, int] = {}
        self.clock = itertools.count()
        self.expected: dict[Sub, list[tuple[Key, Any]]] = {sub: [] for sub in ALL_SUBS}
        self.published: list[Key] = []
        self.messages = itertools.count()

    @initialize(cache_size=st.sampled_from((1, 2, 4096)))
    def make_hub(self, cache_size: int) -> None:
        self.start(cache_size)

    def teardown(self) -> None:
        if self.runner is not None:
            self.runner.close()

    # the model

    def live_pairs(self) -> list[tuple[Sub, Key]]:
        return [(sub, pattern) for sub, held in self.live.items() for pattern in held]

    def deliver(self, key: Key, message: Any) -> list[Sub]:
        """Who the oracle says receives a publish, in routing order; recorded as expected."""
        receivers = sorted(
            (
                sub
                for sub, held in self.live.items()
                if any(oracle.matches(key, pattern) for pattern in held)
            ),
            key=self.order.__getitem__,
        )
        for sub in receivers:
            self.expected[sub].append((key, message))
        return receivers

    def announce(self, event: str, pattern: Key) -> None:
        count = sum(pattern in held for held in self.live.values())
        self.deliver(_meta_key(event, pattern), {"key": pattern, "currentSubscriberCount": count})

    def actual(self, sub: Sub) -> list[tuple[Key, Any]]:
        if sub in CALLBACK_SUBS:
            return [(key, message) for who, key, message in self.log if who == sub]
        name, sid = sub
        inbox = self.subscribers[name]._inboxes.get(sid)
        return [] if inbox is None else list(inbox.items)

    # calling the library

    def call_subscribe(self, sub: Sub, key: Any) -> None:
        name, sid = sub
        if sub == HUB_SUB:
            self.hub.add_subscriber(key, self.callbacks[sub])
        elif sid == Subscriber.DEFAULT_SUBSCRIPTION_ID:
            self.subscribers[name].subscribe(key)
        elif sid in QUEUE_IDS:
            self.subscribers[name].subscribe(key, sid)
        else:
            self.subscribers[name].sync_subscribe(key, self.callbacks[sub], sid)

    def call_unsubscribe(self, sub: Sub, key: Any) -> None:
        name, sid = sub
        if sub == HUB_SUB:
            self.hub.remove_subscriber(key, self.callbacks[sub])
        elif sid == Subscriber.DEFAULT_SUBSCRIPTION_ID:
            self.subscribers[name].unsubscribe(key)
        else:
            self.subscribers[name].unsubscribe(key, sid)

    def subscribe_and_check(self, sub: Sub, pattern: Key, given: Any) -> None:
        self.call_subscribe(sub, given)
        self.known.add(sub)
        held = self.live[sub]
        if pattern in held:
            return  # A repeat changes nothing and announces nothing.
        if not held:
            self.order[sub] = next(self.clock)
        held[pattern] = None
        self.announce("addedSubscriber", pattern)

    def unsubscribe_and_check(self, sub: Sub, pattern: Key, given: Any) -> None:
        if sub != HUB_SUB and sub not in self.known:
            name, sid = sub
            message = re.escape(f"Subscriber {name!r} has no subscription {sid!r}")
            with pytest.raises(SubscriptionNotFoundError, match=f"^{message}$"):
                self.call_unsubscribe(sub, given)
            return
        self.call_unsubscribe(sub, given)
        held = self.live[sub]
        if pattern not in held:
            return
        del held[pattern]
        if not held:
            del self.order[sub]
        self.announce("removedSubscriber", pattern)

    def publish_and_check(self, key: Key, given: Any) -> None:
        message = ("message", next(self.messages))
        calls_before = len(self.log)
        self.hub.publish(given, message)
        receivers = self.deliver(key, message)
        got = [sub for sub in ALL_SUBS for _, m in self.actual(sub) if m == message]
        assert sorted(got) == sorted(receivers)  # The same subscriptions, each exactly once.
        called = [who for who, _, _ in self.log[calls_before:]]
        assert called == [sub for sub in receivers if sub in CALLBACK_SUBS]
        assert self.hub.has_subscribers(key) == bool(receivers)
        queue_sizes = [len(self.expected[sub]) for sub in receivers if sub in QUEUE_SUBS]
        assert sorted(self.hub.get_subscriber_queue_sizes(key)) == sorted(queue_sizes)
        self.published.append(key)

    # rules

    @rule(sub=st.sampled_from(ALL_SUBS), pattern=short_patterns, as_tuple=st.booleans())
    def subscribe(self, sub: Sub, pattern: tuple[str, ...], as_tuple: bool) -> None:
        self.subscribe_and_check(sub, Key(*pattern), pattern if as_tuple else Key(*pattern))

    @rule(pairs=st.lists(st.tuples(st.sampled_from(ALL_SUBS), short_patterns), max_size=4))
    def subscribe_many(self, pairs: list[tuple[Sub, tuple[str, ...]]]) -> None:
        for sub, pattern in pairs:
            self.subscribe_and_check(sub, Key(*pattern), pattern)

    @precondition(lambda self: self.live_pairs())
    @rule(data=st.data())
    def subscribe_again(self, data: st.DataObject) -> None:
        sub, pattern = data.draw(st.sampled_from(self.live_pairs()))
        self.subscribe_and_check(sub, pattern, tuple(pattern))

    @precondition(lambda self: any(sub in self.known for sub in ALL_SUBS if sub != HUB_SUB))
    @rule(data=st.data(), pattern=short_patterns)
    def subscribe_under_an_id_of_the_other_kind(
        self, data: st.DataObject, pattern: tuple[str, ...]
    ) -> None:
        taken = sorted(sub for sub in self.known if sub != HUB_SUB)
        name, sid = data.draw(st.sampled_from(taken))
        subscriber = self.subscribers[name]
        if sid in QUEUE_IDS:
            with pytest.raises(ValueError, match=r"^Subscription id .* already holds <Inbox"):
                subscriber.sync_subscribe(pattern, self.callbacks[(name, CALLBACK_IDS[0])], sid)
        else:
            with pytest.raises(ValueError, match=r"^Subscription id .* is a callback subscription"):
                subscriber.subscribe(pattern, sid)

    @rule(sub=st.sampled_from(ALL_SUBS), pattern=short_patterns)
    def unsubscribe(self, sub: Sub, pattern: tuple[str, ...]) -> None:
        self.unsubscribe_and_check(sub, Key(*pattern), pattern)

    @precondition(lambda self: self.live_pairs())
    @rule(data=st.data())
    def unsubscribe_live(self, data: st.DataObject) -> None:
        sub, pattern = data.draw(st.sampled_from(self.live_pairs()))
        self.unsubscribe_and_check(sub, pattern, pattern)

    @rule(key=short_keys, as_tuple=st.booleans())
    def publish(self, key: tuple[str, ...], as_tuple: bool) -> None:
        self.publish_and_check(Key(*key), key if as_tuple else Key(*key))

    @precondition(lambda self: self.live_pairs())
    @rule(data=st.data())
    def publish_a_match(self, data: st.DataObject) -> None:
        _, pattern = data.draw(st.sampled_from(self.live_pairs()))
        key = Key(*data.draw(instances(pattern)))
        self.publish_and_check(key, key)

    @precondition(lambda self: self.live_pairs())
    @rule(data=st.data())
    def publish_a_near_miss(self, data: st.DataObject) -> None:
        _, pattern = data.draw(st.sampled_from(self.live_pairs()))
        key = Key(*data.draw(near_misses(pattern)))
        self.publish_and_check(key, key)

    @precondition(lambda self: self.published)
    @rule(data=st.data())
    def publish_again(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(self.published[-4:]))
        self.publish_and_check(key, key)

    @precondition(lambda self: any(self.expected[sub] for sub in QUEUE_SUBS))
    @rule(data=st.data())
    def consume(self, data: st.DataObject) -> None:
        sub = data.draw(st.sampled_from([sub for sub in QUEUE_SUBS if self.expected[sub]]))
        if self.runner is None:
            self.runner = asyncio.Runner(loop_factory=new_loop)
        got = self.runner.run(self.consume_one(sub))
        assert got == self.expected[sub].pop(0)

    async def consume_one(self, sub: Sub) -> tuple[Key, Any]:
        name, sid = sub
        async with asyncio.timeout(5):  # Bounds a failure only: the model says one is queued.
            return await self.subscribers[name].consume(sid)

    @rule(key=short_patterns)
    def has_subscribers(self, key: tuple[str, ...]) -> None:
        held = [pattern for _, pattern in self.live_pairs()]
        if WILDCARD in key:
            expected = any(oracle.intersects(key, pattern) for pattern in held)
        else:
            expected = any(oracle.matches(key, pattern) for pattern in held)
        assert self.hub.has_subscribers(Key(*key)) == expected

    # invariants

    @invariant()
    def every_subscription_got_exactly_what_the_oracle_says(self) -> None:
        for sub in ALL_SUBS:
            assert self.actual(sub) == self.expected[sub], sub

    @invariant()
    def introspection_agrees_with_the_model(self) -> None:
        sizes: dict[Key, list[int]] = defaultdict(list)
        for sub in QUEUE_SUBS:
            for pattern in self.live[sub]:
                sizes[pattern].append(len(self.expected[sub]))
        actual = self.hub.get_all_subscriber_queue_sizes()
        assert {key: sorted(found) for key, found in actual.items()} == {
            key: sorted(found) for key, found in sizes.items()
        }
        assert self.hub.has_subscribers() == bool(self.order)
        assert self.hub._router.cached <= self.cache_size


def test_hub_routes_like_the_oracle() -> None:
    run_state_machine_as_test(HubMachine, settings=MACHINE)
