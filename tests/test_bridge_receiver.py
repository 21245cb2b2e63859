"""The receiver's rules (``aiopubsub.bridges._wire``, rule 4) against forged, replayed and
copied envelopes: nothing real muted, gaps bounded, every drop counted, memory bounded."""

from __future__ import annotations

import pytest

from aiopubsub.bridges._wire import (
    MAX_GAP,
    MAX_HELD,
    MAX_JUMP,
    MAX_TRACKS,
    WINDOW,
    Receiver,
    Verdict,
)

KEY = ("k",)


def real(receiver: Receiver, numbers: range, origin: str = "o") -> list[int]:
    """The verdicts on the real messages ``numbers`` (their bytes say they are real)."""
    return [receiver.admit(origin, KEY, s, s, b"real %d" % s) for s in numbers]


def delivered(verdicts: list[int]) -> int:
    return sum(verdict in (Verdict.DELIVER, Verdict.RELEASE) for verdict in verdicts)


@pytest.mark.parametrize("jump", [1, 1000, MAX_JUMP, 65536, 2**62])
def test_a_forged_jump_of_any_size_mutes_nothing_and_leaves_no_gap(jump: int) -> None:
    receiver = Receiver()
    real(receiver, range(1, 11))
    receiver.admit("o", KEY, 10 + jump + 1, "forged", b"forged")  # jump numbers skipped
    assert delivered(real(receiver, range(11, 1011))) == 1000
    assert receiver.gaps == 0
    assert (receiver.duplicates, receiver.forgotten) == (0, 0)


@pytest.mark.parametrize("jump", [1000, MAX_JUMP, 2**62])
def test_two_consecutive_forged_numbers_mute_nothing(jump: int) -> None:
    receiver = Receiver()
    real(receiver, range(1, 11))
    for s in (10 + jump, 11 + jump):
        receiver.admit("o", KEY, s, "forged", b"forged %d" % s)
    assert 0 < receiver.gaps <= MAX_GAP  # a stated cap, until the real run grows again
    assert delivered(real(receiver, range(11, 1011))) == 1000
    assert receiver.gaps == 0


def test_forged_numbers_interleaved_with_real_ones_mute_nothing() -> None:
    receiver = Receiver()
    verdicts = []
    for s in range(1, 1001):
        verdicts += real(receiver, range(s, s + 1))
        receiver.admit("o", KEY, 3 * s + 500, "forged", b"forged")
        receiver.admit("o", KEY, 2**40 + s, "forged", b"forged")
    assert delivered(verdicts) == 1000
    assert receiver.gaps <= MAX_GAP


def test_a_forged_next_number_costs_at_most_that_one_message_counted() -> None:
    receiver = Receiver()
    real(receiver, range(1, 11))
    receiver.admit("o", KEY, 11, "forged", b"forged")
    verdicts = real(receiver, range(11, 21))
    assert verdicts[0] == Verdict.COPY
    assert delivered(verdicts) == 9
    assert (receiver.duplicates, receiver.gaps) == (1, 0)


def test_copies_are_counted_and_a_replay_below_the_window_is_rejected() -> None:
    receiver = Receiver()
    real(receiver, range(1, WINDOW + 101))
    assert real(receiver, range(WINDOW + 1, WINDOW + 101)) == [Verdict.COPY] * 100
    assert receiver.duplicates == 100
    assert real(receiver, range(1, 4)) == [Verdict.REJECT] * 3
    assert delivered(real(receiver, range(WINDOW + 101, WINDOW + 111))) == 10
    assert receiver.gaps == 0


def test_with_a_secret_a_replayed_old_message_cannot_reset_the_state() -> None:
    receiver = Receiver(strict=True)
    real(receiver, range(1, 100_001))
    assert receiver.admit("o", KEY, 10, "old", b"real 10") == Verdict.REJECT
    assert receiver.admit("o", KEY, 99_999, "old", b"real 99999") == Verdict.COPY
    assert real(receiver, range(100_001, 100_003)) == [Verdict.DELIVER] * 2
    assert receiver.gaps == 0


def test_with_a_secret_a_jump_is_authentic_and_counted_at_once() -> None:
    receiver = Receiver(strict=True)
    real(receiver, range(1, 11))
    assert real(receiver, range(1_000_011, 1_000_013)) == [Verdict.DELIVER] * 2
    assert receiver.gaps == MAX_GAP  # capped: one message adds at most MAX_GAP
    assert receiver.admit("o", KEY, 500, "replay", b"x") == Verdict.REJECT  # below a run


def test_a_real_loss_is_counted_exactly() -> None:
    receiver = Receiver()
    real(receiver, range(1, 101))
    assert delivered(real(receiver, range(251, 301))) == 50
    assert receiver.gaps == 150
    assert real(receiver, range(260, 270)) == [Verdict.COPY] * 10  # a batch sent again
    assert receiver.gaps == 150


def test_a_run_sent_again_from_its_start_merges_with_the_run_below() -> None:
    receiver = Receiver()
    real(receiver, range(1, 101))
    real(receiver, range(130, 201))  # 101..129 missed: counted
    assert receiver.gaps == 29
    assert delivered(real(receiver, range(101, 130))) == 29  # sent again after all
    assert receiver.gaps == 0
    assert real(receiver, range(130, 201)) == [Verdict.COPY] * 71
    assert delivered(real(receiver, range(201, 203))) == 2


def test_an_implausible_jump_is_held_until_the_next_number_confirms_it() -> None:
    receiver = Receiver()
    real(receiver, range(1, 2))
    far = 2 + MAX_JUMP
    assert receiver.admit("o", KEY, far, "held", b"held") == Verdict.HOLD
    assert receiver.admit("o", KEY, far + 1, "next", b"next") == Verdict.RELEASE
    assert receiver.release("o", KEY) == "held"
    assert receiver.gaps == min(far - 2, MAX_GAP)
    assert receiver.admit("o", KEY, far + 2, None, b"") == Verdict.DELIVER


def test_an_unconfirmed_held_message_is_rejected() -> None:
    receiver = Receiver()
    real(receiver, range(1, 2))
    assert receiver.admit("o", KEY, 2**62, "forged", b"forged") == Verdict.HOLD
    assert real(receiver, range(2, 4)) == [Verdict.DELIVER] * 2
    assert (receiver.gaps, receiver.rejected) == (0, 1)


def test_held_messages_are_bounded_and_each_one_pushed_out_counted() -> None:
    receiver = Receiver()
    for origin in range(MAX_HELD + 10):
        receiver.admit(str(origin), KEY, 1, None, b"")
        receiver.admit(str(origin), KEY, 2**62, "forged", b"forged")
    assert len(receiver._held) == MAX_HELD
    assert receiver.rejected == 10


def test_runs_are_bounded_and_each_one_forgotten_counted() -> None:
    receiver = Receiver()
    real(receiver, range(1000, 1010))  # first seen mid-stream
    for n in range(1, 101):  # each below every run: a new run, no gap
        receiver.admit("o", KEY, 1000 - 5 * n, "forged", b"forged")
    assert len(receiver._tracks[("o", KEY)]) == MAX_TRACKS
    assert receiver.forgotten == 101 - MAX_TRACKS
    assert delivered(real(receiver, range(1010, 1110))) == 100  # the real run starts again
    assert receiver.gaps <= MAX_GAP


def test_a_first_forged_number_does_not_mute_a_key() -> None:
    receiver = Receiver()
    assert receiver.admit("o", KEY, 10**18, "forged, first seen", b"f") == Verdict.DELIVER
    assert delivered(real(receiver, range(1, 3))) == 2
    assert receiver.gaps == 0
