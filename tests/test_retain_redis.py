"""RedisStore against a real redis-server: values, TTLs in Redis' own expiry, the bridge's key
encoding, SCAN plus the exact pattern check, and a store that cannot reach Redis."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import redis.asyncio as aioredis
from helpers import wait_until
from redis_server import RedisServer, redis_server

from aiopubsub import ErrorContext, Hub, Key
from aiopubsub.stores import StoreWriteError
from aiopubsub.stores.redis import RedisStore

__all__ = ["redis_server"]  # the fixture, imported to be found

pytestmark = pytest.mark.redis
_names = itertools.count()


def namespace() -> str:
    return f"retain-test-{next(_names)}"


async def test_values_are_shared_by_hubs_of_a_namespace(redis_server: RedisServer) -> None:
    ns = namespace()
    first = Hub(store=RedisStore(redis_server.url, ns))
    first.retain(("price", "EUR/USD"), {"bid": 1.5})
    first.retain(("price", 7), [1, "x"])
    await first.aclose()
    later = Hub(store=RedisStore(redis_server.url, ns))
    assert await later.load_retained() == 2
    assert later.retained() == {Key("price", "EUR/USD"): {"bid": 1.5}, Key("price", 7): [1, "x"]}
    await later.aclose()
    other = RedisStore(redis_server.url, namespace())
    assert await other.load_matching() == []
    await other.aclose()


async def test_names_are_the_bridge_channels_and_ttl_is_redis_own(
    redis_server: RedisServer,
) -> None:
    ns = namespace()
    store = RedisStore(redis_server.url, ns)
    await store.save_many([(Key("a", "b/c"), 1, 30.0), (Key("a", 2), 2, None)])
    client = aioredis.from_url(redis_server.url)
    assert await client.get(f"{ns}:a:b%2Fc") == b"1"
    assert 0 < await client.pttl(f"{ns}:a:b%2Fc") <= 30_000
    assert await client.pttl(f"{ns}:a:#2") == -1
    await client.set(f"{ns}:a:not:canonical:%7A", b"0")  # Not a key's name: skipped.
    loaded = await store.load_matching(Key("a", "*"))
    assert {key: message for key, message, _ in loaded} == {Key("a", "b/c"): 1, Key("a", 2): 2}
    assert len(loaded) == 2
    ttls = {key: ttl for key, _, ttl in loaded}
    assert ttls[Key("a", 2)] is None
    assert 0 < ttls[Key("a", "b/c")] <= 30
    assert await store.load(Key("a", 2)) == (2, None)
    assert await store.load(Key("a", 3)) is None
    await client.aclose()
    await store.aclose()


async def test_a_pattern_glob_is_checked_exactly(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url, namespace())
    # The glob of ('*', 'b'), "ns:*:b", matches the name of ('a', 'x', 'b') too; the exact
    # check does not.
    await store.save_many([(Key("a", "b"), 1, None), (Key("a", "x", "b"), 2, None)])
    assert [key for key, _, _ in await store.load_matching(Key("*", "b"))] == [Key("a", "b")]
    assert [key for key, _, _ in await store.load_matching(Key("a", "*", "b"))] == [
        Key("a", "x", "b")
    ]
    assert await store.clear(Key("*", "b")) == 1
    assert await store.clear_all() == 1
    await store.aclose()


async def test_forget_and_expiry_reach_redis(redis_server: RedisServer) -> None:
    ns = namespace()
    store = RedisStore(redis_server.url, ns)
    hub = Hub(store=store)
    hub.retain(("x", "a"), 1)
    hub.retain(("x", "b"), 2)
    hub.retain(("x", "c"), 3, ttl=0)
    hub.forget(("x", "a"))
    await hub.aclose()
    store = RedisStore(redis_server.url, ns)
    assert [key for key, _, _ in await store.load_matching()] == [Key("x", "b")]
    await store.aclose()


async def test_an_unsendable_key_is_a_store_error_and_the_rest_is_written(
    redis_server: RedisServer,
) -> None:
    errors: list[tuple[BaseException, ErrorContext]] = []
    ns = namespace()
    hub = Hub(store=RedisStore(redis_server.url, ns), on_error=lambda e, c: errors.append((e, c)))
    hub.retain(("x", "ok"), 2)
    hub.retain(("x", None), 1)
    hub.retain(("x", "set"), {1})  # The JSON codec refuses a set.
    await wait_until(lambda: errors)
    await hub.aclose()
    exc, context = errors[0]
    assert isinstance(exc, StoreWriteError)
    assert exc.count == 2
    assert str(exc).startswith("2 of 3 retained values could not be written to")
    assert context.key == Key("x", None)
    assert context.message == 1
    store = RedisStore(redis_server.url, ns)
    assert await store.load_matching() == [(Key("x", "ok"), 2, None)]
    await store.aclose()


async def test_redis_down_is_reported_and_delivery_goes_on() -> None:
    from redis_server import free_port

    errors: list[tuple[BaseException, ErrorContext]] = []
    hub = Hub(
        store=RedisStore(f"redis://127.0.0.1:{free_port()}/0", "down"),
        on_error=lambda exc, context: errors.append((exc, context)),
    )
    got: list[Any] = []
    hub.add_subscriber("a", lambda key, message: got.append(message))
    hub.retain("a", 1)
    assert got == [1]
    await wait_until(lambda: errors)
    assert errors[0][1].kind == "store"
    assert hub.statistics().store_errors >= 1
    assert await hub.load_retained() == 0
    await hub.aclose()


@pytest.mark.parametrize("ns", ["", "a:b", "a*", 5])
def test_a_bad_namespace_is_refused_naming_it(ns: Any) -> None:
    with pytest.raises(ValueError, match=r"^namespace must be a non-empty str .* got "):
        RedisStore("redis://127.0.0.1:1/0", ns)


async def test_values_the_server_refuses_are_counted_one_by_one(redis_server: RedisServer) -> None:
    errors: list[tuple[BaseException, ErrorContext]] = []
    admin = RedisStore(redis_server.url, namespace())._client
    hub = Hub(
        store=RedisStore(redis_server.url, namespace()),
        on_error=lambda e, c: errors.append((e, c)),
    )
    await admin.config_set("maxmemory", "1")  # Every SET is refused (OOM); a DEL is not.
    try:
        hub.retain(("gone",), 0, ttl=0)
        hub.retain(("full",), 1)
        await wait_until(lambda: errors)
    finally:
        await admin.config_set("maxmemory", "0")
        await admin.aclose()
    await hub.aclose()
    exc, context = errors[0]
    assert isinstance(exc, StoreWriteError)
    assert exc.count == 1
    assert str(exc).startswith("1 of 2 retained values could not be written to")
    assert context.key == Key(
        "full",
    )
