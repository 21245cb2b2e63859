"""Join hubs in many processes and machines into one, through Redis pub/sub.

The broker-specific part of :class:`RedisBridge`: channel names (see
:mod:`aiopubsub.bridges._channels`), ``PSUBSCRIBE`` globs, pipelines of ``PUBLISH``. Everything
else is the shared :class:`~aiopubsub.bridges.Bridge`.

Redis sends one ``pmessage`` per matching glob, and a glob ``*`` spans several parts. So for
each channel the backend works out, once (cached until the subscriptions change), the key,
whether a pattern subscribed now matches it exactly, and the first of the confirmed globs
that match it: a message is passed on only when it arrives through that glob, so it is
passed on (or counted as bad) once, however many globs match it. Redis confirms subscription
changes in the same stream as the messages, so the globs a message can arrive through are
known exactly at each point of the stream.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Literal

try:
    import redis.asyncio as aioredis
    from redis.asyncio.client import PubSub
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import AuthenticationError, RedisError, ResponseError
except ImportError as exc:  # pragma: no cover - tested in a subprocess
    raise ImportError(
        "aiopubsub.bridges.redis needs the redis package: pip install 'aiopubsub[redis]'"
    ) from exc

from .. import Hub, Key
from .._log import get_logger
from .._tasks import cancel_and_wait, raise_first_failure
from . import _channels, _settings
from ._backend import BridgeConfigError, BridgeConnectionError, Deliver, Reject
from ._bridge import Bridge, BridgeStatistics
from ._codec import Codec, JsonCodec, MsgpackCodec
from ._keys import WILDCARD
from ._keys import key_matches as _key_matches
from ._session import Backoff, BridgeState

__all__ = [
    "Backoff",
    "Bridge",
    "BridgeConfigError",
    "BridgeConnectionError",
    "BridgeState",
    "BridgeStatistics",
    "Codec",
    "JsonCodec",
    "MsgpackCodec",
    "RedisBackend",
    "RedisBridge",
]

#: What a namespace may hold, for error messages.
_NAMESPACE_RULE = "a non-empty str without ':' or any of *?[]\\, such as 'aiopubsub' or 'app-prod'"
_PREFIX = "AIOPUBSUB_REDIS_"
_check_url = _settings.check_url(("redis", "rediss", "unix"), "Redis")
_check_namespace = _settings.check_namespace(_channels.NAMESPACE_FORBIDDEN, _NAMESPACE_RULE)
_SETTINGS = _settings.settings_table(
    _PREFIX,
    _settings.Setting(
        f"{_PREFIX}URL",
        "url",
        "a Redis URL such as 'redis://localhost:6379/0'",
        _check_url,
        required=True,
    ),
    _settings.Setting("AIOPUBSUB_NAMESPACE", "namespace", _NAMESPACE_RULE, _check_namespace),
)
#: One PUBLISH command in RESP: channel length, channel, data length, data.
_PUBLISH = b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n"
#: The most channels whose routes are cached; the cache starts afresh beyond.
_MAX_ROUTES = 65536
#: What a channel's route is: the key (or why the channel is not a key's; ``None`` if no
#: pattern subscribed now matches it), and the glob through which it is passed on.
_Route = tuple[Key | ValueError | None, bytes | None]
#: TCP keepalive where the platform has the options: first probe after 5 s of silence, then
#: every 2 s, given up after 3 unanswered: a peer host gone is noticed in about 11 s.
_KEEPALIVE = {
    getattr(socket, name): value
    for name, value in (("TCP_KEEPIDLE", 5), ("TCP_KEEPINTVL", 2), ("TCP_KEEPCNT", 3))
    if hasattr(socket, name)
}


class RedisBackend:
    """Redis pub/sub as a :class:`~aiopubsub.bridges._backend.Backend`.

    :param url: the Redis URL, as for ``redis.asyncio.Redis.from_url``.
    :param namespace: the first part of every channel (see :mod:`aiopubsub.bridges._channels`).
    """

    broker = "redis"
    echoes = True
    faults: tuple[type[BaseException], ...] = (RedisError,)
    #: Seconds of silence on the pub/sub connection after which it is asked for a ``PING``.
    health_interval = 5.0
    #: Seconds a ``PING``, or a batch of ``PUBLISH``, may wait for Redis's answer before the
    #: session is given up: more than a paused server's few seconds, so a dead connection is
    #: noticed within ``health_interval + health_timeout`` (15 s), not TCP's two hours.
    health_timeout = 10.0

    def __init__(self, url: str, namespace: str) -> None:
        self._url = url
        self.display_url = _settings.redacted(url)
        self.namespace = namespace
        self._client: aioredis.Redis | None = None
        self._pubsub: PubSub | None = None
        self._sender: Any = None  # The client's connection that publishes.
        # glob -> pattern, for the patterns subscribed now; the globs Redis confirmed.
        self._globs: dict[bytes, Key] = {}
        self._regexes: dict[bytes, re.Pattern[str]] = {}
        self._active: set[bytes] = set()
        self._confirmed = asyncio.Event()
        self._routes: dict[bytes, _Route] = {}
        self._channels: dict[Key, bytes] = {}
        # Whether the pub/sub connection spoke since the health check last looked; the
        # event the check waits on after its PING.
        self._heard = False
        self._answered: asyncio.Event | None = None

    def _glob(self, pattern: Key) -> bytes:
        return _channels.glob_of(self.namespace, pattern).encode("utf-8", "surrogatepass")

    async def connect(self) -> None:
        """Open a client and a pub/sub connection, and check them with ``PING``."""
        tcp = not self._url.startswith("unix:")  # A Unix socket takes no keepalive options.
        keepalive: dict[str, Any] = {
            "socket_keepalive": True,
            "socket_keepalive_options": _KEEPALIVE,
        }
        self._client = client = aioredis.Redis.from_url(
            self._url,
            retry=Retry(NoBackoff(), 0),  # Reconnecting is the bridge's job.
            **(keepalive if tcp else {}),
        )
        self._pubsub = client.pubsub()
        self._globs.clear()
        self._active.clear()
        self._routes.clear()
        await self._pubsub.connect()  # type: ignore[no-untyped-call]
        self._sender = sender = await client.connection_pool.get_connection()  # type: ignore[no-untyped-call]
        await sender.send_command("PING")
        await sender.read_response()

    async def close(self) -> None:
        """Close both connections."""
        pubsub, client, self._pubsub, self._client = self._pubsub, self._client, None, None
        sender, self._sender = self._sender, None
        try:
            if sender is not None and client is not None:
                await sender.disconnect()
                await client.connection_pool.release(sender)
            if pubsub is not None:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            if client is not None:
                await client.aclose()
        except Exception:  # noqa: BLE001 - the connection is gone either way
            pass

    async def subscribe(self, patterns: Collection[Key]) -> None:
        """``PSUBSCRIBE`` the globs of ``patterns``; return once Redis confirmed each."""
        assert self._pubsub is not None, "not connected"
        globs = {self._glob(pattern): pattern for pattern in patterns}
        for glob in globs:
            self._regexes.setdefault(
                glob, _channels.glob_regex(glob.decode("utf-8", "surrogatepass"))
            )
        self._globs.update(globs)
        self._routes.clear()
        await self._pubsub.psubscribe(*globs)
        while not globs.keys() <= self._active:
            self._confirmed.clear()
            await self._confirmed.wait()

    async def unsubscribe(self, patterns: Collection[Key]) -> None:
        """``PUNSUBSCRIBE`` the globs of ``patterns``; their messages stop at once."""
        assert self._pubsub is not None, "not connected"
        globs = [self._glob(pattern) for pattern in patterns]
        for glob in globs:
            self._globs.pop(glob, None)
        self._routes.clear()
        await self._pubsub.punsubscribe(*globs)

    async def publish(self, batch: Sequence[tuple[Key, bytes]]) -> list[tuple[int, Exception]]:
        """``PUBLISH`` each message, all written at once and then every reply read: one round
        trip. Redis takes any size up to its ``proto-max-bulk-len`` (512 MB by default); a
        message it answers with an error (``NOPERM`` from an ACL, a size over that limit) is
        refused, the others are sent: the connection stays in step, each reply being read.

        The commands are packed here (RESP is simple, and redis-py's packer costs more than
        the rest of the bridge's sending); the connection is redis-py's own.
        """
        sender = self._sender
        assert sender is not None, "not connected"
        channels = self._channels
        packed = []
        for key, data in batch:
            channel = channels.get(key)
            if channel is None:
                if len(channels) >= _MAX_ROUTES:
                    channels.clear()
                text = _channels.channel_of(self.namespace, key)
                channel = channels[key] = text.encode("utf-8", "surrogatepass")
            packed.append(_PUBLISH % (len(channel), channel, len(data), data))
        read = sender.read_response
        refused: list[tuple[int, Exception]] = []
        # Bounded: a connection gone silent ends the session (the batch goes back).
        async with asyncio.timeout(self.health_timeout):
            await sender.send_packed_command(b"".join(packed), check_health=False)
            for position in range(len(batch)):
                try:
                    await read()
                except ResponseError as exc:  # This reply only, read whole: on to the next.
                    refused.append((position, exc))
        return refused

    async def receive(self, deliver: Deliver, reject: Reject) -> None:
        """Read the subscription's replies until cancelled or a fault (which propagates),
        while a health check asks a silent connection for a ``PING``: no answer within
        :attr:`health_timeout` raises :exc:`TimeoutError`."""
        tasks = [
            asyncio.create_task(self._read(deliver, reject)),
            asyncio.create_task(self._check_health()),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            raise_first_failure(tasks)
        finally:
            await cancel_and_wait(tasks)

    async def _check_health(self) -> None:
        pubsub = self._pubsub
        assert pubsub is not None, "not connected"
        while True:
            self._heard = False
            await asyncio.sleep(self.health_interval)
            if self._heard:
                continue
            answered = self._answered = asyncio.Event()
            try:
                await pubsub.ping()
                async with asyncio.timeout(self.health_timeout):
                    await answered.wait()
            except TimeoutError:
                raise TimeoutError(
                    f"Redis did not answer a PING within {self.health_timeout:g} s"
                ) from None
            finally:
                self._answered = None

    async def _read(self, deliver: Deliver, reject: Reject) -> None:
        """Raw replies (``parse_response``), not ``get_message()``: the backend keeps its own
        subscription state, and skipping redis-py's per-message bookkeeping speeds it up."""
        assert self._pubsub is not None, "not connected"
        parse, routes = self._pubsub.parse_response, self._routes
        while True:
            response = await parse(block=True)
            self._heard = True
            if self._answered is not None:
                self._answered.set()
            if not isinstance(response, list) or not response:
                continue  # A health-check reply, or nothing.
            kind = response[0]
            if kind == b"pmessage":
                channel = response[2]
                route = routes.get(channel)
                if route is None:
                    route = self._route(channel)
                if response[1] != route[1]:
                    continue  # Passed on through another glob (or nobody wants it now).
                target = route[0]
                if isinstance(target, Key):
                    deliver(target, response[3])
                elif target is not None:
                    reject(channel.decode("utf-8", "surrogateescape"), response[3], target)
            elif kind == b"psubscribe":
                self._active.add(response[1])
                self._routes.clear()
                self._confirmed.set()
            elif kind == b"punsubscribe":
                self._active.discard(response[1])
                self._routes.clear()

    def _route(self, channel: bytes) -> _Route:
        """Work out (and cache) ``channel``'s route: see the module docstring."""
        text = channel.decode("utf-8", "surrogateescape")
        through = min(
            (glob for glob in self._active if self._regexes[glob].fullmatch(text)), default=None
        )
        target: Key | ValueError | None
        try:
            key = _channels.key_of(self.namespace, text)
        except ValueError as exc:
            target = exc
        else:
            wanted = any(_key_matches(key, pattern) for pattern in self._globs.values())
            target = key if wanted else None
        if len(self._routes) >= _MAX_ROUTES:
            self._routes.clear()
        route = self._routes[channel] = (target, through)
        return route

    def describe_failure(self, exc: BaseException) -> str | None:
        """``'authentication failed'`` for Redis's refusal of the credentials."""
        if isinstance(exc, AuthenticationError) or (
            isinstance(exc, ResponseError) and "NOAUTH" in str(exc)
        ):
            return "authentication failed"
        return None


class RedisBridge(Bridge):
    """Joins a hub to the hubs of other processes and machines through Redis pub/sub.

    A :class:`~aiopubsub.bridges.Bridge` with a :class:`RedisBackend`; see there for the
    guarantees and the other parameters.

    :param hub: the local hub.
    :param url: the Redis URL, as for ``redis.asyncio.Redis.from_url``.
    :param namespace: the prefix of every channel; bridges join only within one namespace.
        It may not hold ``':'`` or a Redis glob character (``*?[]\\``), so that no namespace
        overlaps another (``'ns:sub'`` would overlap ``'ns'``).
    :raises TypeError: if a value has the wrong type.
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
        outbound: Iterable[Key | tuple[Any, ...] | list[Any]] = (Key(WILDCARD),),
        inbound: Iterable[Key | tuple[Any, ...] | list[Any]] | Literal["auto"] = "auto",
        codec: Codec | None = None,
        max_buffer: int = 10_000,
        batch_size: int = 1_000,
        backoff_base: float = 0.05,
        backoff_cap: float = 0.5,
        connect_timeout: float = 5.0,
        secret: str | bytes | None = None,
    ) -> None:
        backend = RedisBackend(_check_url("url", url), _check_namespace("namespace", namespace))
        super().__init__(
            hub,
            backend,
            outbound=outbound,
            inbound=inbound,
            codec=codec,
            max_buffer=max_buffer,
            batch_size=batch_size,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            connect_timeout=connect_timeout,
            secret=secret,
            logger=get_logger("RedisBridge"),
        )

    @classmethod
    def from_settings(cls, hub: Hub, settings: Mapping[str, Any] | object) -> RedisBridge:
        """Make a bridge from a mapping or an object with attributes (a settings module).

        ``AIOPUBSUB_REDIS_URL`` is required; ``AIOPUBSUB_NAMESPACE``,
        ``AIOPUBSUB_REDIS_OUTBOUND``, ``AIOPUBSUB_REDIS_INBOUND``,
        ``AIOPUBSUB_REDIS_MAX_BUFFER``, ``AIOPUBSUB_REDIS_BATCH_SIZE``,
        ``AIOPUBSUB_REDIS_BACKOFF_BASE``, ``AIOPUBSUB_REDIS_BACKOFF_CAP``,
        ``AIOPUBSUB_REDIS_CONNECT_TIMEOUT`` and ``AIOPUBSUB_BRIDGE_SECRET`` are optional; the
        values are checked as the parameters of the same names are. Any other name starting
        with ``AIOPUBSUB_REDIS_`` or ``AIOPUBSUB_BRIDGE_``, under another broker's prefix
        but read by no bridge (``AIOPUBSUB_NATS_SECRET``), holding a near miss of ``SECRET``
        (``AIOPUBSUB_SECRET``), or a near miss of a setting's name (``AIOPUBSUB_NAMESPCE``),
        is a mistake: a misspelt setting would otherwise be ignored without a word. The keys
        of a mapping, and for an object the names :func:`dir` lists, are checked. The codec
        cannot be set here: it is code, not a setting; pass it to the constructor.

        :raises BridgeConfigError: if a setting is missing, unknown or malformed; the message
            names it and says what a valid value looks like, or which settings exist.
        """
        return cls(hub, **_settings.read_settings(_SETTINGS, _PREFIX, settings))
