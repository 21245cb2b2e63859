"""Messages per second through real local brokers: each client's own awaited publish vs the
bridge, outbound and end to end into a second hub, for Redis and NATS.

Usage (from anywhere)::

    python3 benchmarks/bench_bridges.py            # 50 000 messages, best of 3 rounds
    python3 benchmarks/bench_bridges.py --quick    # 5 000 messages, one round: a smoke test
    python3 benchmarks/bench_bridges.py --profile  # and a profile of the receiving side

It starts its own ``redis-server`` and ``nats-server`` on free loopback ports and measures,
per broker:

* ``single``: a loop of the client's own awaited publish (``await client.publish(...)`` with
  ``redis.asyncio``; with nats-py, ``await nc.publish(...)`` then one final flush of its
  queue and ``flush()``, as nats-py buffers), of envelopes as the bridge would send them.
  Timed until the broker has them all.
* ``bridge``: ``hub.publish()`` on a hub with a bridge (outbound: everything, inbound:
  nothing), in bursts of 1 000 between which the loop runs, timed until the bridge's ``sent``
  counts them all (acknowledged: the same point as ``single``).
* ``bridge->hub``: the same with a second hub and bridge in the same process subscribed to
  everything, timed until that hub has received every message (end to end, both sides
  sharing one process and one core).

With ``--profile``, one more ``bridge->hub`` run has its sending side in another process
(this script with ``--send``), and this process, the receiving side alone, is profiled with
cProfile from the first message received to the last: the share of time by where the code
lives, then the functions taking most of it.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import nats
import redis.asyncio as aioredis

import aiopubsub
from aiopubsub.bridges import Bridge, JsonCodec
from aiopubsub.bridges._channels import channel_of
from aiopubsub.bridges._subjects import subject_of
from aiopubsub.bridges.nats import NatsBridge
from aiopubsub.bridges.redis import RedisBridge

BURST = 1000
#: A Key, as a Publisher or a subscriber's callback hands it: publish() need not convert it.
KEY = aiopubsub.Key("price", "EUR/USD")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin")
    if found is None:
        raise SystemExit(f"{name} is not installed (Debian package {name})")
    return found


def start(broker: str, directory: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start a server of ``broker`` on a free loopback port; wait until it answers."""
    port = free_port()
    if broker == "redis":
        command = [
            *(binary("redis-server"), "--port", str(port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--dir", directory),
            *("--logfile", os.path.join(directory, "redis.log")),
        ]
        url, hello, greeting = f"redis://127.0.0.1:{port}/0", b"PING\r\n", b"+PONG"
    else:
        command = [
            *(binary("nats-server"), "--addr", "127.0.0.1", "--port", str(port)),
            *("--log", os.path.join(directory, "nats.log")),
        ]
        url, hello, greeting = f"nats://127.0.0.1:{port}", b"", b"INFO "
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(hello)
                if sock.recv(16).startswith(greeting):
                    return server, url
        except OSError:
            time.sleep(0.01)
    server.kill()
    server.wait()
    raise SystemExit(f"{broker} server did not start")


def message(i: int) -> dict[str, object]:
    return {"symbol": "EUR/USD", "price": 1.08 + i * 1e-6, "i": i}


def envelopes(n: int) -> list[bytes]:
    codec = JsonCodec()
    return [codec.encode({"o": "x", "s": i + 1, "k": list(KEY), "p": message(i)}) for i in range(n)]


async def single_redis(url: str, n: int) -> float:
    channel = channel_of("bench", KEY)
    client = aioredis.Redis.from_url(url)
    try:
        await client.ping()
        start = time.perf_counter()
        for data in envelopes(n):
            await client.publish(channel, data)
        return time.perf_counter() - start
    finally:
        await client.aclose()


async def single_nats(url: str, n: int) -> float:
    subject = subject_of("bench", KEY)
    client = await nats.connect(url)
    try:
        start = time.perf_counter()
        for data in envelopes(n):
            await client.publish(subject, data)
        # flush() alone can return before nats-py's queue is written (its PING overtakes the
        # queue): write the queue first, as the bridge does.
        await client._flush_pending(force_flush=True)
        await client.flush()
        return time.perf_counter() - start
    finally:
        await client.close()


def make(broker: str, hub: aiopubsub.Hub, url: str, **kwargs: object) -> Bridge:
    cls = RedisBridge if broker == "redis" else NatsBridge
    return cls(hub, url, **kwargs)  # type: ignore[arg-type]


async def publish_all(hub: aiopubsub.Hub, n: int) -> None:
    for i in range(n):
        hub.publish(KEY, message(i))
        if i % BURST == BURST - 1:
            await asyncio.sleep(0)


async def until(condition: Callable[[], bool]) -> None:
    while not condition():  # noqa: ASYNC110 - statistics have no event to wait on
        await asyncio.sleep(0.0005)


async def bridge(broker: str, url: str, n: int) -> float:
    hub = aiopubsub.Hub()
    async with make(broker, hub, url, namespace="bench", inbound=[], max_buffer=n) as sender:
        start = time.perf_counter()
        await publish_all(hub, n)
        await until(lambda: sender.statistics().sent == n)
        elapsed = time.perf_counter() - start
        assert sender.statistics().dropped == 0
    return elapsed


async def bridge_to_hub(broker: str, url: str, n: int) -> float:
    hub, remote = aiopubsub.Hub(), aiopubsub.Hub()
    received = 0

    def count(key: aiopubsub.Key, message: object) -> None:
        nonlocal received
        received += 1

    remote.add_subscriber(("price", "*"), count)
    try:
        async with (
            make(broker, remote, url, namespace="bench2", outbound=[]),
            make(broker, hub, url, namespace="bench2", inbound=[], max_buffer=n),
        ):
            start = time.perf_counter()
            await publish_all(hub, n)
            await until(lambda: received == n)
            return time.perf_counter() - start
    finally:
        remote.remove_subscriber(("price", "*"), count)


async def send(broker: str, url: str, n: int) -> None:
    """The ``--send`` role: publish ``n`` messages through a bridge, then close it."""
    hub = aiopubsub.Hub()
    async with make(broker, hub, url, namespace="bench3", inbound=[], max_buffer=n) as sender:
        await publish_all(hub, n)
        await until(lambda: sender.statistics().sent == n)


async def profile_receiving(broker: str, url: str, n: int) -> tuple[cProfile.Profile, float]:
    """Profile this process receiving ``n`` messages that another process sends."""
    remote = aiopubsub.Hub()
    profile = cProfile.Profile()
    received = 0
    start = 0.0

    def count(key: aiopubsub.Key, message: object) -> None:
        nonlocal received, start
        received += 1
        if received == 1:
            start = time.perf_counter()
            profile.enable()
        elif received == n:
            profile.disable()

    remote.add_subscriber(("price", "*"), count)
    try:
        async with make(broker, remote, url, namespace="bench3", outbound=[]):
            process = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--send", broker, url, str(n)
            )
            await until(lambda: received == n)
            elapsed = time.perf_counter() - start
            await process.wait()
    finally:
        remote.remove_subscriber(("price", "*"), count)
    return profile, (n - 1) / elapsed


async def best(run: Callable[[], Awaitable[float]], rounds: int) -> float:
    return min([await run() for _ in range(rounds)])


def print_profile(profile: cProfile.Profile) -> None:
    stats = pstats.Stats(profile)
    groups: dict[str, float] = {}
    total = 0.0
    for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        total += tottime
        if "aiopubsub/bridges" in filename:
            group = "aiopubsub bridge"
        elif "aiopubsub" in filename:
            group = "aiopubsub hub"
        elif "json" in filename:
            group = "json"
        elif "/redis/" in filename or "hiredis" in filename:
            group = "redis-py"
        elif "/nats/" in filename:
            group = "nats-py"
        elif "asyncio" in filename:
            group = "asyncio"
        else:
            group = "other (builtins, C)"
        groups[group] = groups.get(group, 0.0) + tottime
    for group, seconds in sorted(groups.items(), key=lambda item: -item[1]):
        print(f"    {group:<22} {100 * seconds / total:5.1f} %")
    stats.sort_stats("tottime").print_stats(8)


async def main(n: int, rounds: int, profile: bool) -> None:
    with tempfile.TemporaryDirectory() as directory:
        for broker in ("redis", "nats"):
            server, url = start(broker, directory)
            try:
                single = single_redis if broker == "redis" else single_nats
                results = {
                    "single": await best(lambda: single(url, n), rounds),  # noqa: B023
                    "bridge": await best(lambda: bridge(broker, url, n), rounds),  # noqa: B023
                    "bridge->hub": await best(
                        lambda: bridge_to_hub(broker, url, n),  # noqa: B023
                        rounds,
                    ),
                }
                print(f"{broker}: {n} messages, best of {rounds}, server on loopback")
                rates = {name: n / seconds for name, seconds in results.items()}
                for name, rate in rates.items():
                    print(f"  {name:<12} {rate:>12,.0f} msgs/s")
                print(f"  bridge / single: {rates['bridge'] / rates['single']:.1f}x")
                if profile:
                    profiler, rate = await profile_receiving(broker, url, n)
                    print(
                        f"  receiving side alone ({rate:,.0f} msgs/s under the profiler),"
                        " share of its time:"
                    )
                    print_profile(profiler)
            finally:
                server.terminate()
                server.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 000 messages, one round")
    parser.add_argument("--profile", action="store_true", help="profile the receiving side")
    parser.add_argument("--send", nargs=3, metavar=("BROKER", "URL", "N"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.send:
        broker, url, n = arguments.send
        asyncio.run(send(broker, url, int(n)))
    else:
        count, rounds = (5_000, 1) if arguments.quick else (50_000, 3)
        asyncio.run(main(count, rounds, arguments.profile))
