"""One conformance suite, run against every broker with a real server: what every bridge
guarantees, whatever carries its messages."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import pytest
import redis.asyncio as aioredis
from helpers import ROOT, WAIT, collector, fresh_namespace, python_env, wait_until
from nats_server import NatsServer, require_nats_server, started_nats_server
from redis_server import RedisServer, require_redis_server, started_redis_server

import aiopubsub
from aiopubsub import ErrorContext, Hub, Key
from aiopubsub.bridges import Bridge, BridgeConnectionError, BridgeState, JsonCodec
from aiopubsub.bridges._channels import channel_of
from aiopubsub.bridges._keys import key_matches
from aiopubsub.bridges._subjects import subject_of
from aiopubsub.bridges._wire import MAX_GAP, MAX_JUMP
from aiopubsub.bridges.nats import NatsBridge
from aiopubsub.bridges.redis import RedisBridge

FORK_PEER = Path(__file__).resolve().parent / "bridge_fork_peer.py"
Server = RedisServer | NatsServer


@dataclass
class Broker:
    """A broker kind and a running server of it."""

    name: str
    server: Server

    def bridge(self, hub: Hub, namespace: str, **kwargs: Any) -> Bridge:
        """A bridge that reconnects quickly, for tests."""
        kwargs.setdefault("backoff_base", 0.01)
        kwargs.setdefault("backoff_cap", 0.1)
        cls = RedisBridge if self.name == "redis" else NatsBridge
        return cls(hub, self.server.url, namespace=namespace, **kwargs)

    def name_of(self, namespace: str, key: tuple[Any, ...]) -> str:
        """The channel or subject of ``key``."""
        if self.name == "redis":
            return channel_of(namespace, key)
        return subject_of(namespace, key)

    async def raw_publish(self, messages: list[tuple[str, bytes]]) -> None:
        """Publish raw bytes under channel or subject names, as any client of the broker can."""
        if self.name == "redis":
            client = aioredis.Redis.from_url(self.server.url)
            try:
                for name, data in messages:
                    await client.publish(name, data)
            finally:
                await client.aclose()
        else:
            connection = await nats.connect(self.server.url)
            try:
                for name, data in messages:
                    await connection.publish(name, data)
                await connection.flush()
            finally:
                await connection.close()


def start_server(name: str, *extra: str) -> Server:
    return started_redis_server(*extra) if name == "redis" else started_nats_server(*extra)


@pytest.fixture(scope="module", params=["redis", "nats"])
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    """A server shared by the tests of this module, per broker: distinct namespaces each."""
    server = start_server(request.param)
    yield Broker(request.param, server)
    server.stop()


@pytest.fixture(params=["redis", "nats"])
def fresh_broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    """A server of the test's own, which it may kill, pause and restart."""
    server = start_server(request.param)
    yield Broker(request.param, server)
    server.stop()


@asynccontextmanager
async def pair(broker: Broker, **kwargs: Any) -> AsyncIterator[tuple[Hub, Bridge, Hub, Bridge]]:
    """Two hubs bridged in one fresh namespace; ``b`` subscribes before its bridge starts."""
    ns = fresh_namespace()
    a, b = Hub(), Hub()
    async with broker.bridge(a, ns, **kwargs) as bridge_a, broker.bridge(b, ns, **kwargs) as bb:
        yield a, bridge_a, b, bb


# -- exact keys -------------------------------------------------------------------------------

PATTERNS = [("*",), ("a", "*"), ("a", "*", "c"), ("*", "b"), ("a", "b"), ("a", "b", "*"), ("b",)]
KEYS = [
    ("a",),
    ("b",),
    ("a", "b"),
    ("a", "c"),
    ("a", "b", "c"),
    ("a", "x", "c"),
    ("a", "b", "c", "d"),
    ("a", "x", "y", "c"),
    ("x", "b"),
    ("x", "y", "b"),
]


async def test_conformance_wildcards_deliver_exactly_what_the_hub_matches(broker: Broker) -> None:
    ns = fresh_namespace()
    a, b = Hub(), Hub()
    at_b = {pattern: collector(b, pattern, f"p{i}") for i, pattern in enumerate(PATTERNS)}
    end = collector(b, ("end",), "end")
    async with broker.bridge(a, ns), broker.bridge(b, ns) as bridge_b:
        for key in KEYS:
            a.publish(key, list(key))
        a.publish("end", ["end"])
        await wait_until(lambda: end)
        assert bridge_b.statistics().received == len(KEYS) + 1  # each message once
    for pattern, received in at_b.items():
        expected = [
            (Key(*key), list(key)) for key in [*KEYS, ("end",)] if key_matches(key, pattern)
        ]
        assert received == expected, pattern


ODD_PARTS = [".", ":", "*x", "x*", "", " ", "a b", "é", "日本", "%", "%2E", "#1", ">", "a.b", "\t"]


async def test_conformance_odd_parts_cross_exactly(broker: Broker) -> None:
    keys = [(part,) for part in ODD_PARTS] + [("k", part, "k") for part in ODD_PARTS]
    async with pair(broker) as (a, _, b, bridge_b):
        at_b = collector(b, ("*",), "all")
        mid = collector(b, ("k", "*", "k"), "mid")
        await bridge_b.sync(WAIT)
        for key in keys:
            a.publish(key, list(key))
        await wait_until(lambda: len(at_b) == len(keys))
    assert at_b == [(Key(*key), list(key)) for key in keys]
    assert mid == [(Key(*key), list(key)) for key in keys if len(key) == 3]


async def test_conformance_int_parts_cross_as_ints(broker: Broker) -> None:
    try:
        Key("a", 1)  # type: ignore[arg-type]
    except TypeError:
        pytest.skip("Key('a', 1) raises TypeError: int key parts arrive with the hub rewrite")
    async with pair(broker) as (a, _, b, bridge_b):
        ints = collector(b, ("n", "*"), "ints")
        exact = collector(b, ("n", 1), "exact")
        await bridge_b.sync(WAIT)
        for part in [1, "1", -7, 10**30, "#1"]:
            a.publish(("n", part), part)
        await wait_until(lambda: len(ints) == 5)
    assert [(list(key), message) for key, message in ints] == [
        (["n", p], p) for p in [1, "1", -7, 10**30, "#1"]
    ]
    assert [type(key[1]) for key, _ in ints] == [int, str, int, int, str]
    assert [message for _, message in exact] == [1]


# -- no echo, no duplicates, order ------------------------------------------------------------


async def test_conformance_no_echo_and_no_duplicates_with_overlapping_patterns(
    broker: Broker,
) -> None:
    ns = fresh_namespace()
    a, b = Hub(), Hub()
    at_a = collector(a, ("x", "*"), "a-x")
    overlapping = [("x", "*"), ("x", "y"), ("*", "y"), ("*",), ("x", "y", "*")]
    at_b = [collector(b, pattern, f"b{i}") for i, pattern in enumerate(overlapping)]
    done_at_a = collector(a, ("done",), "a-done")
    async with broker.bridge(a, ns) as bridge_a, broker.bridge(b, ns) as bridge_b:
        a.publish(("x", "y"), "once")
        await wait_until(lambda: at_b[0])
        b.publish("done", None)
        await wait_until(lambda: done_at_a)
        stats_a, stats_b = bridge_a.statistics(), bridge_b.statistics()
    assert at_a == [(Key("x", "y"), "once")]  # the local delivery only: no echo
    once = [(Key("x", "y"), "once")]
    assert at_b == [once, once, once, [*once, (Key("done"), None)], []]
    assert (stats_a.received, stats_b.received) == (1, 1)
    assert stats_a.rejected == stats_b.rejected == 0


async def test_conformance_order_per_origin_across_keys_and_patterns(broker: Broker) -> None:
    ns = fresh_namespace()
    a, b = Hub(), Hub()
    # Several patterns, so that NATS uses several subscriptions: order must hold across them.
    everything = collector(b, ("o", "*"), "all")
    for i in range(3):
        collector(b, ("o", f"k{i}"), f"k{i}")
    count = 3000
    async with broker.bridge(a, ns, batch_size=100), broker.bridge(b, ns):
        for i in range(count):
            a.publish(("o", f"k{i % 5}"), i)
            if i % 500 == 0:
                await asyncio.sleep(0)
        await wait_until(lambda: len(everything) == count)
    assert [message for _, message in everything] == list(range(count))


async def test_conformance_namespaces_are_isolated(broker: Broker) -> None:
    base = fresh_namespace()
    hubs = [Hub() for _ in range(3)]
    namespaces = [base, base + "-x", base + "x"]  # each a prefix of the next, as text
    received = [collector(hub, ("*",), f"all{i}") for i, hub in enumerate(hubs)]
    async with (
        broker.bridge(hubs[0], namespaces[0]),
        broker.bridge(hubs[1], namespaces[1]),
        broker.bridge(hubs[2], namespaces[2]),
        broker.bridge(Hub(), namespaces[0], inbound=[]) as sender,
    ):
        sender._hub.publish(("n", "1"), "for ns 0")
        await wait_until(lambda: received[0])
        await asyncio.sleep(0.1)  # let any stray copy arrive, were there one
    assert received == [[(Key("n", "1"), "for ns 0")], [], []]


# -- faults -----------------------------------------------------------------------------------


async def test_conformance_server_killed_and_restarted_losses_are_counted_as_gaps(
    fresh_broker: Broker,
) -> None:
    server = fresh_broker.server
    ns = fresh_namespace()
    a, b = Hub(), Hub()
    at_b = collector(b, ("tick",), "ticks")
    published = 0
    async with (
        fresh_broker.bridge(a, ns, max_buffer=50) as bridge_a,
        fresh_broker.bridge(b, ns) as bridge_b,
    ):

        async def publish(n: int) -> None:
            nonlocal published
            for _ in range(n):
                published += 1
                a.publish("tick", published)
                await asyncio.sleep(0.001)

        await publish(100)
        server.kill()
        await publish(200)  # meanwhile: the outbox keeps the last 50, the rest is dropped
        server.start()
        await bridge_b.sync(WAIT)
        await bridge_a.sync(WAIT)
        await publish(100)
        await wait_until(lambda: at_b and at_b[-1][1] == published)
        stats_a, stats_b = bridge_a.statistics(), bridge_b.statistics()
    values = [message for _, message in at_b]
    assert values == sorted(set(values))  # in order, no duplicates
    assert values[0] == 1
    assert stats_b.gaps == published - len(values)  # every loss counted, exactly
    assert stats_b.received == len(values)
    assert stats_a.dropped >= 150
    assert stats_a.reconnects >= 1
    assert stats_b.reconnects >= 1


async def test_conformance_server_paused_for_5_s_loses_nothing(fresh_broker: Broker) -> None:
    server = fresh_broker.server
    async with pair(fresh_broker) as (a, bridge_a, b, bridge_b):
        at_b = collector(b, ("tick",), "ticks")
        await bridge_b.sync(WAIT)
        for i in range(50):
            a.publish("tick", i)
        await wait_until(lambda: len(at_b) == 50)
        server.pause()
        try:
            for i in range(50, 250):
                a.publish("tick", i)
                await asyncio.sleep(0.025)  # 5 s
        finally:
            server.resume()
        await wait_until(lambda: len(at_b) == 250)
        stats_b = bridge_b.statistics()
    assert [message for _, message in at_b] == list(range(250))
    assert (stats_b.gaps, bridge_a.statistics().dropped) == (0, 0)


async def test_conformance_reconnects_within_1_s_after_a_2_s_outage(fresh_broker: Broker) -> None:
    server = fresh_broker.server
    hub = Hub()
    states = collector(hub, ("Hub", "bridge", fresh_broker.name, "*"), "states")
    # The default back-off: what an application gets.
    cls = RedisBridge if fresh_broker.name == "redis" else NatsBridge
    async with cls(hub, server.url, namespace=fresh_namespace()) as bridge:
        server.kill()
        await wait_until(lambda: bridge.status is not BridgeState.CONNECTED)
        await asyncio.sleep(2.0)
        server.start()
        back = time.monotonic()
        await wait_until(lambda: bridge.status is BridgeState.CONNECTED)
        took = time.monotonic() - back
    assert took < 1.0, f"reconnected {took:.2f} s after the server came back"
    assert [key[-1] for key, _ in states][-2:] == ["connected", "closed"]


async def test_conformance_aclose_with_the_server_gone(fresh_broker: Broker) -> None:
    hub = Hub()
    bridge = fresh_broker.bridge(hub, fresh_namespace())
    await bridge.start()
    fresh_broker.server.kill()
    await wait_until(lambda: bridge.status is not BridgeState.CONNECTED)
    for i in range(10):
        hub.publish("x", i)
    async with asyncio.timeout(WAIT):
        await bridge.aclose(timeout=0.5)
    assert bridge.status is BridgeState.CLOSED
    assert bridge.statistics().dropped == 10  # buffered, never sent: counted
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert hub.subscriptions() == {}


async def test_conformance_start_fails_with_bridge_connection_error(broker: Broker) -> None:
    hub = Hub()
    closed = start_server(broker.name)
    url = closed.url
    closed.stop()  # nothing listens there now
    cls = RedisBridge if broker.name == "redis" else NatsBridge
    bridge = cls(hub, url, connect_timeout=2)
    with pytest.raises(
        BridgeConnectionError,
        match=rf"^Could not start the {broker.name} bridge to {re.escape(url)}: connection refused",
    ) as caught:
        await bridge.start()
    assert caught.value.__cause__ is not None
    assert bridge.status is BridgeState.CLOSED
    assert hub.subscriptions() == {}


async def test_conformance_start_times_out_against_a_paused_server(fresh_broker: Broker) -> None:
    cls = RedisBridge if fresh_broker.name == "redis" else NatsBridge
    bridge = cls(Hub(), fresh_broker.server.url, connect_timeout=0.5)
    fresh_broker.server.pause()
    try:
        with pytest.raises(
            BridgeConnectionError,
            match=rf"^Could not start the {fresh_broker.name} bridge to .*: timed out after 0.5 s",
        ) as caught:
            await bridge.start()
    finally:
        fresh_broker.server.resume()
    assert isinstance(caught.value.__cause__, TimeoutError)


@pytest.mark.parametrize("name", ["redis", "nats"])
async def test_conformance_start_fails_on_authentication(name: str) -> None:
    extra = ("--requirepass", "s3cret") if name == "redis" else ("--user", "u", "--pass", "s3cret")
    server = start_server(name, *extra)
    try:
        cls = RedisBridge if name == "redis" else NatsBridge
        bridge = cls(Hub(), server.url, connect_timeout=5)
        with pytest.raises(
            BridgeConnectionError, match=rf"^Could not start the {name} bridge to .*: auth"
        ) as caught:
            await bridge.start()
        assert caught.value.__cause__ is not None
        good = server.url.replace("://", "://u:s3cret@" if name == "nats" else "://:s3cret@")
        async with cls(Hub(), good) as working:
            assert working.status is BridgeState.CONNECTED
            assert "s3cret" not in repr(working)
    finally:
        server.stop()


# -- garbage and forgeries --------------------------------------------------------------------


async def test_conformance_garbage_is_counted_once_per_message(broker: Broker) -> None:
    ns = fresh_namespace()
    errors: list[ErrorContext] = []
    a, b = Hub(), Hub(on_error=lambda exc, context: errors.append(context))
    overlapping = collector(b, ("x", "*"), "x")
    collector(b, ("*",), "all")
    collector(b, ("x", "y"), "xy")
    huge = b"\xff" * 900_000  # under NATS's default max_payload of 1 MB
    async with broker.bridge(a, ns, inbound=[]), broker.bridge(b, ns) as bridge_b:
        await broker.raw_publish(
            [
                (broker.name_of(ns, ("x", "y")), b"not an envelope"),
                (broker.name_of(ns, ("x", "y")), huge),
                (broker.name_of(ns, ("x", "y")), b'{"o":"x","s":1,"k":["x","z"],"p":1}'),
                (f"{ns}{':' if broker.name == 'redis' else '.'}%zz", b"{}"),
            ]
        )
        a.publish(("x", "y"), "fine")
        await wait_until(lambda: overlapping and bridge_b.statistics().decode_errors >= 4)
        await asyncio.sleep(0.1)  # let any second count arrive, were there one
        stats = bridge_b.statistics()
    assert overlapping == [(Key("x", "y"), "fine")]
    assert (stats.decode_errors, stats.received) == (4, 1)  # once each, not once per pattern
    assert [context.kind for context in errors] == ["bridge decode"] * 4
    assert errors[1].message == huge  # the hook gets the bytes


async def test_conformance_a_message_too_large_for_the_broker_is_counted(broker: Broker) -> None:
    errors: list[tuple[BaseException, ErrorContext]] = []
    a = Hub(on_error=lambda exc, context: errors.append((exc, context)))
    async with pair(broker) as (_, _, b, bridge_b):
        at_b = collector(b, ("big",), "big")
        await bridge_b.sync(WAIT)
        async with broker.bridge(a, bridge_b._backend.namespace, inbound=[]) as bridge_a:
            a.publish("big", "x" * 2_000_000)  # over NATS's max_payload; Redis takes it
            a.publish("big", "small")
            await wait_until(lambda: at_b and at_b[-1][1] == "small")
        stats = bridge_a.statistics()
    if broker.name == "nats":
        assert [message for _, message in at_b] == ["small"]
        assert (stats.encode_errors, stats.sent, stats.dropped) == (1, 1, 0)
        [(exc, context)] = errors
        assert context.kind == "bridge encode"
        assert str(exc).startswith("A message of 2000")
    else:
        assert [len(message) for _, message in at_b] == [2_000_000, 5]
        assert (stats.encode_errors, stats.sent) == (0, 2)


async def test_conformance_a_forged_envelope_does_not_mute_an_origin(broker: Broker) -> None:
    ns = fresh_namespace()
    a, b = Hub(), Hub()
    at_b = collector(b, ("k",), "k")
    async with broker.bridge(a, ns) as bridge_a, broker.bridge(b, ns) as bridge_b:
        a.publish("k", 1)
        await wait_until(lambda: at_b)
        forged = (
            b'{"o":"%s","s":4611686018427387904,"k":["k"],"p":"forged"}' % bridge_a.origin.encode()
        )
        await broker.raw_publish([(broker.name_of(ns, ("k",)), forged)])
        # It comes through another connection: wait until b holds it (no statistic shows a
        # message held, until the next one decides), then let a's real ones follow.
        await wait_until(lambda: bridge_b._receiver._held)
        for i in range(2, 5):
            a.publish("k", i)
        await wait_until(lambda: len(at_b) == 4)
        stats = bridge_b.statistics()
    assert [message for _, message in at_b] == [1, 2, 3, 4]
    assert (stats.gaps, stats.rejected) == (0, 1)


@pytest.mark.parametrize(("jump", "forgeries"), [(1000, 1), (65536, 1), (2**62, 1), (2**62, 2)])
async def test_conformance_forged_jumps_then_1000_real_messages_all_arrive(
    broker: Broker, jump: int, forgeries: int
) -> None:
    ns = fresh_namespace()
    a, b = Hub(), Hub()
    at_b = collector(b, ("k",), "k")
    async with broker.bridge(a, ns, inbound=[]) as bridge_a, broker.bridge(b, ns) as bridge_b:
        for i in range(1, 11):
            a.publish("k", i)
        await wait_until(lambda: len(at_b) == 10)
        origin = bridge_a.origin.encode()
        await broker.raw_publish(
            [
                (
                    broker.name_of(ns, ("k",)),
                    b'{"o":"%s","s":%d,"k":["k"],"p":"forged"}' % (origin, s),
                )
                for s in range(10 + jump, 10 + jump + forgeries)
            ]
        )
        # It comes through another connection: wait until b has judged it.
        await wait_until(lambda: bridge_b._receiver._held or at_b[-1][1] == "forged")
        for i in range(11, 1011):
            a.publish("k", i)
        await wait_until(lambda: at_b[-1][1] == 1010)
        stats = bridge_b.statistics()
    real = [message for _, message in at_b if message != "forged"]
    assert real == list(range(1, 1011))
    assert (stats.gaps, stats.duplicates, stats.decode_errors) == (0, 0, 0)


async def test_conformance_with_a_secret_unsigned_and_forged_messages_are_rejected(
    broker: Broker,
) -> None:
    ns = fresh_namespace()
    errors: list[ErrorContext] = []
    a, b = Hub(), Hub(on_error=lambda exc, context: errors.append(context))
    at_b = collector(b, ("k",), "k")
    secret = "a shared secret, 16+ bytes"
    async with (
        broker.bridge(a, ns, secret=secret),
        broker.bridge(b, ns, secret=secret) as bridge_b,
        broker.bridge(Hub(), ns, secret="another secret, 16+ bytes", inbound=[]) as other,
        broker.bridge(Hub(), ns, inbound=[]) as unsigned,
    ):
        other._hub.publish("k", "wrong secret")
        unsigned._hub.publish("k", "no secret")
        await wait_until(lambda: bridge_b.statistics().rejected == 2)
        a.publish("k", "signed")
        await wait_until(lambda: at_b)
        stats = bridge_b.statistics()
    assert at_b == [(Key("k"), "signed")]
    assert (stats.rejected, stats.decode_errors, stats.received) == (2, 0, 1)
    assert [context.kind for context in errors] == ["bridge rejected"] * 2


# -- processes --------------------------------------------------------------------------------


async def test_conformance_fork_after_creating_a_bridge(broker: Broker) -> None:
    ns = fresh_namespace()
    hub = Hub()
    count = 500
    by_origin: dict[str, list[int]] = {}
    seen = collector(hub, ("fork", "*"), "fork")
    async with broker.bridge(hub, ns) as observer:
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-W", "error", str(FORK_PEER), broker.name, broker.server.url),
            *(ns, str(count)),
            env=python_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(60):
                out, err = await process.communicate()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.returncode == 0, err.decode()
        await wait_until(lambda: len(seen) == 2 * count)
        stats = observer.statistics()
    lines = [line.split() for line in out.decode().split("\n") if line]
    assert len({origin for _, origin, _ in lines}) == 2  # each child is an origin of its own
    assert [int(received) for _, _, received in lines] == [count, count]  # each the other's
    for key, message in seen:
        by_origin.setdefault(key[1], []).append(message)
    assert sorted(map(len, by_origin.values())) == [count, count]
    assert all(messages == list(range(count)) for messages in by_origin.values())
    assert (stats.gaps, stats.rejected, stats.decode_errors) == (0, 0, 0)


def test_bench_bridges_quick_reports_both_brokers() -> None:
    require_redis_server()
    require_nats_server()
    done = subprocess.run(
        [sys.executable, "-W", "error", str(ROOT / "benchmarks" / "bench_bridges.py"), "--quick"],
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for broker in ("redis", "nats"):
        assert re.search(rf"^{broker}: 5000 messages, best of 1", done.stdout, re.MULTILINE)
    assert len(re.findall(r"^  bridge / single: \d+\.\dx$", done.stdout, re.MULTILINE)) == 2
    assert len(re.findall(r"^  bridge->hub +[\d,]+ msgs/s$", done.stdout, re.MULTILINE)) == 2


async def test_conformance_own_origin_and_hub_keys_from_the_broker(broker: Broker) -> None:
    ns = fresh_namespace()
    errors: list[ErrorContext] = []
    b = Hub(on_error=lambda exc, context: errors.append(context))
    everything = collector(b, ("*",), "all")
    async with broker.bridge(b, ns) as bridge_b:
        own = b'{"o":"%s","s":1,"k":["mine"],"p":1}' % bridge_b.origin.encode()
        meta = b'{"o":"someone","s":1,"k":["Hub","x"],"p":1}'
        end = b'{"o":"someone","s":1,"k":["end"],"p":1}'
        await broker.raw_publish(
            [
                (broker.name_of(ns, ("mine",)), own),
                (broker.name_of(ns, ("Hub", "x")), meta),
                (broker.name_of(ns, ("end",)), end),
            ]
        )
        await wait_until(lambda: everything)
        stats = bridge_b.statistics()
    assert everything == [(Key("end"), 1)]
    # Redis echoes a bridge's own messages: one claiming its origin is ignored as an echo.
    # NATS does not (no_echo): such a message is forged.
    forged = 1 if broker.name == "nats" else 0
    assert (stats.rejected, stats.received) == (1 + forged, 1)
    assert [context.kind for context in errors] == ["bridge rejected"] * (1 + forged)


async def test_conformance_a_confirmed_jump_delivers_both_messages(broker: Broker) -> None:
    ns = fresh_namespace()
    b = Hub()
    at_b = collector(b, ("k",), "k")
    far = 2 + MAX_JUMP + 5
    async with broker.bridge(b, ns) as bridge_b:
        await broker.raw_publish(
            [
                (broker.name_of(ns, ("k",)), b'{"o":"x","s":%d,"k":["k"],"p":%d}' % (s, s))
                for s in (1, far, far + 1)
            ]
        )
        await wait_until(lambda: len(at_b) == 3)
        stats = bridge_b.statistics()
    assert [message for _, message in at_b] == [1, far, far + 1]
    assert (stats.gaps, stats.rejected) == (MAX_GAP, 0)  # far - 2 missing, capped


async def test_conformance_refuses_to_send_what_cannot_travel(broker: Broker) -> None:
    errors: list[tuple[BaseException, ErrorContext]] = []
    a = Hub(on_error=lambda exc, context: errors.append((exc, context)))

    class Text(JsonCodec):
        def encode(self, obj: Any) -> bytes:
            return super().encode(obj).decode()  # type: ignore[return-value]

    async with broker.bridge(a, fresh_namespace(), inbound=[]) as bridge_a:
        bridge_a._export(tuple.__new__(Key, ("a", True)), 1)  # as a hub taking any part would
        a.publish("b", 1.5)
    async with broker.bridge(Hub(), fresh_namespace(), codec=Text(), inbound=[]) as text:
        text._hub.publish("c", 1)
    assert bridge_a.statistics().encode_errors == 1
    assert text.statistics().encode_errors == 1
    assert [str(exc) for exc, _ in errors] == [
        "Key part True (bool) of ('a', True) cannot be bridged: only str and int parts can"
    ]


async def test_conformance_a_retained_message_is_retained_by_the_receiver(broker: Broker) -> None:
    async with pair(broker) as (a, _, b, bridge_b):
        live = collector(b, ("r", "*"), "live")
        await bridge_b.sync(WAIT)
        a.retain(("r", "forever"), {"v": 1})
        a.retain(("r", "soon"), 2, ttl=60)
        a.publish(("r", "plain"), 3)
        await wait_until(lambda: len(live) == 3)
        assert [message for _, message in live] == [{"v": 1}, 2, 3]
        assert b.retained() == {Key("r", "forever"): {"v": 1}, Key("r", "soon"): 2}
        ttls = {key: ttl for key, _, ttl in b._values.live(Key("r", "*"))}
        assert ttls[Key("r", "forever")] is None
        assert 0 < ttls[Key("r", "soon")] <= 60  # The time it had left: never renewed.
        late = aiopubsub.Subscriber(b, "late")
        late.subscribe(("r", "*"), replay=True)
        assert [late.consume_nowait()[1] for _ in range(2)] == [{"v": 1}, 2]
        late.close()
    assert a.retained() == {Key("r", "forever"): {"v": 1}, Key("r", "soon"): 2}
