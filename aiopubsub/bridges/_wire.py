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
   receiving hub retains it too (``0`` clears its value, as ``retain(..., ttl=0)`` does). A
   key whose value ``Hub.forget`` dropped travels as a *tombstone*,
   ``{"o": origin, "s": seq, "k": [parts], "f": 1}``, numbered with the key's messages: the
   receiving hub forgets that key, in order with the messages before and after it.
3. The sender remembers the last ``s`` of at most :data:`MAX_TRACKED` keys. Rather than
   forget one (its numbers would start again at 1 and receivers would take them for copies),
   it draws a new origin and starts every key at 1 again.
4. A receiver keeps, per origin and key, at most :data:`MAX_TRACKS` *runs*: ranges
   ``start..top`` of consecutive numbers it delivered, most recently used first. Message ``s``:

   a. ``s == top + 1`` of a run: delivered, the run grows. (If ``s`` is also the first number
      of another run, with the very same bytes, that run was these messages sent again: the
      two become one and ``s`` is a copy.) A run that grows takes back the gaps counted for
      any run that jumped from it (rule c): its origin did not jump.
   b. else ``start <= s <= top`` of a run: a *copy* (a batch sent again after a fault, or a
      message a broker delivered twice) if ``s > top - WINDOW``: dropped, counted in
      ``duplicates``; older: a replay, rejected (counted in ``rejected``, reported).
   c. else, with a secret (rule 5), if some run lies above ``s``: rejected (a replay: an
      authentic origin's numbers only rise). Otherwise ``s`` starts a new run, delivered;
      ``min(s - top - 1, MAX_GAP)`` of the nearest run below it (none if there is none)
      counted as gaps at once.
   d. Without a secret, a jump of more than :data:`MAX_JUMP` above the nearest run below is
      implausible: the message is *held*, not delivered. If the pair's next message is
      ``s + 1``, both are delivered as a new run (rule c's gap); otherwise the held one is
      dropped, counted in ``rejected``.
   e. Bounds, each eviction counted: a new run beyond :data:`MAX_TRACKS` pushes out the least
      recently used (``forgotten``); pairs beyond :data:`MAX_TRACKED` push out the oldest
      quarter (``forgotten``, per run); held messages beyond :data:`MAX_HELD` push out the
      oldest (``rejected``).

   So a forged envelope never makes a real message a copy (the real run goes on growing
   past it, rule a) and adds at most ``MAX_GAP`` to ``gaps``, taken back as soon as the real
   run grows again; the one forged number that can cost a real message is the very next one
   of a run, sent before it (that message is then dropped as a copy, counted). With a secret,
   a replayed message is a copy or rejected and never changes what is remembered.
5. With a secret, every envelope is sent as ``HMAC-SHA256(secret, namespace NUL body)``
   (32 bytes) followed by the encoded body; a receiver drops and counts (``rejected``) any
   message whose MAC does not verify, before decoding it.
6. A message that fails any check is counted once and reported with an excerpt of at most a
   few hundred characters; the bytes themselves go to the hub's error hook as they are.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import os
import reprlib
import secrets
from typing import Any, Final

from .. import Key
from ..stores._base import MAX_TTL

__all__ = [
    "FORGET",
    "MAX_GAP",
    "MAX_HELD",
    "MAX_JUMP",
    "MAX_TRACKED",
    "MAX_TRACKS",
    "PUBLISH",
    "WINDOW",
    "Disposition",
    "EnvelopeError",
    "Receiver",
    "Retention",
    "Signer",
    "Stamper",
    "Verdict",
    "excerpt",
    "open_envelope",
    "seal",
]

#: The most keys (sender) or origin-key pairs (receiver) whose numbers are remembered.
MAX_TRACKED: Final = 65536
#: The largest jump in an origin's numbers under one key taken as plausible without a
#: secret (rule 4d).
MAX_JUMP: Final = 65536
#: The most one message adds to ``gaps`` (rule 4c).
MAX_GAP: Final = 65536
#: How far below a run's top a number is taken for a copy; older is a replay (rule 4b).
WINDOW: Final = 65536
#: The most runs remembered per origin and key (rule 4e).
MAX_TRACKS: Final = 4
#: The most messages held at once, over all origins and keys (rule 4e).
MAX_HELD: Final = 1024
#: The most characters of a bad message quoted in an error message or log record.
EXCERPT: Final = 200
_ENVELOPE_FIELDS: Final = frozenset({"o", "s", "k", "p"})
_RETAINED_FIELDS: Final = frozenset({"o", "s", "k", "p", "r"})
_TOMBSTONE_FIELDS: Final = frozenset({"o", "s", "k", "f"})
_MAC_SIZE: Final = 32

#: Bumped in each child after fork(): an origin drawn before it is stale (rule 1).
_forks = [0]
os.register_at_fork(after_in_child=lambda: _forks.__setitem__(0, _forks[0] + 1))


class Retention(enum.IntEnum):
    """What the receiving hub does with a message (rule 2)."""

    #: Publish it.
    NONE = 0
    #: Retain it (``Hub.retain``).
    RETAIN = 1
    #: Forget the key's value (``Hub.forget``); a tombstone carries no message.
    FORGET = 2


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
    #: Already delivered (rule 4b): dropped, counted in :attr:`Receiver.duplicates`.
    COPY: Final = 1
    #: Held after an implausible jump (rule 4d): not delivered yet.
    HOLD: Final = 2
    #: Deliver the held message (:meth:`Receiver.release`), then this one.
    RELEASE: Final = 3
    #: A replay or a stale number (rules 4b, 4c): the caller drops, counts and reports it.
    REJECT: Final = 4


class _Track:
    """A run of consecutive numbers ``start..top`` delivered for one origin and key."""

    __slots__ = ("digest", "gap", "parent", "start", "top")

    def __init__(self, s: int, digest: int, parent: _Track | None, gap: int) -> None:
        self.start = self.top = s
        self.digest = digest  # hash() of the first message's bytes: see rule 4a.
        self.parent = parent  # The track this one jumped from, while its gap counts.
        self.gap = gap


_Pair = tuple[str, tuple[Any, ...]]


class Receiver:
    """The receiving side of rule 4, for every origin and key.

    :param strict: whether envelopes are signed (rule 5): numbers are then authentic, so a
        number below those seen is a replay, rejected, and a jump needs no confirmation.
    """

    __slots__ = ("_held", "_strict", "_tracks", "duplicates", "forgotten", "gaps", "rejected")

    def __init__(self, strict: bool = False) -> None:
        self._strict = strict
        self._tracks: dict[_Pair, list[_Track]] = {}
        self._held: dict[_Pair, tuple[int, bytes, Any]] = {}
        #: Messages known to be missing (rule 4c).
        self.gaps = 0
        #: Copies dropped (rule 4b).
        self.duplicates = 0
        #: Held messages dropped: not confirmed, or pushed out of the bound (rules 4d, 4e).
        self.rejected = 0
        #: Tracks and origin-key pairs forgotten to stay within the bounds (rule 4e).
        self.forgotten = 0

    def admit(self, origin: str, key: tuple[Any, ...], s: int, payload: Any, data: bytes) -> int:
        """Judge message ``s`` of ``origin`` under ``key`` (``data``: its bytes as received):
        a :class:`Verdict` value."""
        pair = (origin, key)
        if self._held and pair in self._held:
            held_s, held_data, _ = self._held[pair]
            if s == held_s + 1:
                self._start(pair, held_s, held_data).top = s
                return Verdict.RELEASE
            del self._held[pair]
            self.rejected += 1
        tracks = self._tracks.get(pair)
        if tracks is None:
            self._start(pair, s, data)
            return Verdict.DELIVER
        first = tracks[0]
        if s == first.top + 1 and len(tracks) == 1:
            first.top = s  # The hot path: the next number of the only run.
            return Verdict.DELIVER
        return self._judge(pair, tracks, s, payload, data)

    def release(self, origin: str, key: tuple[Any, ...]) -> Any:
        """The payload held for ``origin`` and ``key``, after :data:`Verdict.RELEASE`."""
        return self._held.pop((origin, key))[2]

    def _judge(self, pair: _Pair, tracks: list[_Track], s: int, payload: Any, data: bytes) -> int:
        for track in tracks:
            if s == track.top + 1:
                return self._continue(tracks, track, s, data)
        for track in tracks:
            if track.start <= s <= track.top:  # Rule 4b.
                if s > track.top - WINDOW:
                    self.duplicates += 1
                    return Verdict.COPY
                return Verdict.REJECT
        below = [track for track in tracks if track.top < s]
        if self._strict and len(below) < len(tracks):
            return Verdict.REJECT  # Rule 4c: an authentic origin's numbers only rise.
        if below and not self._strict:
            parent = max(below, key=lambda track: track.top)
            if s - parent.top > MAX_JUMP:  # Rule 4d.
                self._hold(pair, s, payload, data)
                return Verdict.HOLD
        self._start(pair, s, data)
        return Verdict.DELIVER

    def _continue(self, tracks: list[_Track], track: _Track, s: int, data: bytes) -> int:
        """Rule 4a: ``s`` follows ``track``."""
        digest = None
        for other in tracks:
            if other.start == s and other is not track:
                digest = hash(data) if digest is None else digest
                if other.digest == digest:  # The same run, sent again: one run.
                    self.gaps -= other.gap
                    track.top = other.top
                    self._drop(tracks, other)
                    self.duplicates += 1
                    return Verdict.COPY
        for other in tracks:
            if other.parent is track:  # Its jump was not the origin's: take its gap back.
                self.gaps -= other.gap
                other.gap, other.parent = 0, None
        track.top = s
        for other in [o for o in tracks if o is not track]:
            if track.start <= other.start and other.top <= track.top:
                self._drop(tracks, other)  # Covered by this run: nothing to remember.
        if tracks[0] is not track:
            tracks.remove(track)
            tracks.insert(0, track)
        return Verdict.DELIVER

    def _start(self, pair: _Pair, s: int, data: bytes) -> _Track:
        """A new run at ``s``, its jump above the nearest run below counted as gaps."""
        tracks = self._tracks.get(pair)
        if tracks is None:
            if len(self._tracks) >= MAX_TRACKED:
                for old in list(self._tracks)[: MAX_TRACKED // 4]:
                    self.forgotten += len(self._tracks.pop(old))
            tracks = self._tracks[pair] = []
        below = [track for track in tracks if track.top < s]
        parent = max(below, key=lambda track: track.top) if below else None
        gap = 0 if parent is None else min(s - parent.top - 1, MAX_GAP)
        self.gaps += gap
        track = _Track(s, hash(data), parent if gap else None, gap)
        tracks.insert(0, track)
        if len(tracks) > MAX_TRACKS:
            self._drop(tracks, tracks[-1])
            self.forgotten += 1
        return track

    @staticmethod
    def _drop(tracks: list[_Track], gone: _Track) -> None:
        tracks.remove(gone)
        for track in tracks:
            if track.parent is gone:
                track.parent = None  # No chain of dead runs kept alive.

    def _hold(self, pair: _Pair, s: int, payload: Any, data: bytes) -> None:
        held = self._held
        if len(held) >= MAX_HELD:
            del held[next(iter(held))]
            self.rejected += 1
        held[pair] = (s, data, payload)

    def forget(self, keep: Any) -> None:
        """Forget the numbers of every key for which ``keep(key)`` is false, so that taking a
        key up again later counts nothing published meanwhile as gaps."""
        for pair in [pair for pair in self._tracks if not keep(pair[1])]:
            del self._tracks[pair]
        for pair in [pair for pair in self._held if not keep(pair[1])]:
            del self._held[pair]


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


#: What the receiving hub does with a message, and for how many seconds it retains it.
Disposition = tuple[Retention, float | None]
PUBLISH: Final[Disposition] = (Retention.NONE, None)
FORGET: Final[Disposition] = (Retention.FORGET, None)


def seal(origin: str, s: int, key: Key, message: Any, how: Disposition) -> dict[str, Any]:
    """The envelope of ``message`` (rule 2), to be encoded."""
    if how is PUBLISH:  # The commonest, first, and by identity: no enum compared.
        return {"o": origin, "s": s, "k": list(key), "p": message}
    retaining, ttl = how
    if retaining is Retention.FORGET:
        return {"o": origin, "s": s, "k": list(key), "f": 1}
    if retaining is Retention.RETAIN:
        return {"o": origin, "s": s, "k": list(key), "p": message, "r": ttl}
    return {"o": origin, "s": s, "k": list(key), "p": message}


def open_envelope(envelope: Any, key: Key) -> tuple[str, int, Any, Disposition]:
    """``(origin, s, payload, disposition)`` of a decoded envelope that travelled under
    ``key``; the payload of a tombstone is ``None``.

    :raises EnvelopeError: if it is not a well-formed envelope for that key: a field missing,
        unknown or malformed; an ``"r"`` other than ``None`` or a number from 0 to
        :data:`~aiopubsub.stores._base.MAX_TTL` (what ``retain()`` accepts); an ``"f"`` other
        than ``1``.
    """
    fields = envelope.keys() if type(envelope) is dict else None
    if fields != _ENVELOPE_FIELDS and fields != _RETAINED_FIELDS and fields != _TOMBSTONE_FIELDS:
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
    if "r" in envelope:
        return origin, s, envelope["p"], (Retention.RETAIN, _ttl(envelope["r"]))
    if "f" in envelope:
        if type(envelope["f"]) is not int or envelope["f"] != 1:
            raise EnvelopeError(f"Malformed tombstone mark {excerpt(envelope['f'])}")
        return origin, s, None, FORGET
    return origin, s, envelope["p"], PUBLISH


def _ttl(ttl: Any) -> float | None:
    if ttl is None:
        return None
    if type(ttl) not in (int, float) or not 0 <= ttl <= MAX_TTL:
        raise EnvelopeError(f"Malformed retention time {excerpt(ttl)}")
    return float(ttl)
