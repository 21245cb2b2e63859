"""The benchmark workloads, written only against the API that ours and the original share.

Each workload is an ``async`` function ``run(lib, n, batches)`` that builds its own fresh state
from the ``aiopubsub`` module ``lib`` it is given (``None`` for the floors), then runs ``n``
operations split into ``batches`` timed batches on that one state, and returns a
:class:`Sample`. Decisions:

* Setup is never timed; each batch is a plain loop of the same shape for every
  implementation and floor.
* Several short batches rather than one long loop: on a shared machine a long loop is almost
  always interrupted somewhere, a short batch often is not, so the best batch is a figure that
  repeats from run to run. A batch lasts milliseconds, long enough to contain its share of the
  young-generation collections; ``gc.collect()`` before each batch makes each start clean.
* A workload that needs new keys builds them all before the clock starts and gives each batch
  its own slice.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import recorded

__all__ = ["WORKLOADS", "Sample", "Workload", "by_name"]

#: How many subscriptions, none of which the published keys match, workloads a to c2 hold.
BACKGROUND_SUBSCRIPTIONS = 1_000
#: How many distinct keys workload d publishes before it starts churning.
WARM_KEYS = 2_000
#: How many distinct keys workload c2 publishes before its clock starts: more than the 4,096
#: routes ours caches by default, so that every new key has to make room for itself.
CACHE_FILLING_KEYS = 5_000
#: How many queue subscriptions workload f fans out to.
FAN_OUT = 100
#: The message every workload publishes when its content does not matter.
MESSAGE = {"price": 1.0}
#: The first part of every key the hub workloads publish and of their background subscriptions.
#: Sharing it means a routing index cannot dismiss a published key at its first part.
ROOT = "bench"


@dataclass(frozen=True)
class Sample:
    """The result of one repetition of one workload.

    :param batches: ``(operations, seconds)`` of each timed batch (wall clock,
        ``time.perf_counter``).
    :param retained_bytes: for a memory workload, the traced memory the operations left behind.
    """

    batches: tuple[tuple[int, float], ...]
    retained_bytes: int | None = None


#: A batch: run the operations for these items (keys, or just a ``range``).
Step = Callable[[Sequence[Any]], object]
AsyncStep = Callable[[Sequence[Any]], Awaitable[object]]
Runner = Callable[[Any, int, int], Awaitable[Sample]]


@dataclass(frozen=True)
class Workload:
    """One thing to measure.

    :param name: short id used with ``--only`` and in the JSON output (``"a"``, ...).
    :param title: the row label of the report.
    :param op: what one operation is, for the notes under the table.
    :param run: the coroutine function that measures it.
    :param size: operations per repetition in a full run; ``quick_size`` in a ``--quick`` run.
    :param target: the gain (original / ours, for time and for memory alike) the library aims
        for; ``None`` for a row that is only informative, and for a floor.
    :param memory: the workload's figure is retained bytes rather than time per operation.
    :param is_floor: the workload uses no library at all (``lib`` is ``None``).
    :param floor: for a library workload, the name of the floor shown in its row.
    :param bound: for a row with a floor, what the library does on top of it, for the report of
        the slowest paths relative to their floor.
    :param recorded: the workload replays the recorded stream (``recorded.py``).
    """

    name: str
    title: str
    op: str
    run: Runner
    size: int
    quick_size: int
    target: float | None = None
    memory: bool = False
    is_floor: bool = False
    floor: str | None = None
    bound: str = ""
    recorded: bool = False


def _chunks(items: Sequence[Any], batches: int) -> list[Sequence[Any]]:
    """``items`` cut into ``batches`` slices of nearly equal length, none of them empty."""
    batches = max(1, min(batches, len(items)))
    bounds = [len(items) * i // batches for i in range(batches + 1)]
    return [items[start:stop] for start, stop in itertools.pairwise(bounds)]


def _time_batches(step: Step, items: Sequence[Any], batches: int) -> Sample:
    """Time ``step`` on each slice of ``items``, each after a full collection."""
    timed = []
    for chunk in _chunks(items, batches):
        gc.collect()
        start = time.perf_counter()
        step(chunk)
        timed.append((len(chunk), time.perf_counter() - start))
    return Sample(tuple(timed))


async def _atime_batches(step: AsyncStep, items: Sequence[Any], batches: int) -> Sample:
    """:func:`_time_batches` for a step that must be awaited."""
    timed = []
    for chunk in _chunks(items, batches):
        gc.collect()
        start = time.perf_counter()
        await step(chunk)
        timed.append((len(chunk), time.perf_counter() - start))
    return Sample(tuple(timed))


def _call_repeatedly(call: Callable[[Any, Any], Any], key: Any, n: int, batches: int) -> Sample:
    """Time ``call(key, MESSAGE)`` ``n`` times; the loop shared by publish and its floor."""

    def step(items: Sequence[Any]) -> None:
        function, k, message = call, key, MESSAGE  # Locals: the loop reads no closure cells.
        for _ in items:
            function(k, message)

    return _time_batches(step, range(n), batches)


def _publish_each(publish: Callable[[Any, Any], Any], keys: Sequence[Any], batches: int) -> Sample:
    """Time one publish of each of ``keys``."""

    def step(items: Sequence[Any]) -> None:
        function, message = publish, MESSAGE
        for key in items:
            function(key, message)

    return _time_batches(step, keys, batches)


def _background_hub(lib: Any, last_part: Sequence[str]) -> tuple[Any, Any]:
    """A hub, and one subscriber holding ``BACKGROUND_SUBSCRIPTIONS`` queue subscriptions on it.

    The subscriptions are ``(ROOT, str(i), *last_part)``; the published keys of workloads a to c2
    have a second part that is not a number, so none of them matches. The caller keeps the
    subscriber alive until its clock stops: a library may drop the subscriptions of a
    subscriber that was garbage-collected.
    """
    hub = lib.Hub()
    subscriber = lib.Subscriber(hub, "background")
    for i in range(BACKGROUND_SUBSCRIPTIONS):
        subscriber.subscribe(lib.Key(ROOT, str(i), *last_part))
    return hub, subscriber


def _check_background(hub: Any, subscriber: Any, others: int = 0) -> None:
    """Check, after the clock stopped, that the background was there and nothing matched it.

    Keeps ``subscriber`` alive until then, too.

    :param others: how many other queue subscriptions, all empty by now, the hub holds.
    :raises RuntimeError: if a subscription is missing or a message reached one.
    """
    sizes = hub.get_all_subscriber_queue_sizes()
    expected = BACKGROUND_SUBSCRIPTIONS + others
    if len(sizes) != expected or any(map(sum, sizes.values())):
        raise RuntimeError(
            f"{subscriber.id!r} should hold {BACKGROUND_SUBSCRIPTIONS} empty queue subscriptions,"
            f" the hub reports {len(sizes)} holding {sum(map(sum, sizes.values()))} messages"
        )


Callback = Callable[[Any, Any], None]


def _counting_callbacks(count: int) -> tuple[list[Callback], Callable[[], int]]:
    """``count`` distinct cheap sync callbacks, and a function telling how often they were
    called in all. Distinct, so that no library can merge two subscriptions into one."""
    calls = 0

    def make() -> Callback:
        def callback(key: Any, message: Any) -> None:
            nonlocal calls
            calls += 1

        return callback

    def called() -> int:
        return calls

    return [make() for _ in range(count)], called


def _check_calls(called: Callable[[], int], expected: int) -> None:
    """:raises RuntimeError: if the callbacks were not called ``expected`` times in all."""
    if called() != expected:
        raise RuntimeError(f"callbacks called {called()} times, expected {expected}")


def _warm_publish(lib: Any, n: int, batches: int, tail: tuple[str, ...]) -> Sample:
    """Publish to a key nobody matches, among the background subscriptions ending in
    ``tail``, after one warm-up publish."""
    hub, subscriber = _background_hub(lib, tail)
    key = lib.Key(ROOT, "b", "c")
    hub.publish(key, MESSAGE)
    sample = _call_repeatedly(hub.publish, key, n, batches)
    _check_background(hub, subscriber)
    return sample


async def warm_publish_exact(lib: Any, n: int, batches: int) -> Sample:
    """a. Publish to a key nobody matches, among exact subscriptions, after one warm-up."""
    return _warm_publish(lib, n, batches, ("c",))


async def warm_publish_wildcard(lib: Any, n: int, batches: int) -> Sample:
    """b. As a, among wildcard subscriptions ``(ROOT, str(i), '*')``."""
    return _warm_publish(lib, n, batches, ("*",))


async def first_publish(lib: Any, n: int, batches: int) -> Sample:
    """c. Publish ``n`` keys never published before, among wildcard subscriptions."""
    hub, subscriber = _background_hub(lib, ("*",))
    keys = [lib.Key(ROOT, "new", str(i)) for i in range(n)]
    sample = _publish_each(hub.publish, keys, batches)
    _check_background(hub, subscriber)
    return sample


async def first_publish_cache_full(lib: Any, n: int, batches: int) -> Sample:
    """c2. As c, after ``CACHE_FILLING_KEYS`` other keys: the steady state of a long-lived hub.

    A hub whose route cache is bounded must now evict a route for every new key; one whose
    cache is not keeps growing. Both are part of what a new key costs.
    """
    hub, subscriber = _background_hub(lib, ("*",))
    for i in range(CACHE_FILLING_KEYS):
        hub.publish(lib.Key(ROOT, "old", str(i)), MESSAGE)
    keys = [lib.Key(ROOT, "new", str(i)) for i in range(n)]
    sample = _publish_each(hub.publish, keys, batches)
    _check_background(hub, subscriber)
    return sample


async def churn(lib: Any, n: int, batches: int) -> Sample:
    """d. Subscribe then unsubscribe one key, with ``WARM_KEYS`` keys published before."""
    hub = lib.Hub()
    subscriber = lib.Subscriber(hub, "churn")
    warm = [lib.Key(ROOT, "churn", str(i)) for i in range(WARM_KEYS)]
    for key in warm:
        hub.publish(key, MESSAGE)

    def step(items: Sequence[Any]) -> None:
        subscribe, unsubscribe = subscriber.subscribe, subscriber.unsubscribe
        for key in items:
            subscribe(key)
            unsubscribe(key)

    return _time_batches(step, [warm[i % WARM_KEYS] for i in range(n)], batches)


async def round_trip(lib: Any, n: int, batches: int) -> Sample:
    """e. Publish one message, then ``await consume()`` it, with one subscriber."""
    hub = lib.Hub()
    subscriber = lib.Subscriber(hub, "round-trip")
    key = lib.Key(ROOT, "rt")
    subscriber.subscribe(key)
    return await _time_round_trips(hub, subscriber, key, n, batches)


async def _time_round_trips(hub: Any, subscriber: Any, key: Any, n: int, batches: int) -> Sample:
    """Time ``n`` rounds of ``hub.publish(key, i)`` then ``await subscriber.consume()``."""

    async def step(items: Sequence[Any]) -> None:
        publish, consume, k = hub.publish, subscriber.consume, key
        for i in items:
            publish(k, i)
            await consume()

    return await _atime_batches(step, range(n), batches)


#: The bound of the queue in workloads e2 and e3: never reached, so nothing is dropped.
BOUND = 1_000


def _bounded_subscriber(lib: Any, hub: Any, key: Any) -> Any:
    """A subscriber of ``key`` with a queue of ``BOUND``; the original has no bounded queues,
    so there it is its usual unbounded one: the row then shows what the bound costs us
    against the original doing the same work without one."""
    if hasattr(lib, "Overflow"):
        subscriber = lib.Subscriber(hub, "bounded", maxsize=BOUND)
    else:
        subscriber = lib.Subscriber(hub, "bounded")
    subscriber.subscribe(key)
    return subscriber


async def bounded_round_trip(lib: Any, n: int, batches: int) -> Sample:
    """e2. As e, with a bounded queue (``maxsize=BOUND``)."""
    hub = lib.Hub()
    key = lib.Key(ROOT, "rt")
    subscriber = _bounded_subscriber(lib, hub, key)
    return await _time_round_trips(hub, subscriber, key, n, batches)


async def apublish_round_trip(lib: Any, n: int, batches: int) -> Sample:
    """e3. As e2, publishing with ``await hub.apublish()`` (the original: plain ``publish``)."""
    hub = lib.Hub()
    key = lib.Key(ROOT, "rt")
    subscriber = _bounded_subscriber(lib, hub, key)
    apublish = getattr(hub, "apublish", None)

    async def step(items: Sequence[Any]) -> None:
        consume, k = subscriber.consume, key
        if apublish is None:
            publish = hub.publish
            for i in items:
                publish(k, i)
                await consume()
        else:
            for i in items:
                await apublish(k, i)
                await consume()

    return await _atime_batches(step, range(n), batches)


async def fan_out(lib: Any, n: int, batches: int) -> Sample:
    """f. Publish one message to ``FAN_OUT`` queue subscribers, then consume it from each."""
    hub = lib.Hub()
    key = lib.Key(ROOT, "fan")
    consumers = []
    for i in range(FAN_OUT):
        subscriber = lib.Subscriber(hub, f"fan-{i}")
        subscriber.subscribe(key)
        consumers.append(subscriber.consume)

    async def step(items: Sequence[Any]) -> None:
        publish, k, each = hub.publish, key, consumers
        for i in items:
            publish(k, i)
            for consume in each:
                await consume()

    return await _atime_batches(step, range(n), batches)


class _Countdown:
    """An async callback that sets :attr:`done` once it has seen ``expected`` messages."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.seen = 0
        self.done = asyncio.Event()

    def rearm(self, expected: int) -> None:
        """Start counting again from zero towards ``expected``."""
        self.expected, self.seen = expected, 0
        self.done.clear()

    async def __call__(self, key: Any, message: Any) -> None:
        self.seen += 1
        if self.seen == self.expected:
            self.done.set()


async def async_listener(lib: Any, n: int, batches: int) -> Sample:
    """g. Publish a burst of messages to an async listener, then wait until it handled them all.

    Publishing a whole batch before yielding is the burst a market-data feed produces; the
    clock stops when the last callback has run, so the listener's scheduling is inside it.
    """
    hub = lib.Hub()
    subscriber = lib.Subscriber(hub, "listener")
    key = lib.Key(ROOT, "listen")
    countdown = _Countdown(1)
    subscriber.add_async_listener(key, countdown)
    hub.publish(key, -1)  # Warm-up: the listener is running before the clock starts.
    await countdown.done.wait()

    async def step(items: Sequence[Any]) -> None:
        countdown.rearm(len(items))
        publish, k = hub.publish, key
        for i in items:
            publish(k, i)
        await countdown.done.wait()

    sample = await _atime_batches(step, range(n), batches)
    await subscriber.remove_all_listeners()
    return sample


async def retained_memory(lib: Any, n: int, batches: int) -> Sample:
    """h. Traced memory left behind by publishing ``n`` distinct keys nobody subscribed to.

    One batch whatever ``batches`` says. Its time is taken under ``tracemalloc`` and means
    little; the figure is the memory still allocated, after a full collection, once the loop
    is over.
    """
    tracemalloc.start()
    try:
        hub = lib.Hub()
        subscriber = lib.Subscriber(hub, "memory")
        subscriber.subscribe(lib.Key("unrelated", "k"))
        hub.publish(lib.Key(ROOT, "warm-up"), MESSAGE)
        publish, key_type, message = hub.publish, lib.Key, MESSAGE
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        start = time.perf_counter()
        for i in range(n):
            # Keys are made on the fly, as an application makes them: what the hub keeps of
            # them counts, what it lets go does not.
            publish(key_type(ROOT, str(i)), message)
        elapsed = time.perf_counter() - start
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
        del hub, subscriber  # Only now may the hub go.
    finally:
        tracemalloc.stop()
    return Sample(((n, elapsed),), retained)


def _one_callback(
    lib: Any, n: int, batches: int, tail: tuple[str, ...], attach: Callable[..., Any]
) -> Sample:
    """Publish to one sync callback that ``attach(lib, hub, key, callback)`` subscribes, among
    the background subscriptions ending in ``tail``, after one warm-up publish."""
    hub, background = _background_hub(lib, tail)
    (callback,), called = _counting_callbacks(1)
    key = lib.Key(ROOT, "b", "c")
    handle = attach(lib, hub, key, callback)
    hub.publish(key, MESSAGE)
    sample = _call_repeatedly(hub.publish, key, n, batches)
    _check_background(hub, background)
    _check_calls(called, n + 1)
    del handle  # Kept alive until now: a library may drop a collected subscriber's listeners.
    return sample


def _add_subscriber(lib: Any, hub: Any, key: Any, callback: Callback) -> None:
    hub.add_subscriber(key, callback)


def _add_sync_listener(lib: Any, hub: Any, key: Any, callback: Callback) -> Any:
    subscriber = lib.Subscriber(hub, "listener")
    subscriber.add_sync_listener(key, callback)
    return subscriber


def _sync_subscribe(lib: Any, hub: Any, key: Any, callback: Callback) -> Any:
    subscriber = lib.Subscriber(hub, "sync")
    subscriber.sync_subscribe(key, callback)
    return subscriber


async def callback_exact(lib: Any, n: int, batches: int) -> Sample:
    """i. Publish to one ``hub.add_subscriber`` callback, among exact subscriptions."""
    return _one_callback(lib, n, batches, ("c",), _add_subscriber)


async def callback_wildcard(lib: Any, n: int, batches: int) -> Sample:
    """j. As i, among wildcard subscriptions ``(ROOT, str(i), '*')``."""
    return _one_callback(lib, n, batches, ("*",), _add_subscriber)


async def sync_listener(lib: Any, n: int, batches: int) -> Sample:
    """k. As i, the callback added with ``Subscriber.add_sync_listener``."""
    return _one_callback(lib, n, batches, ("c",), _add_sync_listener)


async def sync_subscription(lib: Any, n: int, batches: int) -> Sample:
    """l. As i, the callback added with ``Subscriber.sync_subscribe``."""
    return _one_callback(lib, n, batches, ("c",), _sync_subscribe)


async def recorded_stream(lib: Any, n: int, batches: int) -> Sample:
    """m. Replay the original's recorded production stream (see ``recorded.py``).

    One distinct counting callback per subscription key; the stream is published once before
    the clock starts, so that every route is warm (row c is about new keys), then ``n`` of its
    publishes in order, from its start again when it runs out. Every callback call is counted
    and checked against the original's rule.
    """
    stream = recorded.load()
    hub = lib.Hub()
    callbacks, called = _counting_callbacks(len(stream.subscriptions))
    for parts, callback in zip(stream.subscriptions, callbacks):
        hub.add_subscriber(lib.Key(*parts), callback)
    # One Key per publish, as an application makes a new one for each message.
    keys = [lib.Key(*parts) for parts in stream.publishes]
    for key in keys:
        hub.publish(key, MESSAGE)
    sample = _publish_each(hub.publish, [keys[i % len(keys)] for i in range(n)], batches)
    _check_calls(called, stream.expected_calls(len(keys)) + stream.expected_calls(n))
    return sample


async def publisher_round_trip(lib: Any, n: int, batches: int) -> Sample:
    """n. As e, publishing through ``Publisher(hub, ROOT).publish(Key('rt'), message)``."""
    hub = lib.Hub()
    subscriber = lib.Subscriber(hub, "publisher")
    subscriber.subscribe(lib.Key(ROOT, "rt"))
    publisher = lib.Publisher(hub, ROOT)
    suffix = lib.Key("rt")

    async def step(items: Sequence[Any]) -> None:
        publish, consume, k = publisher.publish, subscriber.consume, suffix
        for i in items:
            publish(k, i)
            await consume()

    return await _atime_batches(step, range(n), batches)


def _one_queue_among_background(lib: Any) -> tuple[Any, Any, Any, Any]:
    """A hub with the exact background subscriptions and one more queue subscription, of
    ``(ROOT, 'b', 'c')``: ``(hub, background, subscriber, key)``."""
    hub, background = _background_hub(lib, ("c",))
    key = lib.Key(ROOT, "b", "c")
    subscriber = lib.Subscriber(hub, "queue")
    subscriber.subscribe(key)
    return hub, background, subscriber, key


async def has_subscribers_warm(lib: Any, n: int, batches: int) -> Sample:
    """o. ``hub.has_subscribers(key)`` for a key with one queue subscription, published to
    once before, among exact subscriptions."""
    hub, background, subscriber, key = _one_queue_among_background(lib)
    hub.publish(key, MESSAGE)
    await subscriber.consume()
    sample = _call_repeatedly(lambda k, _: hub.has_subscribers(k), key, n, batches)
    if hub.has_subscribers(key) is not True:
        raise RuntimeError(f"has_subscribers({key!r}) should be True")
    _check_background(hub, background, others=1)
    return sample


async def queue_sizes(lib: Any, n: int, batches: int) -> Sample:
    """p. ``hub.get_subscriber_queue_sizes(key)`` for a key whose one queue holds a message,
    among exact subscriptions."""
    hub, background, subscriber, key = _one_queue_among_background(lib)
    hub.publish(key, MESSAGE)
    sample = _call_repeatedly(lambda k, _: hub.get_subscriber_queue_sizes(k), key, n, batches)
    sizes = hub.get_subscriber_queue_sizes(key)
    if tuple(sizes) != (1,):
        raise RuntimeError(f"get_subscriber_queue_sizes({key!r}) gave {sizes!r}, not (1,)")
    await subscriber.consume()
    _check_background(hub, background, others=1)
    return sample


async def wildcard_round_trip(lib: Any, n: int, batches: int) -> Sample:
    """q. As e, the subscriber subscribed with ``subscribe(Key(ROOT, '*'))``."""
    hub = lib.Hub()
    subscriber = lib.Subscriber(hub, "wildcard")
    subscriber.subscribe(lib.Key(ROOT, "*"))
    return await _time_round_trips(hub, subscriber, lib.Key(ROOT, "rt"), n, batches)


async def listener_churn(lib: Any, n: int, batches: int) -> Sample:
    """r. ``add_sync_listener(key, cb)`` then ``await remove_listener(key, cb)``, among exact
    subscriptions, the key published to once before."""
    hub, background = _background_hub(lib, ("c",))
    subscriber = lib.Subscriber(hub, "churn")
    (callback,), called = _counting_callbacks(1)
    key = lib.Key(ROOT, "b", "c")
    hub.publish(key, MESSAGE)

    async def step(items: Sequence[Any]) -> None:
        add, remove, k, cb = subscriber.add_sync_listener, subscriber.remove_listener, key, callback
        for _ in items:
            add(k, cb)
            await remove(k, cb)

    sample = await _atime_batches(step, range(n), batches)
    if hub.has_subscribers(key):
        raise RuntimeError(f"{key!r} still has subscribers after the last remove_listener")
    _check_background(hub, background)
    _check_calls(called, 0)
    return sample


async def relay(lib: Any, n: int, batches: int) -> Sample:
    """s. A sync callback that publishes what it receives under another key, to a second
    callback: each timed publish makes one more from inside a callback. The original delivers
    the inner publish at once, inside the outer callback; ours after it (publish order kept
    for every subscription), so this row prices that guarantee."""
    hub, background = _background_hub(lib, ("c",))
    (sink,), called = _counting_callbacks(1)
    outer, inner = lib.Key(ROOT, "b", "c"), lib.Key(ROOT, "relayed", "c")

    def forward(key: Any, message: Any) -> None:
        hub.publish(inner, message)

    hub.add_subscriber(outer, forward)
    hub.add_subscriber(inner, sink)
    hub.publish(outer, MESSAGE)
    sample = _publish_each(hub.publish, [outer] * n, batches)
    _check_background(hub, background)
    _check_calls(called, n + 1)
    return sample


def _key_operation(operation: Callable[[Any], Any], n: int, batches: int) -> Sample:
    """Time ``operation(i)`` for ``i`` in ``range(n)``: the loop of the Key rows."""

    def step(items: Sequence[Any]) -> None:
        function = operation
        for i in items:
            function(i)

    return _time_batches(step, range(n), batches)


async def key_building(lib: Any, n: int, batches: int) -> Sample:
    """t. ``Key(ROOT, 'b', str(i))``, as an application builds a key per message (the
    ``str(i)`` made outside the clock), then ``Publisher``'s ``prefix + key``."""
    parts = [str(i % 1000) for i in range(1000)]
    prefix = lib.Key(ROOT)
    key_type = lib.Key

    def build(i: int) -> Any:
        return prefix + key_type("b", parts[i % 1000])

    return _key_operation(build, n, batches)


async def key_matching(lib: Any, n: int, batches: int) -> Sample:
    """u. ``key.is_subset_of(pattern)`` against a wildcard pattern, half of them matching,
    and against an equal key."""
    keys = [lib.Key(ROOT, str(i % 2), "c") for i in range(1000)]
    pattern = lib.Key(ROOT, "0", "*")
    equal = lib.Key(ROOT, "0", "c")

    def match(i: int) -> Any:
        key = keys[i % 1000]
        return key.is_subset_of(pattern) and key.is_subset_of(equal)

    return _key_operation(match, n, batches)


async def key_text(lib: Any, n: int, batches: int) -> Sample:
    """v. ``str(key)`` and ``f"{key}"``, as labels and log lines are made."""
    keys = [lib.Key(ROOT, str(i % 1000), "c") for i in range(1000)]

    def text(i: int) -> Any:
        key = keys[i % 1000]
        return str(key), f"{key}"

    return _key_operation(text, n, batches)


async def subscriber_lifetime(lib: Any, n: int, batches: int) -> Sample:
    """w. ``Subscriber(hub, id)`` made and dropped (as per client connection), on a hub with
    the exact background subscriptions."""
    hub, background = _background_hub(lib, ("c",))
    subscriber_type = lib.Subscriber

    def make(i: int) -> Any:
        return subscriber_type(hub, "client")

    sample = _key_operation(make, n, batches)
    _check_background(hub, background)
    return sample


async def hub_lifetime(lib: Any, n: int, batches: int) -> Sample:
    """x. ``Hub()`` made and dropped, inside the running loop."""
    return _key_operation(lambda i: lib.Hub(), n, batches)


async def floor_call(lib: None, n: int, batches: int) -> Sample:
    """Floor of the rows that publish to one callback or to nobody: a direct call
    ``f(key, msg)`` of the callback the library rows subscribe, no hub at all."""
    (callback,), called = _counting_callbacks(1)
    sample = _call_repeatedly(callback, (ROOT, "b", "c"), n, batches)
    _check_calls(called, n)
    return sample


async def floor_recorded(lib: None, n: int, batches: int) -> Sample:
    """Floor of m: the recorded stream through a plain dict from each published key to the
    tuple of callbacks it matches, worked out beforehand; no hub at all."""
    stream = recorded.load()
    callbacks, called = _counting_callbacks(len(stream.subscriptions))
    pairs = list(zip(stream.subscriptions, callbacks))
    routes = {
        key: tuple(callback for sub, callback in pairs if recorded.matches(key, sub))
        for key in set(stream.publishes)
    }
    keys = [tuple([*parts]) for parts in stream.publishes]  # One tuple per publish, as in m.

    def step(items: Sequence[Any]) -> None:
        table, message = routes, MESSAGE
        for key in items:
            for callback in table[key]:
                callback(key, message)

    sample = _time_batches(step, [keys[i % len(keys)] for i in range(n)], batches)
    _check_calls(called, stream.expected_calls(n))
    return sample


async def floor_queue(lib: None, n: int, batches: int) -> Sample:
    """Floor of e: a bare ``asyncio.Queue``, ``put_nowait((key, msg))`` then ``await get()``."""
    queue: asyncio.Queue[tuple[tuple[str, ...], int]] = asyncio.Queue()
    key = (ROOT, "rt")

    async def step(items: Sequence[Any]) -> None:
        put, get, k = queue.put_nowait, queue.get, key
        for i in items:
            put((k, i))
            await get()

    return await _atime_batches(step, range(n), batches)


#: What bounds the rows whose floor is one call: the work every publish does before it.
LOOKUP_BOUND = (
    "hub.publish: the route lookup (hashing a 3-part key, one dict get), then, when the key"
    " has a subscriber, the thread check (a get_ident() call) and the re-entrancy flag"
)
#: ... and the rows whose callback is a Subscriber's listener: the same, the callback being
#: called as it was given.
LISTENER_BOUND = LOOKUP_BOUND + ", then the one call"
#: What bounds the rows whose floor is a bare queue.
QUEUE_BOUND = (
    "the publish's lookup and checks, then the subscription's put and get around the deque"
    " and waiter future that an asyncio.Queue has too"
)

WORKLOADS: tuple[Workload, ...] = (
    Workload(
        "a",
        f"warm publish, {BACKGROUND_SUBSCRIPTIONS:,} exact subs, no match",
        "one publish",
        warm_publish_exact,
        size=500_000,
        quick_size=10_000,
        target=1.2,
        floor="floor_call",
        bound=LOOKUP_BOUND + ", then no call at all",
    ),
    Workload(
        "b",
        f"warm publish, {BACKGROUND_SUBSCRIPTIONS:,} wildcard subs, no match",
        "one publish",
        warm_publish_wildcard,
        size=500_000,
        quick_size=10_000,
        target=1.2,
        floor="floor_call",
        bound=LOOKUP_BOUND + ", then no call at all",
    ),
    Workload(
        "c",
        f"first publish of a new key, {BACKGROUND_SUBSCRIPTIONS:,} wildcard subs",
        "one publish of a key never published before",
        first_publish,
        size=500,
        quick_size=100,
        target=50.0,
    ),
    Workload(
        "c2",
        f"as c, after {CACHE_FILLING_KEYS:,} other keys (cache full)",
        "one publish of a key never published before",
        first_publish_cache_full,
        size=500,
        quick_size=100,
    ),
    Workload(
        "d",
        f"subscribe + unsubscribe, {WARM_KEYS:,} warm keys",
        "one subscribe + one unsubscribe",
        churn,
        size=300,
        quick_size=50,
        target=20.0,
    ),
    Workload(
        "e",
        "publish -> await consume(), 1 queue",
        "one publish + one consume",
        round_trip,
        size=100_000,
        quick_size=5_000,
        target=2.0,
        floor="floor_queue",
        bound=QUEUE_BOUND,
    ),
    Workload(
        "e2",
        f"as e, bounded queue (maxsize {BOUND:,}; original: unbounded)",
        "one publish + one consume",
        bounded_round_trip,
        size=100_000,
        quick_size=5_000,
        floor="floor_queue",
        bound=QUEUE_BOUND + ", plus the bound's check on every put",
    ),
    Workload(
        "e3",
        "as e2, with await apublish() (original: publish)",
        "one apublish + one consume",
        apublish_round_trip,
        size=100_000,
        quick_size=5_000,
        target=1.3,
        floor="floor_queue",
        bound="as e2, plus a coroutine created and awaited for every apublish()",
    ),
    Workload(
        "f",
        f"fan-out to {FAN_OUT} queues, then consume each",
        f"one publish + {FAN_OUT} consumes",
        fan_out,
        size=2_000,
        quick_size=50,
        target=1.5,
    ),
    Workload(
        "g",
        "async listener, bursts of messages",
        "one message handled",
        async_listener,
        size=20_000,
        quick_size=1_000,
        target=5.0,
    ),
    Workload(
        "h",
        "memory retained after N new keys, none subscribed",
        "one publish of a new key",
        retained_memory,
        size=50_000,
        quick_size=10_000,
        target=10.0,
        memory=True,
    ),
    Workload(
        "i",
        f"publish to 1 sync callback (add_subscriber), {BACKGROUND_SUBSCRIPTIONS:,} exact subs",
        "one publish + one callback call",
        callback_exact,
        size=500_000,
        quick_size=10_000,
        target=1.0,
        floor="floor_call",
        bound=LOOKUP_BOUND + ", then the one call",
    ),
    Workload(
        "j",
        f"as i, {BACKGROUND_SUBSCRIPTIONS:,} wildcard subs",
        "one publish + one callback call",
        callback_wildcard,
        size=500_000,
        quick_size=10_000,
        target=1.0,
        floor="floor_call",
        bound=LOOKUP_BOUND + ", then the one call",
    ),
    Workload(
        "k",
        "as i, callback added with Subscriber.add_sync_listener",
        "one publish + one callback call",
        sync_listener,
        size=500_000,
        quick_size=10_000,
        target=1.0,
        floor="floor_call",
        bound=LISTENER_BOUND,
    ),
    Workload(
        "l",
        "as i, callback added with Subscriber.sync_subscribe",
        "one publish + one callback call",
        sync_subscription,
        size=500_000,
        quick_size=10_000,
        floor="floor_call",
        bound=LISTENER_BOUND,
    ),
    Workload(
        "m",
        "recorded production stream: 4,500 publishes, 489 subs, warm",
        "one publish (1.57 callback calls on average)",
        recorded_stream,
        size=90_000,
        quick_size=4_500,
        target=1.0,
        floor="floor_recorded",
        recorded=True,
        bound="the route lookup of a new Key object per publish (hashing 3 to 6 parts), the"
        " thread check and re-entrancy flag of every publish that reaches anyone, 0 to 2 calls",
    ),
    Workload(
        "n",
        "as e, through Publisher(hub, prefix).publish",
        "one publish + one consume",
        publisher_round_trip,
        size=100_000,
        quick_size=5_000,
        floor="floor_queue",
        bound="as e, plus prefix + key: a new Key built and hashed afresh for every publish",
    ),
    Workload(
        "o",
        f"has_subscribers(key), warm key, {BACKGROUND_SUBSCRIPTIONS:,} exact subs",
        "one has_subscribers()",
        has_subscribers_warm,
        size=200_000,
        quick_size=5_000,
    ),
    Workload(
        "p",
        f"get_subscriber_queue_sizes(key), {BACKGROUND_SUBSCRIPTIONS:,} exact subs",
        "one get_subscriber_queue_sizes()",
        queue_sizes,
        size=2_000,
        quick_size=200,
    ),
    Workload(
        "q",
        "as e, subscribed with a wildcard key (ROOT, '*')",
        "one publish + one consume",
        wildcard_round_trip,
        size=100_000,
        quick_size=5_000,
        floor="floor_queue",
        bound=QUEUE_BOUND,
    ),
    Workload(
        "r",
        f"add_sync_listener + remove_listener, {BACKGROUND_SUBSCRIPTIONS:,} exact subs",
        "one add_sync_listener + one await remove_listener",
        listener_churn,
        size=2_000,
        quick_size=100,
    ),
    Workload(
        "s",
        "publish from a sync callback (a relay), 1,000 exact subs",
        "one publish + one from its callback + two callback calls",
        relay,
        size=200_000,
        quick_size=5_000,
    ),
    Workload(
        "t",
        "Key(...) built per message, then prefix + key (as Publisher)",
        "one Key(2 parts) + one concatenation",
        key_building,
        size=200_000,
        quick_size=5_000,
    ),
    Workload(
        "u",
        "key.is_subset_of(pattern): a wildcard one, then an equal key",
        "two is_subset_of calls",
        key_matching,
        size=200_000,
        quick_size=5_000,
    ),
    Workload(
        "v",
        'str(key) and f"{key}", a 3-part key',
        "one str() + one f-string",
        key_text,
        size=200_000,
        quick_size=5_000,
    ),
    Workload(
        "w",
        "Subscriber(hub, id) made and dropped, 1,000 exact subs",
        "one Subscriber made and freed",
        subscriber_lifetime,
        size=100_000,
        quick_size=2_000,
    ),
    Workload(
        "x",
        "Hub() made and dropped",
        "one Hub made and freed",
        hub_lifetime,
        size=50_000,
        quick_size=1_000,
    ),
    Workload(
        "floor_call",
        "a direct call f(key, msg), no hub",
        "one call",
        floor_call,
        size=500_000,
        quick_size=10_000,
        is_floor=True,
    ),
    Workload(
        "floor_recorded",
        "the stream of m through a dict of precomputed callback tuples, no hub",
        "one lookup + its calls",
        floor_recorded,
        size=90_000,
        quick_size=4_500,
        is_floor=True,
        recorded=True,
    ),
    Workload(
        "floor_queue",
        "a bare asyncio.Queue, put_nowait((key, msg)) + await get()",
        "one put_nowait + one await get()",
        floor_queue,
        size=100_000,
        quick_size=5_000,
        is_floor=True,
    ),
)


def by_name(name: str) -> Workload:
    """Return the workload called ``name``.

    :raises KeyError: if there is none.
    """
    for workload in WORKLOADS:
        if workload.name == name:
            return workload
    raise KeyError(name)
