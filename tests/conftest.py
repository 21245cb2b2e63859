"""Shared fixtures: a fresh hub and a subscriber on it for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import aiopubsub


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
