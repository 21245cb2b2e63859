"""Failing callbacks and listeners: the on_error hook, its context, the default log; the
exception tree."""

from __future__ import annotations

import builtins
import dataclasses
import logging
import re
from typing import Any

import pytest
from helpers import Recorder, settle

import aiopubsub
from aiopubsub import (
    ConsumeQueueNotFoundError,
    ErrorContext,
    Hub,
    HubClosedError,
    InvalidKeyError,
    Key,
    PubSubError,
    SlowConsumerError,
    Subscriber,
    SubscriberClosedError,
)
from aiopubsub import _errors as errors_module

Failure = tuple[BaseException, ErrorContext]


class Hook:
    """An ``on_error`` hook that records every ``(exc, context)`` it is given."""

    def __init__(self) -> None:
        self.got: list[Failure] = []

    def __call__(self, exc: BaseException, context: ErrorContext) -> None:
        self.got.append((exc, context))


class Broken:
    """A sync callback that raises ``ValueError(message)`` on every message."""

    def __call__(self, key: Key, message: Any) -> None:
        raise ValueError(message)

    def __repr__(self) -> str:
        return "<Broken callback>"


class AsyncBroken:
    """An async callback that records each message, then raises ``ValueError(message)``."""

    def __init__(self) -> None:
        self.got: list[Any] = []

    async def __call__(self, key: Key, message: Any) -> None:
        self.got.append(message)
        raise ValueError(message)

    def __repr__(self) -> str:
        return "<AsyncBroken listener>"


# -- the on_error hook --------------------------------------------------------------------------


def test_hook_gets_a_failing_subscriber_callback_with_its_context() -> None:
    hook = Hook()
    hub = Hub(on_error=hook)
    subscriber = Subscriber(hub, "sub")
    broken = Broken()
    subscriber.sync_subscribe(("a", "*"), broken, "cb")
    after = Recorder()
    hub.add_subscriber(("a", "b"), after)
    hub.publish(("a", "b"), "m1")  # does not raise
    assert after.got == [(Key("a", "b"), "m1")]
    [(exc, context)] = hook.got
    assert isinstance(exc, ValueError)
    assert exc.args == ("m1",)
    assert context == ErrorContext(
        key=Key("a", "b"),
        message="m1",
        callback=broken,
        subscriber_id="sub",
        subscription_id="cb",
        kind="callback",
    )
    subscriber.close()


def test_hook_gets_a_failing_hub_callback_with_no_subscriber() -> None:
    hook = Hook()
    hub = Hub(on_error=hook)
    broken = Broken()
    hub.add_subscriber("a", broken)
    hub.publish("a", 1)
    [(_, context)] = hook.got
    assert (context.key, context.message, context.callback) == (Key("a"), 1, broken)
    assert (context.subscriber_id, context.subscription_id, context.kind) == (
        None,
        None,
        "callback",
    )


def test_hook_gets_a_failing_sync_listener() -> None:
    hook = Hook()
    hub = Hub(on_error=hook)
    subscriber = Subscriber(hub, "sub")
    broken = Broken()
    subscriber.add_sync_listener({"a", "b"}, broken)
    hub.publish("a", 1)
    hub.publish("b", 2)
    assert [(c.key, c.message, c.callback, c.kind) for _, c in hook.got] == [
        (Key("a"), 1, broken, "callback"),
        (Key("b"), 2, broken, "callback"),
    ]
    assert {c.subscriber_id for _, c in hook.got} == {"sub"}
    assert all(c.subscription_id is not None for _, c in hook.got)
    subscriber.close()


async def test_hook_gets_every_failure_of_an_async_listener_which_goes_on() -> None:
    hook = Hook()
    hub = Hub(on_error=hook)
    subscriber = Subscriber(hub, "sub")
    broken = AsyncBroken()
    subscriber.add_async_listener("a", broken)
    for n in range(5):
        hub.publish("a", n)
    await settle()
    assert broken.got == list(range(5))
    assert [exc.args for exc, _ in hook.got] == [(n,) for n in range(5)]
    for n, (_, context) in enumerate(hook.got):
        assert (context.key, context.message, context.callback) == (Key("a"), n, broken)
        assert (context.subscriber_id, context.kind) == ("sub", "async listener")
        assert context.subscription_id is not None
    # The listener is alive: it takes the next message too.
    hub.publish("a", 5)
    await settle()
    assert broken.got[-1] == 5
    await subscriber.aclose()


def test_hook_context_names_the_subscription_whose_callback_failed() -> None:
    # One function subscribed by two subscribers, and twice by one of them: each failure
    # must name the subscription it came from.
    hook = Hook()
    hub = Hub(on_error=hook)
    one, two = Subscriber(hub, "one"), Subscriber(hub, "two")
    broken = Broken()
    one.sync_subscribe("a", broken, "x")
    two.sync_subscribe("a", broken, "y")
    two.sync_subscribe("a", broken, "z")
    hub.publish("a", 1)
    assert [(c.subscriber_id, c.subscription_id) for _, c in hook.got] == [
        ("one", "x"),
        ("two", "y"),
        ("two", "z"),
    ]
    one.close()
    two.close()


def test_hook_context_names_a_subscription_that_unsubscribed_itself_before_failing() -> None:
    hook = Hook()
    hub = Hub(on_error=hook)
    subscriber = Subscriber(hub, "sub")

    def leave_then_fail(key: Key, message: Any) -> None:
        subscriber.unsubscribe("a", "cb")
        raise ValueError(message)

    subscriber.sync_subscribe("a", leave_then_fail, "cb")
    hub.publish("a", 1)
    [(_, context)] = hook.got
    assert (context.subscriber_id, context.subscription_id) == ("sub", "cb")
    subscriber.close()


def test_hook_sees_the_very_exception_raised() -> None:
    hook = Hook()
    hub = Hub(on_error=hook)
    raised = ValueError("this one")

    def fail(key: Key, message: Any) -> None:
        raise raised

    hub.add_subscriber("a", fail)
    hub.publish("a", 1)
    assert hook.got[0][0] is raised


def test_hook_that_raises_is_logged_and_delivery_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    def bad_hook(exc: BaseException, context: ErrorContext) -> None:
        raise RuntimeError("the hook broke")

    hub = Hub(on_error=bad_hook)
    hub.add_subscriber("a", Broken())
    after = Recorder()
    hub.add_subscriber("a", after)
    with caplog.at_level(logging.ERROR, logger="aiopubsub.Hub"):
        hub.publish("a", 1)  # does not raise
        hub.publish("a", 2)
    assert after.got == [(Key("a"), 1), (Key("a"), 2)]
    hook_records = [r for r in caplog.records if "hook" in r.getMessage()]
    assert len(hook_records) == 2
    assert all(r.name == "aiopubsub.Hub" for r in hook_records)
    assert all(
        r.exc_info is not None and "the hook broke" in str(r.exc_info[1]) for r in hook_records
    )
    assert hub.statistics().listener_errors == 2


async def test_hook_that_raises_does_not_stop_an_async_listener(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def bad_hook(exc: BaseException, context: ErrorContext) -> None:
        raise RuntimeError("the hook broke")

    hub = Hub(on_error=bad_hook)
    subscriber = Subscriber(hub, "sub")
    broken = AsyncBroken()
    subscriber.add_async_listener("a", broken)
    with caplog.at_level(logging.ERROR, logger="aiopubsub.Hub"):
        for n in range(3):
            hub.publish("a", n)
        await settle()
    assert broken.got == [0, 1, 2]
    assert any("hook" in r.getMessage() for r in caplog.records)
    await subscriber.aclose()


def test_hub_refuses_a_hook_that_is_not_callable() -> None:
    with pytest.raises(TypeError, match=r"on_error.*'nope'"):
        Hub(on_error="nope")  # type: ignore[arg-type]


def test_error_context_is_frozen() -> None:
    context = ErrorContext(Key("a"), 1, print)
    with pytest.raises(dataclasses.FrozenInstanceError):
        context.message = 2  # type: ignore[misc]


async def test_hub_statistics_count_every_failure() -> None:
    hub = Hub(on_error=Hook())
    subscriber = Subscriber(hub, "sub")
    subscriber.sync_subscribe("a", Broken(), "cb")
    subscriber.add_async_listener("a", AsyncBroken())
    for n in range(4):
        hub.publish("a", n)
    await settle()
    assert hub.statistics().listener_errors == 8
    await subscriber.aclose()


# -- the default: one log record per failure ----------------------------------------------------


def test_default_logs_a_failing_callback_once_with_its_context(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = Hub()
    subscriber = Subscriber(hub, "sub")
    subscriber.sync_subscribe(("a", "*"), Broken(), "cb")
    with caplog.at_level(logging.DEBUG, logger="aiopubsub"):
        hub.publish(("a", "b"), "the-message")
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.name == "aiopubsub.Hub"
    text = record.getMessage()
    for part in ("<Broken callback>", "'sub'", "'cb'", repr(Key("a", "b")), "'the-message'"):
        assert part in text
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)
    subscriber.close()


async def test_default_logs_a_failing_async_listener_once_per_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = Hub()
    subscriber = Subscriber(hub, "sub")
    subscriber.add_async_listener("a", AsyncBroken())
    with caplog.at_level(logging.DEBUG, logger="aiopubsub"):
        hub.publish("a", "m1")
        hub.publish("a", "m2")
        await settle()
    records = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(records) == 2
    for record, message in zip(records, ("m1", "m2")):
        assert record.name == "aiopubsub.Hub"
        text = record.getMessage()
        assert "<AsyncBroken listener>" in text
        assert "'sub'" in text
        assert repr(message) in text
        assert re.search(r"(?i)async listener", text)
    await subscriber.aclose()


def test_default_log_cuts_a_huge_message_short(caplog: pytest.LogCaptureFixture) -> None:
    def fail(key: Key, message: Any) -> None:
        raise ValueError("short")

    hub = Hub()
    hub.add_subscriber("a", fail)
    with caplog.at_level(logging.ERROR, logger="aiopubsub.Hub"):
        hub.publish("a", "x" * 100_000)
    [record] = caplog.records
    assert len(record.getMessage()) < 2_000


# -- the exception tree -------------------------------------------------------------------------


def drawn_tree() -> list[tuple[str, str | None, str]]:
    """``(class name, drawn parent, builtin base)`` for each line of the drawing in the
    docstring of ``aiopubsub._errors``; a line without ``(builtin)`` inherits its parent's."""
    doc = errors_module.__doc__ or ""
    drawing = doc.split("::", 1)[1]
    stack: list[tuple[int, str, str]] = []  # (column, name, builtin)
    tree = []
    for line in drawing.splitlines():
        match = re.search(r"(?P<name>[A-Z]\w+)(?:\s+\((?:also )?(?P<base>\w+)\))?\s*$", line)
        if not match:
            continue
        column = match.start("name")
        while stack and stack[-1][0] >= column:
            stack.pop()
        parent = stack[-1] if stack else None
        base = match.group("base") or (parent[2] if parent else "Exception")
        tree.append((match.group("name"), parent[1] if parent else None, base))
        stack.append((column, match.group("name"), base))
    return tree


def test_the_drawn_tree_has_the_classes_the_spec_names() -> None:
    names = {name for name, _, _ in drawn_tree()}
    assert {
        "PubSubError",
        "InvalidKeyError",
        "ConsumeQueueNotFoundError",
        "SlowConsumerError",
        "SubscriberClosedError",
        "HubClosedError",
    } <= names


@pytest.mark.parametrize(("name", "parent", "base"), drawn_tree())
def test_each_drawn_exception_exists_with_its_drawn_parent(
    name: str, parent: str | None, base: str
) -> None:
    cls = getattr(aiopubsub, name)
    assert name in aiopubsub.__all__
    assert isinstance(cls, type)
    assert issubclass(cls, BaseException)
    assert issubclass(cls, getattr(builtins, base))
    if parent is None:
        assert cls.__bases__ == (getattr(builtins, base),)
    else:
        assert cls.__bases__[0] is getattr(aiopubsub, parent)
        assert issubclass(cls, PubSubError)


def test_every_exported_exception_is_drawn() -> None:
    exported = {
        name
        for name in aiopubsub.__all__
        if isinstance(getattr(aiopubsub, name), type)
        and issubclass(getattr(aiopubsub, name), BaseException)
    }
    assert exported == {name for name, _, _ in drawn_tree()}


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (InvalidKeyError, ValueError),
        (ConsumeQueueNotFoundError, KeyError),
        (SlowConsumerError, ConnectionError),
        (SubscriberClosedError, RuntimeError),
        (HubClosedError, RuntimeError),
    ],
)
def test_errors_are_also_the_fitting_builtin(cls: type[Exception], builtin: type) -> None:
    assert issubclass(cls, PubSubError)
    assert issubclass(cls, builtin)
