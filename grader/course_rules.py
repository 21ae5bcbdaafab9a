"""The course's rules for one student and one exercise, as plain functions (no database): the
due date (an extension moves it), the late penalty and the score a submission counts for after
it (`counting_score`: every page and list shows that one), and whether a new submission is
allowed now (closed after the due date, at most N per window, a cool-off between two). The
storage enforces them inside the transaction that stores a submission; the pages show the same
numbers before the student uploads."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import SubmissionRefused, TooManySubmissions
from .words import plural


@dataclass(frozen=True)
class Rules:
    due_at: datetime | None            # the student's own due date (extension included)
    penalty_per_day: float = 0.0       # fraction of the score per started day late
    max_penalty: float = 0.0           # cap, fraction of the score
    closed_after_due: bool = False
    max_submissions: int | None = None
    window_hours: float | None = None  # None: the limit counts every submission of the course
    cooloff_minutes: float = 0.0


def rules_for(exercise, extension_due: datetime | None = None) -> Rules:
    """An `Exercise` row (or anything with its attributes) and the student's extension, if any."""
    return Rules(extension_due or exercise.due_at, exercise.penalty_per_day or 0.0, exercise.max_penalty or 0.0,
                 bool(exercise.closed_after_due), exercise.max_submissions, exercise.window_hours,
                 exercise.cooloff_minutes or 0.0)


def late_penalty(rules: Rules, received_at: datetime) -> float:
    """The fraction of the score taken off: penalty_per_day per started day after the due date, at
    most max_penalty (0 when on time or without a due date)."""
    if rules.due_at is None or received_at <= rules.due_at or not rules.penalty_per_day:
        return 0.0
    days = math.ceil((received_at - rules.due_at).total_seconds() / 86400)
    return min(rules.penalty_per_day * days, rules.max_penalty if rules.max_penalty else 1.0, 1.0)


@dataclass(frozen=True)
class Score:
    """A graded submission's score as it counts: the run's score and bonus less the late penalty
    (the same fraction of both). Computed here alone, so the gradebook, the lists of submissions
    and the submission page say the same numbers."""

    raw_score: float
    raw_bonus: float
    max_score: float | None
    penalty: float = 0.0               # the fraction taken off (0: on time)

    @property
    def score(self) -> float:
        return self.raw_score * (1.0 - self.penalty)

    @property
    def bonus(self) -> float:
        return self.raw_bonus * (1.0 - self.penalty)


def counting_score(rules: Rules, received_at: datetime, score: float, bonus: float | None,
                   max_score: float | None) -> Score:
    """The score a run of a submission received at `received_at` counts for, under `rules`."""
    return Score(score, bonus or 0.0, max_score, late_penalty(rules, received_at))


def counted(rules: Rules, times: list[datetime], now: datetime) -> list[datetime]:
    """The earlier submissions that count against the limit now (those inside the window)."""
    if rules.window_hours is None:
        return list(times)
    start = now - timedelta(hours=rules.window_hours)
    return [t for t in times if t > start]


@dataclass(frozen=True)
class Allowance:
    allowed: bool
    left: int | None                   # submissions left in the window (None: no limit)
    next_at: datetime | None           # when the next one is possible, if not now
    reason: str | None                 # why not, in words for the student
    kind: str | None = None            # closed | limit | cooloff


def allowance(rules: Rules, times: list[datetime], now: datetime) -> Allowance:
    """May the student submit now, given the times of their earlier submissions?"""
    if rules.closed_after_due and rules.due_at is not None and now > rules.due_at:
        return Allowance(False, 0, None, f"The due date ({_when(rules.due_at)}) has passed and this exercise "
                                         "takes no late submissions.", "closed")
    inside = sorted(counted(rules, times, now))
    left = None if rules.max_submissions is None else max(rules.max_submissions - len(inside), 0)
    if left == 0:
        if rules.window_hours is None:
            return Allowance(False, 0, None, f"You have used your {plural(rules.max_submissions, 'submission')} for this "
                                             "exercise.", "limit")
        next_at = inside[len(inside) - rules.max_submissions] + timedelta(hours=rules.window_hours)
        return Allowance(False, 0, next_at, f"You have used your {plural(rules.max_submissions, 'submission')} of the last "
                                            f"{rules.window_hours:g} hours; the next is possible at {_when(next_at)}.",
                             "limit")
    if rules.cooloff_minutes and times:
        next_at = max(times) + timedelta(minutes=rules.cooloff_minutes)
        if now < next_at:
            return Allowance(False, left, next_at, f"Please wait {rules.cooloff_minutes:g} minutes between "
                                                   f"submissions; the next is possible at {_when(next_at)}.", "cooloff")
    return Allowance(True, left, None, None)


def check(rules: Rules, times: list[datetime], now: datetime) -> None:
    """Raise the refusal the student sees (SubmissionRefused: closed; TooManySubmissions: limits)."""
    verdict = allowance(rules, times, now)
    if verdict.allowed:
        return
    if verdict.kind == "closed":
        raise SubmissionRefused(verdict.reason)
    raise TooManySubmissions(verdict.reason)


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")
