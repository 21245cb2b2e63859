"""The exceptions aiopubsub raises, all rooted at :class:`PubSubError`.

::

    PubSubError                         (Exception)
     +-- InvalidKeyError                (also ValueError)
     +-- SubscriptionNotFoundError      (also KeyError)
     |    +-- ConsumeQueueNotFoundError
     +-- SlowConsumerError              (also ConnectionError)
     +-- SubscriberClosedError          (also RuntimeError)
     +-- HubClosedError                 (also RuntimeError)
     +-- WrongThreadError               (also RuntimeError)
"""

from __future__ import annotations

__all__ = [
    "ConsumeQueueNotFoundError",
    "HubClosedError",
    "InvalidKeyError",
    "PubSubError",
    "SlowConsumerError",
    "SubscriberClosedError",
    "SubscriptionNotFoundError",
    "WrongThreadError",
]


class PubSubError(Exception):
    """Base class of every error raised by aiopubsub itself."""


class InvalidKeyError(PubSubError, ValueError):
    """A key cannot be used where it was given.

    Raised for a wildcard or empty key passed to :meth:`Hub.publish`, and for an empty key
    passed to a subscription: no message can ever be published under it.
    """


class SubscriptionNotFoundError(PubSubError, KeyError):
    """A subscription id or a listener that the subscriber does not have was named.

    It is a :class:`KeyError` too, which is what the original raised in these cases.
    """

    def __str__(self) -> str:
        # KeyError.__str__ shows the repr of its argument; a message reads better as it is.
        return str(self.args[0]) if self.args else ""


class ConsumeQueueNotFoundError(SubscriptionNotFoundError):
    """:meth:`Subscriber.consume` was asked for a subscription id that has no queue.

    Either nothing was subscribed under that id, or the id belongs to a callback subscription.
    """


class SlowConsumerError(PubSubError, ConnectionError):
    """A queue subscription with ``Overflow.DISCONNECT`` overflowed and was cut off from the hub.

    Like a broker dropping a client that cannot keep up: :meth:`Subscriber.consume` first
    returns every message queued before the cut, then raises this. Subscribe again to resume.
    """


class SubscriberClosedError(PubSubError, RuntimeError):
    """The subscriber was closed: nothing more will arrive, and it takes no new subscriptions.

    A waiting :meth:`Subscriber.consume` receives what was queued first, then this.
    """


class WrongThreadError(PubSubError, RuntimeError):
    """A hub was published to from a thread other than its event loop's.

    Use :meth:`Hub.publish_threadsafe` from other threads. Catch it as :class:`RuntimeError`.
    The hub's fan-out lets it through instead of reporting it as a subscriber's failure.
    """


class HubClosedError(PubSubError, RuntimeError):
    """The hub was closed: it delivers nothing more and accepts no publish or subscription."""
