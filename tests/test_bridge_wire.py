"""The bridge core without a broker: the wire (origins, numbers, signatures, envelopes), the
codecs, the state table, the back-off and the settings."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import itertools
import math
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from strategies import bridge_keys

from aiopubsub import Key
from aiopubsub.bridges import (
    Backoff,
    BridgeConfigError,
    BridgeState,
    JsonCodec,
    MsgpackCodec,
)
from aiopubsub.bridges._session import TRANSITIONS, Event, StateMachine
from aiopubsub.bridges._settings import check_setting_names
from aiopubsub.bridges._wire import (
    MAX_TRACKED,
    EnvelopeError,
    Receiver,
    Retention,
    Signer,
    Stamper,
    Verdict,
    excerpt,
    open_envelope,
    seal,
)
from aiopubsub.bridges.nats import NatsBridge
from aiopubsub.bridges.redis import _SETTINGS as REDIS_SETTINGS

ROOT = Path(__file__).resolve().parent.parent

# -- origins and numbers, sending -------------------------------------------------------------


def test_stamper_numbers_each_key_from_one_and_commits_only_what_is_sent() -> None:
    stamper = Stamper()
    stamper.redraw()
    origin = stamper.origin
    assert re.fullmatch(r"[0-9a-f]{16}", origin)
    assert stamper.next(("a",)) == (origin, 1)
    assert stamper.next(("a",)) == (origin, 1)  # not committed: an encode error takes none
    stamper.commit(("a",), 1)
    assert stamper.next(("a",)) == (origin, 2)
    assert stamper.next(("b",)) == (origin, 1)
    assert stamper.next(("a", 1)) == (origin, 1)  # 1 is not '1'
    assert list(stamper.mine) == [origin]


def test_stamper_draws_a_new_origin_rather_than_forget_a_key() -> None:
    stamper = Stamper()
    stamper.redraw()
    first = stamper.origin
    for i in range(MAX_TRACKED):
        stamper.commit((str(i),), 5)
    assert stamper.next(("0",)) == (first, 6)  # known: no new origin
    origin, s = stamper.next(("new",))
    assert (origin != first, s) == (True, 1)
    assert stamper.next(("0",)) == (origin, 1)  # every key starts again
    assert list(stamper.mine) == [first, origin]  # both are this bridge's: echoes


def test_stamper_keeps_at_most_64_own_origins() -> None:
    stamper = Stamper()
    drawn = []
    for _ in range(70):
        stamper.redraw()
        drawn.append(stamper.origin)
    assert list(stamper.mine) == drawn[-64:]


def test_a_forked_child_draws_its_own_origin() -> None:
    # In a subprocess: fork() in the test process, which has threads, would be unsafe.
    program = (
        "import os, sys\n"
        "from aiopubsub.bridges._wire import Stamper\n"
        "stamper = Stamper()\n"
        "stamper.redraw()\n"
        "stamper.commit(('k',), 7)\n"
        "parent = stamper.origin\n"
        "r, w = os.pipe()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    origin, s = stamper.next(('k',))\n"
        "    mine = ','.join(stamper.mine)\n"
        "    os.write(w, f'{origin} {s} {mine}'.encode())\n"
        "    os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "child, s, mine = os.read(r, 200).decode().split()\n"
        "assert child != parent, (child, parent)\n"
        "assert s == '1' and mine == child, (s, mine)\n"
        "assert stamper.next(('k',)) == (parent, 8)\n"
        "print('ok')\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.stdout == "ok\n", done.stderr


# -- numbers, receiving -----------------------------------------------------------------------


def test_receiver_delivers_in_order_counts_gaps_and_drops_copies() -> None:
    receiver = Receiver()
    key = ("k",)
    assert receiver.admit("o", key, 5, "first seen", b"5") == Verdict.DELIVER  # no gap known
    assert receiver.admit("o", key, 6, None, b"6") == Verdict.DELIVER
    assert receiver.admit("o", key, 9, None, b"9") == Verdict.DELIVER
    assert receiver.gaps == 2
    assert receiver.admit("o", key, 9, None, b"9") == Verdict.COPY
    assert receiver.admit("o", key, 6, None, b"6") == Verdict.COPY
    assert receiver.admit("other", key, 1, None, b"1") == Verdict.DELIVER  # origins are apart
    assert receiver.admit("o", ("k2",), 1, None, b"1") == Verdict.DELIVER  # so are keys
    assert (receiver.gaps, receiver.rejected, receiver.duplicates) == (2, 0, 2)


def test_receiver_forgets_keys_no_longer_received() -> None:
    receiver = Receiver()
    receiver.admit("o", ("a",), 1, None, b"")
    receiver.admit("o", ("b",), 1, None, b"")
    receiver.forget(lambda key: key == ("a",))
    assert receiver.admit("o", ("b",), 50, None, b"") == Verdict.DELIVER
    assert receiver.admit("o", ("a",), 50, None, b"") == Verdict.DELIVER
    assert receiver.gaps == 48  # ('a',) only: ('b',) started afresh


# -- signatures and envelopes -----------------------------------------------------------------


def test_signer_accepts_its_own_and_refuses_forged_unsigned_or_foreign() -> None:
    signer = Signer(b"s" * 16, "ns")
    signed = signer.sign(b"body")
    assert len(signed) == 32 + 4
    assert signer.verify(signed) == b"body"
    for bad in [
        b"body",  # unsigned
        signed[:-1] + b"X",  # tampered body
        bytes([signed[0] ^ 1]) + signed[1:],  # tampered MAC
        Signer(b"t" * 16, "ns").sign(b"body"),  # another secret
        Signer(b"s" * 16, "other").sign(b"body"),  # another namespace: no replay across
        b"",
    ]:
        with pytest.raises(EnvelopeError, match=r"^Unsigned or forged message: "):
            signer.verify(bad)


def test_open_envelope_checks_every_field() -> None:
    key = Key("a", "b")
    good = {"o": "origin", "s": 1, "k": ["a", "b"], "p": {"x": 1}}
    assert open_envelope(good, key) == ("origin", 1, {"x": 1}, (Retention.NONE, None))
    bad: list[tuple[object, str]] = [
        ([1], r"^Not an aiopubsub envelope"),
        ({**good, "n": 1}, r"^Not an aiopubsub envelope"),
        ({**good, "o": 5}, r"^Malformed origin"),
        ({**good, "o": ""}, r"^Malformed origin"),
        ({**good, "o": "x" * 65}, r"^Malformed origin"),
        ({**good, "s": 0}, r"^Malformed sequence number"),
        ({**good, "s": True}, r"^Malformed sequence number"),
        ({**good, "s": 1.0}, r"^Malformed sequence number"),
        ({**good, "k": ["a"]}, r"^Malformed key"),
        ({**good, "k": ["a", True]}, r"^Envelope key \['a', True\] is not its channel's"),
        ({**good, "k": ["a", 1]}, r"^Envelope key \['a', 1\] is not its channel's"),
        ({**good, "k": ["a", "c"]}, r"^Envelope key \['a', 'c'\] is not its channel's"),
        ({**good, "f": 1}, r"^Not an aiopubsub envelope"),  # a tombstone has no payload
        ({"o": "origin", "s": 1, "k": ["a", "b"]}, r"^Not an aiopubsub envelope"),
    ]
    for envelope, message in bad:
        with pytest.raises(EnvelopeError, match=message):
            open_envelope(envelope, key)
    with pytest.raises(EnvelopeError, match=r"^A message cannot travel under the wildcard key"):
        open_envelope({**good, "k": ["a", "*"]}, Key("a", "*"))


def test_an_envelope_says_whether_to_publish_retain_or_forget() -> None:
    good = {"o": "origin", "s": 1, "k": ["a"], "p": 1}
    key = Key("a")
    assert open_envelope(good, key)[3] == (Retention.NONE, None)
    assert open_envelope({**good, "r": None}, key) == ("origin", 1, 1, (Retention.RETAIN, None))
    assert open_envelope({**good, "r": 2}, key)[3] == (Retention.RETAIN, 2.0)
    assert open_envelope({**good, "r": 0}, key)[3] == (Retention.RETAIN, 0.0)
    assert open_envelope({**good, "r": 10**9}, key)[3] == (Retention.RETAIN, 1e9)
    # Beyond what retain() takes: refused here, not raised out of the receiver by retain().
    for bad in (-1, float("nan"), float("inf"), True, "1", [1], 1e9 + 1, 10**400):
        with pytest.raises(EnvelopeError, match=r"^Malformed retention time"):
            open_envelope({**good, "r": bad}, key)
    tombstone = {"o": "origin", "s": 2, "k": ["a"], "f": 1}
    assert open_envelope(tombstone, key) == ("origin", 2, None, (Retention.FORGET, None))
    for bad in (0, 2, True, 1.0, "1", None):
        with pytest.raises(EnvelopeError, match=r"^Malformed tombstone mark"):
            open_envelope({**tombstone, "f": bad}, key)


def test_errors_about_a_huge_message_quote_a_few_hundred_characters() -> None:
    huge = b"x" * 20_000_000
    assert len(excerpt(huge)) < 300
    assert excerpt(huge).endswith("... (20000000 bytes)")
    envelope = {"o": "o", "s": 1, "k": ["a"], "p": "y" * 20_000_000, "extra": 1}
    with pytest.raises(EnvelopeError) as caught:
        open_envelope(envelope, Key("a"))
    assert len(str(caught.value)) < 400
    with pytest.raises(ValueError, match=r"^Unknown tag") as decoding:
        JsonCodec().decode(b'{"~nope": "' + b"z" * 1_000_000 + b'"}')
    assert len(str(decoding.value)) < 400


# -- codecs -----------------------------------------------------------------------------------


class Side(enum.Enum):
    BUY = "buy"
    SELL = "sell"


@dataclasses.dataclass(frozen=True)
class Trade:
    symbol: str
    price: Decimal
    side: Side
    at: dt.datetime


CODECS = [JsonCodec, MsgpackCodec]
json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(max_size=3), inner, max_size=3),
    ),
    max_leaves=10,
)
rich_values = st.recursive(
    st.one_of(
        json_values,
        st.binary(max_size=8),
        st.decimals(allow_nan=False),
        st.datetimes(timezones=st.sampled_from([None, dt.UTC])),
        st.dates(),
        st.times(),
        st.timedeltas(),
        st.uuids(),
        st.sampled_from(Side),
        st.builds(
            Trade,
            st.text(max_size=4),
            st.decimals(allow_nan=False, allow_infinity=False),
            st.sampled_from(Side),
            st.datetimes(timezones=st.just(dt.UTC)),
        ),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=3), inner, max_size=3),
    ),
    max_leaves=10,
)


def same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (a tuple is not a list, 1 is not 1.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, Decimal) and a.is_nan():
        return b.is_nan()
    return bool(a == b)


@pytest.mark.parametrize("codec_type", CODECS)
@settings(max_examples=60)
@given(value=rich_values)
@example(value={"~t": [1]})
@example(value={"~m": [["~t", 1]]})
@example(value={"~": None})
@example(value=[(), b"", Decimal("-0.0"), Decimal("sNaN"), Decimal("Infinity")])
@example(value=dt.datetime(2026, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))))
def test_codec_round_trips_what_people_publish(codec_type: type[JsonCodec], value: Any) -> None:
    codec = codec_type(types=[Trade, Side])
    envelope = {"o": "x", "s": 1, "k": ["a", 1], "p": value}
    try:
        data = codec.encode(envelope)
    except OverflowError:
        # MessagePack carries ints of 64 bits only: an encode error, counted like any other.
        assert codec_type is MsgpackCodec
        assume(False)
    assert isinstance(data, bytes)
    assert same(codec.decode(data), envelope)


@pytest.mark.parametrize("codec_type", CODECS)
def test_codec_refuses_what_it_cannot_carry(codec_type: type[JsonCodec]) -> None:
    codec = codec_type()
    cases: list[tuple[object, type[Exception], str]] = [
        ({1: "a"}, TypeError, r"^Cannot encode a dict key that is not a str: 1 \(int\)$"),
        ({("a",): 1}, TypeError, r"^Cannot encode a dict key that is not a str"),
        (math.nan, ValueError, r"^Cannot encode the non-finite float nan$"),
        ([math.inf], ValueError, r"^Cannot encode the non-finite float inf$"),
        ({"x": -math.inf}, ValueError, r"^Cannot encode the non-finite float -inf$"),
        ({1, 2}, TypeError, r"^Cannot encode \{1, 2\} of type builtins\.set: register"),
        (Side.BUY, TypeError, r"^Cannot encode <Side\.BUY: 'buy'> of type .*Side: register"),
        (object(), TypeError, r"^Cannot encode <object object at .*> of type builtins\.object"),
        (Key("a"), TypeError, r"^Cannot encode \('a',\) of type aiopubsub\._key\.Key"),
    ]
    for value, error, message in cases:
        with pytest.raises(error, match=message):
            codec.encode({"p": value})
    # The advice names the codec in use.
    advice = rf"register dataclasses and Enums with {codec_type.__name__}\(types=\[\.\.\.\]\)$"
    with pytest.raises(TypeError, match=advice):
        codec.encode({"p": Side.BUY})


def test_codec_builds_only_registered_types() -> None:
    sender = JsonCodec(types=[Trade, Side])
    trade = Trade("ACME", Decimal("12.50"), Side.BUY, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    data = sender.encode(trade)
    assert sender.decode(data) == trade
    with pytest.raises(ValueError, match=r"^Unregistered type '.*' in ~(dc|enum)$"):
        JsonCodec().decode(data)
    for forged in [
        b'{"~dc": ["os.system", {"command": "true"}]}',
        b'{"~enum": ["builtins.object", 1]}',
        b'{"~pickle": "gASV"}',
        b'{"~dc": "x"}',
        b'{"~td": [1, 2]}',
        b'{"~b": "not base64!"}',
        b'{"~m": [["a"]]}',
    ]:
        with pytest.raises((ValueError, TypeError)):
            sender.decode(forged)


def test_codec_refuses_to_register_other_types() -> None:
    with pytest.raises(TypeError, match=r"^types must hold dataclasses and Enum classes, got"):
        JsonCodec(types=[dict])
    assert repr(JsonCodec(types=[Trade])) == "JsonCodec(types=[Trade])"
    assert repr(JsonCodec()) == "JsonCodec()"


def test_json_codec_carries_what_orjson_cannot_through_json() -> None:
    codec = JsonCodec()
    data = codec.encode({"p": "\ud800é"})
    assert data.startswith(b" {")
    assert data.isascii()
    assert codec.decode(data) == {"p": "\ud800é"}
    for big in [2**64, -(2**63) - 1, 10**30]:
        data = codec.encode({"p": big})
        assert data.startswith(b" {")  # read back with json: orjson would make it a float
        back = codec.decode(data)["p"]
        assert (type(back), back) == (int, big)
    assert codec.encode({"p": 2**63}) == b'{"p":9223372036854775808}'  # orjson's range
    assert codec.decode(b'{"p":9223372036854775808}')["p"] == 2**63


# -- states and back-off ----------------------------------------------------------------------


def test_state_machine_follows_exactly_the_table() -> None:
    for state, event in itertools.product(BridgeState, Event):
        announced: list[tuple[BridgeState, BaseException | None]] = []
        machine = StateMachine(lambda s, e: announced.append((s, e)))  # noqa: B023
        machine.state = state
        expected = TRANSITIONS.get((state, event))
        if expected is None:
            with pytest.raises(RuntimeError, match=rf"^Bridge event '{event}' in state '{state}'"):
                machine.fire(event)
            assert machine.state is state  # unchanged
        else:
            assert machine.fire(event) is expected
            assert announced == ([] if expected is state else [(expected, None)])


def test_backoff_resets_only_after_a_session_that_lasted(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr("aiopubsub.bridges._session.time.monotonic", lambda: now[0])
    backoff = Backoff(base=0.1, cap=0.5, reset_after=1.0)
    for _ in range(5):
        backoff.next_delay()
    assert backoff.failures == 5
    backoff.session_started()
    now[0] += 0.5  # a session that failed at once: no reset
    backoff.next_delay()
    assert backoff.failures == 6
    backoff.session_started()
    now[0] += 1.0
    assert backoff.bound() == 0.5  # capped
    backoff.next_delay()
    assert backoff.failures == 1  # reset, then this failure
    assert Backoff().cap <= 0.5  # reconnects within half a second of the broker's return


# -- settings ---------------------------------------------------------------------------------


def test_settings_refuse_a_near_miss_of_a_shared_name() -> None:
    with pytest.raises(
        BridgeConfigError,
        match=r"^Setting AIOPUBSUB_NAMESPCE is unknown \(did you mean AIOPUBSUB_NAMESPACE\?\)",
    ):
        check_setting_names(REDIS_SETTINGS, "AIOPUBSUB_REDIS_", {"AIOPUBSUB_NAMESPCE": "x"})
    with pytest.raises(BridgeConfigError, match=r"^Setting AIOPUBSUB_BRIDGE_SECRT is unknown"):
        check_setting_names(REDIS_SETTINGS, "AIOPUBSUB_REDIS_", {"AIOPUBSUB_BRIDGE_SECRT": "x"})
    # Another broker's settings, in the same settings object, are not mistakes.
    check_setting_names(REDIS_SETTINGS, "AIOPUBSUB_REDIS_", {"AIOPUBSUB_NATS_URL": "nats://x"})


def test_secret_setting_is_checked_and_never_shown() -> None:
    settings = {"AIOPUBSUB_NATS_URL": "nats://x:4222", "AIOPUBSUB_BRIDGE_SECRET": "short"}
    with pytest.raises(
        BridgeConfigError,
        match=r"^Setting AIOPUBSUB_BRIDGE_SECRET is malformed \(secret must be at least 16"
        r" bytes long, got 5\): set it to a str of at least 16 bytes",
    ):
        NatsBridge.from_settings(_hub(), settings)
    settings["AIOPUBSUB_BRIDGE_SECRET"] = "a long enough secret"
    bridge = NatsBridge.from_settings(_hub(), settings)
    assert "secret" not in repr(bridge)
    with pytest.raises(TypeError, match=r"^secret must be a str or bytes, got int$"):
        NatsBridge(_hub(), secret=12345678901234567890)  # type: ignore[arg-type]


@pytest.mark.parametrize("namespace", ["a.b", "a*", "a>", "a b", "", "tab\t"])
def test_nats_bridge_refuses_a_namespace_that_is_not_one_token(namespace: str) -> None:
    with pytest.raises(BridgeConfigError, match=r"^namespace must be a non-empty str without '\.'"):
        NatsBridge(_hub(), namespace=namespace)


def test_nats_from_settings_names_a_bad_url() -> None:
    with pytest.raises(
        BridgeConfigError,
        match=r"^Setting AIOPUBSUB_NATS_URL is malformed \(url must be a NATS URL \(nats://,"
        r" tls://, ws://, wss://\), got 'redis://x'\)",
    ):
        NatsBridge.from_settings(_hub(), {"AIOPUBSUB_NATS_URL": "redis://x"})
    with pytest.raises(BridgeConfigError, match=r"^Setting AIOPUBSUB_NATS_URL is missing"):
        NatsBridge.from_settings(_hub(), {})


def _hub() -> Any:
    import aiopubsub

    return aiopubsub.Hub()


dispositions = st.one_of(
    st.just((Retention.NONE, None)),
    st.tuples(st.just(Retention.RETAIN), st.none() | st.floats(0, 1e9).map(float)),
    st.just((Retention.FORGET, None)),
)


@pytest.mark.parametrize("codec_type", CODECS)
@settings(max_examples=60)
@given(key=bridge_keys(), message=rich_values, how=dispositions, s=st.integers(1, 2**63 - 1))
def test_open_envelope_reads_what_seal_made(
    codec_type: type[JsonCodec], key: tuple[Any, ...], message: Any, how: Any, s: int
) -> None:
    codec = codec_type(types=[Trade, Side])
    envelope = seal("origin", s, Key(*key), message, how)
    try:
        data = codec.encode(envelope)
    except (OverflowError, UnicodeEncodeError):
        # MessagePack carries neither ints beyond 64 bits nor lone surrogates: an encode
        # error, counted like any other.
        assert codec_type is MsgpackCodec
        assume(False)
    origin, got_s, payload, got_how = open_envelope(codec.decode(data), Key(*key))
    assert (origin, got_s, got_how) == ("origin", s, how)
    assert same(payload, None if how[0] == Retention.FORGET else message)
