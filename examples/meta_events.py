"""Watch subscribers come and go through the hub's meta-events.

After every effective subscribe and unsubscribe the hub publishes under
``('Hub', 'addedSubscriber', *key)`` / ``('Hub', 'removedSubscriber', *key)`` a message
``{'key': <subscribed Key>, 'currentSubscriberCount': <subscriptions on that exact key>}``.
Each ``'*'`` of the subscribed key is written ``'\\*'`` in the meta-event key, so that the
meta-event key is never a wildcard itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiopubsub
from aiopubsub import Key

ADDED = Key("Hub", "addedSubscriber", "*")
REMOVED = Key("Hub", "removedSubscriber", "*")


def on_meta_event(key: Key, message: dict[str, Any]) -> None:
    """Print one meta-event: which key, and how many subscriptions it has now."""
    event = "+" if key[1] == "addedSubscriber" else "-"
    count = message["currentSubscriberCount"]
    print(f"  {event} {message['key']!r:38} now {count} on that key   (under {'.'.join(key)})")


async def main() -> None:
    hub = aiopubsub.Hub()
    watcher = aiopubsub.Subscriber(hub, "watcher")
    print("the watcher subscribes to both meta-events, and sees its own subscriptions:")
    watcher.add_sync_listener({ADDED, REMOVED}, on_meta_event)

    print("two dashboards subscribe to every price, one to BTC only:")
    dashboards = [aiopubsub.Subscriber(hub, f"dashboard-{n}") for n in range(2)]
    for dashboard in dashboards:
        dashboard.subscribe(Key("prices", "*"))
    btc_only = aiopubsub.Subscriber(hub, "btc-only")
    btc_only.subscribe(Key("prices", "BTC"))

    print("they leave again, one by closing, which unsubscribes everything it holds:")
    btc_only.close()
    for dashboard in dashboards:
        dashboard.unsubscribe(Key("prices", "*"))

    print("the watcher leaves, and sees the first of its two removals:")
    await watcher.remove_all_listeners()
    print("anyone still subscribed?", hub.has_subscribers())


if __name__ == "__main__":
    asyncio.run(main())
