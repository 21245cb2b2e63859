"""The only calls a bridge makes into the hub beyond its public API, in one place.

Reporting an error through the hub's error hook, publishing the hub's own meta-event, and
asking whether a message being exported is the key's retained value: hub internals, kept
here so that a change of the hub's private interface is one change here.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .. import ErrorContext, Hub, Key
from ._wire import EXCERPT, excerpt

__all__ = ["publish_meta", "report", "retention"]


def report(hub: Hub, exc: BaseException, context: ErrorContext) -> None:
    """Count ``exc`` and pass it to the hub's ``on_error`` hook (or log it).

    What the hub may log is bounded: a key whose repr is longer than a few hundred characters
    is reported as a one-part key holding an excerpt of it, an exception whose text is that
    long as a :exc:`ValueError` quoting an excerpt of it (the message itself the hub cuts).
    """
    if len(repr(context.key)) > EXCERPT:
        context = dataclasses.replace(context, key=Key(excerpt(tuple(context.key))))
    text = str(exc)
    if len(text) > 2 * EXCERPT:
        exc = ValueError(f"{type(exc).__name__}: {excerpt(text)}")
    hub._report(exc, context)


def publish_meta(hub: Hub, parts: tuple[str, ...], message: Any) -> None:
    """Publish the meta-event ``('Hub', *parts)`` on ``hub``, if anyone could receive it."""
    hub._publish_meta(parts, message)


def retention(hub: Hub, key: Key, message: Any) -> tuple[bool, float | None]:
    """Whether ``message`` is the live retained value of ``key`` on ``hub`` (the very object),
    and its seconds left (``None``: no expiry)."""
    return hub._retention(key, message)
