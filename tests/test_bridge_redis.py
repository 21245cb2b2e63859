"""The Redis bridge against a real ``redis-server``: exchange, auto inbound, no echo, faults."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import redis_server as redis_server_module
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis_server import RedisServer, fresh_redis_server, redis_server
from strategies import concrete_keys, patterns

import aiopubsub
from aiopubsub import ErrorContext, Hub, Key
from aiopubsub._key import matches
from aiopubsub.bridges._channels import channel_of
from aiopubsub.bridges.redis import (
    BridgeConfigError,
    BridgeState,
    BridgeStatistics,
    JsonCodec,
    RedisBridge,
    _backoff_delay,
)

__all__ = ["fresh_redis_server", "redis_server"]  # fixtures, imported to be found

ROOT = Path(__file__).resolve().parent.parent
PEER = Path(__file__).resolve().parent / "bridge_peer.py"
EXAMPLE = ROOT / "examples" / "redis_price_feed.py"
#: Bound of every wait on Redis: generous for a loaded CI machine; passing tests take far less.
WAIT = 10.0
_namespaces = itertools.count()


def fresh_namespace() -> str:
    """A namespace no other test uses: tests share one server per module."""
    return f"test{os.getpid()}-{next(_namespaces)}"


def bridge(hub: Hub, server: RedisServer, namespace: str, **kwargs: Any) -> RedisBridge:
    """A bridge that reconnects quickly, for tests."""
    kwargs.setdefault("backoff_base", 0.01)
    kwargs.setdefault("backoff_cap", 0.1)
    return RedisBridge(hub, server.url, namespace=namespace, **kwargs)


def collector(hub: Hub, pattern: tuple[str, ...], name: str) -> list[tuple[Key, Any]]:
    """A list that a sync listener on ``pattern`` fills with what the hub delivers (the hub's
    own meta-events only if ``pattern`` starts with ``'Hub'``)."""
    received: list[tuple[Key, Any]] = []
    meta = pattern[0] == "Hub"

    def collect(key: Key, message: Any) -> None:
        if meta or key[0] != "Hub":
            received.append((key, message))

    aiopubsub.Subscriber(hub, name).add_sync_listener(Key(*pattern), collect)
    return received


async def wait_until(condition: Callable[[], object], timeout: float = WAIT) -> None:
    """Step the loop until ``condition()`` holds."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - statistics and lists have no event to wait on
            await asyncio.sleep(0.005)


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
            a, redis_server, ns, outbound=[("public", "*"), ("public", "*", "1"), "end"]
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
        await client.publish(channel, b'{"o": "someone", "n": 1}')
        await client.publish(channel, b'{"o":"x","n":1,"s":1,"k":["y"],"p":1}')  # wrong key
        await client.publish(f"{ns}:%zz", b'{"o":"x","n":1,"s":1,"k":["%zz"],"p":1}')
        await client.publish(f"{ns}:%2A", b'{"o":"x","n":1,"s":1,"k":["*"],"p":1}')
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
    unreachable = RedisBridge(hub, "redis://127.0.0.1:1/0", connect_timeout=2)
    with pytest.raises(aioredis.ConnectionError):
        await unreachable.start()
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
        a.publish(("tick", "x"), 15)
        await wait_until(lambda: at_b[-1][1] == 15)
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
    async with bridge(a, redis_server, ns), bridge(b, redis_server, ns) as bridge_b:
        a.publish("x", 1)
        await wait_until(lambda: at_b)
        b.close()
        a.publish("x", 2)  # arrives at a closed hub: dropped quietly
        a.publish("y", 3)
        await asyncio.sleep(0.05)  # let it arrive, if it were to break anything
        assert bridge_b.status is BridgeState.CONNECTED
    assert at_b == [(Key("x"), 1)]


@pytest.mark.parametrize("failures", [0, 1, 5, 100])
def test_bridge_backoff_is_fully_jittered_and_capped(failures: int) -> None:
    bound = min(10.0, 0.1 * 2**failures)
    delays = [_backoff_delay(failures, 0.1, 10.0) for _ in range(200)]
    assert all(0 <= delay <= bound for delay in delays)
    assert max(delays) > bound / 2  # spread over the whole range, not a fixed delay


# -- across processes -------------------------------------------------------------------------


def python_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("PYTHONWARNINGS", None)
    return env


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
    done = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLE)],
        cwd=ROOT,
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "trader" in done.stdout
    assert "feed" in done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    assert "Warning" not in done.stderr, done.stderr


def test_bench_redis_quick_reports_the_ratio(redis_server: RedisServer) -> None:
    done = subprocess.run(
        [sys.executable, "-W", "error", str(ROOT / "benchmarks" / "bench_redis.py"), "--quick"],
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"^  bridge / single: \d+\.\dx$", done.stdout, re.MULTILINE), done.stdout


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
    delivered = asyncio.run(keys_through_redis(redis_server, pattern, keys))
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


def test_bridge_refuses_a_bare_key_as_pattern_collection() -> None:
    with pytest.raises(TypeError, match=r"^outbound must be a collection of keys"):
        RedisBridge(Hub(), outbound=Key("a", "*"))
    with pytest.raises(TypeError, match=r"^inbound must be a collection of keys"):
        RedisBridge(Hub(), inbound="prices")


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_importing_aiopubsub_does_not_import_redis() -> None:
    done = run_python(
        "import sys, aiopubsub, aiopubsub.bridges\n"
        "assert not any(m == 'redis' or m.startswith('redis.') for m in sys.modules)\n"
    )
    assert done.returncode == 0, done.stderr


def test_bridge_without_redis_says_what_to_install() -> None:
    done = run_python(
        "import sys\n"
        "sys.modules['redis'] = None\n"
        "try:\n"
        "    from aiopubsub.bridges.redis import RedisBridge\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'aiopubsub[redis]'" in done.stdout
