"""Keys as Redis channel names, patterns as Redis globs: the bridge's wire naming, without I/O.

A key ``('prices', 'EUR/USD', 7)`` in namespace ``aiopubsub`` is the channel
``aiopubsub:prices:EUR%2FUSD:#7``: the namespace, then each part led by ``':'``: a ``str``
part percent-encoded (UTF-8, every byte that is not an ASCII letter, digit or one of
``_.-~``), an ``int`` part as ``'#'`` and its decimal digits. Decisions:

* Only ``str`` and ``int`` parts travel (``bool`` is not an ``int`` here): a key with a part of
  any other type raises :class:`TypeError`, which the bridge counts as an encode error. An
  int arrives as an int, a str as a str: a percent-encoded part never starts with ``'#'``.

* A namespace holds neither ``':'`` nor a glob character (``*?[]\\``): the bridge refuses
  any other (see :data:`NAMESPACE_FORBIDDEN`), rather than encoding it, so that a namespace
  reads in Redis as it was written. The channel's text up to its first ``':'`` is therefore
  its namespace: the channels and globs of two namespaces never overlap (``'ns:sub'``
  would otherwise hold channels of ``'ns'``). The functions below expect such a namespace.
* The encoding is injective: an encoded part never contains ``':'``, so splitting on it gives
  the parts back, and percent-decoding undoes percent-encoding (lone surrogates included).
  Empty parts are empty strings between separators.
* An encoded part never contains a glob character (``*?[]\\``), nor does the namespace, so a
  pattern's glob is the namespace and the literal parts encoded, each ``'*'`` part written ``*``.
* A glob ``*`` matches any run of characters, separators included, so the glob of a pattern
  matches a superset of the channels of the keys the pattern matches (``*`` inside a pattern
  also matches several parts). Whoever receives through a glob checks the key exactly again,
  with :func:`aiopubsub._key.matches`.
"""

from __future__ import annotations

from collections.abc import Hashable
from urllib.parse import quote, unquote

from .._key import WILDCARD, Key

__all__ = ["INT_MARK", "NAMESPACE_FORBIDDEN", "SEPARATOR", "channel_of", "glob_of", "key_of"]

#: Between the namespace and each encoded part.
SEPARATOR = ":"
#: The characters a namespace may not hold: the separator and those special in a Redis glob.
NAMESPACE_FORBIDDEN = frozenset(SEPARATOR + "*?[]\\")


#: Leads an int part; percent-encoding writes ``'#'`` as ``%23``, so no str part starts so.
INT_MARK = "#"


def _encode_part(part: Hashable) -> str:
    if type(part) is str:
        return quote(part, safe="", encoding="utf-8", errors="surrogatepass")
    if type(part) is int:
        return f"{INT_MARK}{part}"
    raise TypeError(
        f"The bridge carries key parts of type str and int only, got {part!r}"
        f" ({type(part).__name__})"
    )


def _decode_part(encoded: str) -> str | int:
    if not encoded.startswith(INT_MARK):
        return unquote(encoded, encoding="utf-8", errors="surrogatepass")
    try:
        return int(encoded[1:])
    except ValueError:
        raise ValueError(f"Malformed int part {encoded!r}") from None


def channel_of(namespace: str, key: tuple[Hashable, ...]) -> str:
    """The Redis channel that carries messages published under ``key``.

    :raises TypeError: if a part is neither a ``str`` nor an ``int``.
    """
    return namespace + "".join(SEPARATOR + _encode_part(part) for part in key)


def glob_of(namespace: str, pattern: tuple[Hashable, ...]) -> str:
    """The ``PSUBSCRIBE`` glob matching (at least) the channels of every key ``pattern`` matches.

    :raises TypeError: if a part is neither a ``str`` nor an ``int``.
    """
    return namespace + "".join(
        SEPARATOR + ("*" if part == WILDCARD else _encode_part(part)) for part in pattern
    )


def key_of(namespace: str, channel: str) -> Key:
    """The key whose channel is ``channel``: the inverse of :func:`channel_of`.

    :raises ValueError: if ``channel`` is not the canonical channel of a key in ``namespace``.
    """
    prefix = namespace + SEPARATOR
    if not channel.startswith(prefix):
        raise ValueError(f"Channel {channel!r} is not in namespace {namespace!r}")
    encoded = channel[len(prefix) :].split(SEPARATOR)
    key = tuple.__new__(Key, [_decode_part(p) for p in encoded])
    if channel_of(namespace, key) != channel:
        raise ValueError(f"Channel {channel!r} is not a canonical key channel")
    return key
