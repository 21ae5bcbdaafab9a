"""The life of a submission, as pure decisions on plain values (no database, no broker).

A submission moves forward through STATUSES along TRANSITIONS only:

    received -> queued -> running -> graded | failed | error

graded is a score; failed is the submission's fault, with a reason for the student; error is ours
(a broken suite, or setup problems that retrying did not fix). Each grading attempt of it is one
recorded run. The one backward move is a regrade: a final submission goes back to queued and its
next attempt is a new run; earlier runs stay.

The queue's task and its sweep read a submission into `State`, ask `take`, `finish` or `sweep`
here what to do, and carry it out with conditional updates (a message delivered twice, late, or
after its worker died then does the right thing). The retry rule lives here once:
`retries_exhausted`.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

STATUSES = ("received", "queued", "running", "graded", "failed", "error")
FINAL = ("graded", "failed", "error")
ACTIVE = ("received", "queued", "running")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "received": ("queued", "failed", "error"),
    "queued": ("running", "failed", "error"),
    "running": ("graded", "failed", "error"),
    "graded": (),
    "failed": (),
    "error": (),
}

MAX_ATTEMPTS = 3        # setup problems in a row before a submission ends `error` (a regrade gets as many again)

ERROR_REASON = ("This submission could not be graded because of a problem on our side; it was not scored. "
                "The course staff can see the details and will grade it again.")
WORKER_LOST = ("the worker grading it stopped before it finished (killed, out of memory, a restarted machine, "
               "or the task's hard time limit)")


class Outcome(str, Enum):
    """How one grading attempt ended."""

    GRADED = "graded"          # a score
    FAILED = "failed"          # the submission cannot be graded (SubmissionError): final, its reason shown
    SETUP = "setup"            # the machine's setup (a SetupError a retry may fix, the soft time limit)
    OURS = "ours"              # a broken suite or manifest, a bug, a setting retrying cannot fix: error at once
    GPU_ALONE = "gpu_alone"    # CUDA ran out of memory beside a measured neighbour: once more, the GPU alone


@dataclass(frozen=True)
class State:
    """What the decisions read of a submission."""

    status: str
    attempts: int                    # the attempt in progress (running) or the last one started
    recorded: frozenset[int]         # attempts that have a recorded run
    streak: int                      # infrastructure runs at the end of its history (`infrastructure_streak`)
    queued_at: datetime | None       # last handed to the queue or taken by a worker
    started_at: datetime | None      # the current attempt's start


def infrastructure_streak(infrastructure: Iterable[bool]) -> int:
    """How many runs at the end of a history (oldest first) were setup problems, never a score."""
    count = 0
    for flag in reversed(list(infrastructure)):
        if not flag:
            break
        count += 1
    return count


def retries_exhausted(streak: int) -> bool:
    """After this many setup problems in a row the submission ends `error`: every MAX_ATTEMPTS
    (a regrade after an `error` gets MAX_ATTEMPTS attempts again)."""
    return streak > 0 and streak % MAX_ATTEMPTS == 0


class Take(str, Enum):
    NOTHING = "nothing"        # a final submission, an attempt recorded already, a duplicate message
    START = "start"            # queued (or received: its enqueue has not committed yet) -> running
    RETRY = "retry"            # running, the previous attempt recorded: this one starts
    LOST = "lost"              # the attempt in progress outlived the limit: its worker is dead


@dataclass(frozen=True)
class TakeDecision:
    action: Take
    attempt: int = 0           # the attempt the taker runs (LOST: the lost one is `attempt - 1`)
    ends_error: bool = False   # LOST only: recording the lost attempt uses up the retries


def take(state: State, attempt: int, now: datetime, running_stale_s: float) -> TakeDecision:
    """What a message for `attempt` makes its worker do."""
    if state.status in FINAL or attempt in state.recorded:
        return TakeDecision(Take.NOTHING)
    if state.status in ("received", "queued"):
        return TakeDecision(Take.START, attempt) if state.attempts + 1 == attempt else TakeDecision(Take.NOTHING)
    if state.status != "running":
        return TakeDecision(Take.NOTHING)
    if state.attempts == attempt - 1 and state.attempts in state.recorded:
        return TakeDecision(Take.RETRY, attempt)
    if state.attempts == attempt:
        started = state.started_at
        if started is not None and now - started < timedelta(seconds=running_stale_s):
            return TakeDecision(Take.NOTHING)             # its worker is alive: a duplicate message
        # recorded as an infrastructure run: a submission that keeps killing its worker ends
        # `error` like any setup problem
        return TakeDecision(Take.LOST, attempt + 1, ends_error=retries_exhausted(state.streak + 1))
    return TakeDecision(Take.NOTHING)


@dataclass(frozen=True)
class FinishDecision:
    status: str | None         # the final status to set, or None: it stays running for the next attempt
    infrastructure: bool       # the run is recorded as a setup problem (never a score)
    send_next: bool = False    # send the next attempt (after a backoff, unless `at_once`)
    at_once: bool = False
    gpu_alone: bool = False    # the next attempt takes its GPU to itself


def finish(outcome: Outcome, streak_before: int, setup_error: bool = False) -> FinishDecision:
    """What an attempt that ended in `outcome` leaves behind; `streak_before`: the infrastructure
    streak before this attempt's run; `setup_error`: OURS came from a setting (recorded as
    infrastructure, still no retry)."""
    if outcome is Outcome.GRADED:
        return FinishDecision("graded", infrastructure=False)
    if outcome is Outcome.FAILED:
        return FinishDecision("failed", infrastructure=False)
    if outcome is Outcome.SETUP:
        if retries_exhausted(streak_before + 1):
            return FinishDecision("error", infrastructure=True)
        return FinishDecision(None, infrastructure=True, send_next=True)
    if outcome is Outcome.GPU_ALONE:        # not the student's fault, and not counted: once more, alone
        return FinishDecision(None, infrastructure=True, send_next=True, at_once=True, gpu_alone=True)
    return FinishDecision("error", infrastructure=setup_error)


class Sweep(str, Enum):
    NOTHING = "nothing"
    RESEND = "resend"          # send `attempt` again (its message was lost, or its worker died)
    END_ERROR = "end_error"    # its retry message was lost and the retries are used up


@dataclass(frozen=True)
class SweepDecision:
    action: Sweep
    attempt: int = 0


def sweep(state: State, now: datetime, queued_after_s: float, running_after_s: float) -> SweepDecision:
    """What the periodic sweep does with a queued or running submission that may have been lost
    (received ones are simply sent: the outbox)."""
    if state.status == "queued":
        if state.queued_at is not None and now - state.queued_at < timedelta(seconds=queued_after_s):
            return SweepDecision(Sweep.NOTHING)
        return SweepDecision(Sweep.RESEND, state.attempts + 1)
    if state.status == "running":
        moments = [m for m in (state.queued_at, state.started_at) if m is not None]
        if moments and now - max(moments) < timedelta(seconds=running_after_s):
            return SweepDecision(Sweep.NOTHING)
        if state.attempts in state.recorded:                 # its retry message was lost
            if retries_exhausted(state.streak):
                return SweepDecision(Sweep.END_ERROR)
            return SweepDecision(Sweep.RESEND, state.attempts + 1)
        return SweepDecision(Sweep.RESEND, state.attempts)   # the take finds it lost, or graded meanwhile
    return SweepDecision(Sweep.NOTHING)


def can_regrade(status: str) -> bool:
    """Only a final submission is graded again; one still on its way will be graded anyway."""
    return status in FINAL


def sources_of(target: str) -> list[str]:
    """The statuses a submission may move to `target` from (ValueError for a status that is none)."""
    if target not in TRANSITIONS:
        raise ValueError(f"{target!r} is not a submission status ({', '.join(TRANSITIONS)})")
    return [status for status, targets in TRANSITIONS.items() if target in targets]
