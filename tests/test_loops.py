"""The suite runs on the event loop ``--loop`` asks for: pytest-asyncio's tests and fixtures,
and the loops the tests start themselves with ``helpers.run``."""

from __future__ import annotations

import asyncio

import helpers
import pytest


def loop_kind() -> type[asyncio.AbstractEventLoop]:
    """The class of the loops this run should use."""
    probe = helpers.new_loop()
    try:
        return type(probe)
    finally:
        probe.close()


def test_uvloop_is_not_the_default_loop() -> None:
    uvloop = pytest.importorskip("uvloop")
    loops = [helpers.LOOPS[name]() for name in ("asyncio", "uvloop")]
    try:
        assert not isinstance(loops[0], uvloop.Loop)
        assert isinstance(loops[1], uvloop.Loop)
    finally:
        for loop in loops:
            loop.close()


async def test_async_tests_run_on_the_loop_asked_for() -> None:
    assert type(asyncio.get_running_loop()) is loop_kind()


def test_helpers_run_uses_the_loop_asked_for() -> None:
    async def running() -> type[asyncio.AbstractEventLoop]:
        return type(asyncio.get_running_loop())

    assert helpers.run(running()) is loop_kind()


def test_loop_name_matches_the_loop() -> None:
    assert (helpers.loop_name == "uvloop") == (loop_kind().__module__.startswith("uvloop"))
