"""Shared fixtures: a fresh hub and a subscriber on it for every test."""

from __future__ import annotations

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
