"""Codecs: envelopes to bytes and back, carrying more than JSON's types and building nothing
unregistered.

Theory of operation
===================

1. A codec turns an envelope (a dict holding the payload) into bytes and back. The default,
   :class:`JsonCodec`, writes compact JSON (any ``str`` survives, lone surrogates too).
2. JSON values travel as they are: ``dict`` with ``str`` keys, ``list``, ``str``, ``int``,
   finite ``float``, ``bool``, ``None``. Each other supported value travels as a JSON object
   of exactly one member whose name starts with ``~``, its *tag*: ``~t`` tuple, ``~b`` bytes
   (base64), ``~d`` Decimal, ``~dt`` datetime, ``~date``, ``~time``, ``~td`` timedelta,
   ``~uuid``, ``~dc`` a registered dataclass, ``~enum`` a registered Enum member. A user
   dict of one member whose name starts with ``~`` is itself wrapped (``~m``, as a list of
   pairs), so no user dict is ever read as a tag: the encoding is injective.
3. Types are matched exactly (``type(x) is ...``), never by ``isinstance``: a subclass is
   another type, and arrives as what it was only if registered. Everything else, a ``dict``
   key that is not a ``str``, a NaN or an infinity included, is an encode error.
4. A receiver builds only the types above and those registered with ``types=[...]``; an
   unknown tag or type name is a decode error. Never pickle: no class named by a sender is
   ever looked up.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import json
import math
import reprlib
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, Protocol

try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - the brokers' extras install it
    _orjson = None  # type: ignore[assignment]

__all__ = ["Codec", "JsonCodec", "MsgpackCodec"]


class Codec(Protocol):
    """Turns an envelope (a dict holding the payload) into bytes and back.

    ``encode`` raises on a value it cannot carry; ``decode`` may raise anything on bad input:
    the bridge counts, reports and drops the message either way.
    """

    def encode(self, obj: Any) -> bytes: ...

    def decode(self, data: bytes) -> Any: ...


_SCALARS: frozenset[type] = frozenset({str, int, bool, type(None)})
_CONTAINERS: frozenset[type] = frozenset({dict, list})


class _Tagger:
    """The walk of rule 2: values to JSON-like trees and back, with the registered types."""

    __slots__ = ("_by_name", "_codec", "_names")

    def __init__(self, types: Iterable[type], codec: str = "JsonCodec") -> None:
        self._codec = codec  # Its name, for the advice in errors.
        self._names: dict[type, str] = {}
        self._by_name: dict[str, type] = {}
        for cls in types:
            if not isinstance(cls, type) or not (
                dataclasses.is_dataclass(cls) or issubclass(cls, enum.Enum)
            ):
                raise TypeError(f"types must hold dataclasses and Enum classes, got {cls!r}")
            name = f"{cls.__module__}.{cls.__qualname__}"
            if self._by_name.setdefault(name, cls) is not cls:
                raise ValueError(f"Two registered types are both named {name!r}")
            self._names[cls] = name

    @property
    def types(self) -> tuple[type, ...]:
        return tuple(self._names)

    def plain(self, obj: Any) -> Any:
        """``obj`` as a tree of JSON values and tags: ``obj`` itself if it is one already.

        :raises TypeError: for a value of a type it cannot carry, or a non-str dict key.
        :raises ValueError: for a NaN or infinite float.
        """
        kind = type(obj)
        if kind in _SCALARS:
            return obj
        if kind is float:
            if not math.isfinite(obj):
                raise ValueError(f"Cannot encode the non-finite float {obj!r}")
            return obj
        if kind is dict:
            return self._plain_dict(obj)
        if kind is list:
            return self._plain_list(obj)
        encode = _ENCODERS.get(kind)
        if encode is not None:
            return encode(self, obj)
        name = self._names.get(kind)
        if name is None:
            raise TypeError(
                f"Cannot encode {_excerpt(obj)} of type {kind.__module__}.{kind.__qualname__}:"
                f" register dataclasses and Enums with {self._codec}(types=[...])"
            )
        if isinstance(obj, enum.Enum):
            return {"~enum": [name, self.plain(obj.value)]}
        fields = {f.name: self.plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        return {"~dc": [name, fields]}

    def _plain_list(self, obj: list[Any]) -> list[Any]:
        for item in obj:
            if type(item) not in _SCALARS:
                break
        else:
            return obj  # The common case: str, int... items only.
        out = None  # Copied only if an item changes: plain JSON is not rebuilt.
        for i, item in enumerate(obj):
            kind = type(item)
            if kind in _SCALARS or (kind is float and item - item == 0.0):  # 0.0: finite
                continue
            new = self.plain(item)
            if new is not item:
                if out is None:
                    out = list(obj)
                out[i] = new
        return obj if out is None else out

    def _plain_dict(self, obj: dict[Any, Any]) -> Any:
        out = None
        for key, value in obj.items():
            kind = type(value)
            if type(key) is not str:
                raise TypeError(
                    f"Cannot encode a dict key that is not a str: {_excerpt(key)}"
                    f" ({type(key).__name__})"
                )
            if kind in _SCALARS or (kind is float and value - value == 0.0):  # 0.0: finite
                continue
            if kind is dict:
                new = self._plain_dict(value)
            elif kind is list:
                new = self._plain_list(value)
            else:
                new = self.plain(value)
            if new is not value:
                if out is None:
                    out = dict(obj)
                out[key] = new
        result = obj if out is None else out
        if len(result) == 1 and next(iter(result)).startswith("~"):
            return {"~m": [[k, v] for k, v in result.items()]}  # Rule 2: never read as a tag.
        return result

    def restore_tree(self, obj: Any) -> Any:
        """A decoded tree back to what it stood for: :meth:`restore` on every JSON object,
        innermost first; the tree's lists and objects are changed in place."""
        kind = type(obj)
        if kind is dict:
            for key, value in obj.items():
                if type(value) in _CONTAINERS:
                    obj[key] = self.restore_tree(value)
            return self.restore(obj) if len(obj) == 1 else obj
        if kind is list:
            for i, value in enumerate(obj):
                if type(value) in _CONTAINERS:
                    obj[i] = self.restore_tree(value)
        return obj

    def restore(self, obj: dict[str, Any]) -> Any:
        """The object hook: a decoded JSON object back to what it stood for."""
        if len(obj) != 1:
            return obj
        tag, value = next(iter(obj.items()))
        if not tag.startswith("~"):
            return obj
        decode = _DECODERS.get(tag)
        if decode is not None:
            return decode(value)
        if tag == "~enum" or tag == "~dc":
            name, data = _pair(tag, value)
            cls = self._by_name.get(name) if type(name) is str else None
            if cls is None:
                raise ValueError(f"Unregistered type {_excerpt(name)} in {tag}")
            if tag == "~enum":
                if not issubclass(cls, enum.Enum):
                    raise ValueError(f"{name} is not an Enum")
                return cls(data)
            if not dataclasses.is_dataclass(cls) or type(data) is not dict:
                raise ValueError(f"Malformed dataclass {name}")
            return cls(**data)
        raise ValueError(f"Unknown tag {_excerpt(tag)}")


def _pair(tag: str, value: Any) -> tuple[Any, Any]:
    if type(value) is not list or len(value) != 2:
        raise ValueError(f"Malformed {tag}: {_excerpt(value)}")
    return value[0], value[1]


def _escaped_dict(pairs: Any) -> dict[str, Any]:
    if type(pairs) is not list or not all(
        type(p) is list and len(p) == 2 and type(p[0]) is str for p in pairs
    ):
        raise ValueError(f"Malformed ~m: {_excerpt(pairs)}")
    return {k: v for k, v in pairs}


def _text(cls: Callable[[str], Any]) -> Callable[[Any], Any]:
    def decode(value: Any) -> Any:
        if type(value) is not str:
            raise ValueError(f"Malformed {cls.__name__}: {_excerpt(value)}")
        return cls(value)

    return decode


def _timedelta(value: Any) -> dt.timedelta:
    if type(value) is not list or len(value) != 3 or not all(type(v) is int for v in value):
        raise ValueError(f"Malformed timedelta: {_excerpt(value)}")
    return dt.timedelta(days=value[0], seconds=value[1], microseconds=value[2])


def _tuple(value: Any) -> tuple[Any, ...]:
    if type(value) is not list:
        raise ValueError(f"Malformed tuple: {_excerpt(value)}")
    return tuple(value)


_ENCODERS: dict[type, Callable[[_Tagger, Any], Any]] = {
    tuple: lambda tagger, obj: {"~t": [tagger.plain(item) for item in obj]},
    bytes: lambda tagger, obj: {"~b": base64.b64encode(obj).decode("ascii")},
    Decimal: lambda tagger, obj: {"~d": str(obj)},
    dt.datetime: lambda tagger, obj: {"~dt": obj.isoformat()},
    dt.date: lambda tagger, obj: {"~date": obj.isoformat()},
    dt.time: lambda tagger, obj: {"~time": obj.isoformat()},
    dt.timedelta: lambda tagger, obj: {"~td": [obj.days, obj.seconds, obj.microseconds]},
    uuid.UUID: lambda tagger, obj: {"~uuid": str(obj)},
}
_DECODERS: dict[str, Callable[[Any], Any]] = {
    "~t": _tuple,
    "~b": lambda value: base64.b64decode(_text(str)(value), validate=True),
    "~d": _text(Decimal),
    "~dt": _text(dt.datetime.fromisoformat),
    "~date": _text(dt.date.fromisoformat),
    "~time": _text(dt.time.fromisoformat),
    "~td": _timedelta,
    "~uuid": _text(uuid.UUID),
    "~m": _escaped_dict,
}


def _excerpt(obj: object) -> str:
    text = _short.repr(obj)
    return text if len(text) <= 100 else f"{text[:100]}..."


_short = reprlib.Repr()
_short.maxstring = _short.maxother = _short.maxlong = 100


class JsonCodec:
    """The default codec: compact JSON (UTF-8), with the tags of rule 2 (see the module).

    Carries JSON values, ``tuple``, ``bytes``, ``Decimal``, ``datetime``, ``date``, ``time``,
    ``timedelta``, ``UUID``, and the dataclasses and Enums registered in ``types``; anything
    else, a non-str dict key and a non-finite float included, is an encode error. A datetime
    with a ``tzinfo`` arrives with a fixed UTC offset (the same instant).

    It writes and reads with ``orjson`` when that is installed (it comes with the brokers'
    extras), else with the standard ``json`` module; both read what either writes. A
    message that ``orjson`` cannot write (an ``int`` beyond 64 bits, a ``str`` holding a lone
    surrogate) is written by ``json``, ASCII only, led by one space: a reader then reads it
    with ``json`` too, since ``orjson`` would read such an ``int`` as a ``float``.

    :param types: the dataclasses and Enum classes a receiver may build, matched by module
        and qualified name (so both sides must register them).
    :raises TypeError: if an item of ``types`` is neither a dataclass nor an Enum class.
    """

    def __init__(self, types: Iterable[type] = ()) -> None:
        self._tagger = _Tagger(types, type(self).__name__)
        self._hook = self._tagger.restore

    def encode(self, obj: Any) -> bytes:
        """``obj`` as JSON bytes.

        :raises TypeError: for a value it cannot carry (see the class).
        :raises ValueError: for a NaN or an infinity.
        """
        plain = self._tagger.plain(obj)
        if _orjson is not None:
            try:
                data: bytes = _orjson.dumps(plain)
            except TypeError:
                pass  # A huge int or a lone surrogate: json below writes them.
            else:
                return data
        text = json.dumps(plain, separators=(",", ":"), allow_nan=False)
        return b" " + text.encode("ascii")

    def decode(self, data: bytes) -> Any:
        """The object ``data`` encodes.

        :raises ValueError: if ``data`` is not such JSON, or names an unknown tag or type.
        """
        if _orjson is None or data[:1] == b" ":
            return json.loads(data, object_hook=self._hook)
        tree = _orjson.loads(data)
        if b'"~' not in data and b"\\u007" not in data:
            return tree  # No member name starts with "~", even escaped: no tag to restore.
        return self._tagger.restore_tree(tree)

    def __repr__(self) -> str:
        names = ", ".join(t.__qualname__ for t in self._tagger.types)
        return f"{type(self).__name__}(types=[{names}])" if names else f"{type(self).__name__}()"


class MsgpackCodec(JsonCodec):
    """Like :class:`JsonCodec` (same types, same tags), written as MessagePack: smaller for
    binary-heavy payloads. Needs ``pip install 'aiopubsub[msgpack]'``. Unlike JSON, MessagePack
    cannot carry a ``str`` holding a lone surrogate, nor an ``int`` beyond 64 bits (each an
    encode error).
    """

    def __init__(self, types: Iterable[type] = ()) -> None:
        try:
            import msgpack  # type: ignore[import-untyped]
        except ImportError as exc:
            raise ImportError(
                "MsgpackCodec needs the msgpack package: pip install 'aiopubsub[msgpack]'"
            ) from exc
        super().__init__(types)
        self._packb = msgpack.packb
        self._unpackb = msgpack.unpackb

    def encode(self, obj: Any) -> bytes:
        """``obj`` as MessagePack bytes.

        :raises TypeError: for a value it cannot carry.
        :raises ValueError: for a NaN or an infinity.
        """
        data: bytes = self._packb(self._tagger.plain(obj), use_bin_type=True)
        return data

    def decode(self, data: bytes) -> Any:
        """The object ``data`` encodes.

        :raises ValueError: if ``data`` is not such MessagePack, or names an unknown tag or type.
        """
        return self._unpackb(data, raw=False, object_hook=self._hook, strict_map_key=True)
