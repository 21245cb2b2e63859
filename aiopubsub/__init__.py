"""aiopubsub: a fast, bounded, pure-asyncio publish/subscribe hub."""

from __future__ import annotations

from ._errors import (
    ConsumeQueueNotFoundError,
    HubClosedError,
    InvalidKeyError,
    PubSubError,
    SlowConsumerError,
    SubscriberClosedError,
    SubscriptionNotFoundError,
    WrongThreadError,
)
from ._hub import ErrorHook, Hub
from ._inbox import Overflow
from ._key import Key, PossibleKey
from ._publisher import Publisher
from ._records import ErrorContext, HubStatistics, SubscriptionStatistics
from ._subscriber import ListenerRemoval, Subscriber

__version__ = "4.0.0.dev0"

__all__ = [
    "ConsumeQueueNotFoundError",
    "ErrorContext",
    "ErrorHook",
    "Hub",
    "HubClosedError",
    "HubStatistics",
    "InvalidKeyError",
    "Key",
    "ListenerRemoval",
    "Overflow",
    "PossibleKey",
    "PubSubError",
    "Publisher",
    "SlowConsumerError",
    "Subscriber",
    "SubscriberClosedError",
    "SubscriptionNotFoundError",
    "SubscriptionStatistics",
    "WrongThreadError",
]
