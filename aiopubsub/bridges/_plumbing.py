"""The only calls a bridge makes into the hub beyond its public API, in one place.

Reporting an error through the hub's error hook, publishing the hub's own meta-event,
asking whether a message being exported is being retained, and being told of the keys the hub
forgets: hub internals, kept here so that a change of the hub's private interface is one
change here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from .. import ErrorContext, Hub, Key
from ._wire import EXCERPT, excerpt

__all__ = ["export_from", "publish_meta", "report", "retention"]


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
    """From a callback of ``hub``: whether ``message`` is delivered by ``hub.retain()`` (not
    by a publish, even of the very object retained), and its TTL (``None``: no expiry).
    Right only while an exporter is registered with :func:`export_from`."""
    return hub._retention(key, message)


def export_from(hub: Hub, on_forget: Callable[[list[Key]], None], export: bool = True) -> None:
    """Register (or with ``export=False`` unregister, if it was) a bridge that exports from
    ``hub``: while one is, :func:`retention` answers during a retain's fan-out, and
    ``on_forget(keys)`` is called with the keys each ``forget()`` drops (in turn with the
    fan-outs, see ``Hub.forget``)."""
    exporters = hub._exporters
    if export:
        exporters.append(on_forget)
    elif on_forget in exporters:
        exporters.remove(on_forget)
