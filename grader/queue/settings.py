"""The queue's time limits, derived from the exercises' manifests.

A grading lasts at most its sandbox's life (`Exercise.sandbox_wall_s`: the suite's time limit and
the sandbox's margin, both defined in grader/manifest.py), so the longest grading is that of the
slowest exercise; every other limit is counted from it, each margin defined once here:

    longest grading  <  soft time limit  <  hard time limit  <  sweep of running  <  visibility timeout
"""
from __future__ import annotations

from dataclasses import dataclass

from ..config import Config

SOFT_MARGIN_S = 60          # the task is told to stop this long after the longest grading would end
HARD_MARGIN_S = 60          # ... and killed this long after that
SWEEP_MARGIN_S = 60         # a running submission is presumed lost this long after the hard limit
REDELIVERY_MARGIN_S = 600   # Redis redelivers an unacknowledged message this long after it, plus a retry's wait
RETRY_BACKOFF_S = (5, 15, 45, 120, 300)   # the wait before attempt 2, 3, ... (the last one repeats)


@dataclass(frozen=True)
class Timings:
    longest_grading_s: float    # the slowest exercise's sandbox life (Exercise.sandbox_wall_s)
    soft_limit_s: float         # SoftTimeLimitExceeded in the task: recorded as a setup problem
    hard_limit_s: float         # the pool kills the child; the message is redelivered
    visibility_timeout_s: float # Redis redelivers an unacknowledged message after this
    sweep_queued_s: float       # a queued submission with no news this long: its message is sent again
    sweep_running_s: float      # a running one: its worker is dead (past the hard limit): sent again
    sweep_interval_s: float     # how often each worker sweeps


def longest_grading_s(config: Config) -> float:
    """The longest sandbox life of any exercise (a broken manifest fails its own submissions only)."""
    from ..manifest import DEFAULT_SUITE_TIMEOUT_S, SANDBOX_WALL_MARGIN_S, loadable_exercises
    lives = [exercise.sandbox_wall_s for exercise in loadable_exercises(config.exercises_dir)]
    return float(max(lives, default=DEFAULT_SUITE_TIMEOUT_S + SANDBOX_WALL_MARGIN_S))


def timings(config: Config) -> Timings:
    longest = longest_grading_s(config)
    soft = longest + SOFT_MARGIN_S
    hard = soft + HARD_MARGIN_S
    visibility = hard + REDELIVERY_MARGIN_S + max(RETRY_BACKOFF_S)   # also covers a retry's countdown (an ETA message)
    running = hard + SWEEP_MARGIN_S
    queued = max(visibility, 900.0)
    # GRADER_SWEEP_AFTER_S (tests, impatient operators): it must exceed the longest grading, or a
    # grading in progress is presumed lost, recorded as a setup problem and started again
    if config.sweep_after_s is not None:
        running = queued = config.sweep_after_s
    interval = min(60.0, max(1.0, min(running, queued) / 3))
    return Timings(longest, soft, hard, visibility, queued, running, interval)


def retry_countdown_s(attempt: int) -> int:
    """The wait before `attempt` (2, 3, ...) after a setup problem."""
    return RETRY_BACKOFF_S[min(max(attempt - 2, 0), len(RETRY_BACKOFF_S) - 1)]
