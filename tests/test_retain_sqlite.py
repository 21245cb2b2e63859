"""SQLiteStore: values survive a restart with their TTLs, forgetting is written too, a store's
failure reaches on_error without stopping delivery, and a process killed mid-stream leaves a
whole file with an unbroken prefix of what it retained."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT, WAIT, Recorder, python_env, wait_until

from aiopubsub import ErrorContext, Hub, Key
from aiopubsub.stores.sqlite import SQLiteStore, StoreWriteError


class WallClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


async def written(hub: Hub) -> None:
    """Wait until the hub has handed every retained value to its store."""
    await wait_until(lambda: not hub._unsaved and hub._writer is None)


async def test_values_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "retained.db"
    hub = Hub(store=SQLiteStore(path))
    hub.retain(("price", "EUR"), {"bid": 1.5})
    hub.retain(("price", "USD"), [1, 2])
    hub.retain(("n", 7), "int part")
    await hub.aclose()
    again = Hub(store=SQLiteStore(path))
    assert await again.load_retained() == 3
    assert again.retained() == {
        Key("n", 7): "int part",
        Key("price", "EUR"): {"bid": 1.5},
        Key("price", "USD"): [1, 2],
    }
    await again.aclose()


async def test_ttls_are_kept_across_a_restart(tmp_path: Path) -> None:
    clock = WallClock()
    path = tmp_path / "retained.db"
    store = SQLiteStore(path, clock=clock)
    hub = Hub(store=store)
    hub.retain("short", 1, ttl=5)
    hub.retain("long", 2, ttl=50)
    await hub.aclose()
    clock.now += 10
    store = SQLiteStore(path, clock=clock)
    assert await store.load_matching() == [(Key("long"), 2, pytest.approx(40))]
    assert await store.load(Key("short")) is None
    await store.aclose()


async def test_forget_and_load_retained_keep_the_newer_value(tmp_path: Path) -> None:
    path = tmp_path / "retained.db"
    hub = Hub(store=SQLiteStore(path))
    for name in ("a", "b", "c"):
        hub.retain(("x", name), name)
    hub.forget(("x", "a"))
    await hub.aclose()
    hub = Hub(store=SQLiteStore(path))
    hub.retain(("x", "b"), "newer")
    assert await hub.load_retained() == 1
    assert hub.retained() == {Key("x", "b"): "newer", Key("x", "c"): "c"}
    await hub.aclose()


async def test_store_clear_and_clear_all_count_live_values(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "r.db")
    await store.save_many([(Key("a", 1), 1, None), (Key("a", 2), 2, None), (Key("b"), 3, 0)])
    assert await store.clear(Key("a", "*")) == 2
    assert await store.clear_all() == 0  # Only the expired one was left.
    assert await store.load_matching() == []
    await store.aclose()
    await store.aclose()  # Idempotent.
    with pytest.raises(RuntimeError, match=r"is closed$"):
        await store.save(Key("a"), 1, None)


@pytest.mark.parametrize("interval", [0, -1, float("nan"), "1"])
def test_a_bad_flush_interval_is_refused_naming_it(tmp_path: Path, interval: Any) -> None:
    with pytest.raises(ValueError, match=rf"^flush_interval must be seconds > 0, got {interval!r}"):
        SQLiteStore(tmp_path / "r.db", flush_interval=interval)


async def test_a_store_failure_goes_to_on_error_and_delivery_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "retained.db"
    errors: list[tuple[BaseException, ErrorContext]] = []
    store = SQLiteStore(path, flush_interval=0.01)
    hub = Hub(store=store, on_error=lambda exc, context: errors.append((exc, context)))
    recorder = Recorder()
    hub.add_subscriber(("x", "*"), recorder)
    other = sqlite3.connect(path)
    other.execute("DROP TABLE retained")  # What a broken disk would do to the writes.
    other.close()
    hub.retain(("x", "a"), 1)
    await written(hub)
    await store.flush()  # The write of "a" has failed by now.
    hub.retain(("x", "b"), 2)  # Its hand-over meets the failure.
    await wait_until(lambda: errors)
    assert recorder.messages == [1, 2]
    assert hub.retained() == {Key("x", "a"): 1, Key("x", "b"): 2}
    exc, context = errors[0]
    assert isinstance(exc, StoreWriteError)
    assert str(exc).startswith(f"1 retained values were not written to {str(path)!r}")
    assert (context.kind, context.callback) == ("store", store)
    statistics = hub.statistics()
    assert (statistics.store_errors, statistics.listener_errors) == (1, 0)
    await hub.aclose()


async def test_a_process_killed_mid_stream_leaves_a_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "retained.db"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "tests" / "retain_sqlite_child.py"),
        str(path),
        cwd=ROOT,
        env=python_env(),
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None
    flushed = 0
    try:
        async with asyncio.timeout(WAIT * 6):
            while flushed < 20_000:
                line = (await child.stdout.readline()).decode()
                assert line.startswith("flushed "), line
                flushed = int(line.split()[1])
    finally:
        os.kill(child.pid, signal.SIGKILL)
        await child.wait()
    assert child.returncode == -signal.SIGKILL
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    db.close()
    store = SQLiteStore(path)
    values = await store.load_matching()
    await store.aclose()
    got = sorted(message for _, message, _ in values)
    # Every value known committed is there, and what is there is an unbroken prefix: commits
    # are whole and in order.
    assert len(got) >= flushed
    assert got == list(range(len(got)))
    assert all(key == Key("k", message) for key, message, _ in values)


async def test_close_writes_what_is_pending_in_a_task(tmp_path: Path) -> None:
    path = tmp_path / "retained.db"
    store = SQLiteStore(path)
    hub = Hub(store=store)
    hub.retain("a", 1)
    hub.close()
    await wait_until(lambda: store._done.done())
    store = SQLiteStore(path)
    assert await store.load_matching() == [(Key("a"), 1, None)]
    await store.aclose()


def rows(path: Path) -> int:
    connection = sqlite3.connect(path)
    try:
        return int(connection.execute("SELECT count(*) FROM retained").fetchone()[0])
    finally:
        connection.close()


async def test_equal_keys_are_one_row_whatever_objects_hold_their_parts(tmp_path: Path) -> None:
    path = tmp_path / "retained.db"
    store = SQLiteStore(path)
    hub = Hub(store=store)
    same = "temp"
    copy = "".join(["te", "mp"])  # Equal to `same`, another object.
    hub.retain(Key("room", same, same), "old")  # Pickled, the repeated object is a memo ref.
    await written(hub)
    await store.flush()
    hub.retain(Key("room", same, copy), "new")
    hub.retain(("a", 1), "int")
    hub.retain(("a", True), "bool")  # True == 1: the same dict key, so the same row.
    hub.retain(("a", 2.0), "float")  # Likewise 2.0 == 2.
    hub.retain(("a", 2), "int again")
    await hub.aclose()
    assert rows(path) == 3
    again = Hub(store=SQLiteStore(path))
    assert await again.load_retained() == 3
    assert again.retained() == {
        Key("a", 1): "bool",
        Key("a", 2): "int again",
        Key("room", "temp", "temp"): "new",
    }
    await again.aclose()


async def test_a_key_part_without_one_encoding_is_refused_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "retained.db"
    errors: list[tuple[BaseException, ErrorContext]] = []
    hub = Hub(store=SQLiteStore(path), on_error=lambda exc, context: errors.append((exc, context)))
    hub.retain(("ok",), 1)
    hub.retain(("set", frozenset({1})), 2)
    await hub.aclose()
    assert hub.statistics().store_errors == 1
    exc, context = errors[0]
    assert isinstance(exc, StoreWriteError)
    assert exc.count == 1
    assert str(exc).startswith(f"1 of 2 retained values could not be encoded for {str(path)!r}")
    assert context.key == Key("set", frozenset({1}))
    assert context.message == 2
    assert rows(path) == 1


async def test_values_handed_over_after_a_failure_are_still_written(tmp_path: Path) -> None:
    path = tmp_path / "retained.db"
    errors: list[tuple[BaseException, ErrorContext]] = []
    store = SQLiteStore(path, flush_interval=0.01)
    hub = Hub(store=store, on_error=lambda exc, context: errors.append((exc, context)))
    other = sqlite3.connect(path)
    other.execute("DROP TABLE retained")
    hub.retain(("x", "a"), 1)
    await written(hub)
    await store.flush()  # The write of "a" has failed by now.
    other.execute(
        "CREATE TABLE retained (key BLOB PRIMARY KEY, message BLOB NOT NULL, expires REAL)"
    )
    other.close()
    hub.retain(("x", "b"), 2)
    hub.retain(("x", "c"), 3)  # The failure of "a" is reported with this batch: not lost.
    await wait_until(lambda: errors)
    await hub.aclose()
    assert len(errors) == 1
    exc, context = errors[0]
    assert isinstance(exc, StoreWriteError)
    assert exc.count == 1
    assert context.key == Key("x", "a")
    again = Hub(store=SQLiteStore(path))
    assert await again.load_retained() == 2
    assert again.retained() == {Key("x", "b"): 2, Key("x", "c"): 3}
    await again.aclose()


async def test_load_retained_does_not_bring_back_a_value_forgotten_since_start(
    tmp_path: Path,
) -> None:
    path = tmp_path / "retained.db"
    hub = Hub(store=SQLiteStore(path))
    hub.retain("k", "v")
    hub.retain("kept", "w")
    await hub.aclose()
    again = Hub(store=SQLiteStore(path, flush_interval=5))
    assert again.forget("k") == 0  # Its clear is still on its way to the file.
    assert await again.load_retained() == 1
    assert again.retained() == {Key("kept"): "w"}
    await again.aclose()
    assert rows(path) == 1


async def test_max_retained_bounds_memory_in_front_of_a_persistent_store(tmp_path: Path) -> None:
    path = tmp_path / "retained.db"
    hub = Hub(store=SQLiteStore(path), max_retained=2)
    for i in range(3):
        hub.retain(("k", i), i)
    assert hub.retained() == {Key("k", 1): 1, Key("k", 2): 2}
    assert hub.statistics().evicted == 1
    await hub.aclose()
    assert rows(path) == 3  # Pushed out of memory, still in the file.
    again = Hub(store=SQLiteStore(path), max_retained=2)
    assert await again.load_retained() == 3
    assert len(again.retained()) == 2
    await again.aclose()


async def test_a_file_that_cannot_be_opened_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no such dir" / "retained.db"
    with pytest.raises(
        sqlite3.OperationalError, match=rf"^unable to open .*: {re.escape(repr(str(missing)))}$"
    ):
        SQLiteStore(missing)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"garbage" * 1000)
    with pytest.raises(
        sqlite3.DatabaseError, match=rf"^file is not a database: {re.escape(repr(str(garbage)))}$"
    ):
        SQLiteStore(garbage)


async def test_a_failed_read_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "retained.db"
    store = SQLiteStore(path)
    await store.flush()
    await store.flush()  # The writer's first purge of expired rows is done: it cannot fail.
    other = sqlite3.connect(path)
    other.execute("DROP TABLE retained")
    other.close()
    pattern = rf"^no such table: retained \(in {re.escape(repr(str(path)))}\)$"
    with pytest.raises(sqlite3.OperationalError, match=pattern):
        await store.load_matching()
    await store.aclose()
