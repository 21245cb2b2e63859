"""The processes of test_conformance_fork_after_creating_a_bridge.

Usage: ``python bridge_fork_peer.py BROKER URL NAMESPACE COUNT``. Makes a hub and a bridge,
then forks two children before starting it (as a pre-fork server with preloading does). Each
child starts the bridge, announces itself under ``('ready', <pid>)`` until it hears the other
(so both are subscribed), publishes ``COUNT`` messages under ``('fork', <pid>)``, waits for the
other's ``COUNT``, says ``<pid> <origin> <messages received from the other, in order>``, and
closes it (sending what is buffered). The parent waits for both and exits with their status.
"""

from __future__ import annotations

import asyncio
import os
import sys
import traceback

import aiopubsub
from aiopubsub.bridges import Bridge


def make_bridge(broker: str, url: str, namespace: str, hub: aiopubsub.Hub) -> Bridge:
    if broker == "redis":
        from aiopubsub.bridges.redis import RedisBridge

        return RedisBridge(hub, url, namespace=namespace)
    from aiopubsub.bridges.nats import NatsBridge

    return NatsBridge(hub, url, namespace=namespace)


async def child(hub: aiopubsub.Hub, bridge: Bridge, count: int) -> None:
    me = str(os.getpid())
    got: list[int] = []
    heard, all_in = asyncio.Event(), asyncio.Event()

    def take(key: aiopubsub.Key, message: int) -> None:
        if key[1] != me:
            got.append(message)
            if len(got) == count:
                all_in.set()

    hub.add_subscriber(("fork", "*"), take)
    hub.add_subscriber(("ready", "*"), lambda key, _: None if key[1] == me else heard.set())

    async def announce() -> None:
        while True:
            hub.publish(("ready", me), None)
            await asyncio.sleep(0.02)

    async with bridge:
        announcing = asyncio.create_task(announce())
        try:
            async with asyncio.timeout(30):
                await heard.wait()  # the other child is subscribed once it is heard
                for i in range(count):
                    hub.publish(("fork", me), i)
                    if i % 100 == 0:
                        await asyncio.sleep(0)  # let the sender run
                await all_in.wait()
        finally:
            announcing.cancel()
        in_order = len(got) if got == list(range(count)) else -1
        # One write: the two children share the pipe, and print() may write the newline apart.
        os.write(1, f"{me} {bridge.origin} {in_order}\n".encode())
    stats = bridge.statistics()
    assert stats.dropped == 0, stats
    assert (stats.gaps, stats.rejected, stats.decode_errors) == (0, 0, 0), stats


def main(broker: str, url: str, namespace: str, count: int) -> int:
    hub = aiopubsub.Hub()
    bridge = make_bridge(broker, url, namespace, hub)
    children = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            try:
                asyncio.run(child(hub, bridge, count))
            except BaseException:  # noqa: BLE001 - a child must never return to the fork loop
                traceback.print_exc()
                os._exit(1)
            os._exit(0)
        children.append(pid)
    status = 0
    for pid in children:
        _, code = os.waitpid(pid, 0)
        status |= code
    return 1 if status else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
