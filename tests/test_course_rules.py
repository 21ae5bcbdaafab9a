"""Course rules and visibility as pure functions (no database): the late penalty, what a new
submission may do now, and what a student may see of a result (tests/web/test_course_settings.py
has the same rules through the web app)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from grader.course_rules import Rules, allowance, late_penalty
from grader.visibility import Audience, student_view, total_open

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


def test_late_penalty_per_started_day_with_a_cap():
    rules = Rules(due_at=T0, penalty_per_day=0.1, max_penalty=0.25)
    assert late_penalty(rules, T0) == 0.0
    assert late_penalty(rules, T0 + timedelta(minutes=1)) == pytest.approx(0.1)
    assert late_penalty(rules, T0 + timedelta(days=1, seconds=1)) == pytest.approx(0.2)
    assert late_penalty(rules, T0 + timedelta(days=30)) == pytest.approx(0.25)
    assert late_penalty(Rules(due_at=None, penalty_per_day=0.5), T0) == 0.0


def test_allowance_closed_limit_window_and_cooloff():
    closed = allowance(Rules(due_at=T0, closed_after_due=True), [], T0 + timedelta(seconds=1))
    assert not closed.allowed and closed.kind == "closed" and "takes no late submissions" in closed.reason
    limit = Rules(due_at=None, max_submissions=2, window_hours=24)
    times = [T0, T0 + timedelta(hours=1)]
    used = allowance(limit, times, T0 + timedelta(hours=2))
    assert not used.allowed and used.left == 0 and used.next_at == T0 + timedelta(hours=24)
    assert "2026-11-02 12:00 UTC" in used.reason
    assert allowance(limit, times, T0 + timedelta(hours=24, seconds=1)).left == 1      # the first left the window
    forever = allowance(Rules(due_at=None, max_submissions=1), [T0 - timedelta(days=300)], T0)
    assert not forever.allowed and "your 1 submission for this exercise" in forever.reason
    cool = allowance(Rules(due_at=None, cooloff_minutes=10), [T0], T0 + timedelta(minutes=5))
    assert not cool.allowed and cool.kind == "cooloff" and cool.next_at == T0 + timedelta(minutes=10)
    assert allowance(Rules(due_at=None, cooloff_minutes=10), [T0], T0 + timedelta(minutes=10)).allowed


RESULT = {"tests": [
    {"name": "a", "description": "", "status": "passed", "points": 1.0, "max_points": 1.0, "bonus": False,
     "message": None},
    {"name": "b", "description": "", "status": "failed", "points": 0.0, "max_points": 2.0, "bonus": False,
     "message": "expected 42"},
    {"name": "c", "description": "", "status": "failed", "points": 0.0, "max_points": 3.0, "bonus": False,
     "message": "secret expected values"}], "score": 1.0, "max_score": 6.0, "bonus": 0.0}


def who(now=T0, due=T0 + timedelta(days=1), published=None, points=False, staff=False):
    return Audience(staff=staff, now=now, due_at=due, published_at=published, show_hidden_points=points)


def test_visibility_levels():
    levels = {"a": "visible", "b": "after_due_date", "c": "hidden"}
    before = student_view(RESULT, levels, who())
    assert [t["name"] for t in before["tests"]] == ["a", "b"]
    assert before["tests"][1]["status"] == "pending" and before["tests"][1]["message"] is None
    assert not before["score_complete"] and before["concealed"] == 2 and before["score"] == 1.0
    after_due = student_view(RESULT, levels, who(now=T0 + timedelta(days=2)))
    assert after_due["tests"][1]["message"] == "expected 42"
    assert not after_due["score_complete"]                 # the hidden test's points are not published
    published = student_view(RESULT, levels, who(now=T0 + timedelta(days=2), published=T0))
    assert published["score_complete"] and [t["name"] for t in published["tests"]] == ["a", "b"]
    with_points = student_view(RESULT, levels, who(now=T0 + timedelta(days=2), points=True))
    assert with_points["tests"][2]["points"] == 0.0 and with_points["tests"][2]["message"] is None
    assert with_points["score_complete"]
    staff = student_view(RESULT, levels, who(staff=True))
    assert staff["tests"][2]["message"] == "secret expected values" and staff["score_complete"]
    for view in (before, after_due, published, with_points):
        assert "secret expected values" not in str(view)
    assert total_open({"a": "visible"}, who()) and not total_open({"a": "after_published"}, who())
