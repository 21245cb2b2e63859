"""The Redis bridge against a real ``redis-server``: exchange, auto inbound, no echo, faults."""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
import sys
import textwrap
import types
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import redis_server as redis_server_module
from helpers import (
    ROOT,
    WAIT,
    collector,
    fresh_namespace,
    python_env,
    run,
    run_python,
    wait_until,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis_server import RedisServer, fresh_redis_server, redis_server
from strategies import concrete_keys, patterns

import aiopubsub
from aiopubsub import ErrorContext, Hub, Key
from aiopubsub._key import matches
from aiopubsub.bridges._channels import channel_of
from aiopubsub.bridges.redis import (
    Backoff,
    BridgeConfigError,
    BridgeConnectionError,
    BridgeState,
    BridgeStatistics,
    JsonCodec,
    RedisBridge,
)

__all__ = ["fresh_redis_server", "redis_server"]  # fixtures, imported to be found

PEER = Path(__file__).resolve().parent / "bridge_peer.py"
EXAMPLE = ROOT / "examples" / "redis_price_feed.py"


def bridge(hub: Hub, server: RedisServer, namespace: str, **kwargs: Any) -> RedisBridge:
    """A bridge that reconnects quickly, for tests."""
    kwargs.setdefault("backoff_base", 0.01)
    kwargs.setdefault("backoff_cap", 0.1)
    return RedisBridge(hub, server.url, namespace=namespace, **kwargs)


@asynccontextmanager
async def plain_client(server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(server.url)
    try:
        yield client
    finally:
        await client.aclose()


def test_redis_tests_skip_without_a_binary_but_fail_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"^no redis-server binary"):
        redis_server_module.require_redis_server()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"^CI is set but no redis-server binary"):
        redis_server_module.require_redis_server()


# -- exchanging messages ----------------------------------------------------------------------


async def test_bridge_two_hubs_exchange_both_ways(redis_server: RedisServer) -> None:
    ns = fresh_namespace()
    a, b = Hub(), Hub()
    at_a = collector(a, ("orders", "*"), "trader-orders")
    at_b = collector(b, ("prices", "*"), "feed-prices")
    async with bridge(a, redis_server, ns), bridge(b, redis_server, ns) as bridge_b:
        a.publish(("prices", "EUR/USD"), {"bid": 1.1, "ask": 1.2})
        b.publish(("orders", "1"), ["buy", 10])
        await wait_until(lambda: at_a and at_b)
    # Read once closed: "sent" counts a batch when Redis's reply is read, which can come
    # after the other side has received it.
    stats = bridge_b.statistics()
    assert at_b == [(Key("prices", "EUR/USD"), {"bid": 1.1, "ask": 1.2})]
    assert at_a == [(Key("orders", "1"), ["buy", 10])]
    assert isinstance(stats, BridgeStatistics)
    assert (stats.sent, stats.received, stats.dropped, stats.gaps) == (1, 1, 0, 0)


async def test_bridge_delivers_to_queues_and_async_listeners(redis_server: RedisServer) -> None:
    ns = fresh_namespace()
    a, b = Hub(), Hub()
    subscriber = aiopubsub.Subscriber(b, "queue")
    subscriber.subscribe(("a", "*"))
    async with bridge(a, redis_server, ns), bridge(b, redis_server, ns):
        a.publish(("a", "b", "c"), "deep")
        async with asyncio.timeout(WAIT):
            assert await subscriber.consume() == (Key("a", "b", "c"), "deep")


async def test_bridge_keys_with_awkward_parts_cross_exactly(redis_server: RedisServer) -> None:
    ns = fresh_namespace()
    a, b = Hub(), Hub()
    keys = [("", "x"), ("a.b", "*?[]\\"), ("é", " ", "%2A"), ("a:b",), ("\ud800", "")]
    at_b = collector(b, ("*",), "everything")
    async with bridge(a, redis_server, ns), bridge(b, redis_server, ns):
        for key in keys:
            a.publish(key, list(key))
        await wait_until(lambda: len(at_b) == len(keys))
    assert at_b == [(Key(*key), list(key)) for key in keys]


async def test_bridge_outbound_and_explicit_inbound_patterns_filter(
    redis_server: RedisServer,
) -> None:
    ns = fresh_namespace()
    a, b = Hub(), Hub()
    at_b = collector(b, ("*",), "everything")
    async with (
        # Public keys below match two outbound patterns: each is still sent once.
        bridge(
            a, redis_server, ns, outbound=[("public", "*"), ("public", "*", "1"), ("end",)]
        ) as bridge_a,
        bridge(b, redis_server, ns, inbound=[("public", "x", "*"), ("end",)]) as bridge_b,
    ):
        assert bridge_b.inbound_patterns == {Key("public", "x", "*"), Key("end")}
        a.publish(("private", "x", "1"), 1)  # not outbound
        a.publish(("public", "y", "1"), 2)  # not inbound at b
        a.publish(("public", "x", "1"), 3)
        a.publish("end", 4)
        await wait_until(lambda: len(at_b) == 2)
    assert bridge_a.statistics().sent == 3  # once closed: see the first test
    assert at_b == [(Key("public", "x", "1"), 3), (Key("end"), 4)]


async def test_bridge_meta_events_are_never_bridged(redis_server: RedisServer) -> None:
    ns = fresh_namespace()
    a, b = Hub(), Hub()
    collector(b, ("Hub", "*"), "meta")  # would take meta-events from a, if any were sent
    at_b = collector(b, ("end",), "end")
    async with bridge(a, redis_server, ns) as bridge_a, bridge(b, redis_server, ns) as bridge_b:
        collector(a, ("Hub", "*"), "meta-a")  # a publishes meta-events now
        a.publish("end", None)
        await wait_until(lambda: at_b)
        assert bridge_b.statistics().received == 1
        assert bridge_b.inbound_patterns == {Key("end")}
    assert bridge_a.statistics().sent == 1


# -- auto inbound -----------------------------------------------------------------------------


async def numpat(server: RedisServer) -> int:
    async with plain_client(server) as client:
        return int(await client.pubsub_numpat())


async def test_bridge_auto_inbound_follows_subscribe_and_unsubscribe(
    redis_server: RedisServer,
) -> None:
    ns = fresh_namespace()
    a, b = Hub(), Hub()
    async with bridge(b, redis_server, ns) as bridge_b, bridge(a, redis_server, ns):
        base = await numpat(redis_server)  # a's and b's: none, as nothing is subscribed
        assert bridge_b.inbound_patterns == frozenset()
        first, second = aiopubsub.Subscriber(b, "first"), aiopubsub.Subscriber(b, "second")
        first.subscribe(("a", "*"))
        second.subscribe(("a", "*"))
        first.subscribe(("Hub", "*"))  # the hub's own events: never bridged
        assert bridge_b.inbound_patterns == {Key("a", "*")}
        await bridge_b.sync(WAIT)
        assert await numpat(redis_server) == base + 1
        first.unsubscribe(("a", "*"))
        await bridge_b.sync(WAIT)
        assert bridge_b.inbound_patterns == {Key("a", "*")}  # second still wants it
        a.publish(("a", "1"), 1)
        async with asyncio.timeout(WAIT):
            assert await second.consume() == (Key("a", "1"), 1)
        second.unsubscribe(("a", "*"))
        assert bridge_b.inbound_patterns == frozenset()
        await bridge_b.sync(WAIT)
        assert await numpat(redis_server) == base
        assert bridge_b.statistics().received == 1


async def test_bridge_auto_inbound_takes_existing_subscriptions(redis_server: RedisServer) -> None:
    ns = fresh_namespace()
    a, b = Hub(), Hub()
    at_b = collector(b, ("x", "*", "z"), "early")
    async with bridge(b, redis_server, ns) as bridge_b, bridge(a, redis_server, ns):
        assert bridge_b.inbound_patterns == {Key("x", "*", "z")}
        a.publish(("x", "y", "y", "z"), "glob match, no key match")
        a.publish(("x", "y", "z"), "match")
        await wait_until(lambda: at_b)
        a.publish(("x", "y", "z"), "second")
        await wait_until(lambda: len(at_b) == 2)
    assert at_b == [(Key("x", "y", "z"), "match"), (Key("x", "y", "z"), "second")]


async def test_bridge_ignores_its_own_outbound_subscription_in_auto_mode(
    redis_server: RedisServer,
) -> None:
    ns = fresh_namespace()
    hub = Hub()
    async with bridge(hub, redis_server, ns, outbound=[("p", "*")]) as only:
        assert only.inbound_patterns == frozenset()
        subscriber = aiopubsub.Subscriber(hub, "local")
        subscriber.subscribe(("p", "*"))
        assert only.inbound_patterns == {Key("p", "*")}
        subscriber.unsubscribe(("p", "*"))
        assert only.inbound_patterns == frozenset()


async def test_bridge_is_a_subscriber_of_its_hub(redis_server: RedisServer) -> None:
    ns = fresh_namespace()
    hub = Hub()
    outbound = [Key("prices"), ("orders", "*"), ["news", "*"]]  # every accepted form
    async with bridge(hub, redis_server, ns, outbound=outbound):
        assert hub.has_subscribers("prices")
        assert hub.has_subscribers(("orders", "1"))
        assert hub.count(("news", "a", "b")) == 1
        assert not hub.has_subscribers(("trades", "1"))
        # Two subscriptions: the outbound callback (under each pattern) and, for auto
        # inbound, the follower of the hub's subscriptions (under two meta-event patterns).
        assert hub.statistics().subscriptions == 2
        assert hub.subscriptions() == {
            Key("prices"): 1,
            Key("orders", "*"): 1,
            Key("news", "*"): 1,
            Key("Hub", "addedSubscriber", "*"): 1,
            Key("Hub", "removedSubscriber", "*"): 1,
        }
    assert hub.statistics().subscriptions == 0
    inbound = [Key("x"), ("y", "*"), ["z", "*"]]
    async with bridge(hub, redis_server, ns, inbound=inbound) as explicit:
        # The default outbound, ('*',): every key has a subscriber while the bridge runs.
        assert hub.subscriptions() == {Key("*"): 1}
        assert hub.statistics().subscriptions == 1
        assert hub.has_subscribers(("anything", "at", "all"))
        assert explicit.inbound_patterns == {Key("x"), Key("y", "*"), Key("z", "*")}
    assert not hub.has_subscribers()


# -- no echo, no duplicates, no loops ---------------------------------------------------------


async def test_bridge_no_echo_and_no_duplicates_with_overlapping_patterns(
    redis_server: RedisServer,
) -> None:
    ns = fresh_namespace()
    a, b = Hub(), Hub()
    at_a = collector(a, ("x", "*"), "a-x")
    done_at_a = collector(a, ("done",), "a-done")
    overlapping = [("x", "*"), ("x", "y"), ("*", "y"), ("*",), ("x", "y", "*")]
    at_b = [collector(b, pattern, f"b{i}") for i, pattern in enumerate(overlapping)]
    async with bridge(a, redis_server, ns) as bridge_a, bridge(b, redis_server, ns) as bridge_b:
        a.publish(("x", "y"), "once")
        await wait_until(lambda: at_b[0])
        b.publish("done", None)
        # a receives b's "done" after its own ("x", "y") came back to it, if it did.
        await wait_until(lambda: done_at_a)
        assert bridge_b.statistics().received == 1
        assert bridge_a.statistics().received == 1  # "done" only, no echo
    assert at_a == [(Key("x", "y"), "once")]  # the local delivery only
    once = [(Key("x", "y"), "once")]
    assert at_b == [once, once, once, [*once, (Key("done"), None)], []]  # ('*',): b's own too


async def test_bridge_never_reexports_an_imported_message(redis_server: RedisServer) -> None:
    ns = fresh_namespace()
    a, b, c = Hub(), Hub(), Hub()
    replies_at_a = collector(a, ("reply", "*"), "a-replies")
    at_c = collector(c, ("x", "*"), "c-x")

    republished: list[object] = []

    def reply(key: Key, message: Any) -> None:
        if republished:
            return  # the republished message below comes back here once
        republished.append(message)
        # A new local message, published from inside the imported message's fan-out.
        b.publish(("reply", key[1]), message)
        b.publish(key, message)  # the very same key and object: not sent again

    aiopubsub.Subscriber(b, "replier").add_sync_listener(Key("x", "*"), reply)
    async with (
        bridge(a, redis_server, ns) as bridge_a,
        bridge(b, redis_server, ns) as bridge_b,
        bridge(c, redis_server, ns),
    ):
        a.publish(("x", "1"), {"n": 1})
        await wait_until(lambda: replies_at_a and at_c)
    # Once closed, every message b sent is counted: the reply alone. So c, too, only ever
    # had a's message to receive.
    assert bridge_b.statistics().sent == 1
    assert bridge_a.statistics().received == 1
    assert replies_at_a == [(Key("reply", "1"), {"n": 1})]
    assert at_c == [(Key("x", "1"), {"n": 1})]


# -- payloads ---------------------------------------------------------------------------------


async def test_bridge_reports_a_local_message_it_cannot_encode(redis_server: RedisServer) -> None:
    ns = fresh_namespace()
    errors: list[tuple[BaseException, ErrorContext]] = []
    a, b = Hub(on_error=lambda exc, context: errors.append((exc, context))), Hub()
    at_a = collector(a, ("x",), "local")
    at_b = collector(b, ("x",), "remote")
    unencodable = object()
    async with bridge(a, redis_server, ns) as bridge_a, bridge(b, redis_server, ns):
        a.publish("x", unencodable)  # does not raise
        a.publish("x", "fine")
        await wait_until(lambda: at_b)
    stats = bridge_a.statistics()
    assert at_a == [(Key("x"), unencodable), (Key("x"), "fine")]
    assert at_b == [(Key("x"), "fine")]
    assert (stats.encode_errors, stats.sent) == (1, 1)
    [(exc, context)] = errors
    assert isinstance(exc, TypeError)
    assert (context.kind, context.key, context.message) == ("bridge encode", Key("x"), unencodable)


async def test_bridge_counts_reports_and_drops_garbage_from_redis(
    redis_server: RedisServer,
) -> None:
    ns = fresh_namespace()
    errors: list[ErrorContext] = []
    a, b = Hub(), Hub(on_error=lambda exc, context: errors.append(context))
    at_b = collector(b, ("*",), "everything")
    channel = channel_of(ns, ("x",))
    async with (
        bridge(a, redis_server, ns),
        bridge(b, redis_server, ns) as bridge_b,
        plain_client(redis_server) as client,
    ):
        await client.publish(channel, b"not json")
        await client.publish(channel, b'{"o": "someone", "s": 1}')
        await client.publish(channel, b'{"o":"x","s":1,"k":["y"],"p":1}')  # wrong key
        await client.publish(f"{ns}:%zz", b'{"o":"x","s":1,"k":["%zz"],"p":1}')
        await client.publish(f"{ns}:%2A", b'{"o":"x","s":1,"k":["*"],"p":1}')
        a.publish("x", "still working")
        await wait_until(lambda: at_b)
        stats = bridge_b.statistics()
    assert at_b == [(Key("x"), "still working")]
    assert (stats.decode_errors, stats.received) == (5, 1)
    assert [context.kind for context in errors] == ["bridge decode"] * 5
    assert errors[0].message == b"not json"


async def test_bridge_takes_a_pluggable_codec(redis_server: RedisServer) -> None:
    class Reversed(JsonCodec):
        def encode(self, obj: Any) -> bytes:
            return super().encode(obj)[::-1]

        def decode(self, data: bytes) -> Any:
            return super().decode(data[::-1])

    ns = fresh_namespace()
    a, b = Hub(), Hub()
    at_b = collector(b, ("x",), "x")
    async with (
        bridge(a, redis_server, ns, codec=Reversed()),
        bridge(b, redis_server, ns, codec=Reversed()),
    ):
        a.publish("x", {"reversed": True})
        await wait_until(lambda: at_b)
    assert at_b == [(Key("x"), {"reversed": True})]


# -- lifecycle and faults ---------------------------------------------------------------------


async def test_bridge_aclose_flushes_the_buffer(redis_server: RedisServer) -> None:
    ns = fresh_namespace()
    a, b = Hub(), Hub()
    at_b = collector(b, ("n", "*"), "n")
    async with bridge(b, redis_server, ns):
        bridge_a = bridge(a, redis_server, ns, batch_size=7)
        await bridge_a.start()
        for i in range(100):
            a.publish(("n", str(i)), i)
        await bridge_a.aclose()
        assert bridge_a.status is BridgeState.CLOSED
        assert bridge_a.statistics().sent == 100
        await wait_until(lambda: len(at_b) == 100)
    assert [message for _, message in at_b] == list(range(100))
    assert asyncio.all_tasks() == {asyncio.current_task()}  # no task left behind
    await bridge_a.aclose()  # idempotent
    with pytest.raises(
        RuntimeError, match=r"^<RedisBridge .* closed .*> is not running: nothing to wait for$"
    ):
        await bridge_a.sync()


async def test_bridge_start_fails_fast_without_redis() -> None:
    hub = Hub()
    subscriber = aiopubsub.Subscriber(hub, "s")
    subscriber.subscribe("x")
    # Port 1 on loopback: nothing listens there.
    unreachable = RedisBridge(hub, "redis://:pw@127.0.0.1:1/0", connect_timeout=2)
    with pytest.raises(
        BridgeConnectionError,
        match=r"^Could not start the redis bridge to redis://:\*\*\*@127\.0\.0\.1:1/0:"
        r" connection refused \(ConnectionError: ",
    ) as caught:
        await unreachable.start()
    assert isinstance(caught.value, ConnectionError)
    assert isinstance(caught.value, aiopubsub.PubSubError)
    assert isinstance(caught.value.__cause__, aioredis.ConnectionError)
    assert "pw" not in str(caught.value)
    assert unreachable.status is BridgeState.CLOSED
    assert hub.subscriptions() == {Key("x"): 1}  # the bridge's own are gone
    with pytest.raises(RuntimeError, match=r"^<RedisBridge .* was started already$"):
        await unreachable.start()


async def test_bridge_reconnects_after_redis_restarts_and_counts_the_gap(
    fresh_redis_server: RedisServer,
) -> None:
    ns = fresh_namespace()
    server = fresh_redis_server
    a, b = Hub(), Hub()
    at_b = collector(b, ("tick", "*"), "ticks")
    states = collector(a, ("Hub", "bridge", "redis", "*"), "states")
    async with (
        bridge(a, server, ns, max_buffer=3) as bridge_a,
        bridge(b, server, ns) as bridge_b,
    ):
        for i in range(5):  # one by one: a buffer of 3 would drop some of a burst
            a.publish(("tick", "x"), i)
            await wait_until(lambda: len(at_b) == i + 1)  # noqa: B023 - awaited at once
        await wait_until(lambda: bridge_a.statistics().sent == 5)  # acknowledged, all of them
        server.kill()
        await wait_until(lambda: bridge_a.status is not BridgeState.CONNECTED)
        await wait_until(lambda: bridge_b.status is not BridgeState.CONNECTED)
        for i in range(5, 15):  # buffered: the last 3 kept, 7 dropped
            a.publish(("tick", "x"), i)
        assert bridge_a.statistics().dropped == 7
        server.start()
        await bridge_b.sync(WAIT)
        await bridge_a.sync(WAIT)
        # The three buffered go first: published before, 15 would push one out of the buffer.
        await wait_until(lambda: bridge_a.statistics().buffered == 0)
        a.publish(("tick", "x"), 15)
        await wait_until(lambda: at_b[-1][1] == 15)
        # b can have 15 before a has Redis's acknowledgement of it: wait for that too.
        await wait_until(lambda: bridge_a.statistics().buffered == 0)
        stats_a, stats_b = bridge_a.statistics(), bridge_b.statistics()
    received = [message for _, message in at_b]
    assert received[:5] == [0, 1, 2, 3, 4]
    # Delivery resumed. The three buffered messages arrive if b was resubscribed first.
    assert received[5:-1] in ([12, 13, 14], [13, 14], [14], [])
    assert received[-1] == 15
    assert stats_b.gaps == 16 - len(received)  # 0 to 15 were published
    assert stats_a.reconnects >= 1
    assert stats_b.reconnects >= 1
    assert (stats_a.dropped, stats_a.buffered) == (7, 0)
    seen = [key[-1] for key, _ in states]
    assert seen[:4] == ["connecting", "connected", "disconnected", "connecting"]
    assert seen[-2:] == ["connected", "closed"]


async def test_bridge_state_events_repeat_during_an_outage(
    fresh_redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    hub = Hub()
    states = collector(hub, ("Hub", "bridge", "redis", "*"), "states")
    caplog.set_level(logging.DEBUG, logger="aiopubsub.RedisBridge")

    def disconnections() -> int:
        return sum(key[-1] == "disconnected" for key, _ in states)

    running = bridge(hub, fresh_redis_server, fresh_namespace())
    async with running:
        fresh_redis_server.kill()
        await wait_until(lambda: disconnections() >= 3)
    seen = [key[-1] for key, _ in states]
    assert seen[:3] == ["connecting", "connected", "disconnected"]
    assert seen[-1] == "closed"
    # Each attempt during the outage: 'connecting', then 'disconnected' again if it fails.
    retries = seen[3:-1]
    assert retries[: len(retries) // 2 * 2] == ["connecting", "disconnected"] * (len(retries) // 2)
    # The README lists the message's keys, each as a bullet.
    documented = readme_section("\nState meta-events\n", "\nSettings\n")
    assert set(re.findall(r"^\* ``'(\w+)'``:", documented, re.MULTILINE)) == {
        "bridge",
        "origin",
        "state",
        "error",
    }
    for key, message in states:
        assert message.keys() == {"bridge", "origin", "state", "error"}
        assert message["bridge"] is running
        assert message["origin"] == running.origin
        assert isinstance(message["state"], BridgeState)
        assert message["state"] == key[-1]
        if key[-1] == "disconnected":
            assert isinstance(message["error"], Exception)
        else:
            assert message["error"] is None
    # The outage is said once, at WARNING; each failed attempt after it at DEBUG.
    records = [r for r in caplog.records if r.name == "aiopubsub.RedisBridge"]
    levels = [record.levelno for record in records]
    assert levels == [logging.WARNING] + [logging.DEBUG] * (disconnections() - 1)
    assert re.match(r"^<RedisBridge .*> lost its connection \(", records[0].getMessage())
    assert all("could not reconnect" in record.getMessage() for record in records[1:])


async def test_bridge_aclose_before_start_and_twice_at_once() -> None:
    hub = Hub()
    unstarted = RedisBridge(hub)
    await unstarted.aclose()
    assert unstarted.status is BridgeState.CLOSED
    assert hub.subscriptions() == {}


async def test_bridge_closes_cleanly_when_closed_concurrently(redis_server: RedisServer) -> None:
    hub = Hub()
    running = bridge(hub, redis_server, fresh_namespace())
    await running.start()
    await asyncio.gather(running.aclose(), running.aclose())
    assert running.status is BridgeState.CLOSED
    assert hub.subscriptions() == {}
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_bridge_survives_its_hub_closing_first(redis_server: RedisServer) -> None:
    ns = fresh_namespace()
    a, b = Hub(), Hub()
    at_b = collector(b, ("x",), "x")
    async with (
        bridge(a, redis_server, ns) as bridge_a,
        bridge(b, redis_server, ns) as bridge_b,
        plain_client(redis_server) as client,
    ):
        a.publish("x", 1)
        await wait_until(lambda: at_b)
        b.close()
        a.publish("x", 2)  # arrives at a closed hub: dropped quietly
        a.publish("y", 3)
        await wait_until(lambda: bridge_a.statistics().sent == 3)  # Redis has both
        # A barrier: b's bridge reads its messages in order, so once it has counted this
        # undecodable one, it has read 2 and 3 before it.
        await client.publish(channel_of(ns, ("x",)), b"not json")
        await wait_until(lambda: bridge_b.statistics().decode_errors == 1)
        assert bridge_b.status is BridgeState.CONNECTED
    assert at_b == [(Key("x"), 1)]


@pytest.mark.parametrize("failures", [0, 1, 5, 100])
def test_bridge_backoff_is_fully_jittered_and_capped(failures: int) -> None:
    bound = min(10.0, 0.1 * 2**failures)
    delays = []
    for _ in range(200):
        backoff = Backoff(0.1, 10.0)
        backoff.failures = failures
        delays.append(backoff.next_delay())
        assert backoff.failures == failures + 1
    assert all(0 <= delay <= bound for delay in delays)
    assert max(delays) > bound / 2  # spread over the whole range, not a fixed delay


# -- across processes -------------------------------------------------------------------------


async def test_bridge_two_processes_exchange_both_ways(redis_server: RedisServer) -> None:
    ns = fresh_namespace()
    hub = Hub()
    hello = collector(hub, ("hello", "*"), "hello")
    pongs = collector(hub, ("pong", "*"), "pongs")
    async with bridge(hub, redis_server, ns):
        peer = await asyncio.create_subprocess_exec(
            sys.executable,
            "-W",
            "error",
            str(PEER),
            redis_server.url,
            ns,
            env=python_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            await wait_until(lambda: hello)
            for i in range(3):
                hub.publish(("ping", str(i)), {"i": i})
            await wait_until(lambda: len(pongs) == 3)
            async with asyncio.timeout(WAIT):
                out, err = await peer.communicate()
        finally:
            if peer.returncode is None:
                peer.kill()
                await peer.wait()
    assert peer.returncode == 0, err.decode()
    assert hello == [(Key("hello", "peer"), {"ready": True})]
    assert pongs == [(Key("pong", str(i)), {"i": i, "doubled": 2 * i}) for i in range(3)]
    assert out.decode().split() == ["ping/0", "ping/1", "ping/2"]


def test_bridge_example_redis_price_feed_runs(redis_server: RedisServer) -> None:
    done = run_python("-W", "error", str(EXAMPLE), timeout=60)
    assert done.returncode == 0, done.stderr
    assert "trader" in done.stdout
    assert "feed" in done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    assert "Warning" not in done.stderr, done.stderr
    # The count the trader prints is of the prices it printed: not the end marker too.
    prices = re.findall(r"^trader: \S+ at ", done.stdout, re.MULTILINE)
    assert prices
    assert f"trader: done, {len(prices)} prices received" in done.stdout, done.stdout


# -- exact key semantics through Redis --------------------------------------------------------


async def keys_through_redis(
    server: RedisServer, pattern: tuple[str, ...], keys: list[tuple[str, ...]]
) -> set[Key]:
    ns = fresh_namespace()
    a, b = Hub(), Hub()
    at_b = collector(b, pattern, "pattern")
    end = collector(b, ("end of test",), "end")
    async with bridge(a, server, ns), bridge(b, server, ns):
        for key in keys:
            a.publish(key, None)
        a.publish("end of test", None)
        # One origin's messages arrive in order: all of them are in when the end is.
        await wait_until(lambda: end)
    return {key for key, _ in at_b if key != ("end of test",)}


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(pattern=patterns(), keys=st.lists(concrete_keys(), max_size=8))
def test_bridge_delivers_exactly_the_keys_the_local_matcher_accepts(
    redis_server: RedisServer, pattern: tuple[str, ...], keys: list[tuple[str, ...]]
) -> None:
    keys = [key for key in keys if key != ("end of test",)]
    delivered = run(keys_through_redis(redis_server, pattern, keys))
    assert delivered == {Key(*key) for key in keys if matches(key, pattern)}


# -- settings and the optional dependency -----------------------------------------------------


def test_bridge_from_settings_reads_a_mapping_and_an_object() -> None:
    class Settings:
        AIOPUBSUB_REDIS_URL = "redis://example:6380/1"
        AIOPUBSUB_NAMESPACE = "app"
        AIOPUBSUB_REDIS_INBOUND = (("prices", "*"),)
        AIOPUBSUB_REDIS_MAX_BUFFER = 5

    hub = Hub()
    from_object = RedisBridge.from_settings(hub, Settings)
    assert repr(from_object).startswith("<RedisBridge redis://example:6380/1 namespace='app' new")
    assert from_object.inbound_patterns == frozenset()  # until started
    from_mapping = RedisBridge.from_settings(
        hub, {"AIOPUBSUB_REDIS_URL": "redis://:secret@host/0", "OTHER": 1}
    )
    assert "secret" not in repr(from_mapping)
    assert ":***@host" in repr(from_mapping)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, r"^Setting AIOPUBSUB_REDIS_URL is missing: set it to a Redis URL such as"),
        (
            {"AIOPUBSUB_REDIS_URL": "http://x"},
            r"^Setting AIOPUBSUB_REDIS_URL is malformed \(url must be a Redis URL .*\):"
            r" set it to a Redis URL such as 'redis://localhost:6379/0'$",
        ),
        (
            {"AIOPUBSUB_REDIS_URL": "redis://x", "AIOPUBSUB_REDIS_MAX_BUFFER": "10"},
            r"^Setting AIOPUBSUB_REDIS_MAX_BUFFER is malformed \(max_buffer must be an int,"
            r" got '10'\): set it to an int >= 1, such as 10000$",
        ),
        (
            {"AIOPUBSUB_REDIS_URL": "redis://x", "AIOPUBSUB_REDIS_OUTBOUND": "prices"},
            r"^Setting AIOPUBSUB_REDIS_OUTBOUND is malformed \(outbound must be a collection",
        ),
        (
            {"AIOPUBSUB_REDIS_URL": "redis://x", "AIOPUBSUB_NAMESPACE": ""},
            r"^Setting AIOPUBSUB_NAMESPACE is malformed",
        ),
        (
            {"AIOPUBSUB_REDIS_URL": "redis://x", "AIOPUBSUB_REDIS_BACKOFF_CAP": 0},
            r"^Setting AIOPUBSUB_REDIS_BACKOFF_CAP is malformed \(backoff_cap must be > 0",
        ),
    ],
)
def test_bridge_from_settings_names_a_bad_setting(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(BridgeConfigError, match=message):
        RedisBridge.from_settings(Hub(), settings)


def test_bridge_from_settings_refuses_an_unknown_redis_setting() -> None:
    known = ", ".join(
        [
            "AIOPUBSUB_REDIS_URL",
            "AIOPUBSUB_NAMESPACE",
            "AIOPUBSUB_REDIS_OUTBOUND",
            "AIOPUBSUB_REDIS_INBOUND",
            "AIOPUBSUB_REDIS_MAX_BUFFER",
            "AIOPUBSUB_REDIS_BATCH_SIZE",
            "AIOPUBSUB_REDIS_BACKOFF_BASE",
            "AIOPUBSUB_REDIS_BACKOFF_CAP",
            "AIOPUBSUB_REDIS_CONNECT_TIMEOUT",
            "AIOPUBSUB_BRIDGE_SECRET",
        ]
    )
    message = (
        r"^Setting AIOPUBSUB_REDIS_TIMEOUT is unknown"
        r" \(did you mean AIOPUBSUB_REDIS_CONNECT_TIMEOUT\?\): the settings are "
        + re.escape(known)
        + "$"
    )
    mapping = {"AIOPUBSUB_REDIS_URL": "redis://x", "AIOPUBSUB_REDIS_TIMEOUT": 3}
    with pytest.raises(BridgeConfigError, match=message):
        RedisBridge.from_settings(Hub(), mapping)
    # An object's names are found with dir(), class attributes and instance ones alike.
    module = types.SimpleNamespace(**mapping)
    with pytest.raises(BridgeConfigError, match=message):
        RedisBridge.from_settings(Hub(), module)

    class Settings:
        AIOPUBSUB_REDIS_URL = "redis://x"
        AIOPUBSUB_REDIS_TIMEOUT = 3

    with pytest.raises(BridgeConfigError, match=message):
        RedisBridge.from_settings(Hub(), Settings)
    # A misspelt required setting is named as unknown, not merely as missing.
    with pytest.raises(
        BridgeConfigError, match=r"^Setting AIOPUBSUB_REDIS_URI is unknown \(did you mean"
    ):
        RedisBridge.from_settings(Hub(), {"AIOPUBSUB_REDIS_URI": "redis://x"})
    # Other names, AIOPUBSUB_ ones included, are not this module's business.
    others = {"AIOPUBSUB_REDIS_URL": "redis://x", "AIOPUBSUB_OTHER": 1, "REDIS_TIMEOUT": 1, 2: 3}
    assert RedisBridge.from_settings(Hub(), others).status is BridgeState.NEW


def test_bridge_from_settings_reads_the_connect_timeout() -> None:
    settings = {"AIOPUBSUB_REDIS_URL": "redis://x", "AIOPUBSUB_REDIS_CONNECT_TIMEOUT": 0.5}
    assert RedisBridge.from_settings(Hub(), settings)._connect_timeout == 0.5
    settings["AIOPUBSUB_REDIS_CONNECT_TIMEOUT"] = 0
    with pytest.raises(
        BridgeConfigError,
        match=r"^Setting AIOPUBSUB_REDIS_CONNECT_TIMEOUT is malformed \(connect_timeout must be"
        r" > 0, got 0\): set it to a number of seconds > 0, such as 5$",
    ):
        RedisBridge.from_settings(Hub(), settings)


@pytest.mark.parametrize("namespace", ["ns:sub", "ns*", "n?", "[ns]", "n]", "back\\slash", ""])
def test_bridge_refuses_a_namespace_that_could_overlap_another(namespace: str) -> None:
    message = (
        r"^namespace must be a non-empty str without ':' or any of \*\?\[\]\\, such as"
        r" 'aiopubsub' or 'app-prod' \(so that no namespace overlaps another\), got "
        + re.escape(repr(namespace))
        + "$"
    )
    hub = Hub()
    with pytest.raises(BridgeConfigError, match=message):
        RedisBridge(hub, namespace=namespace)
    settings = {"AIOPUBSUB_REDIS_URL": "redis://x", "AIOPUBSUB_NAMESPACE": namespace}
    with pytest.raises(
        BridgeConfigError,
        match=r"^Setting AIOPUBSUB_NAMESPACE is malformed \(namespace must be .*, got "
        + re.escape(repr(namespace))
        + r"\): set it to a non-empty str without ':'",
    ):
        RedisBridge.from_settings(hub, settings)
    assert hub.subscriptions() == {}


def test_bridge_accepts_namespaces_without_separator_or_glob_characters() -> None:
    for namespace in ["aiopubsub", "app-prod", "a.b_c", "ns%3Asub", "é ", "x/y"]:
        assert f"namespace={namespace!r}" in repr(RedisBridge(Hub(), namespace=namespace))


@pytest.mark.parametrize("name", ["outbound", "inbound"])
def test_bridge_refuses_a_str_among_the_patterns(name: str) -> None:
    hub = Hub()
    with pytest.raises(
        TypeError,
        match=rf"^{name} must be a collection of keys, each a Key, tuple or list of str, such as"
        r" \[\('prices', '\*'\)\]; got the item 'prices' in \('prices', '\*'\)$",
    ):
        RedisBridge(hub, **{name: ("prices", "*")})
    with pytest.raises(
        TypeError,
        match=rf"^{name} must .*, such as \[\('a', 'b'\)\]; got the item 'a' in \['a', 'b'\]$",
    ):
        RedisBridge(hub, **{name: ["a", "b"]})
    # Mixed with keys, a str is still refused; the example is then a generic one.
    with pytest.raises(
        TypeError, match=rf"^{name} must .*, such as \[\('prices', '\*'\)\]; got the item 'b' in"
    ):
        RedisBridge(hub, **{name: [("a",), "b"]})
    with pytest.raises(TypeError, match=rf"^{name} must .*; got the item 5 in \[5\]$"):
        RedisBridge(hub, **{name: [5]})
    setting = f"AIOPUBSUB_REDIS_{name.upper()}"
    with pytest.raises(
        BridgeConfigError,
        match=rf"^Setting {setting} is malformed \({name} must be a collection of keys, .*\):"
        r" set it to .*a list of keys, each a list of str, such as \[\['prices', '\*'\]",
    ):
        RedisBridge.from_settings(hub, {"AIOPUBSUB_REDIS_URL": "redis://x", setting: ["p", "*"]})
    assert hub.subscriptions() == {}


def test_bridge_from_settings_takes_patterns_as_lists_of_str() -> None:
    settings = {
        "AIOPUBSUB_REDIS_URL": "redis://x",
        "AIOPUBSUB_REDIS_OUTBOUND": [["prices", "*"], ("orders",)],
        "AIOPUBSUB_REDIS_INBOUND": "auto",
    }
    assert RedisBridge.from_settings(Hub(), settings).status is BridgeState.NEW
    settings["AIOPUBSUB_REDIS_INBOUND"] = [["fills", "*"]]
    assert RedisBridge.from_settings(Hub(), settings).status is BridgeState.NEW


def test_bridge_refuses_a_bare_key_as_pattern_collection() -> None:
    with pytest.raises(
        TypeError, match=r"^outbound must be a collection of keys, .* such as \[\('a', '\*'\)\],"
    ):
        RedisBridge(Hub(), outbound=Key("a", "*"))
    with pytest.raises(
        TypeError, match=r"^inbound must be a collection of keys, .* such as \[\('prices',\)\],"
    ):
        RedisBridge(Hub(), inbound="prices")


def test_importing_aiopubsub_does_not_import_redis() -> None:
    done = run_python(
        "-W",
        "error",
        "-c",
        "import sys, aiopubsub, aiopubsub.bridges\n"
        "assert not any(m == 'redis' or m.startswith('redis.') for m in sys.modules)\n",
    )
    assert done.returncode == 0, done.stderr


def test_bridge_without_redis_says_what_to_install() -> None:
    done = run_python(
        "-W",
        "error",
        "-c",
        "import sys\n"
        "sys.modules['redis'] = None\n"
        "try:\n"
        "    from aiopubsub.bridges.redis import RedisBridge\n"
        "except ImportError as exc:\n"
        "    print(exc)\n",
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'aiopubsub[redis]'" in done.stdout


# -- the README -------------------------------------------------------------------------------


def readme_section(start: str, end: str) -> str:
    readme = (ROOT / "README.rst").read_text(encoding="utf-8")
    return readme[readme.index(start) : readme.index(end)]


def readme_bridge_program() -> str:
    """The first Python code block of the README's Redis bridge section."""
    section = readme_section("\nRedis bridge\n------------\n", "\nWhat the bridge guarantees\n")
    block = section.split(".. code-block:: python\n\n", 1)[1]
    lines = []
    for line in block.splitlines():
        if line and not line.startswith("    "):
            break
        lines.append(line)
    return textwrap.dedent("\n".join(lines))


async def test_readme_redis_bridge_program_runs(fresh_redis_server: RedisServer) -> None:
    server = fresh_redis_server
    program = readme_bridge_program()
    compile(program, "README.rst", "exec")  # a top-level await would be a SyntaxError
    program = program.replace("redis://localhost:6379/0", server.url)
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-W", "error", "-c", program),
        env=python_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(WAIT):
            # Its bridge has subscribed ('price', '*') once the server counts a pattern.
            while await numpat(server) == 0:  # noqa: ASYNC110 - Redis has no event to wait on
                await asyncio.sleep(0.01)
        hub = Hub()
        async with RedisBridge(hub, server.url, inbound=[]):  # the default namespace
            hub.publish(("price", "EUR/USD"), {"bid": 1.1})
        async with asyncio.timeout(WAIT):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    assert out.decode() == "('price', 'EUR/USD') {'bid': 1.1}\n"


def test_readme_logging_lists_every_logger_and_counts_them() -> None:
    section = readme_section("\nLogging\n-------\n", "``Hub(on_error=hook)``")
    listed = re.findall(r"^- ``(aiopubsub\.\w+)``", section, re.MULTILINE)
    used = {
        f"aiopubsub.{name}"
        for path in (ROOT / "aiopubsub").rglob("*.py")
        for name in re.findall(r'get_logger\("(\w+)"\)', path.read_text(encoding="utf-8"))
    }
    assert "aiopubsub.RedisBridge" in used
    assert sorted(listed) == sorted(used)
    words = {3: "three", 4: "four", 5: "five", 6: "six"}
    assert f"aiopubsub logs to {words[len(listed)]} loggers:" in section
