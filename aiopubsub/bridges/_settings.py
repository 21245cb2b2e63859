"""A bridge's settings: the checks of its parameters, the table of settings, and reading it.

Every check takes the parameter's name and value, and returns the value as the bridge keeps
it. :exc:`TypeError` says a value has the wrong type, :class:`BridgeConfigError` that it is
out of range; :func:`read_settings` turns both into a :class:`BridgeConfigError` naming the
setting.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from ._backend import BridgeConfigError
from ._keys import check_patterns

__all__ = [
    "BRIDGE_PREFIX",
    "Setting",
    "check_inbound",
    "check_namespace",
    "check_secret",
    "check_url",
    "positive_float",
    "positive_int",
    "read_settings",
    "redacted",
    "settings_table",
]

#: The prefix of the settings every bridge shares (besides ``AIOPUBSUB_NAMESPACE``).
BRIDGE_PREFIX = "AIOPUBSUB_BRIDGE_"
#: The prefixes of every broker's settings: a name under another broker's is not a mistake.
BROKER_PREFIXES = ("AIOPUBSUB_REDIS_", "AIOPUBSUB_NATS_")
_MISSING = object()


@dataclasses.dataclass(frozen=True, slots=True)
class Setting:
    """One setting: its name, the parameter it gives, what a valid value looks like, its check."""

    name: str
    parameter: str
    valid: str
    check: Callable[[str, Any], object]
    required: bool = False


def positive_int(name: str, value: object) -> int:
    """An ``int`` >= 1 (not a ``bool``)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < 1:
        raise BridgeConfigError(f"{name} must be >= 1, got {value!r}")
    return value


def positive_float(name: str, value: object) -> float:
    """A number of seconds > 0."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    if not value > 0:
        raise BridgeConfigError(f"{name} must be > 0, got {value!r}")
    return float(value)


def check_inbound(name: str, value: object) -> Literal["auto"] | tuple[Any, ...]:
    """``'auto'`` or a collection of patterns (see :func:`check_patterns`)."""
    return "auto" if value == "auto" else check_patterns(name, value)


def check_secret(name: str, value: object) -> bytes | None:
    """``None``, or a ``str`` (UTF-8) or ``bytes`` secret of at least 16 bytes."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not isinstance(value, bytes):
        raise TypeError(f"{name} must be a str or bytes, got {type(value).__name__}")
    if len(value) < 16:
        raise BridgeConfigError(f"{name} must be at least 16 bytes long, got {len(value)}")
    return value


def check_url(schemes: tuple[str, ...], broker: str) -> Callable[[str, object], str]:
    """The check of a URL whose scheme is one of ``schemes``."""

    def check(name: str, url: object) -> str:
        if not isinstance(url, str):
            raise TypeError(f"{name} must be a str, got {url!r}")
        if urlsplit(url).scheme not in schemes:
            written = ", ".join(f"{scheme}://" for scheme in schemes)
            raise BridgeConfigError(
                f"{name} must be a {broker} URL ({written}), got {redacted(url)!r}"
            )
        return url

    return check


def check_namespace(forbidden: frozenset[str], rule: str) -> Callable[[str, object], str]:
    """The check of a namespace that may hold none of ``forbidden``; ``rule`` says it."""

    def check(name: str, value: object) -> str:
        if not isinstance(value, str):
            raise TypeError(f"{name} must be {rule}, got {value!r}")
        if not value or forbidden.intersection(value):
            raise BridgeConfigError(
                f"{name} must be {rule} (so that no namespace overlaps another), got {value!r}"
            )
        try:
            value.encode("utf-8")  # It goes to the broker as it is.
        except UnicodeEncodeError:
            raise BridgeConfigError(f"{name} must be encodable as UTF-8, got {value!r}") from None
        return value

    return check


def settings_table(
    prefix: str,
    url: Setting,
    namespace: Setting,
) -> tuple[Setting, ...]:
    """The settings of a broker whose own names start with ``prefix``."""
    seconds = "a number of seconds > 0, such as"
    return (
        url,
        namespace,
        Setting(
            f"{prefix}OUTBOUND",
            "outbound",
            "a list of keys, each a list of str, such as [['prices', '*'], ['orders', '*']]",
            check_patterns,
        ),
        Setting(
            f"{prefix}INBOUND",
            "inbound",
            "'auto' or a list of keys, each a list of str, such as [['prices', '*']]",
            check_inbound,
        ),
        Setting(f"{prefix}MAX_BUFFER", "max_buffer", "an int >= 1, such as 10000", positive_int),
        Setting(f"{prefix}BATCH_SIZE", "batch_size", "an int >= 1, such as 1000", positive_int),
        Setting(f"{prefix}BACKOFF_BASE", "backoff_base", f"{seconds} 0.05", positive_float),
        Setting(f"{prefix}BACKOFF_CAP", "backoff_cap", f"{seconds} 0.5", positive_float),
        Setting(f"{prefix}CONNECT_TIMEOUT", "connect_timeout", f"{seconds} 5", positive_float),
        Setting(
            f"{BRIDGE_PREFIX}SECRET",
            "secret",
            "a str of at least 16 bytes, shared by every bridge of the namespace",
            check_secret,
        ),
    )


def _names(settings: Mapping[str, Any] | object) -> list[str]:
    names = settings.keys() if isinstance(settings, Mapping) else dir(settings)
    return [n for n in names if isinstance(n, str)]


def check_setting_names(
    table: tuple[Setting, ...], prefix: str, settings: Mapping[str, Any] | object
) -> None:
    """Refuse a name that looks like one of the ``table``'s settings but is not one: any
    name starting with ``prefix`` or :data:`BRIDGE_PREFIX`; a name under another broker's
    prefix that is not one of the settings every broker has (``AIOPUBSUB_NATS_SECRET``); a
    name holding a near miss of ``SECRET`` (``AIOPUBSUB_SECRET``, ``AIOPUBSUB_SECERT``: a
    misspelt secret would silently mean no signing); and any other ``AIOPUBSUB_`` name that
    is a near miss of a setting, such as ``AIOPUBSUB_NAMESPCE``.

    :raises BridgeConfigError: naming the first such name (sorted), and the settings.
    """
    known = [setting.name for setting in table]
    suffixes = {name[len(prefix) :] for name in known if name.startswith(prefix)}
    unknown = []
    for name in sorted(_names(settings)):
        if name in known or not name.startswith("AIOPUBSUB_"):
            continue
        other = next((p for p in BROKER_PREFIXES if p != prefix and name.startswith(p)), None)
        if other is not None:
            if name[len(other) :] not in suffixes:
                unknown.append(name)
        elif (
            name.startswith((prefix, BRIDGE_PREFIX))
            or _names_a_secret(name)
            or difflib.get_close_matches(name, known, n=1, cutoff=0.85)
        ):
            unknown.append(name)
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise BridgeConfigError(
            f"Setting {name} is unknown{hint}: the settings are {', '.join(known)}"
        )


def _names_a_secret(name: str) -> bool:
    """Whether a word of ``name`` is ``SECRET`` or a near miss of it."""
    return any(
        difflib.SequenceMatcher(None, word, "SECRET").ratio() >= 0.8
        for word in name.upper().split("_")
    )


def read_settings(
    table: tuple[Setting, ...], prefix: str, settings: Mapping[str, Any] | object
) -> dict[str, Any]:
    """The keyword arguments that ``settings`` (a mapping, or an object with attributes) gives.

    :raises BridgeConfigError: if a setting is missing, unknown or malformed; the message
        names it and says what a valid value looks like, or which settings exist.
    """
    check_setting_names(table, prefix, settings)
    kwargs: dict[str, Any] = {}
    for setting in table:
        if isinstance(settings, Mapping):
            value = settings.get(setting.name, _MISSING)
        else:
            value = getattr(settings, setting.name, _MISSING)
        if value is _MISSING:
            if setting.required:
                raise BridgeConfigError(
                    f"Setting {setting.name} is missing: set it to {setting.valid}"
                )
            continue
        try:
            # Checked here, one by one, so that the error names the setting at fault.
            kwargs[setting.parameter] = setting.check(setting.parameter, value)
        except (TypeError, ValueError) as exc:
            raise BridgeConfigError(
                f"Setting {setting.name} is malformed ({exc}): set it to {setting.valid}"
            ) from None
    return kwargs


#: Words in a query parameter's name that say its value is a credential.
_CREDENTIAL_WORDS = ("pass", "pw", "token", "secret", "auth", "user", "key", "cred", "nkey", "jwt")


def redacted(url: str) -> str:
    """``url`` with every credential replaced by ``***``, for logs, reprs and errors.

    Each server of a comma-separated list is redacted: its password (``user:***@``), a bare
    user or token (``***@``: NATS takes ``nats://TOKEN@host``), and the value of each query
    parameter whose name holds a credential word (``password=***``, ``token=***``,
    ``user=***``...).
    """
    return ",".join(_redacted_server(server) for server in url.split(","))


def _redacted_server(text: str) -> str:
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    before_query, question, query = rest.partition("?")
    if "@" in before_query:
        userinfo, _, place = before_query.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        before_query = f"{user}:***@{place}" if colon else f"***@{place}"
    if question:
        query, hash_mark, fragment = query.partition("#")
        query = re.sub(r"([^&;=]+)=([^&;]*)", _redacted_parameter, query) + hash_mark + fragment
    return f"{scheme}{sep}{before_query}{question}{query}"


def _redacted_parameter(match: re.Match[str]) -> str:
    name = match.group(1)
    if any(word in name.lower() for word in _CREDENTIAL_WORDS):
        return f"{name}=***"
    return match.group(0)
