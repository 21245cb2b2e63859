"""Retained values: the hub's last message per key, replayed to new subscriptions, kept in a
:class:`~aiopubsub.stores.MemoryStore` and written behind to a persistent store."""

from __future__ import annotations

import asyncio
from _thread import get_ident
from collections.abc import Callable, Collection, Hashable, Iterable
from typing import Any

from ._core import _BUSY, Deferred, ErrorHook, HubCore
from ._errors import HubClosedError, InvalidKeyError
from ._key import WILDCARD, Key, PossibleKey, as_key, as_pattern, matches
from ._records import ErrorContext
from ._routing import NOBODY, Route, Target
from .stores import MemoryStore, Store, StoreWriteError, check_ttl, key_order

__all__ = ["RetainingCore"]

#: A write waiting for the persistent store: ``(key, message, ttl)`` to save, or
#: ``(pattern, None, _CLEAR)`` to clear.
_CLEAR = -1.0
_Write = tuple[Key, Any, float | None]

#: The most values handed to a persistent store's save_many() at once (see _save).
_SAVE_CHUNK = 256

#: Tasks closing a store after a synchronous Hub.close(), kept alive until done.
_CLOSING: set[asyncio.Task[None]] = set()


class RetainingCore(HubCore):
    """The part of :class:`Hub` that retains values (see :meth:`retain`).

    :param store: where values live: a :class:`MemoryStore` (the default), or a persistent
        :class:`Store`, written behind a :class:`MemoryStore`.
    :param max_retained: the bound of that :class:`MemoryStore` (not with one passed in).
    """

    def __init__(
        self,
        route_cache_size: int,
        on_error: ErrorHook | None,
        store: Store | None,
        max_retained: int | None = None,
    ) -> None:
        super().__init__(route_cache_size, on_error)
        if isinstance(store, MemoryStore):
            if max_retained is not None:
                raise TypeError(
                    f"max_retained={max_retained!r} with {store!r}: pass max_keys to the"
                    " MemoryStore instead"
                )
            self._values = store
            self._backing: Store | None = None
        else:
            if store is not None:
                for method in ("save_many", "load_matching", "clear", "aclose"):
                    if not callable(getattr(store, method, None)):
                        raise TypeError(f"store must be a Store, got {store!r} (no {method}())")
            try:
                self._values = MemoryStore(max_retained)
            except ValueError:
                raise ValueError(
                    f"max_retained must be an int >= 1 or None, got {max_retained!r}"
                ) from None
            self._backing = store
        #: Patterns forgotten while load_retained() reads the store, or None.
        self._forgotten: list[Key] | None = None
        self._unsaved: list[_Write] = []
        self._writer: asyncio.Task[None] | None = None
        self._store_errors = 0
        self._store_closing = False
        #: ``(message, ttl)`` during a retain's fan-out (see _retention), else None.
        self._retaining: tuple[Any, float | None] | None = None
        #: The bridges that export: told of the keys each forget() drops, and while there
        #: is one, a retain's fan-out answers _retention (see bridges._plumbing).
        self._exporters: list[Callable[[list[Key]], None]] = []

    # -- retaining ----------------------------------------------------------------------------

    def retain(self, key: PossibleKey, message: Any, ttl: float | None = None) -> None:
        """Publish ``message`` under ``key`` and keep it as the key's current value, replacing
        the previous one, for ``ttl`` seconds (``None``: until forgotten).

        New subscriptions made with ``replay=True`` receive it first. With a persistent store,
        the value is written behind (a store's failure goes to ``on_error``, never here).

        :param ttl: seconds to live, a finite number >= 0 (``0``: delivered live, retained
            for nobody).
        :raises InvalidKeyError: if ``key`` is empty or contains ``'*'``; nothing is retained.
        :raises ValueError: if ``ttl`` is negative, NaN or infinite.
        :raises TypeError: if ``ttl`` is not a number or ``None``.
        :raises WrongThreadError: if called from a thread other than the hub's.
        :raises HubClosedError: if the hub is closed.
        """
        if type(key) is not Key:
            key = as_key(key)
        if not key or WILDCARD in key:
            raise InvalidKeyError(
                f"Cannot retain under {key!r}: a retained key needs at least one part and no '*'"
            )
        if ttl is not None:
            ttl = check_ttl(ttl)
        if self._closed:
            raise HubClosedError(f"{self!r} is closed")
        if get_ident() != self._thread:
            self._check_thread("retain under {!r}", key)
        self._values.put(key, message, ttl)
        if self._backing is not None:
            self._write_behind((key, message, ttl))
        if not self._exporters:  # No bridge asks whether this is a retain: a plain publish.
            self.publish(key, message)
            return
        try:
            route = self._routes[key]
        except KeyError:
            route = self._new_route(key)
        if route is NOBODY:
            return
        if get_ident() == self._ready:
            self._as_fan_out(self._fan_out_retained, route, message, ttl)
        else:  # Inside a fan-out: in its turn, as a publish would be.
            self._publish_later(Deferred(self._fan_out_retained, route, message, ttl), route)

    def _fan_out_retained(self, route: Route, message: Any, ttl: float | None) -> None:
        """A retain's fan-out: the one during which :meth:`_retention` answers yes."""
        self._retaining = (message, ttl)
        try:
            self._fan_out(route, message)
        finally:
            self._retaining = None

    def retained(self, pattern: PossibleKey | None = None) -> dict[Key, Any]:
        """The live retained values whose key ``pattern`` matches (all, for ``None``), in
        replay order (see :func:`aiopubsub.stores.key_order`).

        :raises InvalidKeyError: if ``pattern`` is empty.
        """
        within = None if pattern is None else as_pattern(pattern)
        found = sorted(self._values.live(within), key=_by_key)
        return {key: message for key, message, _ in found}

    def forget(self, pattern: PossibleKey) -> int:
        """Drop the retained values whose key ``pattern`` matches; return how many were live.

        Nothing is published: subscriptions are not told. Bridges are, of each key dropped,
        in turn with the messages published before (inside a callback, after those still
        pending, even if the fan-out is then abandoned), and tell the hubs across them to
        forget it too; not once the hub is closed.

        :raises InvalidKeyError: if ``pattern`` is empty.
        :raises WrongThreadError: if called from a thread other than the hub's.
        """
        within = as_pattern(pattern)
        self._check_thread("forget {!r}", within)
        dropped = self._values.remove(within)
        if self._backing is not None:
            self._write_behind((within, None, _CLEAR))
            if self._forgotten is not None:
                self._forgotten.append(within)
        if dropped and self._exporters and not self._closed:
            if self._ready == _BUSY:
                tell = Deferred(self._tell_forgotten, dropped, necessary=True)
                self._pending.append((tell, NOBODY))
            else:
                self._tell_forgotten(dropped)
        return len(dropped)

    def _tell_forgotten(self, keys: list[Key]) -> None:
        for hook in tuple(self._exporters):
            try:
                hook(keys)
            except Exception as exc:  # noqa: BLE001 - reported, the other hooks still told
                self._report(exc, ErrorContext(keys[0], None, hook, kind="forget hook"))

    async def load_retained(self) -> int:
        """Read the persistent store's live values into the hub; return how many were taken.
        Nothing is published.

        What was retained or forgotten here before is written to the store first, and what
        is retained or forgotten while it reads is newer and wins: a value retained here is
        kept, a forgotten one does not come back.

        A store's failure goes to ``on_error`` and this returns 0.
        """
        self._check_thread("load retained values")
        if self._backing is None:
            return 0
        forgotten: list[Key] = []
        self._forgotten = forgotten
        try:
            await self._written()
            stored = await self._backing.load_matching(None)
        except Exception as exc:  # noqa: BLE001 - a store's failure is reported, not raised
            self._store_failed(exc, Key("*"), None)
            return 0
        finally:
            self._forgotten = None
        taken = 0
        for key, message, ttl in stored:
            if self._values.get(key)[0] or any(matches(key, p) for p in forgotten):
                continue
            self._values.put(key, message, ttl)
            taken += 1
        return taken

    async def _written(self) -> None:
        """Wait until the writes handed over so far have reached the persistent store."""
        if self._unsaved and self._writer is None:
            loop = asyncio.get_running_loop()
            self._writer = loop.create_task(self._write_unsaved(), name="aiopubsub store writer")
        writer = self._writer
        if writer is not None and writer is not asyncio.current_task():
            # Cancelling us leaves the writer running: it is not ours alone.
            await asyncio.wait([writer])

    def _retention(self, key: Key, message: Any) -> tuple[bool, float | None]:
        """For the bridges, called by a subscription's callback: whether ``message`` is being
        delivered by :meth:`retain` (not by a publish, even of the very object retained), and
        its ``ttl``. Only a retain's own fan-out answers yes: what a callback publishes or
        retains meanwhile is delivered after it, and answers for itself. Only while an
        exporter is registered (see :func:`aiopubsub.bridges._plumbing.export_from`): else
        a retain's fan-out is a publish's, and costs what it does."""
        retaining = self._retaining
        if retaining is None or retaining[0] is not message:
            return False, None
        return True, retaining[1]

    # -- replay -------------------------------------------------------------------------------

    def _replay(self, patterns: Iterable[Key], token: Hashable, skip: Collection[Key] = ()) -> int:
        """Deliver to ``token``'s subscription the live values ``patterns`` match, in key
        order, each once; keys that a pattern of ``skip`` matches are left out (the
        subscription had them already). Return how many were delivered.

        Subscribing and this run in one step of the hub's thread, so nothing published can
        fall between the replay and live delivery, nor reach the subscription twice. Called
        from inside a fan-out, the replay is delivered at once: messages published in that
        fan-out and queued behind it come after it.
        """
        target = self._router.target(token)
        if target is None:
            return 0
        found: dict[Key, Any] = {}
        for pattern in patterns:
            for key, message, _ in self._values.live(pattern):
                if not any(matches(key, other) for other in skip):
                    found[key] = message
        if not found:
            return 0
        items = sorted(found.items(), key=_by_first)
        if self._ready == _BUSY:
            self._replay_to(target, items)
        else:
            self._as_fan_out(self._replay_to, target, items)
        return len(items)

    def _replay_to(self, target: Target, items: list[tuple[Key, Any]]) -> None:
        entry = self._values.entry
        for key, message in items:
            live = entry(key)
            if live is None or live[0] is not message:
                continue  # Forgotten, expired or replaced since the replay began.
            try:
                # target.call, read each time: a queue disconnected by its overflow is dead.
                target.call(key, message)
            except Exception as exc:  # noqa: BLE001 - a subscriber's failure is not ours
                self._failed(exc, target, key, message)

    # -- writing behind -----------------------------------------------------------------------

    def _write_behind(self, write: _Write) -> None:
        self._unsaved.append(write)
        if self._writer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # No loop yet: written by the next retain in one, or by aclose().
            self._writer = loop.create_task(self._write_unsaved(), name="aiopubsub store writer")

    async def _write_unsaved(self) -> None:
        try:
            await self._flush()
        finally:
            self._writer = None

    async def _flush(self) -> None:
        """Write every pending save and clear to the persistent store, in order."""
        store = self._backing
        while self._unsaved and store is not None:
            batch, self._unsaved = self._unsaved, []
            saves: list[_Write] = []
            for write in batch:
                if write[2] != _CLEAR:
                    saves.append(write)
                    continue
                await self._save(store, saves)
                saves = []
                try:
                    await store.clear(write[0])
                except Exception as exc:  # noqa: BLE001 - reported
                    self._store_failed(exc, write[0], None)
            await self._save(store, saves)

    async def _save(self, store: Store, saves: list[_Write]) -> None:
        """Hand ``saves`` to the store :data:`_SAVE_CHUNK` at a time, letting the loop run
        between two: a store encodes what it is handed at once, in the loop's thread.

        A store that knows which values failed says so (:class:`StoreWriteError`), and the
        next chunks are handed over; any other error (Redis down) is one failure for the
        chunk and everything after it, reported once, not once per chunk."""
        for start in range(0, len(saves), _SAVE_CHUNK):
            if start:
                await asyncio.sleep(0)
            chunk = saves[start : start + _SAVE_CHUNK]
            try:
                await store.save_many(chunk)
            except StoreWriteError as exc:
                message = next((m for k, m, _ in chunk if k == exc.key), None)
                key = chunk[0][0] if exc.key is None else exc.key
                self._store_failed(exc, key, message, exc.count)
            except Exception as exc:  # noqa: BLE001 - reported, in-memory delivery goes on
                self._store_failed(exc, chunk[0][0], chunk[0][1], len(saves) - start)
                return

    def _store_failed(self, exc: Exception, key: Key, message: Any, values: int = 1) -> None:
        self._store_errors += 1
        self._report(exc, ErrorContext(key, message, self._backing, kind="store"))
        if values > 1:
            self._logger.warning(
                "%d retained values were not saved to %r, the first under %r",
                values,
                self._backing,
                key,
            )

    def _close_store_soon(self) -> None:
        """From :meth:`Hub.close`: write what is pending and close the store in a task, if a
        loop runs; otherwise say what is not written."""
        if self._backing is None or self._store_closing:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            if self._unsaved:
                self._logger.warning(
                    "%r closed outside its loop: %d retained writes not saved to %r",
                    self,
                    len(self._unsaved),
                    self._backing,
                )
            return
        task = loop.create_task(self._close_store(), name="aiopubsub store closing")
        _CLOSING.add(task)
        task.add_done_callback(_CLOSING.discard)

    async def _close_store(self) -> None:
        """Write what is pending, then close the persistent store."""
        if self._store_closing:
            return
        self._store_closing = True
        writer = self._writer
        if writer is not None and writer is not asyncio.current_task():
            await asyncio.wait([writer])
        await self._flush()
        if self._backing is not None:
            try:
                await self._backing.aclose()
            except Exception as exc:  # noqa: BLE001 - reported
                self._store_failed(exc, Key("*"), None)


def _by_key(item: tuple[Key, Any, float | None]) -> Any:
    return key_order(item[0])


def _by_first(item: tuple[Key, Any]) -> Any:
    return key_order(item[0])
