"""A bridge's states and the events between them, as one explicit table, and its back-off.

No I/O: the supervisor in :mod:`aiopubsub.bridges._bridge` fires the events.
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Callable
from typing import Final

__all__ = ["TRANSITIONS", "Backoff", "BridgeState", "Event", "StateMachine"]


class BridgeState(enum.StrEnum):
    """What :attr:`Bridge.status` says, and the last part of the state meta-event."""

    #: Created, not started.
    NEW = "new"
    #: Opening a session: connecting, subscribing.
    CONNECTING = "connecting"
    #: Connected and exchanging messages.
    CONNECTED = "connected"
    #: The session failed; waiting out the back-off before reconnecting.
    DISCONNECTED = "disconnected"
    #: Closed by :meth:`Bridge.aclose`; or the first connection failed.
    CLOSED = "closed"


class Event(enum.StrEnum):
    """What happens to a bridge."""

    START = "start"
    UP = "up"
    FAIL = "fail"
    RETRY = "retry"
    CLOSE = "close"


S, E = BridgeState, Event
#: Every allowed (state, event) and the state it leads to; any other pair is a bug.
TRANSITIONS: Final[dict[tuple[BridgeState, Event], BridgeState]] = {
    (S.NEW, E.START): S.CONNECTING,
    (S.NEW, E.CLOSE): S.CLOSED,
    (S.CONNECTING, E.UP): S.CONNECTED,
    (S.CONNECTING, E.FAIL): S.DISCONNECTED,
    (S.CONNECTING, E.CLOSE): S.CLOSED,
    (S.CONNECTED, E.FAIL): S.DISCONNECTED,
    (S.CONNECTED, E.CLOSE): S.CLOSED,
    (S.DISCONNECTED, E.RETRY): S.CONNECTING,
    (S.DISCONNECTED, E.CLOSE): S.CLOSED,
    (S.CLOSED, E.CLOSE): S.CLOSED,
}
del S, E


class StateMachine:
    """The current state, moved only through :data:`TRANSITIONS`.

    :param announce: called with the new state and the error (if any) after each transition
        that changes the state, or that comes with an error.
    """

    __slots__ = ("_announce", "state")

    def __init__(self, announce: Callable[[BridgeState, BaseException | None], None]) -> None:
        self.state = BridgeState.NEW
        self._announce = announce

    def fire(self, event: Event, error: BaseException | None = None) -> BridgeState:
        """Apply ``event``; return the new state.

        :raises RuntimeError: if ``event`` is not allowed in the current state.
        """
        new = TRANSITIONS.get((self.state, event))
        if new is None:
            raise RuntimeError(f"Bridge event {event.value!r} in state {self.state.value!r}")
        old, self.state = self.state, new
        if new is not old or error is not None:
            self._announce(new, error)
        return new


class Backoff:
    """Exponential back-off with full jitter, reset after a session that lasted.

    The ``n``-th delay in a row is uniform between 0 and ``min(cap, base * 2**n)``. A session
    that stayed up at least ``reset_after`` seconds resets ``n`` to 0, so one outage after a
    long calm starts again with short delays; a session that fails at once does not, so a
    broker that accepts and then drops connections is not hammered.

    :param base: the first delay's upper bound, in seconds.
    :param cap: the largest delay's upper bound, in seconds: also the longest a bridge can
        take to notice that the broker is back.
    :param reset_after: how long a session must last to reset the delays, in seconds.
    """

    __slots__ = ("_started", "base", "cap", "failures", "reset_after")

    def __init__(self, base: float = 0.05, cap: float = 0.5, reset_after: float = 1.0) -> None:
        self.base = base
        self.cap = cap
        self.reset_after = reset_after
        #: Failed attempts since the last session that lasted.
        self.failures = 0
        self._started: float | None = None

    def bound(self) -> float:
        """The upper bound of the next delay."""
        return min(self.cap, self.base * 2.0 ** min(self.failures, 64))

    def next_delay(self) -> float:
        """The delay before the next attempt; counts one more failure."""
        if self._started is not None and time.monotonic() - self._started >= self.reset_after:
            self.failures = 0
        self._started = None
        delay: float = random.uniform(0, self.bound())
        self.failures += 1
        return delay

    def session_started(self) -> None:
        """A session is up: if it lasts ``reset_after`` seconds, the delays start over."""
        self._started = time.monotonic()

    def __repr__(self) -> str:
        return f"Backoff(base={self.base}, cap={self.cap}, failures={self.failures})"
