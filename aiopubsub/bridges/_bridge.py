"""The broker-agnostic bridge: joins a hub to the hubs of other processes through a backend.

Theory of operation
===================

1. Outbound. The bridge subscribes a sync callback on its hub under each outbound pattern.
   ``publish()`` calls it among the local deliveries: it stamps and encodes the envelope at
   once (see :mod:`aiopubsub.bridges._wire`), so the message is sent as it was when
   published, and appends it to the :class:`~aiopubsub.bridges._outbox.Outbox`. It never
   awaits and never raises into ``publish()``: a message that cannot be encoded (or whose
   key holds a part other than ``str`` and ``int``) is counted and reported through the
   hub's error hook; a full outbox drops its oldest message, counted.
2. Sending. One task per session sends the outbox in batches (``Backend.publish``), in
   order. A batch that fails goes back to the front and is sent again in the next session:
   receivers drop what they already delivered (copies, by sequence number).
3. Inbound. With ``inbound='auto'`` the wanted patterns are those the hub's subscribers use,
   followed through ``('Hub', 'addedSubscriber' / 'removedSubscriber', ...)``: a pattern is
   wanted while its subscription count, less the bridge's own outbound subscriptions, is
   positive. Keys whose first part is ``'Hub'`` are never sent nor accepted.
4. Receiving. The backend delivers each message once (``Backend.receive``). The bridge checks
   its signature (with a secret), decodes it, checks the envelope against its key, drops its
   own origins' messages (no echo), then lets the :class:`~aiopubsub.bridges._wire.Receiver`
   judge its number (copies, gaps, implausible jumps). Each bad message is counted once.
5. No loops. While it publishes (or retains) an imported message, the bridge remembers that
   key and message object; its outbound callback skips exactly that message object under an
   equal key. Likewise, the key of an imported tombstone is not sent back when the hub tells
   its bridges of the forget (see ``Hub.forget``).
6. Sessions. A supervisor task runs one session at a time: connect, subscribe everything
   wanted (``connected`` once the broker confirmed), then receive, send and follow
   subscription changes until any fails; then it waits out the
   :class:`~aiopubsub.bridges._session.Backoff` and starts again. States move through the
   table :data:`~aiopubsub.bridges._session.TRANSITIONS`, each change published as
   ``('Hub', 'bridge', <broker>, <state>)``.
7. Closing stops the outbound callbacks at once, waits up to ``timeout`` for the outbox to
   be sent, then ends the supervisor and the session; what is left is counted as dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Literal

from .. import ErrorContext, Hub, HubClosedError, Key
from .._log import get_logger
from .._tasks import cancel_and_wait, raise_first_failure, run_shielded
from ._backend import Backend, start_error, summary
from ._codec import Codec, JsonCodec
from ._interest import Interest
from ._keys import HUB, WILDCARD, check_patterns, key_matches, part_error
from ._outbox import Outbox
from ._plumbing import export_from, publish_meta, report, retention
from ._records import BridgeStatistics, Logger
from ._session import Backoff, BridgeState, Event, StateMachine
from ._settings import check_inbound, check_secret, positive_float, positive_int
from ._wire import (
    FORGET,
    PUBLISH,
    Disposition,
    EnvelopeError,
    Receiver,
    Retention,
    Signer,
    Stamper,
    Verdict,
    excerpt,
    open_envelope,
    seal,
)

__all__ = ["Bridge", "BridgeStatistics"]

#: Ways a broker's client says that a session is over: what a reconnect is for.
_FAULTS = (OSError, EOFError, TimeoutError)
#: What ``_importing`` holds as the message while a tombstone is imported.
_TOMBSTONE = object()


class Bridge:
    """Joins a hub to the hubs of other processes and machines through a broker.

    Use it as ``async with Bridge(hub, backend) as bridge:``, or ``await bridge.start()`` and
    ``await bridge.aclose()``. Guarantees (see the module docstring for how):

    * At most once, like broker pub/sub itself: a message published while a receiver is not
      connected is lost to it; losses are counted where they can be (``dropped`` at the
      sender, ``gaps`` at the receiver), never silently.
    * The messages of one origin arrive in the order it published them; no echo to the
      publishing hub, no duplicates, no loops between bridges.
    * ``publish()`` on the hub never waits for the broker and never sees a bridge error.

    :param hub: the local hub.
    :param backend: the broker (:class:`~aiopubsub.bridges._backend.Backend`).
    :param outbound: the patterns of the local messages to send (default: all, ``('*',)``),
        a collection of patterns, each a :class:`~aiopubsub.Key`, tuple or list of parts;
        a str item is refused, not read as a one-part key.
    :param inbound: the patterns of the remote messages to deliver locally, a collection like
        ``outbound``, or ``'auto'`` (the default): those the hub's subscribers use, as they
        change.
    :param codec: turns envelopes into bytes and back (default: :class:`JsonCodec`).
    :param max_buffer: how many local messages may wait to be sent; beyond, the oldest goes.
    :param batch_size: the most messages sent in one batch.
    :param backoff_base: the first reconnect delay's upper bound, in seconds.
    :param backoff_cap: the largest reconnect delay's upper bound, in seconds: at most this
        long after the broker is back, the bridge connects again.
    :param connect_timeout: seconds allowed to connect and subscribe.
    :param secret: signs and checks every envelope (HMAC-SHA256) when given: a str or bytes
        of at least 16 bytes, the same for every bridge of the namespace.
    :param logger: where the bridge logs (by default the logger ``aiopubsub.Bridge``).
    :raises TypeError: if a value has the wrong type.
    :raises BridgeConfigError: (a :exc:`ValueError`) if a number is out of range or the
        secret is too short.
    :raises InvalidKeyError: if a pattern is empty.
    """

    def __init__(
        self,
        hub: Hub,
        backend: Backend,
        *,
        outbound: Iterable[Key | tuple[Any, ...] | list[Any]] = (Key(WILDCARD),),
        inbound: Iterable[Key | tuple[Any, ...] | list[Any]] | Literal["auto"] = "auto",
        codec: Codec | None = None,
        max_buffer: int = 10_000,
        batch_size: int = 1_000,
        backoff_base: float = 0.05,
        backoff_cap: float = 0.5,
        connect_timeout: float = 5.0,
        secret: str | bytes | None = None,
        logger: Logger | None = None,
    ) -> None:
        if not isinstance(hub, Hub):
            raise TypeError(f"hub must be a Hub, got {hub!r}")
        self._hub = hub
        self._backend = backend
        self._outbound = check_patterns("outbound", outbound)
        checked_inbound = check_inbound("inbound", inbound)
        self._auto = checked_inbound == "auto"
        self._explicit_inbound = checked_inbound if isinstance(checked_inbound, tuple) else ()
        self._codec: Codec = JsonCodec() if codec is None else codec
        if not callable(getattr(self._codec, "encode", None)) or not callable(
            getattr(self._codec, "decode", None)
        ):
            raise TypeError(f"codec must have encode() and decode() methods, got {codec!r}")
        self._outbox = Outbox(
            positive_int("max_buffer", max_buffer), positive_int("batch_size", batch_size)
        )
        self._backoff = Backoff(
            positive_float("backoff_base", backoff_base), positive_float("backoff_cap", backoff_cap)
        )
        self._connect_timeout = positive_float("connect_timeout", connect_timeout)
        key = check_secret("secret", secret)
        self._signer = None if key is None else Signer(key, backend.namespace)
        self._logger = logger if logger is not None else get_logger("Bridge")
        self._machine = StateMachine(self._announce)
        self._closing: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._stamper = Stamper()
        self._importing: tuple[Key, Any] | None = None
        self._receiver = Receiver(strict=self._signer is not None)
        self._interest = Interest(self._receiver)
        self._want = self._interest.want
        self._synced = self._interest.synced
        self._last_session_ok = False
        # Statistics.
        self._received = self._encode_errors = self._decode_errors = 0
        self._rejected = self._reconnects = 0

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self._backend.display_url}"
            f" namespace={self._backend.namespace!r} {self.status.value}"
            f" origin={self.origin or None} buffered={len(self._outbox)}>"
        )

    # -- public state -------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        """The id in every envelope this bridge sends now: drawn when it starts, again in a
        child process after ``fork()``; empty before the bridge first sends or starts."""
        return self._stamper.origin

    @property
    def status(self) -> BridgeState:
        """The bridge's state now (see :class:`BridgeState`)."""
        return self._machine.state

    @property
    def inbound_patterns(self) -> frozenset[Key]:
        """The patterns whose remote messages are delivered locally now."""
        return frozenset(self._interest.wanted)

    def statistics(self) -> BridgeStatistics:
        """Totals since the bridge was created (see :class:`BridgeStatistics`)."""
        return BridgeStatistics(
            sent=self._outbox.sent,
            received=self._received,
            dropped=self._outbox.dropped,
            encode_errors=self._encode_errors,
            decode_errors=self._decode_errors,
            gaps=self._receiver.gaps,
            reconnects=self._reconnects,
            buffered=len(self._outbox),
            rejected=self._rejected + self._receiver.rejected,
            duplicates=self._receiver.duplicates,
            forgotten=self._receiver.forgotten,
        )

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, subscribe, and start bridging; return once the broker confirmed the
        subscriptions.

        :raises RuntimeError: if the bridge was started before.
        :raises HubClosedError: if the hub is closed.
        :raises BridgeConnectionError: if the first connection fails (refused, timed out,
            authentication...); the bridge is then closed. Later faults only reconnect.
        """
        if self.status is not BridgeState.NEW:
            raise RuntimeError(f"{self!r} was started already")
        if self._hub.closed:
            raise HubClosedError(f"{self._hub!r} is closed")
        self._stamper.redraw()
        self._machine.fire(Event.START)
        for pattern in self._outbound:
            self._hub.add_subscriber(pattern, self._export)
        if self._outbound:
            export_from(self._hub, self._export_forgotten)
        if self._auto:
            self._hub.add_subscriber((HUB, "addedSubscriber", WILDCARD), self._follow)
            self._hub.add_subscriber((HUB, "removedSubscriber", WILDCARD), self._follow)
            for pattern, count in self._hub.subscriptions().items():
                self._want(pattern, count - (pattern in self._outbound))
        else:
            for pattern in self._explicit_inbound:
                self._want(pattern, 1)
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(
            self._supervise(started), name=f"{type(self).__name__} {self.origin} supervisor"
        )
        try:
            await started  # Cancelling start() cancels the supervisor too (in aclose below).
        except BaseException:
            await self.aclose(timeout=0)
            raise

    async def sync(self, timeout: float | None = None) -> None:
        """Wait until the broker has confirmed every pattern subscription wanted now.

        A remote message published after this returns reaches the hub (unless a fault
        intervenes). Useful after subscribing locally with ``inbound='auto'``.

        :raises TimeoutError: after ``timeout`` seconds.
        :raises RuntimeError: if the bridge is not started, or closed.
        """
        if self.status in (BridgeState.NEW, BridgeState.CLOSED):
            raise RuntimeError(f"{self!r} is not running: nothing to wait for")
        async with asyncio.timeout(timeout):
            await self._synced.wait()

    async def aclose(self, timeout: float | None = 5.0) -> None:
        """Stop bridging: send what is buffered (for up to ``timeout`` seconds), disconnect.

        Local messages are no longer taken from the moment this is called. What could not be
        sent in time is counted as dropped. When this returns, no task of the bridge is left,
        even if the broker is gone. Idempotent.
        """
        if self._closing is not None:
            await asyncio.shield(self._closing)  # Closed, or closing in another task.
            return
        self._closing = asyncio.get_running_loop().create_future()
        try:
            await self._close(timeout)
        finally:
            self._closing.set_result(None)

    async def _close(self, timeout: float | None) -> None:
        if self.status is BridgeState.NEW:
            self._machine.fire(Event.CLOSE)
            return
        if self._auto:
            # First: the removal of the outbound subscriptions below is not to be followed.
            self._hub.remove_subscriber((HUB, "addedSubscriber", WILDCARD), self._follow)
            self._hub.remove_subscriber((HUB, "removedSubscriber", WILDCARD), self._follow)
        for pattern in self._outbound:
            self._hub.remove_subscriber(pattern, self._export)
        export_from(self._hub, self._export_forgotten, export=False)
        task, self._task = self._task, None
        if task is not None and not task.done():
            try:
                # Cancellable: the flush is a courtesy; the finally below still cleans up.
                if self.status is BridgeState.CONNECTED:
                    async with asyncio.timeout(timeout):
                        await self._outbox.idle.wait()
            except TimeoutError:
                pass
            finally:
                await cancel_and_wait([task])
        self._outbox.abandon()
        self._synced.clear()
        self._machine.fire(Event.CLOSE)

    async def __aenter__(self) -> Bridge:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- outbound -----------------------------------------------------------------------------

    def _export(self, key: Key, message: Any, how: Disposition | None = None) -> None:
        """The outbound callback, called inside the hub's ``publish()`` (``how`` then left
        out: the hub is asked), or with ``how``; numbers, encodes and buffers one envelope.
        Never raises: an error is counted and reported."""
        if how is None:
            importing = self._importing
            if importing is not None and message is importing[1] and key == importing[0]:
                return  # Rule 5: the message being imported.
            if key[0] == HUB:
                return
            keep, ttl = retention(self._hub, key, message)  # Wire rule 2.
            how = (Retention.RETAIN, ttl) if keep else PUBLISH
        stamper = self._stamper
        try:
            origin, s = stamper.next(key)
            if s == 1:  # A key new to this origin: are its parts fit to travel?
                error = part_error(key)
                if error is not None:
                    raise error
            data = self._codec.encode(seal(origin, s, key, message, how))
            if type(data) is not bytes:
                raise TypeError(f"{self._codec!r}.encode() returned {type(data).__name__}")
        except Exception as exc:  # noqa: BLE001 - reported, never raised into publish()
            self._encode_errors += 1
            report(self._hub, exc, ErrorContext(key, message, self, kind="bridge encode"))
            return
        stamper.commit(key, s)
        if self._signer is not None:
            data = self._signer.sign(data)
        self._outbox.append((key, data))

    def _export_forgotten(self, keys: list[Key]) -> None:
        """Told by the hub of the keys a ``forget()`` dropped: a tombstone for each that this
        bridge exports (wire rule 2), but the one being imported (rule 5). Never raises."""
        importing = self._importing
        for key in keys:
            if importing is not None and importing[1] is _TOMBSTONE and key == importing[0]:
                continue
            if key[0] != HUB and any(key_matches(key, p) for p in self._outbound):
                self._export(key, None, FORGET)

    async def _send(self) -> None:
        """Send the outbox in batches until cancelled or a fault (which propagates)."""
        outbox, backend = self._outbox, self._backend
        while True:
            await outbox.wait()
            batch = outbox.take()
            try:
                # Cancelled or failed here, the batch may be partly sent: it goes back,
                # and receivers drop what they have already delivered (by sequence).
                refused = await backend.publish(batch)
            except BaseException:
                outbox.put_back(batch)
                raise
            for position, error in refused:  # Refused by the broker: never sent again.
                key, data = batch[position]
                self._encode_errors += 1
                report(self._hub, error, ErrorContext(key, data, self, kind="bridge encode"))
            outbox.done(batch, len(refused))

    # -- inbound ------------------------------------------------------------------------------

    def _follow(self, key: Key, message: Any) -> None:
        """The callback of the hub's subscription meta-events, for ``inbound='auto'``."""
        pattern = message["key"]
        self._want(pattern, message["currentSubscriberCount"] - (pattern in self._outbound))

    def _deliver(self, key: Key, data: bytes) -> None:
        """Publish one message from the broker on the hub if it is new and well-formed."""
        try:
            if self._signer is not None:
                data = self._signer.verify(data)
            origin, s, payload, how = open_envelope(self._codec.decode(data), key)
        except EnvelopeError as exc:
            self._refuse(key, data, exc, rejected=self._signer is not None)
            return
        except Exception as exc:  # noqa: BLE001 - bad input from the wire: reported, dropped
            self._refuse(key, data, exc)
            return
        if origin in self._stamper.mine:
            if not self._backend.echoes:
                self._refuse(key, data, EnvelopeError(f"Forged own origin {origin!r}"), True)
            return
        if key[0] == HUB:
            self._refuse(key, data, EnvelopeError(f"Remote message under {excerpt(key)}"), True)
            return
        verdict = self._receiver.admit(origin, key, s, (payload, how), data)
        if verdict:
            if verdict == Verdict.REJECT:
                error = EnvelopeError(f"Replayed or stale number {s} of origin {origin!r}")
                self._refuse(key, data, error, True)
            if verdict != Verdict.RELEASE:
                return  # A copy (counted), held after an implausible jump, or rejected.
            self._import(key, *self._receiver.release(origin, key))
        self._import(key, payload, how)

    def _import(self, key: Key, payload: Any, how: Disposition) -> None:
        """Publish, retain or forget (wire rule 2) what came under ``key``; nothing, once the
        hub is closed."""
        if self._hub.closed:
            return
        retaining, ttl = how
        try:
            if retaining is Retention.FORGET:
                self._importing = (key, _TOMBSTONE)
                self._hub.forget(key)
            elif retaining is Retention.RETAIN:
                self._importing = (key, payload)
                self._hub.retain(key, payload, ttl)
            else:
                self._importing = (key, payload)
                self._hub.publish(key, payload)
        except HubClosedError:
            return
        finally:
            self._importing = None
        self._received += 1

    def _refuse(self, key: Key, data: bytes, exc: Exception, rejected: bool = False) -> None:
        """Count and report a message from the broker that fails a check; drop it."""
        if rejected:
            self._rejected += 1
        else:
            self._decode_errors += 1
        kind = "bridge rejected" if rejected else "bridge decode"
        report(self._hub, exc, ErrorContext(key, data, self, kind=kind))

    def _reject_name(self, name: str, data: bytes, exc: Exception) -> None:
        """A message whose channel or subject is not a key's: a decode error."""
        self._decode_errors += 1
        error = EnvelopeError(f"{exc} (message: {excerpt(data)})")
        report(self._hub, error, ErrorContext(Key(name), data, self, kind="bridge decode"))

    # -- sessions -----------------------------------------------------------------------------

    async def _supervise(self, started: asyncio.Future[None]) -> None:
        """Run sessions, reconnecting after each fault after the back-off's delay."""
        while True:
            try:
                await self._session(started)
            except Exception as exc:  # Any end of a session is a fault to outlive.
                if not started.done():
                    started.set_exception(start_error(self._backend, exc, self._connect_timeout))
                    return
                self._machine.fire(Event.FAIL, exc)
                if not isinstance(exc, _FAULTS + self._backend.faults):
                    self._logger.error("%r: unexpected error in a session", self, exc_info=exc)
                elif self._last_session_ok:
                    self._logger.warning("%r lost its connection (%s)", self, summary(exc))
                else:  # Still down: said once already.
                    self._logger.debug("%r could not reconnect (%s)", self, summary(exc))
            await asyncio.sleep(self._backoff.next_delay())
            self._machine.fire(Event.RETRY)

    async def _session(self, started: asyncio.Future[None]) -> None:
        """One connection: subscribe, then receive, send and follow until one of them fails."""
        self._last_session_ok = False
        backend = self._backend
        tasks: list[asyncio.Task[None]] = []
        try:
            async with asyncio.timeout(self._connect_timeout):
                await backend.connect()
                tasks = [
                    asyncio.create_task(backend.receive(self._deliver, self._reject_name)),
                    asyncio.create_task(self._interest.follow(backend)),
                ]
                synced = asyncio.create_task(self._synced.wait())
                try:
                    await asyncio.wait([*tasks, synced], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    synced.cancel()
                raise_first_failure(tasks)
            tasks.append(asyncio.create_task(self._send()))
            self._last_session_ok = True
            self._backoff.session_started()
            if started.done():
                self._reconnects += 1
            else:
                started.set_result(None)
            self._machine.fire(Event.UP)
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            raise_first_failure(tasks)
        finally:
            # Shielded: even when cancelled again, the connection is closed (no leak).
            await run_shielded(self._end_session(tasks))

    async def _end_session(self, tasks: list[asyncio.Task[None]]) -> None:
        await cancel_and_wait(tasks)
        self._synced.clear()
        await self._backend.close()

    def _announce(self, state: BridgeState, error: BaseException | None) -> None:
        if state is not BridgeState.CONNECTED:
            self._synced.clear()
        publish_meta(
            self._hub,
            ("bridge", self._backend.broker, state.value),
            {"bridge": self, "origin": self.origin, "state": state, "error": error},
        )
