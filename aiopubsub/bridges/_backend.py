"""What a broker must do for a bridge: the :class:`Backend` protocol, and the errors of starting.

::

    PubSubError
     +-- BridgeConfigError       (also ValueError)   a bad setting or argument
     +-- BridgeConnectionError   (also ConnectionError)   the first connection failed
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Protocol

from .. import Key, PubSubError

__all__ = [
    "Backend",
    "BridgeConfigError",
    "BridgeConnectionError",
    "Deliver",
    "Reject",
    "caused_by",
    "start_error",
]

#: Called by a backend for each message: its key and the bytes of its envelope.
Deliver = Callable[[Key, bytes], None]
#: Called by a backend for a message whose channel or subject is not a key's: the name as
#: received, the bytes, and why.
Reject = Callable[[str, bytes, Exception], None]


class BridgeConfigError(PubSubError, ValueError):
    """A value given to a bridge is out of range or not allowed, or a setting given to
    ``from_settings`` is missing, unknown or malformed.

    A value of the wrong type given to a bridge raises :exc:`TypeError` instead;
    ``from_settings`` turns both into this error, naming the setting.
    """


class BridgeConnectionError(PubSubError, ConnectionError):
    """A bridge could not start: its first connection to the broker failed.

    The message names the broker, the URL (its credentials hidden) and what failed: refused,
    timed out after so many seconds, authentication; the broker client's own exception is the
    ``__cause__``. Later faults never raise: the bridge reconnects.
    """


class Backend(Protocol):
    """One broker, as a bridge uses it. One session at a time: ``connect`` ... ``close``.

    Names (channels, subjects) are the backend's business: the bridge deals in keys and
    patterns. Every method but :meth:`close` may raise any exception when the connection
    fails: the bridge ends the session and, after a back-off, connects again.
    """

    #: The broker's name in state meta-events and messages: ``'redis'``, ``'nats'``.
    broker: str
    #: The URL with its credentials hidden, for messages.
    display_url: str
    #: The namespace: bridges of one namespace see each other, no others.
    namespace: str
    #: Whether the broker sends a bridge its own messages back (they are then ignored; if
    #: not, a message claiming the bridge's origin is forged, and rejected).
    echoes: bool
    #: The broker client's exceptions that say the connection failed (logged as a fault,
    #: not as an unexpected error).
    faults: tuple[type[BaseException], ...]

    async def connect(self) -> None:
        """Open a session. The bridge bounds it with its connect timeout."""

    async def close(self) -> None:
        """End the session; never raises, and returns promptly even if the broker is gone."""

    async def subscribe(self, patterns: Collection[Key]) -> None:
        """Receive the messages of these patterns too; return once the broker confirmed."""

    async def unsubscribe(self, patterns: Collection[Key]) -> None:
        """Stop receiving these patterns' messages; from now on none is delivered."""

    async def publish(self, batch: Sequence[tuple[Key, bytes]]) -> list[tuple[int, Exception]]:
        """Send each envelope under its key, in order; return once the broker has them.

        :return: the positions in ``batch`` of the messages the broker cannot carry at all
            (too large), each with the reason; those are not sent, the others are.
        """

    async def receive(self, deliver: Deliver, reject: Reject) -> None:
        """Pass on every message until the connection fails (raise) or cancelled.

        ``deliver`` is called once per message the broker carries whose key some pattern
        subscribed now matches exactly, however many patterns match it; ``reject`` once per
        message whose name is not a key's.
        """

    def describe_failure(self, exc: BaseException) -> str | None:
        """What a failure to connect was, in words (``'authentication failed'``), or ``None``
        to let the bridge say it (refused, timed out)."""


def summary(exc: BaseException) -> str:
    """``Type: message`` of ``exc``, for logs, its message cut to a few hundred characters."""
    text = str(exc)
    if len(text) > 400:
        text = f"{text[:400]}... ({len(text)} characters)"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """Whether ``exc``, or an exception it was raised from or while handling, is a ``kind``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def start_error(backend: Backend, exc: Exception, timeout: float) -> BridgeConnectionError:
    """The error of a failed first connection through ``backend``, naming the broker, the
    redacted URL and what failed (after ``timeout`` seconds, for a time-out), caused by ``exc``.
    """
    what = backend.describe_failure(exc)
    if what is None:
        if isinstance(exc, TimeoutError):
            what = f"timed out after {timeout:g} s"
        elif caused_by(exc, ConnectionRefusedError):
            what = "connection refused"
        else:
            what = "connection failed"
    error = BridgeConnectionError(
        f"Could not start the {backend.broker} bridge to {backend.display_url}:"
        f" {what} ({summary(exc)})"
    )
    error.__cause__ = exc
    return error
