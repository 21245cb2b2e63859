"""Join hubs in many processes and machines into one, through NATS core pub/sub.

The broker-specific part of :class:`NatsBridge`: subjects (see
:mod:`aiopubsub.bridges._subjects`), one NATS subscription per pattern, publishing with a
``PING``/``PONG`` round trip per batch. Everything else is the shared
:class:`~aiopubsub.bridges.Bridge`.

NATS filters exactly as the hub matches (a mid ``'*'`` is ``*``, a trailing ``'*'`` is ``>``),
so every message it delivers is wanted. It delivers a message once per matching subscription:
the backend passes it on only through the first (lowest id) of the subscriptions that match
its subject, cached per subject until the subscriptions change. The connection is made with
``no_echo``: the server never sends a bridge its own messages back, so a message claiming
the bridge's origin is forged.

Messages are taken from nats-py's reader as it parses them (its ``_process_msg``), in the
order the server sent them, rather than through a task and a queue per subscription, which
would reorder messages of different subscriptions.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Literal

try:
    import nats.errors
    from nats.aio.client import Client
    from nats.aio.subscription import Subscription
except ImportError as exc:  # pragma: no cover - tested in a subprocess
    raise ImportError(
        "aiopubsub.bridges.nats needs the nats-py package: pip install 'aiopubsub[nats]'"
    ) from exc

from .. import Hub, Key
from .._log import get_logger
from . import _settings, _subjects
from ._backend import BridgeConfigError, BridgeConnectionError, Deliver, Reject
from ._bridge import Bridge, BridgeStatistics
from ._codec import Codec, JsonCodec, MsgpackCodec
from ._keys import WILDCARD
from ._session import Backoff, BridgeState
from ._wire import excerpt as _excerpt

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
    "NatsBackend",
    "NatsBridge",
]

_NAMESPACE_RULE = (
    "a non-empty str without '.', '*', '>' or whitespace, such as 'aiopubsub' or 'app-prod'"
)
_PREFIX = "AIOPUBSUB_NATS_"
_check_url = _settings.check_url(("nats", "tls", "ws", "wss"), "NATS")
_check_namespace = _settings.check_namespace(_subjects.NAMESPACE_FORBIDDEN, _NAMESPACE_RULE)
_SETTINGS = _settings.settings_table(
    _PREFIX,
    _settings.Setting(
        f"{_PREFIX}URL",
        "url",
        "a NATS URL such as 'nats://localhost:4222'",
        _check_url,
        required=True,
    ),
    _settings.Setting("AIOPUBSUB_NAMESPACE", "namespace", _NAMESPACE_RULE, _check_namespace),
)
_MAX_ROUTES = 65536
_logger = get_logger("NatsBridge")
#: The longest protocol line (``PUB <subject> <size>``, ``SUB <subject> <sid>``) a server
#: takes: nats-server's default ``max_control_line``, which it does not announce. A longer
#: line makes the server close the connection, so a message is refused before (a
#: subscription skipped: no message could match it).
MAX_CONTROL_LINE = 4096
#: Room for the verb, the spaces and the size or sid on a control line.
_LINE_ROOM = 32
#: One PUB command: subject, payload size, payload.
_PUB = b"PUB %b %d\r\n%b\r\n"
#: A subject's route: its key (or why it is not a key's), and the id of the subscription
#: through which it is passed on (``None``: no subscription matches it now).
_Route = tuple[Key | ValueError, int | None]


class _Client(Client):
    """nats-py's client, handing the bridge's messages to it as the reader parses them, and
    taking a whole batch of ``PUB`` commands as one write."""

    _aiopubsub_take: Any = None

    async def publish_packed(self, packed: bytes, count: int, size: int) -> None:
        """Queue ``count`` ``PUB`` commands of ``size`` payload bytes, packed as one."""
        if not self.is_connected:
            raise ConnectionError("NATS connection lost")
        self.stats["out_msgs"] += count
        self.stats["out_bytes"] += size
        await self._send_command(packed)

    async def flush_in_order(self) -> None:
        """Return once the server has processed every command sent so far.

        nats-py's ``flush()`` writes its ``PING`` straight to the socket, ahead of commands
        still queued for its flusher task (seen with nats-py 2.16: a ``PONG`` came back before
        the ``SUB`` commands sent earlier had reached the server). So the queue is written
        out first.
        """
        await self._flush_pending(force_flush=True)
        await self.flush()

    async def _process_msg(
        self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes
    ) -> None:
        take = self._aiopubsub_take
        if take is None:
            await super()._process_msg(sid, subject, reply, data, headers)
        else:
            take(sid, subject, data)  # Headers, if another client sent any, are ignored.


def _tokens_match(pattern: list[str], subject: list[str]) -> bool:
    """NATS's own matching of a subscription subject against a subject, token by token."""
    for i, token in enumerate(pattern):
        if token == ">":
            return len(subject) > i
        if i >= len(subject) or (token != "*" and token != subject[i]):
            return False
    return len(subject) == len(pattern)


class NatsBackend:
    """NATS core pub/sub as a :class:`~aiopubsub.bridges._backend.Backend`.

    :param url: the NATS server URL (credentials in it are used: ``nats://user:pw@host``), or
        a comma-separated list of them: each session connects to the first that answers.
    :param namespace: the first token of every subject.
    """

    broker = "nats"
    echoes = False
    faults: tuple[type[BaseException], ...] = (nats.errors.Error,)
    #: Seconds between the client's ``PING``s, and how many may go unanswered: the
    #: connection is given up at the next one, so a dead connection is noticed within
    #: ``ping_interval * (max_outstanding_pings + 1)`` (12 s; nats-py's default is minutes),
    #: and a server paused for less than ``ping_interval * max_outstanding_pings`` (8 s) is
    #: waited for.
    ping_interval = 4.0
    max_outstanding_pings = 2

    def __init__(self, url: str, namespace: str) -> None:
        self._url = url
        self.display_url = _settings.redacted(url)
        self.namespace = namespace
        self._client: _Client | None = None
        self._lost: asyncio.Future[BaseException] | None = None
        self._subs: dict[Key, Subscription] = {}
        self._tokens: dict[int, list[str]] = {}
        self._routes: dict[bytes, _Route] = {}
        self._subjects: dict[Key, bytes] = {}
        self._deliver: Deliver | None = None
        self._reject: Reject | None = None
        # The server's refusals of this batch's messages (permissions), in order.
        self._denied: list[str] = []

    async def connect(self) -> None:
        """Connect without nats-py's own reconnecting (the bridge's job), and without echo.

        :raises Exception: the error of the failed attempt (refused, authorization...).
        """
        self._lost = None
        attempts: list[Exception] = []

        async def on_error(exc: Exception) -> None:
            text = str(exc)
            if "permissions violation" in text.lower():  # The connection stays open.
                if "publish" in text.lower():
                    self._denied.append(text)  # Refused in publish(), after its flush.
                else:
                    _logger.warning("%s: %s", self.display_url, _excerpt(text))
                return
            lost = self._lost
            if lost is None:
                attempts.append(exc)  # While connecting: nats-py retries, then gives up.
            elif not lost.done():
                lost.set_result(exc)

        async def on_gone() -> None:
            lost = self._lost
            if lost is not None and not lost.done():
                lost.set_result(ConnectionError("NATS connection closed"))

        self._subs.clear()
        self._tokens.clear()
        self._routes.clear()
        self._client = client = _Client()
        client._aiopubsub_take = self._take
        try:
            await client.connect(
                servers=[server.strip() for server in self._url.split(",")],
                allow_reconnect=False,
                # One attempt (nats-py counts "more than 1"), none repeated after a wait.
                max_reconnect_attempts=1,
                reconnect_time_wait=0,
                connect_timeout=3600,  # The bridge bounds connecting with its own timeout.
                no_echo=True,
                ping_interval=self.ping_interval,  # type: ignore[arg-type] # any number
                max_outstanding_pings=self.max_outstanding_pings,
                error_cb=on_error,
                disconnected_cb=on_gone,
                closed_cb=on_gone,
            )
        except nats.errors.NoServersError as exc:
            if attempts:
                raise attempts[-1] from exc
            raise
        self._lost = asyncio.get_running_loop().create_future()

    async def close(self) -> None:
        """Close the connection."""
        client, self._client = self._client, None
        if client is not None:
            client._aiopubsub_take = None
            with contextlib.suppress(Exception):  # The connection is gone either way.
                await client.close()

    async def subscribe(self, patterns: Collection[Key]) -> None:
        """One subscription per pattern; return once the server has them (a ``PING``)."""
        assert self._client is not None, "not connected"
        for pattern in patterns:
            subject = _subjects.subscription_of(self.namespace, pattern)
            if len(subject) + _LINE_ROOM > MAX_CONTROL_LINE:
                continue  # No subject it matches could be published either.
            subscription = await self._client.subscribe(subject)
            self._subs[pattern] = subscription
            self._tokens[subscription._id] = subject.split(".")
        self._routes.clear()
        await self._client.flush_in_order()

    async def unsubscribe(self, patterns: Collection[Key]) -> None:
        """Drop the subscriptions of ``patterns``; their messages stop at once."""
        for pattern in patterns:
            subscription = self._subs.pop(pattern, None)
            if subscription is not None:
                self._tokens.pop(subscription._id, None)
                self._routes.clear()
                await subscription.unsubscribe()

    async def publish(self, batch: Sequence[tuple[Key, bytes]]) -> list[tuple[int, Exception]]:
        """Publish each message; return once the server has them all (a flush). A message
        larger than the server's ``max_payload``, or whose subject is too long for its
        ``max_control_line`` (:data:`MAX_CONTROL_LINE`), is refused (not sent).

        The ``PUB`` commands are packed here into one write (nats-py's ``publish()`` costs
        several microseconds a message, more than the rest of the bridge's sending).
        """
        client = self._client
        assert client is not None, "not connected"
        subjects = self._subjects
        refused: list[tuple[int, Exception]] = []
        limit = client.max_payload
        self._denied.clear()
        packed = []
        size = 0
        for position, (key, data) in enumerate(batch):
            if len(data) > limit:
                error = ValueError(
                    f"A message of {len(data)} bytes exceeds the NATS server's max_payload"
                    f" of {limit} bytes"
                )
                refused.append((position, error))
                continue
            subject = subjects.get(key)
            if subject is None:
                if len(subjects) >= _MAX_ROUTES:
                    subjects.clear()
                text = _subjects.subject_of(self.namespace, key)
                subject = subjects[key] = text.encode("ascii")  # Tokens are ASCII.
            if len(subject) + _LINE_ROOM > MAX_CONTROL_LINE:
                error = ValueError(
                    f"A subject of {len(subject)} bytes exceeds the NATS server's"
                    f" max_control_line of {MAX_CONTROL_LINE} bytes (key {_excerpt(key)})"
                )
                refused.append((position, error))
                continue
            packed.append(_PUB % (subject, len(data), data))
            size += len(data)
        if packed:
            await client.publish_packed(b"".join(packed), len(packed), size)
        await client.flush_in_order()  # The server's refusals come before its PONG.
        if self._denied:
            refused = sorted(refused + self._denials(batch, {p for p, _ in refused}))
        return refused

    def _denials(
        self, batch: Sequence[tuple[Key, bytes]], skipped: set[int]
    ) -> list[tuple[int, Exception]]:
        """The messages of ``batch`` the server refused (``-ERR 'Permissions Violation for
        Publish to "subject"'``, one per message), matched in order by subject."""
        subjects = [
            self._subjects.get(key) or _subjects.subject_of(self.namespace, key).encode("ascii")
            for key, _ in batch
        ]
        refused: list[tuple[int, Exception]] = []
        taken = set(skipped)
        for text in self._denied:
            quoted = re.search(r'"([^"]*)"', text)
            subject = quoted.group(1).encode("ascii", "replace") if quoted else None
            position = next(
                (i for i, name in enumerate(subjects) if name == subject and i not in taken), None
            )
            if position is None:
                _logger.warning("%s: %s", self.display_url, _excerpt(text))
            else:
                taken.add(position)
                refused.append((position, nats.errors.Error(text)))
        return refused

    async def receive(self, deliver: Deliver, reject: Reject) -> None:
        """Pass messages on (from nats-py's reader) until the connection is lost."""
        lost = self._lost
        assert lost is not None, "not connected"
        self._deliver, self._reject = deliver, reject
        try:
            error = await lost
        finally:
            self._deliver = self._reject = None
        raise ConnectionError(f"NATS connection lost: {error!r}") from error

    def _take(self, sid: int, subject: bytes, data: bytes) -> None:
        route = self._routes.get(subject)
        if route is None:
            route = self._route(subject)
        if sid != route[1] or self._deliver is None or self._reject is None:
            return  # Passed on through another subscription (or unsubscribed meanwhile).
        target = route[0]
        if isinstance(target, Key):
            self._deliver(target, data)
        else:
            self._reject(subject.decode("utf-8", "surrogateescape"), data, target)

    def _route(self, subject: bytes) -> _Route:
        text = subject.decode("utf-8", "surrogateescape")
        tokens = text.split(".")
        through = min(
            (sid for sid, pattern in self._tokens.items() if _tokens_match(pattern, tokens)),
            default=None,
        )
        target: Key | ValueError
        try:
            target = _subjects.key_of(self.namespace, text)
        except ValueError as exc:
            target = exc
        if len(self._routes) >= _MAX_ROUTES:
            self._routes.clear()
        route = self._routes[subject] = (target, through)
        return route

    def describe_failure(self, exc: BaseException) -> str | None:
        """``'authentication failed'`` for the server's refusal of the credentials."""
        text = str(exc).lower()
        if isinstance(exc, nats.errors.AuthorizationError) or "authorization" in text:
            return "authentication failed"
        return None


class NatsBridge(Bridge):
    """Joins a hub to the hubs of other processes and machines through NATS core pub/sub.

    A :class:`~aiopubsub.bridges.Bridge` with a :class:`NatsBackend`; see there for the
    guarantees and the other parameters.

    :param hub: the local hub.
    :param url: the NATS server URL (``nats://``, ``tls://``, ``ws://`` or ``wss://``), or a
        comma-separated list of them.
    :param namespace: the first token of every subject; bridges join only within one
        namespace. It may not hold ``.``, ``*``, ``>`` or whitespace.
    :raises TypeError: if a value has the wrong type.
    :raises BridgeConfigError: (a :exc:`ValueError`) if a number is out of range, the URL is
        not a NATS URL or the namespace is empty or holds a forbidden character.
    :raises InvalidKeyError: if a pattern is empty.
    """

    def __init__(
        self,
        hub: Hub,
        url: str = "nats://localhost:4222",
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
        backend = NatsBackend(_check_url("url", url), _check_namespace("namespace", namespace))
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
            logger=get_logger("NatsBridge"),
        )

    @classmethod
    def from_settings(cls, hub: Hub, settings: Mapping[str, Any] | object) -> NatsBridge:
        """Make a bridge from a mapping or an object with attributes (a settings module).

        As :meth:`RedisBridge.from_settings <aiopubsub.bridges.redis.RedisBridge.from_settings>`,
        with ``AIOPUBSUB_NATS_`` for ``AIOPUBSUB_REDIS_``: ``AIOPUBSUB_NATS_URL`` is required.

        :raises BridgeConfigError: if a setting is missing, unknown or malformed.
        """
        return cls(hub, **_settings.read_settings(_SETTINGS, _PREFIX, settings))
