"""Retained values across a bridge (wire rule 2): retains, clears (``ttl=0``) and forgets
travel in order with the messages of their key, and only a ``retain()`` travels as one.
Real servers, both brokers."""

from __future__ import annotations

from typing import Any

from helpers import WAIT, collector, fresh_namespace, wait_until
from test_bridge_conformance import Broker, broker, pair

from aiopubsub import Hub, Key
from aiopubsub.bridges._wire import MAX_JUMP

__all__ = ["broker"]  # The fixture, imported: one server per broker for this module.


async def test_a_forget_crosses_the_bridge_for_each_key_it_dropped(broker: Broker) -> None:
    async with pair(broker) as (a, _, b, bridge_b):
        live = collector(b, ("r", "*"), "live")
        await bridge_b.sync(WAIT)
        for name in ("x", "y", "z"):
            a.retain(("r", name), name)
        a.retain(("other",), "kept")
        await wait_until(lambda: len(b.retained()) == 3)
        assert a.forget(("r", "*")) == 3
        await wait_until(lambda: not b.retained(("r", "*")))
        a.retain(("r", "x"), "again")  # a forget is not a barrier to what follows it
        await wait_until(lambda: b.retained(("r", "*")) == {Key("r", "x"): "again"})
        received = bridge_b.statistics().received
    assert b.retained() == {Key("r", "x"): "again"}  # ('other',) never crossed: no subscriber
    assert [message for _, message in live] == ["x", "y", "z", "again"]  # a forget is silent
    assert received == 3 + 3 + 1  # three values, three tombstones, one value


async def test_a_forget_received_is_not_sent_back(broker: Broker) -> None:
    ns = fresh_namespace()
    a, b = Hub(), Hub()
    collector(a, ("r", "*"), "at a")
    collector(b, ("r", "*"), "at b")
    async with broker.bridge(a, ns) as bridge_a, broker.bridge(b, ns) as bridge_b:
        await bridge_a.sync(WAIT)
        await bridge_b.sync(WAIT)
        a.retain(("r", "1"), 1)
        await wait_until(lambda: b.retained())
        a.forget(("r", "1"))
        await wait_until(lambda: not b.retained())
        b.retain(("r", "2"), 2)  # a marker: once a has it, a had all b sent before it
        await wait_until(lambda: a.retained())
    stats_a, stats_b = bridge_a.statistics(), bridge_b.statistics()  # once closed
    assert (stats_a.sent, stats_a.received) == (2, 1)
    assert (stats_b.sent, stats_b.received) == (1, 2)  # b sent the marker alone


async def test_a_retain_with_ttl_0_clears_the_receivers_value_too(broker: Broker) -> None:
    async with pair(broker) as (a, _, b, bridge_b):
        live = collector(b, ("r",), "live")
        await bridge_b.sync(WAIT)
        a.retain("r", "old")
        await wait_until(lambda: b.retained())
        a.retain("r", "fleeting", ttl=0)
        await wait_until(lambda: len(live) == 2)
        assert (a.retained(), b.retained()) == ({}, {})
    assert [message for _, message in live] == ["old", "fleeting"]


async def test_a_plain_publish_of_the_retained_object_is_not_a_retain(broker: Broker) -> None:
    ns = fresh_namespace()
    a, b = Hub(), Hub()
    live = collector(b, ("r",), "live")
    value = {"price": 1}
    async with broker.bridge(a, ns) as bridge_a, broker.bridge(b, ns, outbound=[]) as bridge_b:
        await bridge_b.sync(WAIT)
        a.retain("r", value, ttl=60)
        await wait_until(lambda: b.retained())
        b.forget("r")  # b's alone: its bridge exports nothing
        a.publish("r", value)  # the very object a retains, published as a plain message
        await wait_until(lambda: len(live) == 2)
        assert (a.retained(), b.retained()) == ({Key("r"): value}, {})
    assert bridge_a.statistics().sent == 2  # once closed: "sent" counts acknowledged batches


async def test_retains_and_forgets_made_in_a_callback_travel_in_their_order(
    broker: Broker,
) -> None:
    async with pair(broker) as (a, _, b, bridge_b):
        live = collector(b, ("r", "*"), "live")
        await bridge_b.sync(WAIT)

        def on_trigger(key: Key, message: Any) -> None:  # inside a fan-out: all deferred
            a.retain(("r", "gone"), "first")
            a.forget(("r", "gone"))
            a.retain(("r", "kept"), "second")
            a.retain(("r", "cleared"), "third")
            a.retain(("r", "cleared"), "fourth", ttl=0)

        a.add_subscriber(Key("trigger"), on_trigger)
        a.publish("trigger", None)
        await wait_until(lambda: len(live) == 4)
        assert a.retained() == {Key("r", "kept"): "second"}
        assert b.retained() == {Key("r", "kept"): "second"}
    assert [message for _, message in live] == ["first", "second", "third", "fourth"]


async def test_a_held_retained_message_is_retained_once_released(broker: Broker) -> None:
    ns = fresh_namespace()
    b = Hub()
    at_b = collector(b, ("k",), "k")
    far = 2 + MAX_JUMP + 5
    envelopes = [
        b'{"o":"x","s":1,"k":["k"],"p":1}',
        b'{"o":"x","s":%d,"k":["k"],"p":"held","r":null}' % far,  # held: an implausible jump
        b'{"o":"x","s":%d,"k":["k"],"p":"confirms"}' % (far + 1),
    ]
    async with broker.bridge(b, ns):
        await broker.raw_publish([(broker.name_of(ns, ("k",)), data) for data in envelopes])
        await wait_until(lambda: len(at_b) == 3)
    assert b.retained() == {Key("k"): "held"}


async def test_a_tombstone_from_the_wire_is_checked(broker: Broker) -> None:
    ns = fresh_namespace()
    errors: list[BaseException] = []
    b = Hub(on_error=lambda exc, context: errors.append(exc))
    b.retain("k", "value")
    at_b = collector(b, ("k",), "k")
    envelopes = [
        b'{"o":"x","s":1,"k":["k"],"f":2}',  # "f" is 1 or nothing
        b'{"o":"x","s":2,"k":["k"],"f":1,"p":null}',  # a tombstone carries no payload
        b'{"o":"x","s":3,"k":["k"],"p":"then"}',
        b'{"o":"x","s":4,"k":["k"],"f":1}',
    ]
    async with broker.bridge(b, ns) as bridge_b:
        await broker.raw_publish([(broker.name_of(ns, ("k",)), data) for data in envelopes])
        await wait_until(lambda: bridge_b.statistics().received == 2)
        stats = bridge_b.statistics()
    assert [message for _, message in at_b] == ["then"]
    assert b.retained() == {}
    assert stats.decode_errors + stats.rejected == len(errors) == 2
