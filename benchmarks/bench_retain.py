"""Retained values: what retaining costs next to publishing, replay next to live delivery,
the SQLite and Redis stores' throughput, the event loop's lag, and memory per value.

Usage (from anywhere)::

    python3 benchmarks/bench_retain.py           # full sizes, best of 3 rounds
    python3 benchmarks/bench_retain.py --quick   # small sizes, one round: a smoke test

Rows (each the best of the rounds, ratios taken within this one run):

* ``publish`` / ``retain``: ``hub.publish`` and ``hub.retain`` (``MemoryStore``) under 1 000
  keys in turn, to one queue subscription (drained outside the timing) and one sync
  callback; the issue's target is retain <= 2x publish.
* ``forget one key``: ``hub.forget(key)`` of an exact key that holds a value.
* ``retain, bridged``: ``hub.retain`` to one sync callback that asks what a bridge's outbound
  callback asks, on a hub a bridge exports from: the hub's share of a bridged retain (the
  bridge's encoding and sending are in ``bench_bridges.py``).
* ``live 10k`` / ``replay 10k``: 10 000 publishes to one queue subscription, and a new
  queue subscription replaying 10 000 retained values; target replay < 10x live.
* ``sqlite``: ``hub.retain`` into a hub with ``SQLiteStore`` in bursts of 1 000 with the
  loop running between bursts, until everything is committed; target >= 50 000/s. The
  loop's lag (how late a task that sleeps 1 ms wakes) is sampled all along; target <= 5 ms.
  ``no store``: the same lag, retaining the same way into a hub with no persistent store
  (no writer thread): the measure's floor on this machine.
* ``redis``: the same with ``RedisStore`` on a local ``redis-server`` started here, timed
  until the hub has written everything (pipelined); target >= 10 000/s.
* memory: bytes per retained value held by a ``MemoryStore`` (its dict and tuples; the keys
  and messages themselves not counted), measured with ``tracemalloc``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiopubsub
from aiopubsub import Hub, Key, Subscriber
from aiopubsub.bridges._plumbing import export_from, retention
from aiopubsub.stores import MemoryStore
from aiopubsub.stores.sqlite import SQLiteStore

KEYS = [Key("price", i) for i in range(1000)]
BURST = 1000
STREAM_BURST = 100


def best(rounds: int, run: Callable[[], float]) -> float:
    return min(run() for _ in range(rounds))


def drain(subscriber: Subscriber) -> int:
    n = 0
    while True:
        try:
            subscriber.consume_nowait()
        except asyncio.QueueEmpty:
            return n
        n += 1


async def publish_vs_retain(n: int, rounds: int) -> tuple[float, float]:
    hub = Hub()
    subscriber = Subscriber(hub, "s")
    subscriber.subscribe(("price", "*"))
    hub.add_subscriber(("price", "*"), lambda key, message: None)

    def timed(operation: Callable[[Key, object], None]) -> float:
        elapsed = 0.0
        keys = KEYS * (BURST // len(KEYS))
        for _ in range(0, n, BURST):
            t0 = time.perf_counter()
            for i, key in enumerate(keys):
                operation(key, i)
            elapsed += time.perf_counter() - t0
            drain(subscriber)
        return elapsed / n

    publish = best(rounds, lambda: timed(hub.publish))
    retain = best(rounds, lambda: timed(hub.retain))
    subscriber.close()
    return publish, retain


async def forget_and_exported(n: int, rounds: int) -> tuple[float, float]:
    """``forget()`` of one exact key holding a value, per call; and ``retain()`` to one sync
    callback on a hub that a bridge exports from (the callback asks what a bridge's does,
    without encoding or sending: the hub's own share of a bridged retain)."""
    hub = Hub()

    def forgets() -> float:
        for i, key in enumerate(KEYS):
            hub.retain(key, i)
        t0 = time.perf_counter()
        for key in KEYS:
            hub.forget(key)
        return (time.perf_counter() - t0) / len(KEYS)

    bridged = Hub()
    bridged.add_subscriber(("price", "*"), lambda key, message: retention(bridged, key, message))
    export_from(bridged, lambda keys: None)

    def exported() -> float:
        t0 = time.perf_counter()
        for _ in range(0, n, BURST):
            for i, key in enumerate(KEYS):
                bridged.retain(key, i)
        return (time.perf_counter() - t0) / (n // BURST * len(KEYS))

    return best(rounds, forgets), best(rounds, exported)


async def live_vs_replay(n: int, rounds: int) -> tuple[float, float]:
    hub = Hub()
    keys = [Key("r", i) for i in range(n)]

    def live() -> float:
        subscriber = Subscriber(hub, "live")
        subscriber.subscribe(("r", "*"))
        t0 = time.perf_counter()
        for i, key in enumerate(keys):
            hub.publish(key, i)
        elapsed = time.perf_counter() - t0
        assert drain(subscriber) == n
        subscriber.close()
        return elapsed

    live_time = best(rounds, live)
    for i, key in enumerate(keys):
        hub.retain(key, i)

    def replay() -> float:
        subscriber = Subscriber(hub, "late")
        t0 = time.perf_counter()
        subscriber.subscribe(("r", "*"), replay=True)
        elapsed = time.perf_counter() - t0
        assert drain(subscriber) == n
        subscriber.close()
        return elapsed

    return live_time, best(rounds, replay)


class LagMonitor:
    """Samples how late a task sleeping 1 ms wakes: the loop's lag."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def worst(self) -> float:
        return max(self.samples, default=0.0)

    @property
    def p99(self) -> float:
        ordered = sorted(self.samples)
        return ordered[int(len(ordered) * 0.99)] if ordered else 0.0

    async def _run(self) -> None:
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(0.001)
            self.samples.append(time.perf_counter() - t0 - 0.001)

    def __enter__(self) -> LagMonitor:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def written(hub: Hub) -> None:
    while hub._unsaved or hub._writer is not None:  # noqa: ASYNC110 - no event to wait on
        await asyncio.sleep(0.001)


async def retain_through(hub: Hub, n: int) -> None:
    """Retain ``n`` values in bursts of :data:`STREAM_BURST`, the loop running in between (a
    burst is short enough to add well under a millisecond of lag of its own)."""
    for start in range(0, n, STREAM_BURST):
        for i in range(start, min(start + STREAM_BURST, n)):
            hub.retain(("price", i % 10_000), {"bid": 1.08 + i * 1e-6, "i": i})
        await asyncio.sleep(0)


async def memory_lag(n: int) -> LagMonitor:
    """The loop's lag while retaining as :func:`sqlite_rate` does, into a hub with no
    persistent store: the floor of the measure on this machine (no writer thread at all)."""
    hub = Hub()
    with LagMonitor() as lag:
        await retain_through(hub, n)
    hub.close()
    return lag


async def sqlite_rate(n: int) -> tuple[float, LagMonitor]:
    with tempfile.TemporaryDirectory() as directory:
        store = SQLiteStore(Path(directory) / "bench.db")
        hub = Hub(store=store)
        with LagMonitor() as lag:
            t0 = time.perf_counter()
            await retain_through(hub, n)
            await written(hub)
            await store.flush()
            elapsed = time.perf_counter() - t0
        await hub.aclose()
        assert hub.statistics().store_errors == 0
    return n / elapsed, lag


async def redis_rate(n: int) -> float | None:
    try:
        from bench_bridges import start

        from aiopubsub.stores.redis import RedisStore
    except ImportError as exc:
        print(f"redis: skipped ({exc})")
        return None
    with tempfile.TemporaryDirectory() as directory:
        server, url = start("redis", directory)
        try:
            hub = Hub(store=RedisStore(url, "bench"))
            t0 = time.perf_counter()
            await retain_through(hub, n)
            await written(hub)
            elapsed = time.perf_counter() - t0
            assert hub.statistics().store_errors == 0
            await hub.aclose()
        finally:
            server.kill()
            server.wait()
    return n / elapsed


def memory_per_value(n: int) -> float:
    keys = [Key("price", i) for i in range(n)]
    messages = [float(i) for i in range(n)]
    store = MemoryStore()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for key, message in zip(keys, messages):
        store.put(key, message, None)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / n


async def main(quick: bool) -> None:
    rounds = 1 if quick else 3
    n = 10_000 if quick else 200_000
    publish, retain = await publish_vs_retain(n, rounds)
    forget, exported = await forget_and_exported(n, rounds)
    live, replay = await live_vs_replay(1000 if quick else 10_000, rounds)
    sqlite, lag = await sqlite_rate(n)
    floor = await memory_lag(n)
    redis = await redis_rate(5000 if quick else 100_000)
    memory = memory_per_value(10_000 if quick else 100_000)
    print(f"aiopubsub {aiopubsub.__version__}, Python {sys.version.split()[0]}")
    print(f"{'row':<28}{'figure':>16}{'target':>16}")
    print(f"{'publish (ns/op)':<28}{publish * 1e9:>16.0f}")
    print(f"{'retain (ns/op)':<28}{retain * 1e9:>16.0f}")
    print(f"{'retain / publish':<28}{retain / publish:>15.2f}x{'<= 2x':>16}")
    print(f"{'forget one key (ns/op)':<28}{forget * 1e9:>16.0f}")
    print(f"{'retain, bridged (ns/op)':<28}{exported * 1e9:>16.0f}")
    size = "1k" if quick else "10k"
    print(f"{'live ' + size + ' (ms)':<28}{live * 1e3:>16.2f}")
    print(f"{'replay ' + size + ' (ms)':<28}{replay * 1e3:>16.2f}")
    print(f"{'replay / live':<28}{replay / live:>15.2f}x{'< 10x':>16}")
    print(f"{'sqlite (retains/s)':<28}{sqlite:>16,.0f}{'>= 50,000':>16}")
    print(f"{'sqlite worst loop lag (ms)':<28}{lag.worst * 1e3:>16.2f}{'<= 5':>16}")
    print(f"{'sqlite p99 loop lag (ms)':<28}{lag.p99 * 1e3:>16.2f}")
    print(f"{'no store, worst lag (ms)':<28}{floor.worst * 1e3:>16.2f}")
    print(f"{'no store, p99 lag (ms)':<28}{floor.p99 * 1e3:>16.2f}")
    if redis is not None:
        print(f"{'redis (retains/s)':<28}{redis:>16,.0f}{'>= 10,000':>16}")
    print(f"{'memory per value (bytes)':<28}{memory:>16.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one round")
    asyncio.run(main(parser.parse_args().quick))
