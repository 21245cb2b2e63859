"""The public surface: ``__all__`` lists exactly the public names, and the original's API exists."""

from __future__ import annotations

import importlib
import importlib.resources
import inspect
import pkgutil
from types import ModuleType

import pytest

import aiopubsub

PUBLIC_MODULES = [
    "aiopubsub",
    "aiopubsub.loop",
    "aiopubsub.utils",
    "aiopubsub.testing.mocks",
    "aiopubsub.bridges",
    "aiopubsub.bridges.nats",
    "aiopubsub.bridges.redis",
    "aiopubsub.stores",
    "aiopubsub.stores.memory",
    "aiopubsub.stores.redis",
    "aiopubsub.stores.sqlite",
]


def public_names(module: ModuleType) -> set[str]:
    """The names a user may take from ``module``.

    The package's ``__init__`` imports only what it exports, so there that is every public
    name; a public submodule exports what it defines itself, not what it imports, except that
    the bridges package and each broker's module export the shared bridge core too.
    """
    names = set()
    for name, value in vars(module).items():
        if name.startswith("_") or name == "annotations" or isinstance(value, ModuleType):
            continue
        defined_in = getattr(value, "__module__", None) or ""
        if module.__name__ == "aiopubsub" or defined_in == module.__name__:
            names.add(name)
        elif module.__name__.startswith("aiopubsub.bridges") and defined_in.startswith(
            "aiopubsub.bridges."
        ):
            names.add(name)  # The bridges package and each broker's module re-export the core.
        elif module.__name__ == "aiopubsub.stores" and defined_in.startswith("aiopubsub.stores."):
            names.add(name)  # The stores package re-exports the protocol and the default.
    return names


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_lists_exactly_the_public_names(name: str) -> None:
    module = importlib.import_module(name)
    assert sorted(module.__all__) == module.__all__
    assert set(module.__all__) == public_names(module)
    for exported in module.__all__:
        assert getattr(module, exported) is not None


def test_every_module_is_either_public_or_private() -> None:
    found = {
        info.name
        for info in pkgutil.walk_packages(aiopubsub.__path__, "aiopubsub.")
        if not info.name.rpartition(".")[2].startswith("_")
    }
    assert found == set(PUBLIC_MODULES[1:]) | {"aiopubsub.testing"}


def test_package_is_typed() -> None:
    assert importlib.resources.files("aiopubsub").joinpath("py.typed").is_file()


def test_version_is_a_pep440_string() -> None:
    assert aiopubsub.__version__.startswith("4.")


def test_the_original_api_is_all_there() -> None:
    key = aiopubsub.Key
    assert issubclass(key, tuple)
    for attribute in ("is_wildcard", "is_subset_of", "create_from"):
        assert hasattr(key, attribute)
    for method in (
        "publish",
        "add_subscriber",
        "remove_subscriber",
        "has_subscribers",
        "get_subscriber_queue_sizes",
        "get_all_subscriber_queue_sizes",
    ):
        assert callable(getattr(aiopubsub.Hub, method))
    assert list(inspect.signature(aiopubsub.Hub.add_subscriber).parameters) == [
        "self",
        "key",
        "callback",
        "unread",
    ]
    for method in ("publish", "has_subscribers"):
        assert callable(getattr(aiopubsub.Publisher, method))
    subscriber = aiopubsub.Subscriber
    assert subscriber.DEFAULT_SUBSCRIPTION_ID == "default"
    assert subscriber.subscribe is subscriber.async_subscribe
    assert subscriber.add_listener is subscriber.add_sync_listener
    for method in (
        "sync_subscribe",
        "unsubscribe",
        "consume",
        "add_async_listener",
        "remove_listener",
        "remove_all_listeners",
    ):
        assert callable(getattr(subscriber, method))
    assert inspect.iscoroutinefunction(subscriber.consume)
    assert issubclass(aiopubsub.ConsumeQueueNotFoundError, aiopubsub.PubSubError)
    assert issubclass(aiopubsub.InvalidKeyError, ValueError)
