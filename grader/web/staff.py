"""What TAs and instructors see: the gradebook (best or latest per student and exercise, filtered
by section), its CSV exports, every submission with operators' details, regrades and analytics."""
from __future__ import annotations

import io
import unicodedata

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, send_file, url_for

from .. import export, service
from ..errors import GraderError, UsageError
from ..storage import course
from ..storage.analytics import exercise_analytics, regrade_changes
from ..storage.exercises import exercise_rows, get_exercise
from ..storage.submissions import get_submission, submission_data, submission_rows
from ..storage.users import all_users, get_user
from ..storage.gradebook import POLICIES, course_policy, gradebook, set_course_policy
from ..storage.models import utcnow
from . import params
from .auth import instructor_required, staff_required
from .db import config, db
from .views import plural

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.app_context_processor
def staff_menu() -> dict:
    """The exercises, for the staff's menu (analytics, settings) and the pages' exercise switchers."""
    user = g.get("user")
    if user is None or not user.is_staff:
        return {}
    with db() as s:
        return {"staff_exercises": [(e.id, e.title) for e in exercise_rows(s)]}


@bp.route("/gradebook")
@staff_required
def gradebook_page():
    section = params.text("section")
    with db() as s:
        course_default = course_policy(s)
        policy = params.policy() or course_default
        rows = gradebook(s, policy)
        exercises = exercise_rows(s)
    sections = sorted({r.section for r in rows if r.section})
    if section:
        rows = [r for r in rows if r.section == section]
    table: dict[str, dict] = {}
    for r in rows:
        student = table.setdefault(r.user, {"name": r.user, "section": r.section or "", "cells": {}, "total": 0.0})
        student["cells"][r.exercise] = r
        student["total"] += (r.score or 0.0) + (r.bonus or 0.0)
    return render_template("gradebook.html", students=list(table.values()), exercises=exercises,
                           sections=sections, section=section, policy=policy, policies=POLICIES,
                           course_policy=course_default)


@bp.route("/grades.csv")
@staff_required
def grades_csv():
    fmt = params.text("format") or "csv"
    built = export.build(config(), fmt, params.policy())      # UsageError (400) for a bad format
    name = "grades-canvas.csv" if fmt == "canvas" else "grades.csv"
    return Response(built.text, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/submissions")
@staff_required
def submissions():
    exercise_id = params.text("exercise")
    with db() as s:
        rows = submission_rows(s, exercise_id=exercise_id, limit=500)
        exercises = exercise_rows(s)
    return render_template("staff_submissions.html", rows=rows, exercises=exercises, selected=exercise_id)


@bp.route("/submissions/<id:submission_id>/file")
@staff_required
def submission_file(submission_id: int):
    """The file as uploaded, as a download (never shown inline: it is the student's). The name keeps
    its letters in any script (`日本語_ノート.ipynb`): werkzeug's send_file writes a name that is not
    ASCII as RFC 5987's `filename*=UTF-8''...`, with an ASCII `filename=` for old clients. Anything
    but letters, digits and `._-` (spaces, quotes, slashes, controls, bidi overrides) becomes `_`."""
    with db() as s:
        submission = get_submission(s, submission_id)
        data, filename = submission_data(config(), submission), submission.filename
    name = unicodedata.normalize("NFC", filename)
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name).strip(".") or "submission"
    return send_file(io.BytesIO(data), mimetype="application/octet-stream", as_attachment=True,
                     download_name=safe)


@bp.route("/regrade", methods=["POST"])
@staff_required
def regrade():
    """One submission (TAs too); a whole exercise or a student's submissions (instructors)."""
    submission_id = params.row_id("submission", request.form)
    exercise_id = params.text("exercise", request.form)
    user_name = params.text("user", request.form)
    if submission_id is None and not g.user.is_instructor:
        abort(403)
    since = utcnow()
    try:
        ids = service.regrade(config(), submission_id, None if submission_id else exercise_id,
                              None if submission_id else user_name)
    except GraderError as e:
        flash(str(e), "error")
        return redirect(request.referrer or url_for("staff.submissions"), 303)
    flash(f"{len(ids)} submission(s) queued again.", "info")
    return redirect(url_for("staff.regrade_report", since=since.isoformat(), submission=submission_id,
                            exercise=None if submission_id else exercise_id,
                            user=None if submission_id else user_name), 303)


@bp.route("/regrade/report")
@staff_required
def regrade_report():
    """Progress of a regrade and the scores it changed (old -> new), e.g. after a suite changed."""
    since = params.utc_time("since")
    if since is None:
        raise UsageError(f"since is missing: the time the regrade started ({params.TIME_FORMAT})")
    exercise_id, submission_id, user_name = params.text("exercise"), params.row_id("submission"), params.text("user")
    with db() as s:
        user_id = get_user(s, user_name).id if user_name else None
        report = regrade_changes(s, since, exercise_id, user_id, submission_id)
    return render_template("regrade_report.html", report=report, since=since, args=request.args)


@bp.route("/analytics/<exercise_id>")
@staff_required
def analytics(exercise_id: str):
    with db() as s:
        if exercise_id not in {e.id for e in exercise_rows(s)}:
            abort(404)
        data = exercise_analytics(s, exercise_id, params.policy())
    return render_template("analytics.html", a=data)


# ---------------------------------------------------------------- course settings (instructors)

@bp.route("/exercises/<exercise_id>/settings", methods=["GET", "POST"])
@instructor_required
def exercise_settings(exercise_id: str):
    """Due date, late policy, submission limits, visibility, extensions and the Canvas assignment
    of one exercise."""
    with db() as s:
        exercise = get_exercise(s, exercise_id)
        if request.method == "POST":
            form = request.form
            try:
                action = params.text("action", form) or "rules"
                if action == "rules":
                    values = rules_from(form)
                    effect = course.rules_effect(s, exercise, **values)
                    if effect.changes and form.get("confirm") != "yes":     # say what it does, then save
                        return settings_page(s, exercise, effect=effect, form=form)
                    course.edit_rules(s, exercise, **values)
                    flash("Rules saved." + (f" {effect_words(effect)}" if effect.changes else ""), "info")
                elif action in ("publish", "unpublish"):
                    course.publish(s, exercise, action == "publish")
                    flash("Grades published." if action == "publish" else "Grades unpublished.", "info")
                elif action == "extension":
                    name = params.text("student", form)
                    if name is None:
                        raise UsageError("choose the student who gets the extension")
                    student = get_user(s, name)
                    course.set_extension(s, student, exercise, params.utc_time("extension_due_at", form))
                    flash(f"Extension for {student.name} saved.", "info")
                elif action == "canvas":
                    course.set_canvas_assignment(s, exercise, params.text("canvas_assignment_id", form))
                    flash(f"The Canvas export fills Canvas assignment {exercise.canvas_assignment_id}."
                          if exercise.canvas_assignment_id else
                          "The Canvas export makes its own assignment for this exercise.", "info")
                else:
                    raise UsageError(f"action must be rules, publish, unpublish, extension or canvas, not "
                                     f"{params.shown(action)}")
            except GraderError as e:
                s.rollback()
                flash(str(e), "error")
                return redirect(url_for("staff.exercise_settings", exercise_id=exercise_id), 303)
            return redirect(url_for("staff.exercise_settings", exercise_id=exercise_id), 303)
        return settings_page(s, exercise)


def rules_from(form) -> dict:
    """The rules form's values, as `course.edit_rules` takes them (UsageError for a bad one)."""
    return dict(due_at=params.utc_time("due_at", form),
                penalty_per_day=(params.number("penalty_percent_per_day", form) or 0.0) / 100,
                max_penalty=(params.number("max_penalty_percent", form) or 0.0) / 100,
                closed_after_due=form.get("closed_after_due") == "on",
                max_submissions=params.number("max_submissions", form, whole=True),
                window_hours=params.number("window_hours", form),
                cooloff_minutes=params.number("cooloff_minutes", form) or 0.0,
                show_hidden_points=form.get("show_hidden_points") == "on")


def effect_words(effect: course.RulesEffect) -> str:
    """What an edit of the rules does to graded work, as the settings page says it."""
    becomes = ("graded submission becomes", "graded submissions become")
    parts = []
    if effect.later:
        parts.append(f"{plural(effect.later, *becomes)} late or later")
    if effect.earlier:
        parts.append(f"{plural(effect.earlier, *becomes)} less late or on time")
    return (f"{'; '.join(parts)}: {plural(effect.scores, 'score changes', 'scores change')}, of "
            f"{plural(effect.students, 'student')}.")


def settings_page(s, exercise, effect: course.RulesEffect | None = None, form=None):
    """The settings page; with `effect`, the rules just sent wait for the instructor's confirmation."""
    extensions = course.extensions(s, exercise)
    row = next(e for e in exercise_rows(s) if e.id == exercise.id)
    students = [u.name for u in all_users(s, role="student")]
    pending = None
    if effect is not None:
        pending = {"words": effect_words(effect),
                   "fields": [(k, v) for k, v in form.items(multi=True) if k not in ("csrf_token", "confirm")]}
    return render_template("exercise_settings.html", e=row, extensions=extensions, students=students,
                           pending=pending, canvas_assignment_id=exercise.canvas_assignment_id)


@bp.route("/course", methods=["POST"])
@instructor_required
def course_settings():
    with db() as s:
        set_course_policy(s, params.text("policy", request.form) or "")
    flash("Gradebook policy saved.", "info")
    return redirect(url_for("staff.gradebook_page"), 303)
