"""What a bridge reports: its statistics record, and the logger it writes to."""

from __future__ import annotations

import dataclasses
from typing import Protocol

__all__ = ["BridgeStatistics", "Logger"]


class Logger(Protocol):
    """Where a bridge logs: the methods it uses of ``aiopubsub``'s loggers."""

    def debug(self, msg: str, *args: object) -> None: ...

    def warning(self, msg: str, *args: object) -> None: ...

    def error(self, msg: str, *args: object, exc_info: BaseException | None = None) -> None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class BridgeStatistics:
    """Totals of one bridge since it was created, from :meth:`Bridge.statistics`.

    Each counts messages, not deliveries: a message that the broker hands over once per
    matching subscription counts once.
    """

    #: Messages the broker took (a batch counts once it is acknowledged), tombstones of
    #: forgotten values included.
    sent: int
    #: Messages from other origins published (or retained) on the local hub, and their
    #: tombstones of forgotten values, forgotten on it.
    received: int
    #: Local messages lost without being sent: to a full buffer, or still buffered at close.
    dropped: int
    #: Local messages that could not be encoded, or that the broker refuses on its own (too
    #: large, a NATS subject over the control line, a Redis error reply such as ``NOPERM``):
    #: each also reported to the hub's hook, dropped, never sent again.
    encode_errors: int
    #: Messages from the broker that could not be decoded, dropped (each also reported).
    decode_errors: int
    #: Messages of other origins known to be missing: jumps in their per-key numbers.
    gaps: int
    #: Sessions opened again after a fault.
    reconnects: int
    #: Local messages waiting to be sent now.
    buffered: int
    #: Well-formed messages refused: unsigned or forged (with a secret), claiming one of this
    #: bridge's origins where the broker does not echo, under a ``'Hub'`` key, replayed or
    #: stale numbers, or held after an implausible jump that nothing confirmed (or pushed out
    #: of the bound on held messages). Each also reported, but held ones.
    rejected: int = 0
    #: Messages of other origins dropped as copies of messages already delivered (a batch
    #: sent again after a fault, a message the broker delivered twice).
    duplicates: int = 0
    #: Runs of numbers forgotten to bound the receiver's memory: copies of their messages
    #: can no longer be told apart (see :mod:`aiopubsub.bridges._wire`, rule 4e).
    forgotten: int = 0
