"""What runs cost, stored and summed up: record_run keeps a result's usage in the run's columns
(none for a setup problem, none in an old result), and an exercise's grading times and queue
waits over the last days come out as median and 95th percentile of known rows."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from grader.results import GradeResult, Usage
from grader.storage.analytics import exercise_timing, percentile
from grader.storage.db import session_scope
from grader.storage.models import GradingRun
from grader.storage.submissions import begin_retry, create_submission, mark_status, record_run, submission_detail
from grader.storage.users import add_user
from support import timed_run, toy_result

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)


def test_record_run_stores_the_measured_usage_and_none_where_nothing_was_measured(db):
    measured = replace(toy_result(4), usage=Usage(cpu_s=1.25, gpu_s=3.5, gpu_peak_mb=1536.0))
    with session_scope(db) as s:
        add_user(s, "alice")
        submission = create_submission(s, db, "alice", "toy", "a.py", b"x = 1\n")
        mark_status(s, submission, "queued")
        mark_status(s, submission, "running")
        record_run(s, submission, None, backend="docker", error="engine stopped", infrastructure=True)
        begin_retry(s, submission, 2)
        record_run(s, submission, measured.to_dict(), backend="local")
        mark_status(s, submission, "graded")
        sid = submission.id
    with session_scope(db) as s:
        runs = s.scalars(select(GradingRun).where(GradingRun.submission_id == sid).order_by(GradingRun.attempt)).all()
        assert [(r.cpu_s, r.gpu_s, r.gpu_peak_mb) for r in runs] == [(None, None, None), (1.25, 3.5, 1536.0)]
        assert GradeResult.from_dict(runs[1].result).usage == measured.usage
        detail = submission_detail(s, runs[1].submission)
        assert [(r["cpu_s"], r["gpu_s"], r["gpu_peak_mb"]) for r in detail.runs] == \
            [(None, None, None), (1.25, 3.5, 1536.0)]


def test_a_result_stored_before_usage_reads_back_as_not_measured():
    old = toy_result(4).to_dict()
    del old["usage"]
    assert GradeResult.from_dict(old).usage == Usage(None, None, None)


def test_usage_adds_up_over_runner_starts_and_keeps_the_peak():
    assert Usage(1.0) + Usage(0.25) == Usage(1.25)
    assert Usage() + Usage(0.5) == Usage(0.5) and Usage() + Usage() == Usage()
    assert Usage(1.0, 2.0, 900.0) + Usage(0.5, 1.0, 1200.0) == Usage(1.5, 3.0, 1200.0)


def test_percentile_interpolates_between_ranks():
    assert percentile([], 50) is None and percentile([7.0], 95) == 7.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == pytest.approx(3.85)


def test_grading_time_and_queue_wait_over_the_last_days(db):
    with session_scope(db) as s:
        add_user(s, "alice")
    graded = toy_result(6)
    # five graded first attempts in the window: grading 1, 2, 3, 4, 10 s; waits 0, 10, 20, 30, 40 s
    for k, (duration, wait) in enumerate([(1, 0), (2, 10), (3, 20), (4, 30), (10, 40)]):
        start = NOW - timedelta(hours=k + 1)
        timed_run(db, "alice", graded, start - timedelta(seconds=wait), start, start + timedelta(seconds=duration))
    start = NOW - timedelta(days=8)                      # before the window: neither counts
    timed_run(db, "alice", graded, start - timedelta(seconds=500), start, start + timedelta(seconds=500))
    start = NOW - timedelta(hours=2)                     # failed (no score): its wait counts, not its time
    timed_run(db, "alice", None, start - timedelta(seconds=20), start, start + timedelta(seconds=100))
    start = NOW - timedelta(hours=3)                     # a retry: the graded second attempt's time counts,
    timed_run(db, "alice", graded, start - timedelta(seconds=20), start,    # the wait is the first's
              start + timedelta(seconds=1), retry_finished_at=start + timedelta(seconds=4))
    start = NOW - timedelta(hours=1)                     # another exercise
    timed_run(db, "alice", graded, start - timedelta(seconds=900), start, start + timedelta(seconds=900),
              exercise="probe")
    with session_scope(db) as s:
        timing = exercise_timing(s, "toy", now=NOW)
        empty = exercise_timing(s, "courseenv", now=NOW)
    assert timing.days == 7
    # grading: 1, 2, 3, 4, 10 and the retry's 3 s -> sorted 1 2 3 3 4 10
    assert timing.grading.count == 6
    assert timing.grading.median_s == pytest.approx(3.0)
    assert timing.grading.p95_s == pytest.approx(4 + (10 - 4) * 0.75)
    # waits: 0, 10, 20, 30, 40, the failed one's 20 and the retried one's 20 -> 0 10 20 20 20 30 40
    assert timing.queue_wait.count == 7
    assert timing.queue_wait.median_s == pytest.approx(20.0)
    assert timing.queue_wait.p95_s == pytest.approx(30 + 10 * 0.7)
    assert (empty.grading.count, empty.grading.median_s, empty.queue_wait.p95_s) == (0, None, None)
