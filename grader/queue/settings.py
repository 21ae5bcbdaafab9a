"""The queue's time limits, derived from the exercises' manifests (their suite_timeout_s).

grade() lets a submission's sandbox live suite_timeout_s + 120 s at most (its wall-clock cap), so
the longest grading is that of the slowest exercise plus that margin; every other limit is
counted from it, each longer than the one before:

    longest grading  <  soft time limit  <  hard time limit  <  sweep of running  <  visibility timeout
"""
from __future__ import annotations

from dataclasses import dataclass

from ..config import Config

SANDBOX_MARGIN_S = 120      # grade(): wall_s = suite_timeout_s + 120
RETRY_BACKOFF_S = (5, 15, 45, 120, 300)   # the wait before attempt 2, 3, ... (the last one repeats)
DEFAULT_SUITE_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class Timings:
    longest_grading_s: float    # the slowest exercise's suite timeout + the sandbox's margin
    soft_limit_s: float         # SoftTimeLimitExceeded in the task: recorded as a setup problem
    hard_limit_s: float         # the pool kills the child; the message is redelivered
    visibility_timeout_s: float # Redis redelivers an unacknowledged message after this
    sweep_queued_s: float       # a queued submission with no news this long: its message is sent again
    sweep_running_s: float      # a running one: its worker is dead (past the hard limit): sent again
    sweep_interval_s: float     # how often each worker sweeps


def longest_suite_timeout_s(config: Config) -> float:
    from ..manifest import exercise_ids, load_exercise
    timeouts = []
    for exercise_id in exercise_ids(config.exercises_dir):
        try:
            timeouts.append(load_exercise(config.exercises_dir, exercise_id).suite_timeout_s)
        except Exception:  # noqa: BLE001 - a broken manifest fails its own submissions, not the queue
            continue
    return max(timeouts, default=DEFAULT_SUITE_TIMEOUT_S)


def timings(config: Config) -> Timings:
    longest = longest_suite_timeout_s(config) + SANDBOX_MARGIN_S
    soft = longest + 60
    hard = soft + 60
    visibility = hard + 600 + max(RETRY_BACKOFF_S)      # also covers a retry's countdown (an ETA message)
    running = hard + 60
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
