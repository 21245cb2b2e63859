"""The other process of test_bridge_two_processes_exchange_both_ways.

Usage: ``python bridge_peer.py REDIS_URL NAMESPACE``. Says ``('hello', 'peer')`` once its
subscriptions are confirmed, answers each ``('ping', n)`` with ``('pong', n)`` (printing
``ping/n``), and exits after three.
"""

from __future__ import annotations

import asyncio
import sys

import aiopubsub
from aiopubsub import Key
from aiopubsub.bridges.redis import RedisBridge


async def main(url: str, namespace: str) -> None:
    hub = aiopubsub.Hub()
    async with aiopubsub.Subscriber(hub, "peer") as subscriber:
        subscriber.subscribe(Key("ping", "*"))
        async with RedisBridge(hub, url, namespace=namespace):
            hub.publish(("hello", "peer"), {"ready": True})
            for _ in range(3):
                key, message = await asyncio.wait_for(subscriber.consume(), 30)
                print("/".join(key), flush=True)
                hub.publish(("pong", key[1]), {**message, "doubled": 2 * message["i"]})


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
