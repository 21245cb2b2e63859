"""Shared fixtures: a fresh hub and a subscriber on it for every test; the ``--loop`` option,
which runs the whole suite under the default asyncio loop or under uvloop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping

import helpers
import pytest
from hypothesis import settings

import aiopubsub

# Property tests are deterministic and untimed everywhere: a fixed seed (no example database),
# and no per-example deadline, which a loaded two-core machine would otherwise trip now and then.
settings.register_profile("aiopubsub", deadline=None, derandomize=True, database=None)
settings.load_profile("aiopubsub")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--loop",
        choices=["asyncio", "uvloop"],
        default="asyncio",
        help="the event loop every test runs under (default: asyncio)",
    )


def pytest_configure(config: pytest.Config) -> None:
    name = config.getoption("loop")
    if name not in helpers.LOOPS:
        raise pytest.UsageError(
            f"--loop={name} needs the {name} package: pip install {name}"
            " (it is in aiopubsub's test extra)"
        )
    helpers.loop_name = name


def pytest_report_header(config: pytest.Config) -> str:
    return f"event loop: {helpers.loop_name}"


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """pytest-asyncio's hook: every async test and fixture runs on a loop from this factory.

    One factory only, so that test ids stay as they are.
    """
    return {helpers.loop_name: helpers.new_loop}


@pytest.fixture
def hub() -> aiopubsub.Hub:
    return aiopubsub.Hub()


@pytest.fixture
def subscriber(hub: aiopubsub.Hub) -> aiopubsub.Subscriber:
    return aiopubsub.Subscriber(hub, "sub")


@pytest.fixture
def publisher(hub: aiopubsub.Hub) -> aiopubsub.Publisher:
    return aiopubsub.Publisher(hub, "pub")


@pytest.fixture(autouse=True)
def close_subscribers(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Close every subscriber a test creates, at its end, as a tidy application would.

    Without this, each subscriber left open would be unsubscribed by the garbage collector
    with a ResourceWarning (an error in this suite). Tests of that very behaviour opt out
    with ``@pytest.mark.leaky``.
    """
    if request.node.get_closest_marker("leaky"):
        yield
        return
    created: list[aiopubsub.Subscriber] = []
    attach = aiopubsub.Hub._attach

    def attach_and_remember(hub: aiopubsub.Hub, subscriber: aiopubsub.Subscriber) -> None:
        attach(hub, subscriber)
        created.append(subscriber)

    monkeypatch.setattr(aiopubsub.Hub, "_attach", attach_and_remember)
    yield
    for subscriber in created:
        subscriber.close()
