"""Logging: the standard ``logging`` module until the application configures logwood."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from typing import Any

import logwood
import logwood.testing
import pytest
from helpers import run_python

from aiopubsub import Hub, Key, Subscriber


def fail(key: Key, message: Any) -> None:
    raise RuntimeError("callback broke")


@pytest.fixture
def fresh_logwood() -> Iterator[None]:
    """logwood's global state, unconfigured before the test and reset after it."""
    logwood.testing.reset_state()
    yield
    logwood.testing.reset_state()


@pytest.mark.usefixtures("fresh_logwood")
def test_logwood_imported_but_not_configured_uses_logging(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert "logwood" in sys.modules
    assert not logwood.state.config_called
    hub = Hub()
    Subscriber(hub, "sub").sync_subscribe("a", fail)
    with caplog.at_level(logging.ERROR, logger="aiopubsub"):
        hub.publish("a", 1)
    [record] = caplog.records
    assert record.name == "aiopubsub.Hub"
    assert "('a',)" in record.getMessage()
    assert "callback broke" in record.getMessage()
    # logwood refuses basic_config() once any logwood logger exists: we created none.
    assert not logwood.state.defined_loggers
    logwood.basic_config(handlers=[])


@pytest.mark.usefixtures("fresh_logwood")
def test_logwood_configured_after_the_hub_exists_is_used_from_then_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = Hub()
    Subscriber(hub, "sub").sync_subscribe("a", fail)
    handler = logwood.testing.MockLogwoodHandler(level=logwood.DEBUG, format="%(name)s %(message)s")
    logwood.basic_config(handlers=[handler])
    with caplog.at_level(logging.DEBUG, logger="aiopubsub"):
        hub.publish("a", 1)
    assert not caplog.records
    [line] = handler["ERROR"]
    assert line.startswith("aiopubsub.Hub Callback <function fail")
    assert "('a',)" in line
    assert "RuntimeError: callback broke" in line  # The traceback comes along.


def test_importing_aiopubsub_does_not_import_logwood() -> None:
    program = (
        "import sys, aiopubsub, aiopubsub.loop, aiopubsub.utils; print('logwood' in sys.modules)"
    )
    done = run_python("-c", program, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "False\n"


def test_no_logwood_at_all_works() -> None:
    program = (
        "import sys; sys.modules['logwood'] = None\n"
        "import aiopubsub\n"
        "hub = aiopubsub.Hub()\n"
        "def fail(key, message): raise RuntimeError('callback broke')\n"
        "aiopubsub.Subscriber(hub, 'sub').sync_subscribe('a', fail)\n"
        "hub.publish('a', 1)\n"
        "print('published')\n"
    )
    done = run_python("-W", "error", "-c", program, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "published\n"
    # logging's last-resort handler prints errors to stderr when nothing is configured.
    assert "callback broke" in done.stderr
