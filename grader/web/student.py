"""What a student sees: the exercises (due date, best score, attempts), the upload form, each
submission's page (live status, then per-test feedback) and the history of attempts.

Everyone logged in may use these pages for themselves; a submission page is open to its owner
and to staff only (anyone else gets 404, not 403: an id says nothing about who submitted it)."""
from __future__ import annotations

import logging

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for
from markupsafe import Markup

from .. import service
from ..errors import SubmissionError
from ..storage.exercises import exercise_rows
from ..storage.gradebook import standings
from ..storage.submissions import submission_data, submission_rows
from . import feedback, params
from .auth import login_required
from .db import config, db

bp = Blueprint("student", __name__)
log = logging.getLogger(__name__)


def home_page(status: int = 200):
    with db() as s:
        rows = standings(s, g.user.id)
        open_scores = {st.exercise.id: feedback.score_open(s, st.exercise, g.user.id) for st in rows}
        recent = submission_rows(s, user_id=g.user.id, limit=10)
    return render_template("home.html", standings=rows, recent=recent, open_scores=open_scores,
                           max_bytes=config().max_submission_bytes), status


@bp.route("/")
@login_required
def home():
    return home_page()


@bp.route("/submit", methods=["POST"])
@login_required
def upload():
    exercise_id = request.form.get("exercise", "")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("Choose a file to upload (.ipynb or .py).", "error")
        return redirect(url_for("student.home"), 303)
    data = upload.read(config().max_submission_bytes + 1)
    try:
        submission_id = service.submit(config(), g.user.name, exercise_id, upload.filename, data, check=True)
    except SubmissionError as e:
        flash(str(e), "error")
        return home_page(e.http_status)
    return redirect(url_for("student.submission", submission_id=submission_id), 303)


@bp.route("/submissions/<id:submission_id>")
@login_required
def submission(submission_id: int):
    with db() as s:
        submission, detail, seen = feedback.submission_for(s, submission_id)
        rendered = None
        if g.user.is_staff:       # the submitted file itself, its skipped and raising cells marked
            rendered = staff_view(submission_data(config(), submission), detail.filename, detail.result or {})
    return render_template("submission.html", sub=detail, seen=seen, r=seen["result"], notebook=rendered,
                           final=detail.status in ("graded", "failed", "error"))


def staff_view(data: bytes, filename: str, result: dict) -> Markup:
    """The file as HTML; should rendering fail anyway, a sentence, and the page still has the
    results and the regrade button."""
    from .notebook import render
    try:
        return render(data, filename, result.get("skipped_cells", []), result.get("load_errors", []))
    except Exception:      # the student's file must never cost staff the page
        log.exception("the staff view of %s failed", filename)
        return Markup('<p class="reason">This file cannot be shown here (an error in the view, logged): '
                      "download it.</p>")


@bp.route("/submissions/<id:submission_id>/status.json")
@login_required
def submission_status(submission_id: int):
    """What the submission page polls while it waits: status, queue position, progress."""
    with db() as s:
        _, d, seen = feedback.submission_for(s, submission_id)
    return jsonify(id=d.id, status=d.status, final=d.status in ("graded", "failed", "error"),
                   queue_position=d.queue_position, progress=seen["progress"], attempts=d.attempts,
                   score=seen["score"], max_score=d.max_score)


@bp.route("/history")
@login_required
def history():
    exercise_id = params.text("exercise")
    with db() as s:
        rows = submission_rows(s, user_id=g.user.id, exercise_id=exercise_id)
        exercises = exercise_rows(s)
        open_scores = {e.id: feedback.score_open(s, e, g.user.id) for e in exercises}
    return render_template("history.html", rows=rows, exercises=exercises, selected=exercise_id,
                           open_scores=open_scores)
