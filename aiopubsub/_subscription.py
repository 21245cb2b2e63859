"""One subscription id of a subscriber, and the iterator of its messages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._errors import SubscriberClosedError
from ._inbox import Inbox
from ._key import Key
from ._listeners import SyncCallback

if TYPE_CHECKING:
    from ._subscriber import Subscriber

__all__ = ["Messages", "Subscription", "check_id"]


def check_id(value: object, what: str) -> str:
    """Return ``value`` if it can be an id: a ``str`` (ids appear in meta-event keys and logs).

    :raises TypeError: naming ``what`` and the value.
    """
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {value!r} ({type(value).__name__})")
    return value


class Subscription:
    """One subscription id of one subscriber: the token the hub knows it by."""

    __slots__ = ("id", "keys", "callback", "inbox", "deliver", "__weakref__")

    def __init__(self, id_: str, callback: SyncCallback | None, inbox: Inbox | None) -> None:
        self.id = id_
        self.keys: dict[Key, None] = {}
        self.callback = callback
        self.inbox = inbox
        #: What the hub calls for each message: the user's callback itself, or the queue's put.
        self.deliver: SyncCallback = inbox.put if inbox is not None else callback  # type: ignore[assignment]

    def __repr__(self) -> str:
        target = self.inbox if self.callback is None else self.callback
        return f"<subscription {self.id!r} -> {target!r}>"

    def release(self) -> None:
        """After losing keys: let publishers waiting for room in its queue look again."""
        if self.inbox is not None:
            self.inbox.wake_putters()


class Messages:
    """The async iterator of :meth:`Subscriber.messages`."""

    __slots__ = ("_subscriber", "_subscription_id")

    def __init__(self, subscriber: Subscriber, subscription_id: str) -> None:
        self._subscriber = subscriber
        self._subscription_id = subscription_id

    def __aiter__(self) -> Messages:
        return self

    async def __anext__(self) -> tuple[Key, Any]:
        try:
            return await self._subscriber.consume(self._subscription_id)
        except SubscriberClosedError:
            raise StopAsyncIteration from None
