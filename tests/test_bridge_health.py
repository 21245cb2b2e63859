"""A connection that goes silent (the server stopped with SIGSTOP: the kernel still answers
TCP, so keepalive alone never notices) is given up within the stated bound, and the bridge
reconnects once the server runs again. Real servers."""

from __future__ import annotations

import pathlib

import pytest
from redis_server import started_redis_server
from test_bridge_conformance import WAIT, Broker, fresh_namespace, start_server, wait_until

from aiopubsub import Hub
from aiopubsub.bridges import BridgeState
from aiopubsub.bridges.nats import NatsBackend, NatsBridge
from aiopubsub.bridges.redis import RedisBackend, RedisBridge


def test_the_default_bounds_are_seconds_and_outlast_a_5_s_pause() -> None:
    # A 5 s pause loses nothing (tested in the conformance suite): no check may give up on it.
    redis = RedisBackend("redis://h", "ns")
    assert redis.health_timeout > 5
    assert redis.health_interval + redis.health_timeout <= 15
    nats = NatsBackend("nats://h", "ns")
    assert nats.ping_interval * (nats.max_outstanding_pings + 1) <= 20
    assert nats.ping_interval * nats.max_outstanding_pings > 5


@pytest.mark.parametrize("name", ["redis", "nats"])
async def test_a_silent_server_is_noticed_within_the_bound(name: str) -> None:
    broker = Broker(name, start_server(name))
    try:
        hub = Hub()
        bridge = broker.bridge(hub, fresh_namespace(), backoff_cap=0.2)
        backend = bridge._backend
        if isinstance(backend, RedisBackend):  # The defaults, scaled down for a test.
            backend.health_interval, backend.health_timeout = 0.5, 1.0
            bound = 1.5
        else:
            assert isinstance(backend, NatsBackend)
            backend.ping_interval, backend.max_outstanding_pings = 0.5, 1
            bound = 1.5
        async with bridge:
            broker.server.pause()
            try:
                # Bounded by the stated figure, with slack for a loaded machine.
                await wait_until(lambda: bridge.status is not BridgeState.CONNECTED, 3 * bound)
            finally:
                broker.server.resume()
            await wait_until(lambda: bridge.status is BridgeState.CONNECTED, WAIT)
            assert bridge.statistics().reconnects == 1
    finally:
        broker.server.stop()


async def test_redis_over_a_unix_socket(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "redis.sock"
    server = started_redis_server("--unixsocket", str(path))
    try:
        a, b = Hub(), Hub()
        got: list[object] = []
        b.add_subscriber(("k",), lambda key, message: got.append(message))
        url = f"unix://{path}"
        async with RedisBridge(a, url, namespace="unix"), RedisBridge(b, url, namespace="unix"):
            a.publish("k", 1)
            await wait_until(lambda: got == [1], WAIT)
    finally:
        server.stop()


async def test_nats_takes_a_comma_separated_list_of_servers() -> None:
    server = start_server("nats")
    gone = start_server("nats")
    gone.stop()  # its port: nobody listens there now
    try:
        got: list[object] = []
        a, b = Hub(), Hub()
        b.add_subscriber(("k",), lambda key, message: got.append(message))
        url = f"nats://u:pw@127.0.0.1:{gone.port}, {server.url}"
        async with (
            NatsBridge(a, url, namespace="multi"),
            NatsBridge(b, server.url, namespace="multi"),
        ):
            a.publish("k", 1)
            await wait_until(lambda: got == [1], WAIT)
    finally:
        server.stop()
