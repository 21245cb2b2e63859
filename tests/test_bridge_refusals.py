"""Messages a broker refuses on its own (a NATS subject over the server's control line, a
Redis error reply such as ``NOPERM``): counted, reported, dropped, never sent again, and
never a reason to reconnect. Real servers."""

from __future__ import annotations

import pathlib

import pytest
import redis.asyncio as aioredis
from helpers import WAIT, collector, fresh_namespace, wait_until
from nats_server import started_nats_server
from redis_server import started_redis_server
from test_bridge_conformance import Broker, broker

from aiopubsub import ErrorContext, Hub
from aiopubsub.bridges.nats import NatsBridge
from aiopubsub.bridges.redis import RedisBridge

__all__ = ["broker"]  # The fixture, imported: one server per broker for this module.


def recorder() -> tuple[Hub, list[tuple[BaseException, ErrorContext]]]:
    errors: list[tuple[BaseException, ErrorContext]] = []
    return Hub(on_error=lambda exc, context: errors.append((exc, context))), errors


async def test_a_key_too_long_for_the_broker_neither_jams_nor_reconnects(broker: Broker) -> None:
    ns = fresh_namespace()
    a, errors = recorder()
    b = Hub()
    at_b = collector(b, ("ok",), "ok")
    long_key = ("x" * 5000,)  # over nats-server's 4 KB control line
    async with broker.bridge(a, ns, inbound=[]) as bridge_a, broker.bridge(b, ns) as bridge_b:
        b.add_subscriber(long_key, lambda key, message: None)  # nor may subscribing jam
        await bridge_b.sync(WAIT)
        a.publish("ok", "before")
        a.publish(long_key, "too long?")
        for i in range(20):
            a.publish("ok", i)
        await wait_until(lambda: len(at_b) == 21)
    # Read once closed: "sent" counts a batch when the broker acknowledges it, which can come
    # after the other side has received it.
    stats_a, stats_b = bridge_a.statistics(), bridge_b.statistics()
    assert [message for _, message in at_b] == ["before", *range(20)]
    assert (stats_a.reconnects, stats_b.reconnects) == (0, 0)
    if broker.name == "nats":
        assert (stats_a.encode_errors, stats_a.sent) == (1, 21)
        [(exc, context)] = errors
        assert str(exc).startswith("A subject of 5")
        assert "max_control_line" in str(exc)
        assert context.kind == "bridge encode"
    else:  # Redis takes any channel name
        assert (stats_a.encode_errors, stats_a.sent, errors) == (0, 22, [])


async def test_redis_a_message_the_acl_refuses_is_dropped_and_reported() -> None:
    broker = Broker("redis", started_redis_server())
    try:
        await _acl_refusal(broker)
    finally:
        broker.server.stop()


async def _acl_refusal(broker: Broker) -> None:
    ns = fresh_namespace()
    admin = aioredis.Redis.from_url(broker.server.url)
    try:
        await admin.execute_command(
            "ACL", "SETUSER", f"lim-{ns}", "on", ">limpw123", "resetchannels",
            f"&{ns}:ok*", "+publish", "+ping", "+psubscribe", "+punsubscribe",
        )  # fmt: skip
    finally:
        await admin.aclose()
    url = broker.server.url.replace("redis://", f"redis://lim-{ns}:limpw123@", 1)
    a, errors = recorder()
    b = Hub()
    at_b = collector(b, ("ok",), "ok")
    bridge_a = RedisBridge(a, url, namespace=ns, inbound=[], backoff_base=0.01, backoff_cap=0.1)
    async with bridge_a, broker.bridge(b, ns) as bridge_b:
        await bridge_b.sync(WAIT)
        a.publish("ok", "before")
        a.publish("secret", "not allowed")
        for i in range(5):
            a.publish("ok", i)
        await wait_until(lambda: len(at_b) == 6)
    stats = bridge_a.statistics()  # once closed, as above
    assert [message for _, message in at_b] == ["before", *range(5)]
    assert (stats.encode_errors, stats.sent, stats.reconnects, stats.dropped) == (1, 6, 0, 0)
    [(exc, context)] = errors
    assert "no permissions" in str(exc)  # NOPERM
    assert (context.kind, context.key) == ("bridge encode", ("secret",))
    assert isinstance(context.message, bytes)


@pytest.mark.parametrize("size", [5_000, 2_000_000])
async def test_a_huge_bad_name_or_key_is_logged_in_a_few_hundred_characters(
    broker: Broker, size: int, caplog: pytest.LogCaptureFixture
) -> None:
    ns = fresh_namespace()
    b = Hub()  # no on_error hook: the hub logs each error
    collector(b, ("*",), "all")
    bad_name = f"{ns}:{'%zz' * (size // 3)}" if broker.name == "redis" else f"{ns}.{'%' * size}"
    huge_hub_key = ("Hub", "x" * size)
    async with broker.bridge(b, ns) as bridge_b:
        await bridge_b.sync(WAIT)
        names = [bad_name, broker.name_of(ns, huge_hub_key)]
        if broker.name == "nats":  # a subject that long cannot be published at all
            names = [name[:3000] for name in names]
        data = b"x" * (size if broker.name == "redis" else 100_000)
        await broker.raw_publish([(name, data) for name in names])
        await wait_until(
            lambda: bridge_b.statistics().decode_errors + bridge_b.statistics().rejected == 2
        )
    records = [record for record in caplog.records if record.levelname == "ERROR"]
    assert len(records) == 2
    for record in records:
        text = record.getMessage()
        assert len(text) < 2_000, text[:3000]
        if record.exc_info:
            import traceback

            assert len("".join(traceback.format_exception(*record.exc_info))) < 2_000


async def test_nats_a_message_the_permissions_deny_is_dropped_and_reported(
    tmp_path: pathlib.Path,
) -> None:
    ns = fresh_namespace()
    config = tmp_path / "nats.conf"
    config.write_text(
        "authorization { users = [\n"
        "  {user: admin, password: adminpw}\n"
        f'  {{user: lim, password: limpw, permissions: {{publish: {{deny: ["{ns}.secret"]}},'
        f' subscribe: {{deny: ["{ns}.private"]}}}}}}\n'
        "] }\n"
    )
    server = started_nats_server("-c", str(config))
    try:
        a, errors = recorder()
        b = Hub()
        at_b = collector(b, ("ok",), "ok")
        url = server.url.replace("nats://", "nats://lim:limpw@", 1)
        admin = server.url.replace("nats://", "nats://admin:adminpw@", 1)
        bridge_a = NatsBridge(a, url, namespace=ns, backoff_base=0.01, backoff_cap=0.1)
        a.add_subscriber(("private",), lambda key, message: None)  # denied: nor a loop
        async with bridge_a, NatsBridge(b, admin, namespace=ns) as bridge_b:
            await bridge_b.sync(WAIT)
            a.publish("ok", "before")
            a.publish("secret", "not allowed")
            for i in range(5):
                a.publish("ok", i)
            await wait_until(lambda: len(at_b) == 6)
        stats = bridge_a.statistics()  # once closed, as above
        assert [message for _, message in at_b] == ["before", *range(5)]
        assert (stats.encode_errors, stats.sent, stats.reconnects, stats.dropped) == (1, 6, 0, 0)
        [(exc, context)] = errors
        assert "permissions violation" in str(exc).lower()
        assert (context.kind, context.key) == ("bridge encode", ("secret",))
    finally:
        server.stop()
