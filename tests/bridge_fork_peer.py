"""The processes of test_conformance_fork_after_creating_a_bridge.

Usage: ``python bridge_fork_peer.py BROKER URL NAMESPACE COUNT``. Makes a hub and a bridge,
then forks two children before starting it (as a pre-fork server with preloading does). Each
child starts the bridge, publishes ``COUNT`` messages under ``('fork', <pid>)``, says so, and
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

        return RedisBridge(hub, url, namespace=namespace, inbound=[])
    from aiopubsub.bridges.nats import NatsBridge

    return NatsBridge(hub, url, namespace=namespace, inbound=[])


async def child(hub: aiopubsub.Hub, bridge: Bridge, count: int) -> None:
    async with bridge:
        for i in range(count):
            hub.publish(("fork", str(os.getpid())), i)
            if i % 100 == 0:
                await asyncio.sleep(0)  # let the sender run
        # One write: the two children share the pipe, and print() may write the newline apart.
        os.write(1, f"{os.getpid()} {bridge.origin} sent\n".encode())
    stats = bridge.statistics()
    assert (stats.sent, stats.dropped) == (count, 0), stats


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
