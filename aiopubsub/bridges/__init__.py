"""Bridges that join hubs across processes and machines through a broker.

The shared core is here; each broker is one small module: ``aiopubsub.bridges.redis``
(``pip install 'aiopubsub[redis]'``) and ``aiopubsub.bridges.nats``
(``pip install 'aiopubsub[nats]'``). Importing this package imports no broker client.
"""

from __future__ import annotations

from ._backend import Backend, BridgeConfigError, BridgeConnectionError
from ._bridge import Bridge, BridgeStatistics
from ._codec import Codec, JsonCodec, MsgpackCodec
from ._session import Backoff, BridgeState

__all__ = [
    "Backend",
    "Backoff",
    "Bridge",
    "BridgeConfigError",
    "BridgeConnectionError",
    "BridgeState",
    "BridgeStatistics",
    "Codec",
    "JsonCodec",
    "MsgpackCodec",
]
