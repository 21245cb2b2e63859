"""Sync and async listeners: adding them, a callback that fails, and removing them.

A sync listener runs inside ``publish()``; an async listener runs in a task of its own, one
message at a time. When an async callback raises, the error is logged on the ``aiopubsub.Hub``
logger (unless the hub was given an ``on_error`` hook) and the listener carries on with the
next message. ``remove_listener`` accepts the keys in any form that names the same keys. The
example routes aiopubsub's log records to stdout, so that they show up beside its prints.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiopubsub
from aiopubsub import Key


class PrintHandler(logging.Handler):
    """Prints each log record on one line, leaving out the traceback it carries."""

    def emit(self, record: logging.LogRecord) -> None:
        carries = " (+ traceback)" if record.exc_info else ""
        print(f"    log {record.levelname} {record.name}: {record.getMessage()}{carries}")


def audit(key: Key, message: Any) -> None:
    """A sync listener: called inline, before ``publish()`` returns."""
    print(f"audit   {key!r}: {message!r}")


def heartbeat(key: Key, message: Any) -> None:
    """Another sync listener, added with a one-part ``str`` key."""
    print(f"beat    {message!r}")


class Fulfilment:
    """An async listener on a set of keys that fails once, on an order for a negative amount."""

    def __init__(self) -> None:
        self.handled: list[str] = []
        self.idle = asyncio.Event()

    def __repr__(self) -> str:
        return "<Fulfilment>"

    async def __call__(self, key: Key, order: dict[str, Any]) -> None:
        await asyncio.sleep(0)  # Stands for real I/O.
        if order["amount"] < 0:
            raise ValueError(f"negative amount in {order!r}")
        self.handled.append(f"{key[-1]} {order['id']}")
        print(f"fulfil  {key!r}: order {order['id']}")
        if order["id"] == "last":
            self.idle.set()


async def main() -> None:
    # With a handler on "aiopubsub", logging's last-resort stderr output is not used.
    logger = logging.getLogger("aiopubsub")
    handler = PrintHandler()
    logger.addHandler(handler)
    hub = aiopubsub.Hub()
    publisher = aiopubsub.Publisher(hub, prefix="shop")
    subscriber = aiopubsub.Subscriber(hub, "backoffice")
    fulfilment = Fulfilment()

    subscriber.add_sync_listener(Key("shop", "orders", "*"), audit)
    subscriber.add_sync_listener("heartbeat", heartbeat)
    order_keys = {Key("shop", "orders", "new"), Key("shop", "orders", "paid")}
    subscriber.add_async_listener(order_keys, fulfilment)

    # A callback of the wrong kind is refused at once instead of failing on every message.
    try:
        subscriber.add_sync_listener(Key("shop", "orders", "*"), fulfilment)
    except TypeError as error:
        print(f"refused: {error}")

    publisher.publish(("orders", "new"), {"id": "A1", "amount": 30})
    publisher.publish(("orders", "new"), {"id": "B2", "amount": -5})  # Fulfilment raises.
    publisher.publish(("orders", "paid"), {"id": "last", "amount": 30})
    hub.publish("heartbeat", 1)
    print("published; the async listener has not run yet:", fulfilment.handled)
    async with asyncio.timeout(1):
        await fulfilment.idle.wait()
    print("the listener went on after the error:", fulfilment.handled)

    # The same keys in another form find the same listener: a tuple for a Key, a Key for a str,
    # a set written with tuples for a set of Keys. A sync listener needs no await.
    subscriber.remove_listener(("shop", "orders", "*"), audit)
    subscriber.remove_listener(Key("heartbeat"), heartbeat)
    hub.publish("heartbeat", 2)  # Nobody listens any more: nothing is printed.
    print("removed the sync listeners")

    # Awaiting the removal of an async listener waits until its task has stopped.
    await subscriber.remove_listener(
        {("shop", "orders", "new"), ("shop", "orders", "paid")}, fulfilment
    )
    print("removed the async listener; anyone left?", hub.has_subscribers())

    subscriber.add_sync_listener("heartbeat", heartbeat)
    await subscriber.remove_all_listeners()
    print("after remove_all_listeners:", subscriber)
    logger.removeHandler(handler)


if __name__ == "__main__":
    asyncio.run(main())
