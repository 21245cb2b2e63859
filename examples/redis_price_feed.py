"""Two processes, one hub: a price feed and a trader joined by the Redis bridge.

Run without arguments, it starts a throwaway ``redis-server`` on a free port (if one is
installed), then a ``trader`` process and a ``feed`` process. The feed publishes prices under
``('price', <symbol>)``; the trader subscribes to ``('price', '*')`` as if the feed were in
its own process, and answers cheap prices with orders under ``('order', <symbol>)``, which
the feed hears through its own subscription. Neither process names Redis outside the bridge.

Run one role alone against your own Redis with
``python3 redis_price_feed.py trader|feed redis://localhost:6379/0``.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import aiopubsub
from aiopubsub import Key
from aiopubsub.bridges.redis import RedisBridge

NAMESPACE = "price-feed-demo"
SYMBOLS = ("EUR/USD", "BTC/USD", "ACME")
PRICES = 12
#: The trader buys below this fraction of a symbol's first price.
CHEAP = 0.99


async def feed(url: str) -> None:
    """Publish prices; print each order the trader sends back; stop when it says it is done."""
    hub = aiopubsub.Hub()
    async with aiopubsub.Subscriber(hub, "feed") as subscriber:
        subscriber.add_sync_listener(
            Key("order", "*"), lambda key, order: print(f"feed: order {key[1]} {order}")
        )
        subscriber.subscribe(Key("trader", "done"))
        # The bridge follows the subscriptions above: Redis sends their messages here.
        async with RedisBridge(hub, url, namespace=NAMESPACE) as bridge:
            rng = random.Random(7)
            prices = {"EUR/USD": 1.08, "BTC/USD": 64000.0, "ACME": 12.5}
            for _ in range(PRICES):
                symbol = rng.choice(SYMBOLS)
                prices[symbol] = round(prices[symbol] * rng.uniform(0.98, 1.02), 4)
                hub.publish(("price", symbol), {"symbol": symbol, "price": prices[symbol]})
                await asyncio.sleep(0.01)
            hub.publish(("price", "end"), {})
            await asyncio.wait_for(subscriber.consume(), 10)
            print(f"feed: done, {bridge.statistics().sent} messages sent")


async def trader(url: str) -> None:
    """Read prices, buy the cheap ones, say when the feed has ended."""
    hub = aiopubsub.Hub()
    async with aiopubsub.Subscriber(hub, "trader") as subscriber:
        subscriber.subscribe(Key("price", "*"))
        async with RedisBridge(hub, url, namespace=NAMESPACE):
            print("trader: ready", flush=True)
            first: dict[str, float] = {}
            prices = 0  # Not the bridge's "received", which counts the end marker too.
            async for key, tick in subscriber.messages():
                if key[1] == "end":
                    break
                prices += 1
                symbol, price = tick["symbol"], tick["price"]
                first.setdefault(symbol, price)
                print(f"trader: {symbol} at {price}")
                if price < first[symbol] * CHEAP:
                    hub.publish(("order", symbol), {"side": "buy", "price": price})
            hub.publish(("trader", "done"), {"prices": prices})
            print(f"trader: done, {prices} prices received")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_redis(binary: str, directory: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start a redis-server that keeps nothing on disk; return it once it answers."""
    port = free_port()
    server = subprocess.Popen(
        [
            *(binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"),
            *("no", "--dir", directory, "--logfile", os.path.join(directory, "redis.log")),
        ],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(500):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return server, f"redis://127.0.0.1:{port}/0"
        except OSError:
            pass
        if server.poll() is not None:
            break
        time.sleep(0.01)
    server.kill()
    server.wait()
    raise RuntimeError("redis-server did not start")


async def relay(process: asyncio.subprocess.Process, ready: asyncio.Event) -> None:
    """Print what a role prints; set ``ready`` when it says so."""
    assert process.stdout is not None
    async for line in process.stdout:
        text = line.decode().rstrip()
        print(text, flush=True)
        if text.endswith(": ready"):
            ready.set()


async def both(url: str) -> None:
    """Run the trader, and once it is subscribed, the feed: two processes, one hub."""

    async def spawn(role: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, __file__, role, url, stdout=asyncio.subprocess.PIPE
        )

    trader_ready, never = asyncio.Event(), asyncio.Event()
    async with asyncio.timeout(30):
        trader_process = await spawn("trader")
        trader_output = asyncio.create_task(relay(trader_process, trader_ready))
        await trader_ready.wait()
        feed_process = await spawn("feed")
        await relay(feed_process, never)
        await trader_output
        codes = await asyncio.gather(trader_process.wait(), feed_process.wait())
    if any(codes):
        raise SystemExit(f"a role failed: exit codes {codes}")


def main() -> None:
    if len(sys.argv) == 3:
        role, url = sys.argv[1:]
        asyncio.run({"feed": feed, "trader": trader}[role](url))
        return
    binary = shutil.which("redis-server")
    if binary is None:
        print("redis-server is not installed: install it (Debian: redis-server) to see the demo")
        return
    with tempfile.TemporaryDirectory() as directory:
        server, url = start_redis(binary, directory)
        try:
            print(f"redis-server at {url}")
            asyncio.run(both(url))
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
