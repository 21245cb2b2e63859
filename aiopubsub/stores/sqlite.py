"""SQLiteStore: retained values in one SQLite file (WAL mode), written by a thread of its own."""

from __future__ import annotations

import ast
import asyncio
import concurrent.futures
import math
import os
import pickle
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from .._key import WILDCARD, Key, matches
from ._base import Retained, StoreWriteError

__all__ = ["SQLiteStore", "canonical_key"]

_T = TypeVar("_T")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS retained"
    " (key BLOB PRIMARY KEY, message BLOB NOT NULL, expires REAL)"
)
#: Rows written between two hand-overs of the GIL to the event loop's thread.
_CHUNK = 128
#: Seconds between two deletions of expired rows by the writer.
_PURGE_EVERY = 10.0


def _dumps(obj: object) -> bytes:
    return pickle.dumps(obj, 5)


def _canonical_part(part: object) -> object:
    # Equal parts (as dict keys) become the same plain value: True == 1 == 1.0.
    if isinstance(part, str):
        return str.__str__(part)
    if isinstance(part, int):
        return int.__int__(part)
    if isinstance(part, float) and math.isfinite(part):
        return int(part) if part.is_integer() else float.__float__(part)
    if part is None or type(part) is bytes:
        return part
    if type(part) is tuple:
        return tuple(_canonical_part(item) for item in part)
    raise TypeError(
        f"A key part of type {type(part).__name__} cannot be stored, got {part!r}: only str,"
        " int, finite float, bytes, None and tuples of them have one encoding per value"
    )


def canonical_key(key: Key) -> bytes:
    """The row id of ``key``: equal for two keys exactly when they are equal as dict keys
    (``('a', 1)``, ``('a', True)`` and ``('a', 1.0)`` are one), whatever objects hold their
    parts: the ``repr`` of the tuple of its parts, normalised (read back with
    :func:`ast.literal_eval`, which runs no code).

    :raises TypeError: if a part is not a ``str``, ``int``, finite ``float``, ``bytes``,
        ``None`` or a tuple of them (the encoding of any other type may differ for equal
        values).
    """
    for part in key:
        kind = type(part)
        if kind is not str and kind is not int:
            break
    else:  # The usual key, already canonical.
        return tuple.__repr__(key).encode()
    return repr(tuple(_canonical_part(part) for part in key)).encode()


def _key_of(raw: bytes) -> Key:
    return Key(*ast.literal_eval(raw.decode()))


def _open(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute(_SCHEMA)
    except BaseException:
        connection.close()
        raise
    return connection


class SQLiteStore:
    """Retained values kept in an SQLite file, so that they survive a restart.

    Writes are queued (no I/O on the event loop) and a writer thread commits everything queued
    every ``flush_interval`` seconds, in one transaction, in order; reads and clears run in that
    thread too, after the writes queued before them. The file is in WAL mode with
    ``synchronous=NORMAL``: a process killed at any point (``kill -9``) leaves it whole, with
    every value committed before, so it loses at most what was retained in the last
    ``flush_interval``, as long as the writer keeps up (a producer that saturates the event
    loop's thread can put it behind: :meth:`flush` waits for it); a power cut may lose the
    last transactions too, never the file.

    Messages are stored pickled and keys as :func:`canonical_key` (one row per equal key),
    when handed over (the queue then holds only bytes, which the garbage collector need not
    walk); a message that cannot be pickled, or a key with a part of another type, is refused
    alone. Only open files that your own programs wrote: unpickling runs code.
    Expiry times are wall-clock (``clock``, by default :func:`time.time`), so that they keep
    their meaning across restarts.

    :param path: the database file (created if missing).
    :param flush_interval: seconds between two commits, > 0.
    :raises ValueError: if ``flush_interval`` is not a finite number > 0.
    :raises sqlite3.Error: if the file cannot be opened as a database; the message names it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        flush_interval: float = 0.1,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if (
            isinstance(flush_interval, bool)
            or not isinstance(flush_interval, (int, float))
            or not math.isfinite(flush_interval)
            or flush_interval <= 0
        ):
            raise ValueError(f"flush_interval must be seconds > 0, got {flush_interval!r}")
        self.path = os.fspath(path)
        self.flush_interval = float(flush_interval)
        self.clock = clock
        try:
            self._connection = _open(self.path)
        except sqlite3.Error as exc:
            raise type(exc)(f"{exc}: {self.path!r}") from exc
        self._lock = threading.Lock()
        #: Queued work, in order: a flat list of rows to save, or a call with its future.
        self._queue: list[Any] = []
        self._wake = threading.Event()
        self._stopping = False
        self._closed = False
        #: Failed writes: (rows, first key or None, error), raised by the next call.
        self._lost: list[tuple[int, Key | None, BaseException]] = []
        self._done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, name=f"SQLiteStore {self.path}")
        self._thread.daemon = True
        self._thread.start()

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<{type(self).__name__}{state} {self.path!r}>"

    # -- the Store protocol -------------------------------------------------------------------

    async def save(self, key: Key, message: Any, ttl: float | None) -> None:
        """See :meth:`Store.save`: queued, committed within ``flush_interval``."""
        await self.save_many([(key, message, ttl)])

    async def save_many(self, items: Sequence[Retained]) -> None:
        """Encode ``items`` now (a message changed later is stored as it was) and queue them
        for the next commit; returns at once.

        :raises StoreWriteError: after queuing the others, for values that cannot be pickled
            (or whose key has a part of another type than ``str``, ``int``, ``float``,
            ``bytes``, ``None`` or tuples of them); else, after queuing all of them, if values
            queued earlier could not be written.
        :raises RuntimeError: if the store is closed.
        """
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        now = self.clock()
        # Rows flat, (key, message, expiry) after one another: a list of bytes and floats,
        # with no tuple per row for the garbage collector to count while they wait.
        rows: list[bytes | float | None] = []
        refused: list[tuple[Key, Exception]] = []
        for key, message, ttl in items:
            try:
                encoded_key, encoded = canonical_key(key), _dumps(message)
            except Exception as exc:  # noqa: BLE001 - pickle raises many kinds
                refused.append((key, exc))
                continue
            rows += (encoded_key, encoded, None if ttl is None else now + ttl)
        with self._lock:
            self._queue.append(rows)
        if refused:
            first, error = refused[0]
            raise StoreWriteError(
                f"{len(refused)} of {len(items)} retained values could not be encoded for"
                f" {self.path!r}, the first under {first!r}: {error!r}",
                count=len(refused),
                key=first,
            ) from error
        self._raise_lost()

    async def load(self, key: Key) -> tuple[Any, float | None] | None:
        """See :meth:`Store.load`."""
        for _, message, ttl in await self._call(lambda db: self._select(db, key)):
            return message, ttl
        return None

    async def load_matching(self, pattern: Key | None = None) -> list[Retained]:
        """See :meth:`Store.load_matching`."""
        return await self._call(lambda db: self._select(db, pattern))

    async def clear(self, pattern: Key) -> int:
        """See :meth:`Store.clear`."""
        return await self._call(lambda db: self._delete(db, pattern))

    async def clear_all(self) -> int:
        """See :meth:`Store.clear_all`."""
        return await self._call(lambda db: self._delete(db, None))

    async def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        await self._call(lambda db: None)

    async def aclose(self) -> None:
        """Commit what is queued, stop the writer and close the file. Idempotent.

        :raises StoreWriteError: if some values could not be written.
        """
        if not self._closed:
            self._closed = True
            self._stopping = True
            self._wake.set()
        await asyncio.wrap_future(self._done)
        self._raise_lost()

    # -- the loop's side ----------------------------------------------------------------------

    def _check(self) -> None:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        self._raise_lost()

    def _raise_lost(self) -> None:
        if self._lost:
            with self._lock:
                lost, self._lost = self._lost, []
            count = sum(n for n, _, _ in lost)
            first = "" if lost[0][1] is None else f", the first under {lost[0][1]!r}"
            what = (
                f"{count} retained values were not written to"
                if count
                else "Expired values could not be purged from"  # The only write of no rows.
            )
            raise StoreWriteError(
                f"{what} {self.path!r}{first}: {lost[0][2]!r}",
                count=count,
                key=lost[0][1],
            ) from lost[0][2]

    async def _call(self, function: Callable[[sqlite3.Connection], _T]) -> _T:
        self._check()
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()
        with self._lock:
            self._queue.append((function, future))
        self._wake.set()
        try:
            return await asyncio.wrap_future(future)
        except sqlite3.Error as exc:
            # Named: a process may have several stores.
            raise type(exc)(f"{exc} (in {self.path!r})") from exc

    # -- the writer thread --------------------------------------------------------------------

    def _run(self) -> None:
        db = self._connection
        next_purge = 0.0
        try:
            while True:
                self._wake.wait(self.flush_interval)
                self._wake.clear()
                with self._lock:
                    work, self._queue = self._queue, []
                self._work(db, work)
                if self.clock() >= next_purge:
                    next_purge = self.clock() + _PURGE_EVERY
                    self._guarded(
                        lambda: db.execute(
                            "DELETE FROM retained WHERE expires <= ?", (self.clock(),)
                        ),
                        0,
                    )
                if self._stopping:
                    with self._lock:
                        work, self._queue = self._queue, []
                    if not work:
                        break
                    self._work(db, work)
                    break
        finally:
            db.close()
            self._done.set_result(None)

    def _work(self, db: sqlite3.Connection, work: list[Any]) -> None:
        rows: list[bytes | float | None] = []
        for item in work:
            if isinstance(item, list):
                rows.extend(item)
                continue
            self._write(db, rows)
            rows = []
            function, future = item
            try:
                future.set_result(function(db))
            except Exception as exc:  # noqa: BLE001 - handed to the caller
                future.set_exception(exc)
        self._write(db, rows)

    def _write(self, db: sqlite3.Connection, rows: list[bytes | float | None]) -> None:
        if not rows:
            return

        def write() -> None:
            db.execute("BEGIN")
            try:
                for start in range(0, len(rows), 3 * _CHUNK):
                    chunk = iter(rows[start : start + 3 * _CHUNK])
                    db.executemany(
                        "INSERT OR REPLACE INTO retained (key, message, expires) VALUES (?, ?, ?)",
                        zip(chunk, chunk, chunk),
                    )
                    time.sleep(0)  # Let the event loop's thread have the GIL at once.
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

        self._guarded(write, len(rows) // 3, rows[0])

    def _guarded(self, write: Callable[[], object], rows: int, first: object = None) -> None:
        try:
            write()
        except Exception as exc:  # noqa: BLE001 - raised by the store's next call
            key = None if first is None else _key_of(first)  # type: ignore[arg-type]
            with self._lock:
                self._lost.append((rows, key, exc))

    def _select(self, db: sqlite3.Connection, pattern: Key | None) -> list[Retained]:
        now = self.clock()
        if pattern is not None and WILDCARD not in pattern:
            cursor = db.execute(
                "SELECT key, message, expires FROM retained WHERE key = ?",
                (canonical_key(pattern),),
            )
        else:
            cursor = db.execute("SELECT key, message, expires FROM retained")
        found = []
        for raw_key, raw_message, expires in cursor:
            if expires is not None and expires <= now:
                continue
            key = _key_of(raw_key)
            if pattern is None or matches(key, pattern):
                ttl = None if expires is None else expires - now
                found.append((key, pickle.loads(raw_message), ttl))
        return found

    def _delete(self, db: sqlite3.Connection, pattern: Key | None) -> int:
        now = self.clock()
        cursor = db.execute("SELECT key, expires FROM retained")
        doomed, live = [], 0
        for raw_key, expires in cursor:
            if pattern is None or matches(_key_of(raw_key), pattern):
                doomed.append((raw_key,))
                live += expires is None or expires > now
        db.execute("BEGIN")
        try:
            db.executemany("DELETE FROM retained WHERE key = ?", doomed)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return live
