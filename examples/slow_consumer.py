"""A slow consumer behind a bounded queue: what it keeps, what it loses, and how you find out.

A fast feed publishes 1,000 ticks. One consumer keeps up; another reads one tick per ten
published, behind a queue of 50 that keeps the newest ticks (``Overflow.DROP_OLDEST``). The
feed never waits and never fails; the slow consumer's losses are counted in its statistics
and announced once per overflow episode as a ``('Hub', 'slowSubscriber', ...)`` meta-event.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiopubsub
from aiopubsub import Key, Overflow


async def main() -> None:
    hub = aiopubsub.Hub()
    feed = aiopubsub.Publisher(hub, prefix="ticks")
    warnings: list[Any] = []

    async with (
        aiopubsub.Subscriber(hub, "fast") as fast,
        aiopubsub.Subscriber(hub, "slow", maxsize=50, overflow=Overflow.DROP_OLDEST) as slow,
        aiopubsub.Subscriber(hub, "ops") as ops,
    ):
        ops.add_sync_listener(
            Key("Hub", "slowSubscriber", "*"), lambda key, message: warnings.append((key, message))
        )
        fast.subscribe(Key("ticks", "*"))
        slow.subscribe(Key("ticks", "*"))

        fast_seen = slow_seen = 0
        for price in range(1000):
            feed.publish("EURUSD", price)
            fast.consume_nowait()
            fast_seen += 1
            if price % 10 == 0:
                slow.consume_nowait()
                slow_seen += 1
        while True:  # The slow consumer catches up with what its queue kept.
            try:
                last_key, last_price = slow.consume_nowait()
            except asyncio.QueueEmpty:
                break
            slow_seen += 1

        stats = slow.statistics()
        print(f"fast consumer saw {fast_seen} ticks; slow consumer saw {slow_seen}")
        print(f"slow consumer's last tick: {last_price} under {last_key}")
        print(
            f"slow queue: maxsize={stats.maxsize} peak={stats.peak_queued}"
            f" delivered={stats.delivered} dropped={stats.dropped}"
        )
        for key, message in warnings:
            print(f"meta-event {tuple(key)}: {message}")
        print(f"hub: {hub.statistics()}")
    await hub.aclose()


if __name__ == "__main__":
    asyncio.run(main())
