"""A late subscriber gets the current prices at once: each price is retained (the last value
per key), and a subscription made with ``replay=True`` receives the live retained values
first, in key order, then every live update, with nothing missed or repeated in between.

A quote retained with a TTL expires: a subscriber that comes after it sees nothing of it.
"""

from __future__ import annotations

import asyncio

import aiopubsub
from aiopubsub.stores import MemoryStore


async def main() -> None:
    async with aiopubsub.Hub(store=MemoryStore(max_keys=10_000)) as hub:
        prices = aiopubsub.Publisher(hub, "price")
        prices.retain("EUR/USD", 1.0841)
        prices.retain("GBP/USD", 1.2702)
        prices.retain("EUR/USD", 1.0843)  # Replaces the previous value.
        prices.retain("USD/JPY", 151.20, ttl=0.5)  # An indicative quote, good for half a second.

        # Joins late: gets the current value of every pair at once, then live updates.
        late = aiopubsub.Subscriber(hub, "dashboard")
        late.subscribe(("price", "*"), replay=True)
        prices.retain("GBP/USD", 1.2705)
        async with asyncio.timeout(5):
            for _ in range(4):
                key, price = await late.consume()
                print(f"dashboard: {key[1]} = {price}")

        await asyncio.sleep(0.6)  # The JPY quote expires.
        print("retained now:", {key[1]: price for key, price in hub.retained().items()})
        statistics = hub.statistics()
        print(f"retained={statistics.retained} expired={statistics.expired}")
        await late.aclose()


asyncio.run(main())
