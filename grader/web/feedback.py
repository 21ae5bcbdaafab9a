"""Who may see what of a submission, for the pages and the API alike: the result filtered by
the tests' visibility levels (`grader.visibility`), with the student's own due date."""
from __future__ import annotations

from flask import abort, g

from ..errors import UnknownSubmission
from ..queue_order import lanes
from ..storage.submissions import get_submission, submission_detail
from ..storage.course import extension_due
from ..storage.models import utcnow
from .db import config
from ..visibility import Audience, progress_view, student_view, total_open
from .views import time_left


def audience(s, exercise, user_id: int) -> Audience:
    """The logged-in user looking at `user_id`'s work on `exercise`."""
    return Audience(staff=g.user.is_staff, now=utcnow(),
                    due_at=extension_due(s, user_id, exercise.id) or exercise.due_at,
                    published_at=exercise.published_at, show_hidden_points=bool(exercise.show_hidden_points))


def levels(exercise) -> dict[str, str]:
    return {t["name"]: t.get("visibility", "hidden") for t in (exercise.tests or [])}


def visible(s, submission, detail) -> dict:
    """{result, score, bonus, score_complete, concealed, progress, estimate} as the logged-in user
    may see them (`estimate`: the time left while it runs, `views.time_left`, or None)."""
    who, tests = audience(s, submission.exercise, submission.user_id), levels(submission.exercise)
    progress = progress_view(detail.progress, tests, who)
    estimate = None
    if detail.status == "running" and detail.started_at is not None:
        estimate = time_left(detail.usual_duration_s, (who.now - detail.started_at).total_seconds())
    if detail.result is None:
        return {"result": None, "score": None, "bonus": None, "score_complete": True, "concealed": 0,
                "progress": progress, "estimate": estimate}
    view = student_view(detail.result, tests, who)
    complete = view["score_complete"]
    return {"result": view, "score": detail.score if complete else None, "bonus": detail.bonus if complete else None,
            "score_complete": complete, "concealed": view["concealed"], "progress": progress, "estimate": estimate}


def score_open(s, exercise, user_id: int) -> bool:
    return total_open(levels(exercise), audience(s, exercise, user_id))


def submission_for(s, submission_id: int):
    """(submission, detail, what the logged-in user may see of it) for its owner or staff; 404
    for anyone else, as for an id that does not exist (an id says nothing about whose it is)."""
    try:
        submission = get_submission(s, submission_id)
    except UnknownSubmission:
        abort(404)
    if submission.user_id != g.user.id and not g.user.is_staff:
        abort(404)
    detail = submission_detail(s, submission, lanes(config().broker_url))     # the queue's real order
    return submission, detail, visible(s, submission, detail)
