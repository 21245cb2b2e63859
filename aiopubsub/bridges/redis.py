"""Join hubs in many processes and machines into one, through Redis pub/sub.

Theory of operation
===================

1. Every bridge has an *origin*: a random id, fresh for each bridge. Each message it sends is
   an *envelope* ``{"o": origin, "n": seq, "s": key_seq, "k": [parts], "p": payload}``
   encoded by the codec (JSON by default; never pickle). ``n`` counts every message of the
   origin; ``s`` counts the messages of the origin under that one key.
2. Outbound. The bridge subscribes a sync callback on its hub under each outbound pattern.
   ``publish()`` calls it after (or among) the local deliveries: it encodes the envelope at
   once, so the message is sent as it was when published, and appends it to a bounded buffer.
   It never awaits and never raises into ``publish()``: a message the codec refuses is
   counted (``encode_errors``) and reported through the hub's error hook; when the buffer is
   full the oldest buffered message is dropped and counted (``dropped``).
3. Sending. One task sends what is buffered in pipelines of up to ``batch_size`` ``PUBLISH``
   commands, one round trip each, in buffer order. A batch that fails goes back to the front
   of the buffer and is sent again after reconnecting: a receiver drops any copy it already
   delivered (rule 6).
4. Keys travel as channel names (see :mod:`aiopubsub.bridges._channels`): ``namespace``
   (which holds no ``':'`` and no glob character, so namespaces never overlap), then each
   part percent-encoded, each led by ``':'``. Each inbound pattern is one
   ``PSUBSCRIBE`` glob. With ``inbound='auto'`` the patterns are those the hub's own
   subscribers use, followed through ``('Hub', 'addedSubscriber' / 'removedSubscriber', ...)``:
   a pattern is wanted while its subscription count, less the bridge's own outbound
   subscriptions, is positive (the hub counts the references; the bridge follows the count).
5. Keys whose first part is ``'Hub'`` are each hub's own meta-events: they are never sent,
   never accepted from Redis, and ``('Hub', ...)`` subscriptions are never followed.
6. Receiving. Redis sends one ``pmessage`` per matching glob. For each, the bridge decodes the
   envelope (a failure is counted as ``decode_errors``, reported and dropped), ignores its own
   origin (no echo), checks the key exactly against the pattern of the glob that matched
   (a glob ``*`` also matches several parts), and drops a message whose ``n`` is not above
   the last one delivered from that origin: Redis delivers an origin's messages in order,
   so that is a copy matched by another glob, or one sent again after a fault (no
   duplicates). A jump in ``s`` under one key counts the missing messages as ``gaps``
   (the numbers of a key no longer subscribed are forgotten, so taking it up again later
   counts no gap; at most 65 536 keys and origins are remembered, oldest forgotten first).
   Then it publishes the payload on its hub.
7. No loops. While it publishes an imported message, the bridge remembers that key and
   message object; its outbound callback skips exactly that message object under that key,
   so an imported message is never sent again, while a new message that a subscriber
   publishes in reaction (delivered later in the same fan-out) is sent like any other local
   message.
8. Faults. A supervisor task runs one *session* at a time: connect, ping, ``PSUBSCRIBE``
   everything wanted, then receive, send and follow subscription changes until any of them
   fails. It then waits a random time between 0 and ``min(backoff_cap, backoff_base * 2**n)``
   (exponential back-off with full jitter; ``n`` counts failed attempts since the last
   success) and starts a new session. State changes are published on the hub as
   ``('Hub', 'bridge', 'redis', <state>)`` and shown by :attr:`RedisBridge.status`.
9. Closing stops the outbound callbacks at once, waits up to ``timeout`` for the buffer to be
   sent, then ends the supervisor and its connections; what is still buffered is counted as
   dropped. No task is left behind.
"""

from __future__ import annotations

import asyncio
import dataclasses
import difflib
import enum
import json
import random
import secrets
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

try:
    import redis.asyncio as aioredis
    from redis.asyncio.client import PubSub
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
except ImportError as exc:  # pragma: no cover - tested in a subprocess
    raise ImportError(
        "aiopubsub.bridges.redis needs the redis package: pip install 'aiopubsub[redis]'"
    ) from exc

from .._errors import HubClosedError, PubSubError
from .._hub import Hub
from .._key import WILDCARD, Key, as_pattern, matches
from .._log import get_logger
from .._records import ErrorContext
from ._channels import NAMESPACE_FORBIDDEN, channel_of, glob_of, key_of

__all__ = [
    "BridgeConfigError",
    "BridgeState",
    "BridgeStatistics",
    "Codec",
    "JsonCodec",
    "RedisBridge",
]

_HUB = "Hub"
#: The most keys and origins whose sequence numbers are remembered (oldest forgotten first).
_MAX_TRACKED = 65536
#: Redis errors and socket errors: what ends a session and starts a reconnect.
_FAULTS = (aioredis.RedisError, OSError, EOFError)


class BridgeConfigError(PubSubError, ValueError):
    """A value given to :class:`RedisBridge` is out of range or not allowed, or a setting given
    to :meth:`RedisBridge.from_settings` is missing, unknown or malformed.

    A value of the wrong type given to :class:`RedisBridge` raises :exc:`TypeError` instead;
    :meth:`RedisBridge.from_settings` turns both into this error, naming the setting.
    """


class BridgeState(enum.StrEnum):
    """What :attr:`RedisBridge.status` says, and the last part of the state meta-event."""

    #: Created, not started.
    NEW = "new"
    #: Opening a session: connecting, subscribing.
    CONNECTING = "connecting"
    #: Connected and exchanging messages.
    CONNECTED = "connected"
    #: The session failed; waiting out the back-off before reconnecting.
    DISCONNECTED = "disconnected"
    #: Closed by :meth:`RedisBridge.aclose`; or the first connection failed.
    CLOSED = "closed"


@dataclasses.dataclass(frozen=True, slots=True)
class BridgeStatistics:
    """Totals of one bridge since it was created, from :meth:`RedisBridge.statistics`."""

    #: Messages written to Redis (a batch counts once it is acknowledged).
    sent: int
    #: Messages from other origins published on the local hub.
    received: int
    #: Local messages lost without being sent: to a full buffer, or still buffered at close.
    dropped: int
    #: Local messages the codec could not encode (each also reported to the hub's hook).
    encode_errors: int
    #: Messages from Redis that could not be decoded, dropped (each also reported).
    decode_errors: int
    #: Messages of other origins known to be missing: jumps in their per-key sequence numbers.
    gaps: int
    #: Sessions opened again after a fault.
    reconnects: int
    #: Local messages waiting to be sent now.
    buffered: int


class Codec(Protocol):
    """Turns an envelope (a dict of JSON-like values holding the payload) into bytes and back.

    ``decode`` may raise anything on bad input: the bridge counts, reports and drops it.
    """

    def encode(self, obj: Any) -> bytes: ...

    def decode(self, data: bytes) -> Any: ...


class JsonCodec:
    """The default codec: compact JSON, ASCII only (any str survives, lone surrogates too).

    Payloads must be JSON values: dicts with str keys, lists, str, int, float, bool, None.
    A tuple arrives as a list; anything else is an encode error.
    """

    def encode(self, obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode("ascii")

    def decode(self, data: bytes) -> Any:
        return json.loads(data)

    def __repr__(self) -> str:
        return "JsonCodec()"


#: What a namespace may hold, for error messages.
_NAMESPACE_RULE = "a non-empty str without ':' or any of *?[]\\, such as 'aiopubsub' or 'app-prod'"
#: A pattern collection, as an error message shows it.
_PATTERNS_EXAMPLE = "[('prices', '*')]"
#: The prefix of the settings this module owns: any other name with it is a mistake.
_SETTINGS_PREFIX = "AIOPUBSUB_REDIS_"
_SETTINGS: dict[str, tuple[str, str]] = {
    # setting: (__init__ parameter, how to obtain a valid value)
    "AIOPUBSUB_REDIS_URL": ("url", "a Redis URL such as 'redis://localhost:6379/0'"),
    "AIOPUBSUB_NAMESPACE": ("namespace", _NAMESPACE_RULE),
    "AIOPUBSUB_REDIS_OUTBOUND": (
        "outbound",
        "a list of keys, each a list of str, such as [['prices', '*'], ['orders', '*']]",
    ),
    "AIOPUBSUB_REDIS_INBOUND": (
        "inbound",
        "'auto' or a list of keys, each a list of str, such as [['prices', '*']]",
    ),
    "AIOPUBSUB_REDIS_MAX_BUFFER": ("max_buffer", "an int >= 1, such as 10000"),
    "AIOPUBSUB_REDIS_BATCH_SIZE": ("batch_size", "an int >= 1, such as 1000"),
    "AIOPUBSUB_REDIS_BACKOFF_BASE": ("backoff_base", "a number of seconds > 0, such as 0.1"),
    "AIOPUBSUB_REDIS_BACKOFF_CAP": ("backoff_cap", "a number of seconds > 0, such as 10"),
    "AIOPUBSUB_REDIS_CONNECT_TIMEOUT": ("connect_timeout", "a number of seconds > 0, such as 5"),
}
_MISSING = object()


class _Tracker:
    """A dict of at most ``_MAX_TRACKED`` entries; the oldest quarter goes when it is full."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data: dict[Any, int] = {}

    def put(self, key: Any, value: int) -> None:
        data = self.data
        if key not in data and len(data) >= _MAX_TRACKED:
            for old in list(data)[: _MAX_TRACKED // 4]:
                del data[old]
        data[key] = value


class RedisBridge:
    """Joins a hub to the hubs of other processes and machines through Redis pub/sub.

    Use it as ``async with RedisBridge(hub, url) as bridge:``, or ``await bridge.start()``
    and ``await bridge.aclose()``. Guarantees (see the module docstring for how):

    * At most once, like Redis pub/sub itself: a message published while a receiver is not
      connected is lost to it; lost messages are counted where they can be (``dropped`` at
      the sender, ``gaps`` at the receiver), never silently.
    * The messages of one origin arrive in the order it published them; no echo to the
      publishing hub, no duplicates, no loops between bridges.
    * ``publish()`` on the hub never waits for Redis and never sees a bridge error.

    :param hub: the local hub.
    :param url: the Redis URL, as for ``redis.asyncio.Redis.from_url``.
    :param namespace: the prefix of every channel; bridges join only within one namespace.
        It may not hold ``':'`` or a Redis glob character (``*?[]\\``), so that no namespace
        overlaps another (``'ns:sub'`` would overlap ``'ns'``).
    :param outbound: the patterns of the local messages to send (default: all, ``('*',)``).
        A collection of patterns, each a :class:`~aiopubsub.Key`, tuple or list of str: a
        str item is refused, not read as a one-part key, because ``('prices', '*')`` given
        for ``[('prices', '*')]`` would otherwise be the two patterns ``'prices'`` and ``'*'``,
        that is everything. Write a one-part pattern ``('prices',)``.
    :param inbound: the patterns of the remote messages to deliver locally, a collection like
        ``outbound``, or ``'auto'`` (the default): those the hub's subscribers are subscribed
        under, as they change.
    :param codec: turns envelopes into bytes and back (default: :class:`JsonCodec`).
    :param max_buffer: how many local messages may wait to be sent; beyond, the oldest
        is dropped.
    :param batch_size: the most ``PUBLISH`` commands in one pipeline.
    :param backoff_base: the first reconnect delay's upper bound, in seconds.
    :param backoff_cap: the largest reconnect delay's upper bound, in seconds.
    :param connect_timeout: seconds allowed for opening a connection.
    :raises TypeError: if a value has the wrong type: a pattern collection that is a bare key
        or str, or holds a str (or anything but a key, tuple or list); a codec without
        ``encode``/``decode``.
    :raises BridgeConfigError: (a :exc:`ValueError`) if a number is out of range, the URL is
        not a Redis URL or the namespace is empty or holds ``':'`` or a glob character.
    :raises InvalidKeyError: if a pattern is empty.
    """

    def __init__(
        self,
        hub: Hub,
        url: str = "redis://localhost:6379/0",
        *,
        namespace: str = "aiopubsub",
        outbound: Iterable[Key | tuple[str, ...] | list[str]] = (Key(WILDCARD),),
        inbound: Iterable[Key | tuple[str, ...] | list[str]] | Literal["auto"] = "auto",
        codec: Codec | None = None,
        max_buffer: int = 10_000,
        batch_size: int = 1_000,
        backoff_base: float = 0.1,
        backoff_cap: float = 10.0,
        connect_timeout: float = 5.0,
    ) -> None:
        if not isinstance(hub, Hub):
            raise TypeError(f"hub must be a Hub, got {hub!r}")
        self._hub = hub
        self._url = _check_url("url", url)
        self._namespace = _check_namespace("namespace", namespace)
        self._outbound = _patterns("outbound", outbound)
        checked_inbound = _check_inbound("inbound", inbound)
        self._auto = checked_inbound == "auto"
        self._explicit_inbound = checked_inbound if isinstance(checked_inbound, tuple) else ()
        self._codec: Codec = JsonCodec() if codec is None else codec
        if not callable(getattr(self._codec, "encode", None)) or not callable(
            getattr(self._codec, "decode", None)
        ):
            raise TypeError(f"codec must have encode() and decode() methods, got {codec!r}")
        self._max_buffer = _positive_int("max_buffer", max_buffer)
        self._batch_size = _positive_int("batch_size", batch_size)
        self._backoff_base = _positive_float("backoff_base", backoff_base)
        self._backoff_cap = _positive_float("backoff_cap", backoff_cap)
        self._connect_timeout = _positive_float("connect_timeout", connect_timeout)
        self._last_session_ok = False
        self._closing: asyncio.Future[None] | None = None
        #: This bridge's id in every envelope it sends.
        self.origin = secrets.token_hex(8)
        self._logger = get_logger("RedisBridge")
        self._state = BridgeState.NEW
        self._task: asyncio.Task[None] | None = None
        # Outbound.
        self._seq = 0
        self._key_seqs = _Tracker()
        self._buffer: deque[tuple[str, bytes]] = deque()
        self._in_flight = 0
        self._wake_sender = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._importing: tuple[Key, Any] | None = None
        # Inbound: pattern -> local subscriptions wanting it; glob -> pattern.
        self._wanted: dict[Key, int] = {}
        self._globs: dict[str, Key] = {}
        self._sent_globs: set[str] = set()
        self._active_globs: set[str] = set()
        self._subscriptions_changed = asyncio.Event()
        self._synced = asyncio.Event()
        self._last_n = _Tracker()
        self._last_s = _Tracker()
        # Statistics.
        self._sent = self._received = self._dropped = 0
        self._encode_errors = self._decode_errors = self._gaps = self._reconnects = 0

    @classmethod
    def from_settings(cls, hub: Hub, settings: Mapping[str, Any] | object) -> RedisBridge:
        """Make a bridge from a mapping or an object with attributes (a settings module).

        ``AIOPUBSUB_REDIS_URL`` is required; ``AIOPUBSUB_NAMESPACE``,
        ``AIOPUBSUB_REDIS_OUTBOUND``, ``AIOPUBSUB_REDIS_INBOUND``,
        ``AIOPUBSUB_REDIS_MAX_BUFFER``, ``AIOPUBSUB_REDIS_BATCH_SIZE``,
        ``AIOPUBSUB_REDIS_BACKOFF_BASE``, ``AIOPUBSUB_REDIS_BACKOFF_CAP`` and
        ``AIOPUBSUB_REDIS_CONNECT_TIMEOUT`` are optional; the values are checked as the
        parameters of the same names are. Any other name starting with ``AIOPUBSUB_REDIS_``
        is a mistake (a misspelt setting would otherwise be ignored without a word): the keys
        of a mapping, and for an object the names :func:`dir` lists, are checked. The codec
        cannot be set here: it is code, not a setting; pass it to the constructor.

        :raises BridgeConfigError: if a setting is missing, unknown or malformed; the message
            names it and says what a valid value looks like, or which settings exist.
        """
        _check_setting_names(settings)
        kwargs: dict[str, Any] = {}
        for name, (parameter, valid) in _SETTINGS.items():
            if isinstance(settings, Mapping):
                value = settings.get(name, _MISSING)
            else:
                value = getattr(settings, name, _MISSING)
            if value is _MISSING:
                if name == "AIOPUBSUB_REDIS_URL":
                    raise BridgeConfigError(f"Setting {name} is missing: set it to {valid}")
                continue
            try:
                # Checked here, one by one, so that the error names the setting at fault.
                kwargs[parameter] = _CHECKS[parameter](parameter, value)
            except (TypeError, ValueError) as exc:
                raise BridgeConfigError(
                    f"Setting {name} is malformed ({exc}): set it to {valid}"
                ) from None
        return cls(hub, **kwargs)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {_redacted(self._url)} namespace={self._namespace!r}"
            f" {self._state.value} origin={self.origin} buffered={len(self._buffer)}>"
        )

    # -- public state -------------------------------------------------------------------------

    @property
    def status(self) -> BridgeState:
        """The bridge's state now (see :class:`BridgeState`)."""
        return self._state

    @property
    def inbound_patterns(self) -> frozenset[Key]:
        """The patterns whose remote messages are delivered locally now."""
        return frozenset(self._wanted)

    def statistics(self) -> BridgeStatistics:
        """Totals since the bridge was created (see :class:`BridgeStatistics`)."""
        return BridgeStatistics(
            sent=self._sent,
            received=self._received,
            dropped=self._dropped,
            encode_errors=self._encode_errors,
            decode_errors=self._decode_errors,
            gaps=self._gaps,
            reconnects=self._reconnects,
            buffered=len(self._buffer) + self._in_flight,
        )

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, subscribe, and start bridging; return once Redis confirmed the subscriptions.

        :raises RuntimeError: if the bridge was started before.
        :raises HubClosedError: if the hub is closed.
        :raises redis.exceptions.ConnectionError: (or another Redis or socket error) if the
            first connection fails; the bridge is then closed. Later faults only reconnect.
        """
        if self._state is not BridgeState.NEW:
            raise RuntimeError(f"{self!r} was started already")
        if self._hub.closed:
            raise HubClosedError(f"{self._hub!r} is closed")
        self._set_state(BridgeState.CONNECTING)
        for pattern in self._outbound:
            self._hub.add_subscriber(pattern, self._export)
        if self._auto:
            self._hub.add_subscriber((_HUB, "addedSubscriber", WILDCARD), self._follow)
            self._hub.add_subscriber((_HUB, "removedSubscriber", WILDCARD), self._follow)
            for pattern, count in self._hub.subscriptions().items():
                self._want(pattern, count - (pattern in self._outbound))
        else:
            for pattern in self._explicit_inbound:
                self._want(pattern, 1)
        connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(
            self._supervise(connected), name=f"RedisBridge {self.origin} supervisor"
        )
        try:
            # Cancelling start() cancels the supervisor too (in aclose below).
            await connected
            await self.sync(self._connect_timeout)
        except BaseException:
            await self.aclose(timeout=0)
            raise

    async def sync(self, timeout: float | None = None) -> None:
        """Wait until Redis has confirmed every pattern subscription the bridge wants now.

        A remote message published after this returns reaches the hub (unless a fault
        intervenes). Useful after subscribing locally with ``inbound='auto'``.

        :raises TimeoutError: after ``timeout`` seconds.
        :raises RuntimeError: if the bridge is not started, or closed.
        """
        if self._state in (BridgeState.NEW, BridgeState.CLOSED):
            raise RuntimeError(f"{self!r} is not running: nothing to wait for")
        async with asyncio.timeout(timeout):
            await self._synced.wait()

    async def aclose(self, timeout: float | None = 5.0) -> None:
        """Stop bridging: send what is buffered (for up to ``timeout`` seconds), disconnect.

        Local messages are no longer taken from the moment this is called. What could not be
        sent in time is counted as dropped. When this returns, no task of the bridge is left.
        Idempotent.
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
        if self._state is BridgeState.NEW:
            self._set_state(BridgeState.CLOSED)
            return
        if self._auto:
            # First: the removal of the outbound subscriptions below is not to be followed.
            self._hub.remove_subscriber((_HUB, "addedSubscriber", WILDCARD), self._follow)
            self._hub.remove_subscriber((_HUB, "removedSubscriber", WILDCARD), self._follow)
        for pattern in self._outbound:
            self._hub.remove_subscriber(pattern, self._export)
        task, self._task = self._task, None
        if task is not None and not task.done():
            try:
                # Cancellable: the flush is a courtesy; the finally below still cleans up.
                async with asyncio.timeout(timeout):
                    await self._idle.wait()
            except TimeoutError:
                pass
            finally:
                await _cancel_and_wait([task])
        self._dropped += len(self._buffer) + self._in_flight
        self._buffer.clear()
        self._in_flight = 0
        self._set_state(BridgeState.CLOSED)

    async def __aenter__(self) -> RedisBridge:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- outbound -----------------------------------------------------------------------------

    def _export(self, key: Key, message: Any) -> None:
        """The outbound callback, called inside the hub's ``publish()``. Never raises."""
        importing = self._importing
        if importing is not None and message is importing[1] and key == importing[0]:
            return  # Rule 7: the message being imported.
        if key[0] == _HUB:
            return
        try:
            channel = channel_of(self._namespace, key)
            n = self._seq + 1
            s = self._key_seqs.data.get(channel, 0) + 1
            data = self._codec.encode({"o": self.origin, "n": n, "s": s, "k": key, "p": message})
            if not isinstance(data, bytes):
                raise TypeError(f"{self._codec!r}.encode() returned {type(data).__name__}")
        except Exception as exc:  # noqa: BLE001 - reported, never raised into publish()
            self._encode_errors += 1
            self._hub._report(exc, ErrorContext(key, message, self, kind="bridge encode"))
            return
        self._seq = n
        self._key_seqs.put(channel, s)
        self._buffer.append((channel, data))
        if len(self._buffer) > self._max_buffer:
            self._buffer.popleft()
            self._dropped += 1
        self._idle.clear()
        self._wake_sender.set()

    async def _send(self, client: aioredis.Redis) -> None:
        """Send the buffer in pipelines until cancelled or a fault (which propagates)."""
        buffer = self._buffer
        while True:
            if not buffer:
                self._idle.set()
                self._wake_sender.clear()
                await self._wake_sender.wait()
                continue
            batch = [buffer.popleft() for _ in range(min(len(buffer), self._batch_size))]
            self._in_flight = len(batch)
            try:
                async with client.pipeline(transaction=False) as pipe:
                    for channel, data in batch:
                        pipe.publish(channel, data)
                    # Cancelled or failed here, the batch may be partly sent: it goes back,
                    # and receivers drop what they have already delivered (by sequence).
                    await pipe.execute()
            except BaseException:
                buffer.extendleft(reversed(batch))
                while len(buffer) > self._max_buffer:
                    buffer.popleft()
                    self._dropped += 1
                raise
            finally:
                self._in_flight = 0
            self._sent += len(batch)

    # -- inbound ------------------------------------------------------------------------------

    def _follow(self, key: Key, message: Any) -> None:
        """The callback of the hub's subscription meta-events, for ``inbound='auto'``."""
        pattern = message["key"]
        self._want(pattern, message["currentSubscriberCount"] - (pattern in self._outbound))

    def _want(self, pattern: Key, count: int) -> None:
        """Record that ``count`` local subscriptions (not the bridge's own) want ``pattern``."""
        if pattern[0] == _HUB:
            return
        try:
            glob = glob_of(self._namespace, pattern)
        except TypeError as exc:  # A part that cannot travel: nothing can arrive under it.
            self._hub._report(exc, ErrorContext(pattern, None, self, kind="bridge encode"))
            return
        if count > 0:
            self._wanted[pattern] = count
            self._globs[glob] = pattern
        elif self._wanted.pop(pattern, None) is not None:
            del self._globs[glob]
            self._forget_unwanted_keys()
        else:
            return
        self._subscriptions_changed.set()
        self._check_synced()

    def _forget_unwanted_keys(self) -> None:
        """Forget the per-key sequence numbers of keys no longer received, so that taking a
        key up again later does not count what was published meanwhile as gaps."""
        wanted = list(self._wanted)
        data = self._last_s.data
        for origin_key in [k for k in data if not any(matches(k[1], p) for p in wanted)]:
            del data[origin_key]

    def _check_synced(self) -> None:
        if self._state is BridgeState.CONNECTED and self._active_globs == self._globs.keys():
            self._synced.set()
        else:
            self._synced.clear()

    async def _update_subscriptions(self, pubsub: PubSub) -> None:
        """Follow the wanted patterns with ``PSUBSCRIBE`` / ``PUNSUBSCRIBE`` until cancelled."""
        while True:
            self._subscriptions_changed.clear()
            new = self._globs.keys() - self._sent_globs
            gone = self._sent_globs - self._globs.keys()
            if new:
                await pubsub.psubscribe(*new)
                self._sent_globs |= new
            if gone:
                await pubsub.punsubscribe(*gone)
                self._sent_globs -= gone
            if not self._subscriptions_changed.is_set():
                await self._subscriptions_changed.wait()

    async def _receive(self, pubsub: PubSub) -> None:
        """Read the subscription's messages until cancelled or a fault (which propagates).

        Raw replies (``parse_response``), not ``get_message()``: the bridge keeps its own
        subscription state, and skipping redis-py's per-message bookkeeping speeds it up.
        """
        while True:
            response = await pubsub.parse_response(block=True)
            if not isinstance(response, list) or not response:
                continue  # A health-check reply, or nothing.
            kind = response[0]
            if kind == b"pmessage":
                self._import(response[1], response[2], response[3])
            elif kind == b"psubscribe":
                self._active_globs.add(response[1].decode("utf-8", "surrogateescape"))
                self._check_synced()
            elif kind == b"punsubscribe":
                self._active_globs.discard(response[1].decode("utf-8", "surrogateescape"))
                self._check_synced()

    def _import(self, glob_bytes: bytes, channel_bytes: bytes, data: bytes) -> None:
        """Deliver one ``pmessage`` to the hub if it is wanted, new and well-formed."""
        pattern = self._globs.get(glob_bytes.decode("utf-8", "surrogateescape"))
        if pattern is None:
            return  # Unsubscribed locally while on its way.
        channel = channel_bytes.decode("utf-8", "surrogateescape")
        try:
            key = key_of(self._namespace, channel)
            envelope = self._codec.decode(data)
            origin, n, s, payload = _check_envelope(envelope, key)
        except Exception as exc:  # noqa: BLE001 - bad input from the wire: reported, dropped
            self._decode_errors += 1
            self._hub._report(exc, ErrorContext(Key(channel), data, self, kind="bridge decode"))
            return
        if origin == self.origin or key[0] == _HUB or not matches(key, pattern):
            return
        last_n = self._last_n.data.get(origin, 0)
        if n <= last_n:
            return  # A copy: matched by another glob too, or sent again after a fault.
        self._last_n.put(origin, n)
        last_s = self._last_s.data.get((origin, key))
        if last_s is not None and s > last_s + 1:
            self._gaps += s - last_s - 1
        self._last_s.put((origin, key), s)
        self._importing = (key, payload)
        try:
            self._hub.publish(key, payload)
        except HubClosedError:
            return
        finally:
            self._importing = None
        self._received += 1

    # -- sessions -----------------------------------------------------------------------------

    async def _supervise(self, connected: asyncio.Future[None]) -> None:
        """Run sessions, reconnecting after each fault with capped, fully jittered back-off."""
        failures = 0
        while True:
            self._set_state(BridgeState.CONNECTING)
            try:
                await self._session(connected)
            except Exception as exc:  # Any end of a session is a fault to outlive.
                if not connected.done():
                    connected.set_exception(exc)
                    return
                self._set_state(BridgeState.DISCONNECTED, exc)
                if not isinstance(exc, _FAULTS):
                    self._logger.error("%r: unexpected error in a session", self, exc_info=exc)
                elif self._last_session_ok:
                    self._logger.warning("%r lost its connection (%s)", self, _describe(exc))
                else:  # Still down: said once already.
                    self._logger.debug("%r could not reconnect (%s)", self, _describe(exc))
            if self._last_session_ok:
                failures = 0
            delay = _backoff_delay(failures, self._backoff_base, self._backoff_cap)
            failures += 1
            await asyncio.sleep(delay)

    async def _session(self, connected: asyncio.Future[None]) -> None:
        """One connection: subscribe, then receive, send and follow until one of them fails."""
        self._last_session_ok = False
        client = aioredis.Redis.from_url(
            self._url,
            retry=Retry(NoBackoff(), 0),  # Reconnecting is the supervisor's job.
            socket_connect_timeout=self._connect_timeout,
            socket_keepalive=True,
        )
        pubsub = client.pubsub()
        tasks: list[asyncio.Task[None]] = []
        try:
            async with asyncio.timeout(self._connect_timeout):
                await pubsub.connect()  # type: ignore[no-untyped-call]
                await client.ping()
            self._sent_globs.clear()
            self._active_globs.clear()
            tasks = [
                asyncio.create_task(self._receive(pubsub)),
                asyncio.create_task(self._update_subscriptions(pubsub)),
                asyncio.create_task(self._send(client)),
            ]
            if connected.done():
                self._reconnects += 1
            else:
                connected.set_result(None)
            self._last_session_ok = True
            self._set_state(BridgeState.CONNECTED)
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                if task.done():
                    task.result()  # Raises the fault that ended the session.
        finally:
            # Shielded: even when cancelled again, the connections are closed (no leak).
            await _shielded(self._end_session(tasks, pubsub, client))

    async def _end_session(
        self, tasks: list[asyncio.Task[None]], pubsub: PubSub, client: aioredis.Redis
    ) -> None:
        await _cancel_and_wait(tasks)
        self._synced.clear()
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()

    def _set_state(self, state: BridgeState, error: BaseException | None = None) -> None:
        if state is self._state and error is None:
            return
        self._state = state
        self._check_synced()
        self._hub._publish_meta(
            ("bridge", "redis", state.value),
            {"bridge": self, "origin": self.origin, "state": state, "error": error},
        )


def _backoff_delay(failures: int, base: float, cap: float) -> float:
    """Seconds to wait before the next attempt after ``failures`` failed ones in a row:
    exponential back-off with full jitter, uniform between 0 and ``min(cap, base * 2**failures)``.
    """
    return random.uniform(0, min(cap, base * 2 ** min(failures, 64)))


async def _cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and wait until they have ended.

    A task still running shortly after is cancelled again: redis-py (8.1) can swallow a
    cancellation that arrives inside some of its calls (seen in ``PUNSUBSCRIBE``).
    """
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.1)


async def _shielded(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` to its end even if cancelled meanwhile; then raise the cancellation."""
    task = asyncio.ensure_future(coro)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    task.result()
    if cancelled:
        raise asyncio.CancelledError


def _check_envelope(envelope: Any, key: Key) -> tuple[str, int, int, Any]:
    """``(origin, n, s, payload)`` of a decoded envelope whose key is ``key``.

    :raises ValueError: if it is not a well-formed envelope for that key.
    """
    if not isinstance(envelope, dict) or envelope.keys() != {"o", "n", "s", "k", "p"}:
        raise ValueError(f"Not an aiopubsub envelope: {envelope!r}")
    origin, n, s, parts = envelope["o"], envelope["n"], envelope["s"], envelope["k"]
    if not isinstance(origin, str) or not all(
        type(x) is int and x > 0 for x in (n, s)
    ):  # bool is an int subclass: type() excludes it.
        raise ValueError(f"Malformed origin or sequence numbers in envelope {envelope!r}")
    if not isinstance(parts, list | tuple) or tuple(parts) != key:
        raise ValueError(f"Envelope key {parts!r} does not match its channel's key {key!r}")
    if WILDCARD in key:
        raise ValueError(f"A message cannot be published under the wildcard key {key!r}")
    return origin, n, s, envelope["p"]


def _check_setting_names(settings: Mapping[str, Any] | object) -> None:
    """Refuse a name starting with ``AIOPUBSUB_REDIS_`` that is not a setting.

    :raises BridgeConfigError: naming the first such name (sorted), and the settings.
    """
    names = settings.keys() if isinstance(settings, Mapping) else dir(settings)
    unknown = sorted(
        n
        for n in names
        if isinstance(n, str) and n.startswith(_SETTINGS_PREFIX) and n not in _SETTINGS
    )
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, _SETTINGS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise BridgeConfigError(
            f"Setting {name} is unknown{hint}: the settings are {', '.join(_SETTINGS)}"
        )


def _patterns(name: str, patterns: object) -> tuple[Key, ...]:
    """The patterns of a collection whose items are each a Key, tuple or list of str.

    A str item is refused, not taken for a one-part key: a bare key such as ``('prices', '*')``
    given for a collection would otherwise silently become the patterns ``'prices'`` and
    ``'*'``, that is everything. The error shows the collection spelt right.

    :raises TypeError: if ``patterns`` is a str, a Key or not iterable, or an item is not a
        Key, tuple or list (or holds a part that is not a str).
    :raises InvalidKeyError: if an item is empty.
    """
    if isinstance(patterns, str | Key) or not isinstance(patterns, Iterable):
        raise TypeError(
            f"{name} must be a collection of keys, each a Key, tuple or list of str,"
            f" such as [{_spelt(patterns)}], got {patterns!r}"
        )
    items = list(patterns)
    for item in items:
        if not isinstance(item, tuple | list):  # A Key is a tuple.
            right = f"[{tuple(items)!r}]" if all(isinstance(i, str) for i in items) else ""
            raise TypeError(
                f"{name} must be a collection of keys, each a Key, tuple or list of str,"
                f" such as {right or _PATTERNS_EXAMPLE}; got the item {item!r} in {patterns!r}"
            )
    return tuple(dict.fromkeys(as_pattern(p) for p in items))


def _spelt(patterns: object) -> str:
    """``patterns`` as the one pattern of a collection would be written, if it looks like one."""
    if isinstance(patterns, Key):
        return repr(tuple(patterns))
    if isinstance(patterns, str):
        return repr((patterns,))
    return "('prices', '*')"


def _check_inbound(name: str, value: object) -> Literal["auto"] | tuple[Key, ...]:
    return "auto" if value == "auto" else _patterns(name, value)


def _check_namespace(name: str, value: object) -> str:
    """Refuse a namespace whose channels could overlap another's (see ``_channels``)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be {_NAMESPACE_RULE}, got {value!r}")
    if not value or NAMESPACE_FORBIDDEN.intersection(value):
        raise BridgeConfigError(
            f"{name} must be {_NAMESPACE_RULE} (so that no namespace overlaps another),"
            f" got {value!r}"
        )
    try:
        value.encode("utf-8")  # It goes to Redis as it is.
    except UnicodeEncodeError:
        raise BridgeConfigError(f"{name} must be encodable as UTF-8, got {value!r}") from None
    return value


def _positive_int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < 1:
        raise BridgeConfigError(f"{name} must be >= 1, got {value!r}")
    return value


def _positive_float(name: str, value: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    if not value > 0:
        raise BridgeConfigError(f"{name} must be > 0, got {value!r}")
    return float(value)


def _check_url(name: str, url: object) -> str:
    if not isinstance(url, str):
        raise TypeError(f"{name} must be a str, got {url!r}")
    if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise BridgeConfigError(
            f"{name} must be a Redis URL (redis://, rediss:// or unix://), got {_redacted(url)!r}"
        )
    return url


#: The check of each parameter that a setting can give (see RedisBridge.from_settings).
_CHECKS: dict[str, Callable[[str, Any], object]] = {
    "url": _check_url,
    "namespace": _check_namespace,
    "outbound": _patterns,
    "inbound": _check_inbound,
    "max_buffer": _positive_int,
    "batch_size": _positive_int,
    "backoff_base": _positive_float,
    "backoff_cap": _positive_float,
    "connect_timeout": _positive_float,
}


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _redacted(url: str) -> str:
    """``url`` with any password replaced by ``***``, for logs and reprs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
