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


def _check_background(hub: Any, subscriber: Any) -> None:
    """Check, after the clock stopped, that the background was there and nothing matched it.

    Keeps ``subscriber`` alive until then, too.

    :raises RuntimeError: if a subscription is missing or a message reached one.
    """
    sizes = hub.get_all_subscriber_queue_sizes()
    if len(sizes) != BACKGROUND_SUBSCRIPTIONS or any(map(sum, sizes.values())):
        raise RuntimeError(
            f"{subscriber.id!r} should hold {BACKGROUND_SUBSCRIPTIONS} empty queue subscriptions,"
            f" the hub reports {len(sizes)} holding {sum(map(sum, sizes.values()))} messages"
        )


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


def _noop(key: Any, message: Any) -> None:
    """The cheapest possible subscriber callback."""


async def floor_call(lib: None, n: int, batches: int) -> Sample:
    """Floor of a and b: a direct call ``f(key, msg)``, no hub at all."""
    return _call_repeatedly(_noop, (ROOT, "b", "c"), n, batches)


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
    ),
    Workload(
        "e2",
        f"as e, bounded queue (maxsize {BOUND:,}; original: unbounded)",
        "one publish + one consume",
        bounded_round_trip,
        size=100_000,
        quick_size=5_000,
    ),
    Workload(
        "e3",
        "as e2, with await apublish() (original: publish)",
        "one apublish + one consume",
        apublish_round_trip,
        size=100_000,
        quick_size=5_000,
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
        "floor_call",
        "a direct call f(key, msg), no hub",
        "one call",
        floor_call,
        size=500_000,
        quick_size=10_000,
        is_floor=True,
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
