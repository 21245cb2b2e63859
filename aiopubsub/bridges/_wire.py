"""The wire: envelopes, origins, sequence numbers, copies, gaps, signatures. No I/O, no loop.

Theory of operation
===================

1. Every running bridge has an *origin*, a random id drawn when the bridge starts, drawn again
   in a child process after ``fork()`` (workers forked from a process that made a bridge are
   distinct origins) and when its table of key numbers is full (rule 3).
2. Each message travels as the codec's encoding of the *envelope*
   ``{"o": origin, "s": seq, "k": [parts], "p": payload}``; ``s`` counts the origin's
   messages under that one key, from 1. A retained message (``Hub.retain``) has one more
   field, ``"r"``: the seconds it has left to live when sent, or ``None`` (no expiry); the
   receiving hub retains it too.
3. The sender remembers the last ``s`` of at most :data:`MAX_TRACKED` keys. Rather than
   forget one (its numbers would start again at 1 and receivers would take them for copies),
   it draws a new origin and starts every key at 1 again.
4. A receiver remembers, per origin and key, the last ``s`` it delivered (``last``):
   ``last < s <= last + MAX_JUMP`` is delivered, and ``s - last - 1`` messages are counted as
   *gaps*; ``last - MAX_JUMP <= s <= last`` is a copy (a batch sent again after a fault, or
   a message a broker delivered twice): dropped, not counted. A jump above ``last + MAX_JUMP``
   is implausible: the message is *held*, not delivered; if the origin's next message under
   that key follows it (``s + 1``), the jump was real: both are delivered in order and the
   gap counted; otherwise the held one is dropped and counted as *rejected*. A fall below
   ``last - MAX_JUMP`` cannot be a copy: ``last`` came from a forged envelope, the message is
   delivered and numbering starts again from it. So one forged envelope can neither mute an
   origin nor add more than ``MAX_JUMP`` to ``gaps``.
5. With a secret, every envelope is sent as ``HMAC-SHA256(secret, namespace NUL body)``
   (32 bytes) followed by the encoded body; a receiver drops and counts (``rejected``) any
   message whose MAC does not verify, before decoding it.
6. A message that fails any check is counted once and reported with an excerpt of at most a
   few hundred characters; the bytes themselves go to the hub's error hook as they are.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import reprlib
import secrets
from typing import Any, Final

from .. import Key

__all__ = [
    "MAX_JUMP",
    "MAX_TRACKED",
    "EnvelopeError",
    "Receiver",
    "Signer",
    "Stamper",
    "Verdict",
    "excerpt",
    "open_envelope",
    "retention",
]

#: The most keys (sender) or origin-key pairs (receiver) whose numbers are remembered.
MAX_TRACKED: Final = 65536
#: The largest jump in an origin's numbers under one key taken as plausible (rule 4).
MAX_JUMP: Final = 65536
#: The most characters of a bad message quoted in an error message or log record.
EXCERPT: Final = 200
_ENVELOPE_FIELDS: Final = frozenset({"o", "s", "k", "p"})
_RETAINED_FIELDS: Final = frozenset({"o", "s", "k", "p", "r"})
_MAC_SIZE: Final = 32

#: Bumped in each child after fork(): an origin drawn before it is stale (rule 1).
_forks = [0]
os.register_at_fork(after_in_child=lambda: _forks.__setitem__(0, _forks[0] + 1))


class EnvelopeError(ValueError):
    """A message from the broker is not a well-formed envelope for its key."""


def excerpt(obj: object, limit: int = EXCERPT) -> str:
    """The repr of ``obj`` cut to about ``limit`` characters, saying how long it was.

    Never builds the repr of a whole large ``bytes`` or ``str``: a 20 MB message costs no more
    to quote than a short one.
    """
    if isinstance(obj, bytes | str) and len(obj) > limit:
        unit = "bytes" if isinstance(obj, bytes) else "characters"
        return f"{obj[:limit]!r}... ({len(obj)} {unit})"
    text = _short.repr(obj)
    return text if len(text) <= limit else f"{text[:limit]}..."


_short = reprlib.Repr()
_short.maxstring = _short.maxother = _short.maxlong = EXCERPT


class Stamper:
    """The sending side of rules 1 to 3: the origin and each key's last number."""

    __slots__ = ("_fork", "_seqs", "mine", "origin")

    def __init__(self) -> None:
        self.origin = ""
        self._fork = _forks[0]
        self._seqs: dict[tuple[Any, ...], int] = {}
        #: The origins this process drew for this bridge, newest last (at most 64): messages
        #: of each are echoes, even those sent after a new origin was drawn.
        self.mine: dict[str, None] = {}

    def redraw(self) -> None:
        """Draw a new origin and start every key's numbers again at 1."""
        if self._fork != _forks[0]:
            self.mine.clear()  # The parent's origins: their messages are not echoes here.
            self._fork = _forks[0]
        self.origin = secrets.token_hex(8)
        self.mine[self.origin] = None
        if len(self.mine) > 64:
            del self.mine[next(iter(self.mine))]
        self._seqs.clear()

    def next(self, key: tuple[Any, ...]) -> tuple[str, int]:
        """The origin and number of the next message under ``key``, not yet taken: call
        :meth:`commit` once it is encoded."""
        seqs = self._seqs
        if self._fork != _forks[0] or (key not in seqs and len(seqs) >= MAX_TRACKED):
            self.redraw()
        return self.origin, seqs.get(key, 0) + 1

    def commit(self, key: tuple[Any, ...], s: int) -> None:
        """Message ``s`` under ``key`` goes out: the next one is ``s + 1``."""
        self._seqs[key] = s


class Verdict:
    """What :meth:`Receiver.admit` says of a message (plain ints: compared on the hot path)."""

    DELIVER: Final = 0
    COPY: Final = 1
    HOLD: Final = 2
    #: Deliver the held message (:meth:`Receiver.release`), then this one.
    RELEASE: Final = 3


class Receiver:
    """The receiving side of rule 4, for every origin and key."""

    __slots__ = ("_held", "_last", "gaps", "rejected")

    def __init__(self) -> None:
        self._last: dict[tuple[str, tuple[Any, ...]], int] = {}
        self._held: dict[tuple[str, tuple[Any, ...]], tuple[int, Any]] = {}
        #: Messages known to be missing (rule 4).
        self.gaps = 0
        #: Held messages that no next message confirmed.
        self.rejected = 0

    def admit(self, origin: str, key: tuple[Any, ...], s: int, payload: Any) -> int:
        """Judge message ``s`` of ``origin`` under ``key``: a :class:`Verdict` value."""
        pair = (origin, key)
        last = self._last.get(pair)
        if self._held and pair in self._held:
            held_s, _ = self._held[pair]
            if s == held_s + 1:
                self._remember(pair, s)
                if last is not None:
                    self.gaps += held_s - last - 1
                return Verdict.RELEASE
            del self._held[pair]
            self.rejected += 1
        if last is None or last < s <= last + MAX_JUMP:
            if last is not None:
                self.gaps += s - last - 1
            self._remember(pair, s)
            return Verdict.DELIVER
        if s > last:
            self._held[pair] = (s, payload)
            return Verdict.HOLD
        if s >= last - MAX_JUMP:
            return Verdict.COPY
        self._remember(pair, s)  # Below any copy: the last number was forged.
        return Verdict.DELIVER

    def release(self, origin: str, key: tuple[Any, ...]) -> Any:
        """The payload held for ``origin`` and ``key``, after :data:`Verdict.RELEASE`."""
        return self._held.pop((origin, key))[1]

    def _remember(self, pair: tuple[str, tuple[Any, ...]], s: int) -> None:
        last = self._last
        if pair not in last and len(last) >= MAX_TRACKED:
            for old in list(last)[: MAX_TRACKED // 4]:
                del last[old]
        last[pair] = s

    def forget(self, keep: Any) -> None:
        """Forget the numbers of every key for which ``keep(key)`` is false, so that taking a
        key up again later counts nothing published meanwhile as gaps."""
        for table in (self._last, self._held):
            for pair in [pair for pair in table if not keep(pair[1])]:
                del table[pair]


class Signer:
    """Rule 5: signs and checks envelopes with HMAC-SHA256 under one secret and namespace."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, secret: bytes, namespace: str) -> None:
        mac = hmac.new(secret, digestmod=hashlib.sha256)
        mac.update(namespace.encode("utf-8", "surrogatepass") + b"\0")
        self._inner = mac
        self._outer = secret

    def sign(self, body: bytes) -> bytes:
        """``body`` led by its MAC."""
        mac = self._inner.copy()
        mac.update(body)
        return mac.digest() + body

    def verify(self, data: bytes) -> bytes:
        """The body of signed ``data``.

        :raises EnvelopeError: if the MAC is missing or wrong.
        """
        mac = self._inner.copy()
        body = data[_MAC_SIZE:]
        mac.update(body)
        if len(data) < _MAC_SIZE or not hmac.compare_digest(mac.digest(), data[:_MAC_SIZE]):
            raise EnvelopeError(f"Unsigned or forged message: {excerpt(data)}")
        return body


def open_envelope(envelope: Any, key: Key) -> tuple[str, int, Any]:
    """``(origin, s, payload)`` of a decoded envelope that travelled under ``key``.

    :raises EnvelopeError: if it is not a well-formed envelope for that key.
    """
    if type(envelope) is not dict or (
        envelope.keys() != _ENVELOPE_FIELDS and envelope.keys() != _RETAINED_FIELDS
    ):
        raise EnvelopeError(f"Not an aiopubsub envelope: {excerpt(envelope)}")
    origin, s, parts = envelope["o"], envelope["s"], envelope["k"]
    if type(origin) is not str or not 0 < len(origin) <= 64:
        raise EnvelopeError(f"Malformed origin {excerpt(origin)}")
    if type(s) is not int or s < 1:  # type(), not isinstance(): a bool is an int.
        raise EnvelopeError(f"Malformed sequence number {excerpt(s)}")
    if type(parts) is not list or len(parts) != len(key):
        raise EnvelopeError(f"Malformed key {excerpt(parts)} for {excerpt(key)}")
    for part, expected in zip(parts, key):
        # The key's parts are str or int (decoded from its name): so is each part here.
        if part != expected or type(part) is not type(expected):
            raise EnvelopeError(
                f"Envelope key {excerpt(parts)} is not its channel's {excerpt(key)}"
            )
    if "*" in key:
        raise EnvelopeError(f"A message cannot travel under the wildcard key {excerpt(key)}")
    return origin, s, envelope["p"]


def retention(envelope: dict[str, Any]) -> tuple[bool, float | None]:
    """``(retained, ttl)`` of an envelope :func:`open_envelope` accepted: whether the message
    is to be retained, and for how many seconds (``None``: no expiry).

    :raises EnvelopeError: if its ``"r"`` is neither ``None`` nor a finite number >= 0.
    """
    if "r" not in envelope:
        return False, None
    ttl = envelope["r"]
    if ttl is None:
        return True, None
    if type(ttl) not in (int, float) or not 0 <= ttl < float("inf"):
        raise EnvelopeError(f"Malformed retention time {excerpt(ttl)}")
    return True, float(ttl)
