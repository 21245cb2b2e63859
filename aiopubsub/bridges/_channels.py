"""Keys as Redis channel names, patterns as Redis globs: the Redis bridge's naming, without I/O.

A key ``('prices', 'EUR/USD', 7)`` in namespace ``aiopubsub`` is the channel
``aiopubsub:prices:EUR%2FUSD:#7``: the namespace, then each part led by ``':'``; a ``str``
part percent-encoded (UTF-8, every byte that is not an ASCII letter, digit or one of
``_.-~``), an ``int`` part written ``#`` and its decimal digits. Decisions:

* A namespace holds neither ``':'`` nor a glob character (``*?[]\\``): the bridge refuses
  any other (see :data:`NAMESPACE_FORBIDDEN`), rather than encoding it, so that a namespace
  reads in Redis as it was written. The channel's text up to its first ``':'`` is therefore
  its namespace: the channels and globs of two namespaces never overlap.
* The encoding is injective: an encoded part never contains ``':'``, so splitting on it gives
  the parts back; percent-encoding never writes ``'#'``, so an ``int`` part never reads back
  as a ``str`` (``#7`` is ``7``, ``%237`` is ``'#7'``); decoding checks that the channel is
  the canonical one. Empty parts are empty strings between separators.
* An encoded part never contains a glob character (``*?[]\\``), nor does the namespace, so a
  pattern's glob is the namespace and the literal parts encoded, each ``'*'`` part written ``*``.
* A glob ``*`` matches any run of characters, separators included, so the glob of a pattern
  matches a superset of the channels of the keys the pattern matches. Whoever receives
  through a glob checks the key exactly again (:func:`~aiopubsub.bridges._keys.key_matches`).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, unquote

from .. import Key
from ._keys import WILDCARD, check_parts
from ._wire import excerpt

__all__ = [
    "NAMESPACE_FORBIDDEN",
    "SEPARATOR",
    "channel_of",
    "glob_of",
    "glob_regex",
    "key_of",
]

#: Between the namespace and each encoded part.
SEPARATOR = ":"
#: The characters a namespace may not hold: the separator and those special in a Redis glob.
NAMESPACE_FORBIDDEN = frozenset(SEPARATOR + "*?[]\\")
#: What leads an ``int`` part; percent-encoding of a ``str`` never writes it.
INT_MARK = "#"


def _encode_part(part: Any) -> str:
    if type(part) is int:
        return INT_MARK + str(part)
    return quote(part, safe="", encoding="utf-8", errors="surrogatepass")


def _decode_part(text: str) -> Any:
    if text.startswith(INT_MARK):
        return int(text[1:])  # Canonical or not: the round trip in key_of() decides.
    return unquote(text, encoding="utf-8", errors="surrogatepass")


def channel_of(namespace: str, key: tuple[Any, ...]) -> str:
    """The Redis channel that carries messages published under ``key``.

    :raises TypeError: if a part is neither ``str`` nor ``int``.
    """
    check_parts(key)
    return namespace + "".join(SEPARATOR + _encode_part(part) for part in key)


def glob_of(namespace: str, pattern: tuple[Any, ...]) -> str:
    """The ``PSUBSCRIBE`` glob matching (at least) the channels of every key ``pattern`` matches."""
    check_parts(pattern)
    return namespace + "".join(
        SEPARATOR + ("*" if part == WILDCARD else _encode_part(part)) for part in pattern
    )


def glob_regex(glob: str) -> re.Pattern[str]:
    """A regular expression matching exactly the channels Redis matches with ``glob``, for
    the globs :func:`glob_of` writes (their only special character is ``*``)."""
    return re.compile(".*".join(re.escape(piece) for piece in glob.split("*")), re.DOTALL)


def key_of(namespace: str, channel: str) -> Key:
    """The key whose channel is ``channel``: the inverse of :func:`channel_of`.

    :raises ValueError: if ``channel`` is not the canonical channel of a key in ``namespace``.
    """
    prefix = namespace + SEPARATOR
    if not channel.startswith(prefix):
        raise ValueError(f"Channel {excerpt(channel)} is not in namespace {namespace!r}")
    try:
        parts = tuple(_decode_part(p) for p in channel[len(prefix) :].split(SEPARATOR))
    except ValueError:
        raise ValueError(f"Channel {excerpt(channel)} is not a canonical key channel") from None
    if channel_of(namespace, parts) != channel:
        raise ValueError(f"Channel {excerpt(channel)} is not a canonical key channel")
    return tuple.__new__(Key, parts)
