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
from ..exercise_match import WrongExercise
from ..storage.exercises import exercise_rows
from ..storage.gradebook import standings
from ..storage.submissions import submission_data, submission_rows
from . import feedback, params, upload_form
from .auth import login_required
from .db import config, db

bp = Blueprint("student", __name__)
log = logging.getLogger(__name__)


def home_page(status: int = 200):
    """The exercises and the upload form: the exercise offered first is the one the student came
    from (?exercise=ID, or the refused upload's), else none (they must choose); one they cannot
    submit to now is offered disabled, its reason beside it."""
    state = upload_form.recall()
    with db() as s:
        rows = standings(s, g.user.id)
        open_scores = {st.exercise.id: feedback.score_open(s, st.exercise, g.user.id) for st in rows}
        recent = submission_rows(s, user_id=g.user.id, limit=10)
    wanted = state.get("exercise") or params.text("exercise")
    chosen = next((st.exercise.id for st in rows if st.exercise.id == wanted and st.allowance.allowed), None)
    return render_template("home.html", standings=rows, recent=recent, open_scores=open_scores,
                           max_bytes=config().max_submission_bytes, chosen=chosen,
                           upload_error=state.get("error"),
                           confirm=state.get("confirm") if state.get("confirm") == chosen else None,
                           upload_key=upload_form.new_key()), status


@bp.route("/")
@login_required
def home():
    return home_page()


@bp.route("/submit", methods=["POST"])
@login_required
def upload():
    """Store and queue the upload, or send the student back to the form with the reason (a
    redirect: reloading sends nothing again). The same file sent again at once (a double click)
    answers the submission stored the first time."""
    exercise_id = (request.form.get("exercise") or "").strip()
    upload = request.files.get("file")
    filename = upload.filename if upload is not None and upload.filename else None
    if not exercise_id:
        return _refused(None, f"{filename or 'The file'} was not sent: choose the exercise it is for, then choose "
                              "the file again and send it.")
    if filename is None:
        return _refused(exercise_id, "No file was sent: choose a file to upload (.ipynb or .py) and send it.")
    data = upload.read(config().max_submission_bytes + 1)
    try:
        accepted = service.submit_upload(config(), g.user.name, exercise_id, filename, data,
                                         repeat_since=upload_form.repeat_since(request.form.get("idempotency_key")),
                                         exercise_confirmed=request.form.get("confirm_exercise") == exercise_id)
    except WrongExercise as e:
        return _refused(exercise_id, upload_form.sentence(filename, e), confirm=exercise_id)
    except SubmissionError as e:
        return _refused(exercise_id, upload_form.sentence(filename, e))
    if accepted.repeated:
        flash(f"You sent {filename} to {exercise_id} a moment ago: this is that submission (nothing new was "
              "stored and no attempt was used).", "info")
    return redirect(url_for("student.submission", submission_id=accepted.id), 303)


def _refused(exercise_id: str | None, message: str, confirm: str | None = None):
    upload_form.remember(exercise_id, message, confirm)
    return redirect(url_for("student.home", exercise=exercise_id or None) + "#upload", 303)


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
    """What the submission page polls while it waits: status, queue position, progress (with the
    quick stage's results once they are in), the estimate of the time left."""
    with db() as s:
        _, d, seen = feedback.submission_for(s, submission_id)
    return jsonify(id=d.id, status=d.status, final=d.status in ("graded", "failed", "error"),
                   queue_position=d.queue_position, progress=seen["progress"], attempts=d.attempts,
                   score=seen["score"], max_score=d.max_score, estimate=seen["estimate"])


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
