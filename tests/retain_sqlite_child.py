"""A child process for the crash test: retains ('k', i) = i into an SQLite file as fast as it
can, printing 'flushed <n>' each time the first n values are known to be committed, until it
is killed."""

from __future__ import annotations

import asyncio
import sys

from aiopubsub import Hub
from aiopubsub.stores.sqlite import SQLiteStore


async def main(path: str) -> None:
    store = SQLiteStore(path, flush_interval=0.02)
    hub = Hub(store=store)
    i = 0
    while True:
        for _ in range(500):
            hub.retain(("k", i), i)
            i += 1
        await asyncio.sleep(0)  # Let the hub's writer hand the batch to the store.
        if i % 5000 == 0:
            await hub._written()  # Handed over, all of it (in chunks, the loop running between).
            await store.flush()
            print(f"flushed {i}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
