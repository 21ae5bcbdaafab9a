"""The submission's lifecycle as pure decisions: what a message makes its worker do (take), what
an attempt leaves behind (finish), what the sweep sends again, and the one retry rule."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from grader import lifecycle
from grader.lifecycle import (FINAL, MAX_ATTEMPTS, STATUSES, TRANSITIONS, Outcome, State, Sweep, Take,
                              infrastructure_streak, retries_exhausted)

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)
STALE_S = 600


def state(status="queued", attempts=0, recorded=(), streak=0, queued_ago=None, started_ago=None) -> State:
    ago = lambda s: None if s is None else NOW - timedelta(seconds=s)  # noqa: E731
    return State(status, attempts, frozenset(recorded), streak, ago(queued_ago), ago(started_ago))


def test_statuses_move_forward_only():
    assert set(TRANSITIONS) == set(STATUSES) and set(FINAL) <= set(STATUSES)
    order = {s: i for i, s in enumerate(STATUSES)}
    for source, targets in TRANSITIONS.items():
        assert all(order[t] > order[source] for t in targets), source
        assert (targets == ()) == (source in FINAL)
    assert lifecycle.sources_of("running") == ["queued"]
    assert set(lifecycle.sources_of("error")) == {"received", "queued", "running"}
    with pytest.raises(ValueError, match="not a submission status"):
        lifecycle.sources_of("done")
    assert lifecycle.can_regrade("graded") and not lifecycle.can_regrade("running")


def test_the_retry_rule():
    assert infrastructure_streak([]) == 0
    assert infrastructure_streak([True, False, True, True]) == 2
    assert infrastructure_streak([True, True, False]) == 0
    assert [retries_exhausted(n) for n in range(7)] == [False, False, False, True, False, False, True]
    assert MAX_ATTEMPTS == 3


def test_take():
    take = lambda s, attempt: lifecycle.take(s, attempt, NOW, STALE_S)  # noqa: E731
    assert take(state("queued", 0), 1) == lifecycle.TakeDecision(Take.START, 1)
    assert take(state("received", 0), 1).action is Take.START               # its enqueue has not committed
    assert take(state("queued", 1, recorded=[1]), 2).action is Take.START   # a regrade's next attempt
    assert take(state("queued", 0), 2).action is Take.NOTHING               # a stale message
    for final in FINAL:
        assert take(state(final, 1, recorded=[1]), 2).action is Take.NOTHING
    assert take(state("running", 1, recorded=[1], streak=1), 1).action is Take.NOTHING   # recorded already
    assert take(state("running", 1, recorded=[1], streak=1), 2) == lifecycle.TakeDecision(Take.RETRY, 2)
    assert take(state("running", 1, started_ago=10), 1).action is Take.NOTHING   # its worker is alive
    assert take(state("running", 1, started_ago=10), 2).action is Take.NOTHING   # the retry of an unrecorded one
    lost = take(state("running", 1, started_ago=STALE_S + 1), 1)
    assert lost == lifecycle.TakeDecision(Take.LOST, 2, ends_error=False)
    # the third lost attempt in a row uses up the retries
    third = take(state("running", 3, recorded=[1, 2], streak=2, started_ago=STALE_S + 1), 3)
    assert third.action is Take.LOST and third.ends_error


def test_finish():
    graded = lifecycle.finish(Outcome.GRADED, streak_before=2)
    assert (graded.status, graded.infrastructure, graded.send_next) == ("graded", False, False)
    assert lifecycle.finish(Outcome.FAILED, 0).status == "failed"
    retry = lifecycle.finish(Outcome.SETUP, 0)
    assert (retry.status, retry.infrastructure, retry.send_next, retry.at_once) == (None, True, True, False)
    assert lifecycle.finish(Outcome.SETUP, MAX_ATTEMPTS - 1).status == "error"      # the third in a row
    assert lifecycle.finish(Outcome.SETUP, MAX_ATTEMPTS).send_next                # a regrade after error: again
    alone = lifecycle.finish(Outcome.GPU_ALONE, 0)
    assert (alone.status, alone.infrastructure, alone.at_once, alone.gpu_alone) == (None, True, True, True)
    ours = lifecycle.finish(Outcome.OURS, 0)
    assert (ours.status, ours.infrastructure, ours.send_next) == ("error", False, False)
    assert lifecycle.finish(Outcome.OURS, 0, setup_error=True).infrastructure     # a bad setting: no retry


def test_sweep():
    sweep = lambda s: lifecycle.sweep(s, NOW, 900, STALE_S)  # noqa: E731
    assert sweep(state("queued", 0, queued_ago=10)).action is Sweep.NOTHING
    assert sweep(state("queued", 0, queued_ago=901)) == lifecycle.SweepDecision(Sweep.RESEND, 1)
    assert sweep(state("queued", 2, recorded=[1, 2], queued_ago=901)) == lifecycle.SweepDecision(Sweep.RESEND, 3)
    assert sweep(state("running", 1, queued_ago=900, started_ago=10)).action is Sweep.NOTHING
    # its worker died: the same attempt again (the take records it lost)
    assert sweep(state("running", 1, started_ago=STALE_S + 1)) == lifecycle.SweepDecision(Sweep.RESEND, 1)
    # its retry's message was lost: the next attempt, or error when the retries are used up
    assert sweep(state("running", 1, recorded=[1], streak=1, started_ago=STALE_S + 1)) == \
        lifecycle.SweepDecision(Sweep.RESEND, 2)
    assert sweep(state("running", 3, recorded=[1, 2, 3], streak=3, started_ago=STALE_S + 1)).action \
        is Sweep.END_ERROR
    for other in ("received", *FINAL):
        assert sweep(state(other, 1, queued_ago=10_000)).action is Sweep.NOTHING
