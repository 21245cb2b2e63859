"""Keys as NATS subjects, patterns as NATS subscription subjects: the NATS bridge's naming.

A key ``('prices', 'EUR/USD', 7)`` in namespace ``aiopubsub`` is the subject
``aiopubsub.prices.EUR%2FUSD.#7``: the namespace, then one token per part. Decisions:

* A NATS token cannot hold ``.``, whitespace, ``*`` or ``>``, nor be empty. A ``str`` part is
  percent-encoded (UTF-8, every byte but an ASCII letter, digit, ``_`` or ``-``), so its token
  holds only those and ``%``; the empty ``str`` is the token ``%`` (percent-encoding never
  writes a lone ``%``). An ``int`` part is ``#`` and its decimal digits (percent-encoding never
  writes ``#``). So the encoding is injective and decoding checks the canonical form.
* A namespace is one token of its own (no ``.``, whitespace, ``*``, ``>``, not empty): so the
  subjects of two namespaces never overlap.
* A ``'*'`` part inside a pattern is the NATS wildcard ``*`` (exactly one token), a trailing
  ``'*'`` is ``>`` (one or more tokens): the server then delivers exactly the keys that the
  hub's own matching accepts, no more.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

from .. import Key
from ._keys import WILDCARD, check_parts
from ._wire import excerpt

__all__ = ["NAMESPACE_FORBIDDEN", "key_of", "subject_of", "subscription_of"]

#: What a namespace may not hold: the separator, NATS wildcards, whitespace.
NAMESPACE_FORBIDDEN = frozenset(".*> \t\r\n\f\v")
_INT_MARK = "#"
_EMPTY = "%"


def _encode_part(part: Any) -> str:
    if type(part) is int:
        return _INT_MARK + str(part)
    if not part:
        return _EMPTY
    # quote() keeps ".~" as they are; NATS reads "." as a separator: encode both.
    encoded = quote(part, safe="", encoding="utf-8", errors="surrogatepass")
    return encoded.replace(".", "%2E").replace("~", "%7E")


def _decode_part(token: str) -> Any:
    if token.startswith(_INT_MARK):
        return int(token[1:])
    if token == _EMPTY:
        return ""
    return unquote(token, encoding="utf-8", errors="surrogatepass")


def subject_of(namespace: str, key: tuple[Any, ...]) -> str:
    """The NATS subject that carries messages published under ``key``.

    :raises TypeError: if a part is neither ``str`` nor ``int``.
    """
    check_parts(key)
    return namespace + "".join("." + _encode_part(part) for part in key)


def subscription_of(namespace: str, pattern: tuple[Any, ...]) -> str:
    """The NATS subscription subject matching exactly the keys ``pattern`` matches."""
    check_parts(pattern)
    last = len(pattern) - 1
    tokens = [
        (">" if i == last else "*") if part == WILDCARD else _encode_part(part)
        for i, part in enumerate(pattern)
    ]
    return namespace + "".join("." + token for token in tokens)


def key_of(namespace: str, subject: str) -> Key:
    """The key whose subject is ``subject``: the inverse of :func:`subject_of`.

    :raises ValueError: if ``subject`` is not the canonical subject of a key in ``namespace``.
    """
    prefix = namespace + "."
    if not subject.startswith(prefix):
        raise ValueError(f"Subject {excerpt(subject)} is not in namespace {namespace!r}")
    try:
        parts = tuple(_decode_part(t) for t in subject[len(prefix) :].split("."))
    except ValueError:
        raise ValueError(f"Subject {excerpt(subject)} is not a canonical key subject") from None
    if subject_of(namespace, parts) != subject:
        raise ValueError(f"Subject {excerpt(subject)} is not a canonical key subject")
    return tuple.__new__(Key, parts)
