"""Messages per second through a real local redis-server: awaited PUBLISH calls vs the bridge.

Usage (from anywhere)::

    python3 benchmarks/bench_redis.py           # 50 000 messages, best of 3 rounds
    python3 benchmarks/bench_redis.py --quick   # 5 000 messages, one round: a smoke test

It starts its own ``redis-server`` on a free loopback port (no persistence) and measures:

* ``single``: a loop of ``await client.publish(channel, data)`` with ``redis.asyncio``, one
  round trip per message, of envelopes as the bridge would send them. Timed until the last
  call returns: every message has been written to Redis.
* ``bridge``: ``hub.publish()`` of the same number of messages on a hub with a
  :class:`RedisBridge` (outbound: everything, inbound: nothing), in bursts of 1 000 between
  which the loop runs. Timed until ``bridge.statistics().sent`` counts them all: every
  message has been written to Redis and acknowledged (the same point as ``single``). The
  buffer is made large enough that nothing is dropped.
* ``bridge->hub``: the same, with a second hub and bridge in the same process subscribed to
  everything, timed until that hub has received every message (end to end, both sides
  sharing one process).

Each figure is the best of the rounds; the ratio is bridge / single.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis.asyncio as aioredis

import aiopubsub
from aiopubsub.bridges._channels import channel_of
from aiopubsub.bridges.redis import JsonCodec, RedisBridge

BURST = 1000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_redis(directory: str) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (Debian package redis-server)")
    port = free_port()
    server = subprocess.Popen(
        [
            *(binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"),
            *("no", "--dir", directory, "--logfile", os.path.join(directory, "redis.log")),
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return server, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.01)
    server.kill()
    server.wait()
    raise SystemExit("redis-server did not start")


def message(i: int) -> dict[str, object]:
    return {"symbol": "EUR/USD", "price": 1.08 + i * 1e-6, "i": i}


async def single(url: str, n: int) -> float:
    codec = JsonCodec()
    channel = channel_of("bench", ("price", "EUR/USD"))
    client = aioredis.Redis.from_url(url)
    try:
        await client.ping()
        start = time.perf_counter()
        for i in range(n):
            data = codec.encode(
                {"o": "x", "n": i + 1, "s": i + 1, "k": ["price", "EUR/USD"], "p": message(i)}
            )
            await client.publish(channel, data)
        return time.perf_counter() - start
    finally:
        await client.aclose()


async def publish_all(hub: aiopubsub.Hub, n: int) -> None:
    for i in range(n):
        hub.publish(("price", "EUR/USD"), message(i))
        if i % BURST == BURST - 1:
            await asyncio.sleep(0)


async def until(condition: Callable[[], bool]) -> None:
    while not condition():  # noqa: ASYNC110 - statistics have no event to wait on
        await asyncio.sleep(0.0005)


async def bridge(url: str, n: int) -> float:
    hub = aiopubsub.Hub()
    async with RedisBridge(hub, url, namespace="bench", inbound=[], max_buffer=n) as sender:
        start = time.perf_counter()
        await publish_all(hub, n)
        await until(lambda: sender.statistics().sent == n)
        elapsed = time.perf_counter() - start
        assert sender.statistics().dropped == 0
    return elapsed


async def bridge_to_hub(url: str, n: int) -> float:
    hub, remote = aiopubsub.Hub(), aiopubsub.Hub()
    received = 0

    def count(key: aiopubsub.Key, message: object) -> None:
        nonlocal received
        received += 1

    remote.add_subscriber(("price", "*"), count)
    try:
        async with (
            RedisBridge(remote, url, namespace="bench2", outbound=[]),
            RedisBridge(hub, url, namespace="bench2", inbound=[], max_buffer=n),
        ):
            start = time.perf_counter()
            await publish_all(hub, n)
            await until(lambda: received == n)
            return time.perf_counter() - start
    finally:
        remote.remove_subscriber(("price", "*"), count)


async def best(run: Callable[[str, int], Awaitable[float]], url: str, n: int, rounds: int) -> float:
    return min([await run(url, n) for _ in range(rounds)])


async def main(n: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        server, url = start_redis(directory)
        try:
            results = {
                "single": await best(single, url, n, rounds),
                "bridge": await best(bridge, url, n, rounds),
                "bridge->hub": await best(bridge_to_hub, url, n, rounds),
            }
        finally:
            server.terminate()
            server.wait()
    print(f"{n} messages, best of {rounds}, redis-server on loopback")
    rates = {name: n / seconds for name, seconds in results.items()}
    for name, rate in rates.items():
        print(f"  {name:<12} {rate:>12,.0f} msgs/s")
    print(f"  bridge / single: {rates['bridge'] / rates['single']:.1f}x")
    print(f"  bridge->hub / single: {rates['bridge->hub'] / rates['single']:.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 000 messages, one round")
    arguments = parser.parse_args()
    asyncio.run(main(5_000, 1) if arguments.quick else main(50_000, 3))
