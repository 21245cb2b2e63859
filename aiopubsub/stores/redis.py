"""RedisStore: retained values shared by every process of a namespace, in Redis."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

try:
    import redis.asyncio as aioredis
except ImportError as exc:  # pragma: no cover - tested in a subprocess
    raise ImportError(
        "aiopubsub.stores.redis needs the redis package: pip install 'aiopubsub[redis]'"
    ) from exc

from .._key import WILDCARD, Key, matches
from ..bridges._channels import NAMESPACE_FORBIDDEN, SEPARATOR, channel_of, glob_of, key_of
from ..bridges._codec import Codec, JsonCodec
from ._base import Retained, StoreWriteError

__all__ = ["RedisStore"]

#: Keys asked for per SCAN step, and values read per pipeline when loading.
_SCAN_COUNT = 1000


class RedisStore:
    """Retained values kept in Redis, one Redis key per retained key, shared by every process
    that uses the same server and ``namespace`` (with a Redis bridge, a process that starts
    later loads what the others retained).

    A key's Redis name is its bridge channel name (:mod:`aiopubsub.bridges._channels`:
    ``namespace:part:part``, injective; only ``str`` and ``int`` parts); a value is its message
    encoded by ``codec`` (the bridges' JSON codec by default, never pickle: other processes
    write here). Expiry is Redis' own (``SET ... PX``). Loading a pattern is a ``SCAN`` over
    its glob, then the exact match of each key found.

    :param url: the server, ``redis://host:port/db``.
    :param namespace: a non-empty ``str`` without ``':'`` nor any of ``*?[]\\``.
    :param codec: how messages become bytes and back.
    :raises ValueError: if ``namespace`` is not valid.
    """

    def __init__(self, url: str, namespace: str, *, codec: Codec | None = None) -> None:
        if (
            not isinstance(namespace, str)
            or not namespace
            or any(char in NAMESPACE_FORBIDDEN for char in namespace)
        ):
            raise ValueError(
                f"namespace must be a non-empty str without ':' or any of *?[]\\, got {namespace!r}"
            )
        self.namespace = namespace
        self.codec: Codec = JsonCodec() if codec is None else codec
        self._client = aioredis.from_url(url)
        self._url = url

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._url!r} namespace={self.namespace!r}>"

    async def save(self, key: Key, message: Any, ttl: float | None) -> None:
        """See :meth:`Store.save`."""
        await self.save_many([(key, message, ttl)])

    async def save_many(self, items: Sequence[Retained]) -> None:
        """Write ``items`` in one pipeline, in order.

        :raises StoreWriteError: after writing the others, for values whose key has a part
            that is neither ``str`` nor ``int``, whose message the codec refuses, or that the
            server refused; its ``count`` is how many, its ``key`` the first one's.
        :raises redis.RedisError: if the server cannot be reached (nothing is written).
        """
        pipe = self._client.pipeline(transaction=False)
        refused: list[tuple[Key, BaseException]] = []
        sent: list[Key] = []
        for key, message, ttl in items:
            try:
                name = channel_of(self.namespace, key)
                data = self.codec.encode(message)
            except (TypeError, ValueError) as exc:
                refused.append((key, exc))
                continue
            sent.append(key)
            if ttl is None:
                pipe.set(name, data)
            elif ttl > 0:
                pipe.set(name, data, px=max(1, math.ceil(ttl * 1000)))
            else:
                pipe.delete(name)  # Dead on arrival.
        if sent:
            # Each command's error comes back in its place: only those values are lost.
            replies = await pipe.execute(raise_on_error=False)
            refused += [
                (key, reply) for key, reply in zip(sent, replies) if isinstance(reply, Exception)
            ]
        if refused:
            first, error = refused[0]
            raise StoreWriteError(
                f"{len(refused)} of {len(items)} retained values could not be written to"
                f" {self!r}, the first under {first!r}: {error}",
                count=len(refused),
                key=first,
            ) from error

    async def load(self, key: Key) -> tuple[Any, float | None] | None:
        """See :meth:`Store.load`."""
        found = await self._read([channel_of(self.namespace, key)])
        return (found[0][1], found[0][2]) if found else None

    async def load_matching(self, pattern: Key | None = None) -> list[Retained]:
        """See :meth:`Store.load_matching`."""
        return await self._read(await self._names(pattern))

    async def clear(self, pattern: Key) -> int:
        """See :meth:`Store.clear`."""
        names = await self._names(pattern)
        return int(await self._client.delete(*names)) if names else 0

    async def clear_all(self) -> int:
        """See :meth:`Store.clear_all`."""
        names = await self._names(None)
        return int(await self._client.delete(*names)) if names else 0

    async def aclose(self) -> None:
        """Close the connections. Idempotent."""
        await self._client.aclose()

    async def _names(self, pattern: Key | None) -> list[str]:
        """The Redis names of the keys ``pattern`` matches exactly (all, for ``None``)."""
        if pattern is not None and WILDCARD not in pattern:
            return [channel_of(self.namespace, pattern)]
        glob = (
            self.namespace + SEPARATOR + "*"
            if pattern is None
            else glob_of(self.namespace, pattern)
        )
        names: dict[str, None] = {}  # SCAN may return a name more than once.
        async for raw in self._client.scan_iter(match=glob, count=_SCAN_COUNT):
            name = raw.decode("utf-8", "surrogatepass") if isinstance(raw, bytes) else raw
            try:
                key = key_of(self.namespace, name)
            except ValueError:
                continue  # Not a key's name: someone else's data in the namespace.
            if pattern is None or matches(key, pattern):
                names[name] = None
        return list(names)

    async def _read(self, names: list[str]) -> list[Retained]:
        found: list[Retained] = []
        for start in range(0, len(names), _SCAN_COUNT):
            chunk = names[start : start + _SCAN_COUNT]
            pipe = self._client.pipeline(transaction=False)
            for name in chunk:
                pipe.get(name)
                pipe.pttl(name)
            replies = await pipe.execute()
            for i, name in enumerate(chunk):
                data, pttl = replies[2 * i], replies[2 * i + 1]
                if data is None or pttl == -2:
                    continue  # Expired or cleared meanwhile.
                ttl = None if pttl == -1 else pttl / 1000
                found.append((key_of(self.namespace, name), self.codec.decode(data), ttl))
        return found
