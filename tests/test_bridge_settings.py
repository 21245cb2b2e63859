"""Settings and URLs: every credential form hidden wherever a URL is shown, and the settings a
bridge does not read (a misspelt secret, another broker's unknown names) refused."""

from __future__ import annotations

from typing import Any

import pytest

from aiopubsub import Hub
from aiopubsub.bridges import BridgeConfigError, BridgeConnectionError
from aiopubsub.bridges._settings import redacted
from aiopubsub.bridges.nats import NatsBridge
from aiopubsub.bridges.redis import RedisBridge

SECRETS = ("s3cr3t", "t0ken", "leaked-pw", "pw2", "hunter2")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://user:s3cr3t@h:6379/0", "redis://user:***@h:6379/0"),
        ("redis://:s3cr3t@h/0", "redis://:***@h/0"),
        ("nats://t0ken@h:4222", "nats://***@h:4222"),
        ("nats://u:s3cr3t@h1,nats://u:pw2@h2", "nats://u:***@h1,nats://u:***@h2"),
        ("nats://u:s3cr3t@h1:4222, nats://t0ken@h2", "nats://u:***@h1:4222, nats://***@h2"),
        ("redis://h/0?password=leaked-pw", "redis://h/0?password=***"),
        ("redis://h/0?db=1&username=hunter2&pass=s3cr3t", "redis://h/0?db=1&username=***&pass=***"),
        ("nats://h?token=t0ken;user=hunter2", "nats://h?token=***;user=***"),
        ("unix://u:s3cr3t@/tmp/redis.sock?db=0", "unix://u:***@/tmp/redis.sock?db=0"),
        ("redis://h:6379/0", "redis://h:6379/0"),
    ],
)
def test_redacted_hides_every_credential_form(url: str, shown: str) -> None:
    assert redacted(url) == shown
    assert not any(secret in redacted(url) for secret in SECRETS)


@pytest.mark.parametrize(
    ("cls", "url"),
    [
        (RedisBridge, "redis://127.0.0.1:1/0?password=leaked-pw"),
        (RedisBridge, "redis://user:s3cr3t@127.0.0.1:1/0"),
        (NatsBridge, "nats://t0ken@127.0.0.1:1"),
        (NatsBridge, "nats://u:s3cr3t@127.0.0.1:1,nats://u:pw2@127.0.0.1:2"),
    ],
)
async def test_no_credential_in_a_repr_or_a_failure_to_start(cls: Any, url: str) -> None:
    bridge = cls(Hub(), url, connect_timeout=2.0)
    with pytest.raises(BridgeConnectionError) as caught:
        await bridge.start()
    for text in (repr(bridge), str(caught.value)):
        assert not any(secret in text for secret in SECRETS), text


@pytest.mark.parametrize(
    ("cls", "prefix", "name"),
    [
        (RedisBridge, "AIOPUBSUB_REDIS_", "AIOPUBSUB_SECRET"),
        (NatsBridge, "AIOPUBSUB_NATS_", "AIOPUBSUB_SECRET"),
        (RedisBridge, "AIOPUBSUB_REDIS_", "AIOPUBSUB_SECRETS"),
        (RedisBridge, "AIOPUBSUB_REDIS_", "AIOPUBSUB_BRIDGE_SECERT"),
        (NatsBridge, "AIOPUBSUB_NATS_", "AIOPUBSUB_SECERT"),
        (NatsBridge, "AIOPUBSUB_NATS_", "AIOPUBSUB_APP_SECRET"),
        (RedisBridge, "AIOPUBSUB_REDIS_", "AIOPUBSUB_NATS_SECRET"),
        (NatsBridge, "AIOPUBSUB_NATS_", "AIOPUBSUB_REDIS_SECRET"),
        (RedisBridge, "AIOPUBSUB_REDIS_", "AIOPUBSUB_NATS_URLS"),
        (NatsBridge, "AIOPUBSUB_NATS_", "AIOPUBSUB_REDIS_BACKOF_CAP"),
    ],
)
def test_from_settings_flags_a_setting_no_bridge_reads(cls: Any, prefix: str, name: str) -> None:
    settings = {f"{prefix}URL": "redis://h" if cls is RedisBridge else "nats://h", name: "x" * 20}
    with pytest.raises(BridgeConfigError, match=rf"^Setting {name} is unknown"):
        cls.from_settings(Hub(), settings)


def test_from_settings_takes_another_broker_s_real_settings_and_other_names() -> None:
    settings = {
        "AIOPUBSUB_REDIS_URL": "redis://h",
        "AIOPUBSUB_REDIS_BACKOFF_CAP": 1.0,
        "AIOPUBSUB_NATS_URL": "nats://h",
        "AIOPUBSUB_NATS_BATCH_SIZE": 10,
        "AIOPUBSUB_BRIDGE_SECRET": "a long enough secret",
        "AIOPUBSUB_STORE_URL": "sqlite:///x",  # some other part of the project's settings
    }
    assert RedisBridge.from_settings(Hub(), settings)._signer is not None
    assert NatsBridge.from_settings(Hub(), settings)._signer is not None
