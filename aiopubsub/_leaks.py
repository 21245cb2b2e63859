"""What becomes of a :class:`~aiopubsub.Subscriber` dropped without ``close()``."""

from __future__ import annotations

import warnings
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._subscriber import Subscriber

__all__ = ["release_queues"]


def release_queues(subscriber: Subscriber) -> None:
    """From ``Subscriber.__del__``: unsubscribe the queues of a subscriber being freed.

    Only queues leak: nobody can consume them any more. A callback subscription (or a sync
    listener) keeps working, as in the original; an async listener's task keeps its
    subscriber alive.
    """
    queues = [s for s in subscriber._subscriptions.values() if s.inbox is not None and s.keys]
    if not queues:
        return
    subscriber._closed = True
    held = [(pattern, s) for s in queues for pattern in s.keys]
    loop = subscriber._hub.loop
    if loop is None or not loop.is_running():
        # No loop to deliver to: whatever would fill the queues is not running either.
        for pattern, subscription in held:
            subscriber._hub._unsubscribe(pattern, subscription, end=True)
        return
    # Unsubscribe from the loop, soon: the garbage collector may run anywhere, even in the
    # middle of a fan-out or in another thread. If the hub is gone by then, it went with the
    # subscriber and nothing leaked.
    hub = weakref.ref(subscriber._hub)
    name = f"Subscriber {subscriber.id!r} (queues {', '.join(repr(s.id) for s in queues)})"

    def unsubscribe() -> None:
        live = hub()
        if live is None or live.closed:
            return
        for pattern, subscription in held:
            live._unsubscribe(pattern, subscription, end=True)
        warnings.warn(
            f"{name} was dropped without close() while its hub is in use;"
            " its queues have been unsubscribed (its callbacks, if any, keep working)",
            ResourceWarning,
            stacklevel=1,
        )

    loop.call_soon_threadsafe(unsubscribe)
