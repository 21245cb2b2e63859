"""SQLiteStore: values survive a restart with their TTLs, forgetting is written too, a store's
failure reaches on_error without stopping delivery, and a process killed mid-stream leaves a
whole file with an unbroken prefix of what it retained."""

from __future__ import annotations

import asyncio
import os
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
