"""aiopubsub: a fast, bounded, pure-asyncio publish/subscribe hub."""

from __future__ import annotations

from ._errors import (
    ConsumeQueueNotFoundError,
    InvalidKeyError,
    PubSubError,
    SubscriptionNotFoundError,
)
from ._hub import Hub
from ._key import Key, PossibleKey
from ._publisher import Publisher
from ._subscriber import ListenerRemoval, Subscriber

__version__ = "4.0.0.dev0"

__all__ = [
    "ConsumeQueueNotFoundError",
    "Hub",
    "InvalidKeyError",
    "Key",
    "ListenerRemoval",
    "PossibleKey",
    "PubSubError",
    "Publisher",
    "Subscriber",
    "SubscriptionNotFoundError",
]
