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
from ..storage.regrades import recent_regrades
from ..words import plural
from . import charts, params
from .auth import instructor_required, staff_required
from .db import config, db
from .views import points, when_field

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
    """The table, and links that download what it shows (its policy and section). ?policy= is a
    TA's view-only choice; an instructor's control saves the course's."""
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
    built = export.build(config(), fmt, params.policy(), params.text("section"))   # UsageError (400): bad format
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
        students = [u.name for u in all_users(s, role="student")] if g.user.is_instructor else []
    return render_template("staff_submissions.html", rows=rows, exercises=exercises, selected=exercise_id,
                           students=students)


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
    if submission_id is None and exercise_id is None and user_name is None:
        flash("Choose an exercise to regrade, or a student whose every exercise is regraded.", "error")
        return redirect(request.referrer or url_for("staff.submissions"), 303)
    since = utcnow()
    try:
        ids = service.regrade(config(), submission_id, None if submission_id else exercise_id,
                              None if submission_id else user_name, requested_by=g.user.name, started_at=since)
    except GraderError as e:
        flash(str(e), "error")
        return redirect(request.referrer or url_for("staff.submissions"), 303)
    flash(f"{plural(len(ids), 'submission')} queued again.", "info")
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


@bp.route("/regrades")
@staff_required
def regrades():
    """The regrades asked for, newest first, each linked to its report."""
    with db() as s:
        rows = recent_regrades(s)
    return render_template("regrades.html", regrades=rows)


@bp.route("/analytics/<exercise_id>")
@staff_required
def analytics(exercise_id: str):
    with db() as s:
        if exercise_id not in {e.id for e in exercise_rows(s)}:
            abort(404)
        data = exercise_analytics(s, exercise_id, params.policy())
    bins = charts.score_bins(data.scores, data.exercise.points)
    return render_template(
        "analytics.html", a=data, bins=bins,
        failures=[(charts.ellipsis(message, charts.MESSAGE_CHARS), message, n) for message, n in data.failures],
        histogram=charts.columns(bins.items, "score distribution", "score (points)", "students", "student"),
        tests=charts.pass_rates(data.tests),
        per_day=charts.columns(charts.continuous_days(data.per_day), "submissions per day", "day (UTC)",
                               "submissions", "submission"))


# ---------------------------------------------------------------- course settings (instructors)

@bp.route("/exercises/<exercise_id>/settings", methods=["GET", "POST"])
@instructor_required
def exercise_settings(exercise_id: str):
    """Due date, late policy, submission limits, visibility, extensions and the Canvas assignment
    of one exercise."""
    with db() as s:
        exercise = get_exercise(s, exercise_id)
        if request.method == "POST":
            form, action = request.form, None
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
                if action == "rules":              # shown beside the form, with what was typed
                    return settings_page(s, exercise, form=form, rules_error=str(e)), 400
                flash(str(e), "error")
                return redirect(url_for("staff.exercise_settings", exercise_id=exercise_id), 303)
            return redirect(url_for("staff.exercise_settings", exercise_id=exercise_id), 303)
        return settings_page(s, exercise)


# The rules form's number fields: (label as the form says it, what it takes, what empty means,
# whole, accepts(value)). A bad value is refused in these words (a percent, "at least 1
# submission"), not the storage's fractions and column names.
_MOST = course.LARGEST
RULE_FIELDS = {
    "penalty_percent_per_day": ("The late penalty per started day", "a percent of the score, from 0 to 100",
                                "no penalty", False, lambda v: 0 <= v <= 100),
    "max_penalty_percent": ("The largest late penalty", "a percent of the score, from 0 to 100",
                            "no penalty", False, lambda v: 0 <= v <= 100),
    "max_submissions": ("Submissions allowed", f"at least 1 submission, at most {_MOST['max_submissions']:,}",
                        "no limit", True, lambda v: 1 <= v <= _MOST["max_submissions"]),
    "window_hours": ("The window", f"more than 0 hours, at most {_MOST['window_hours']:,}",
                     "the whole course", False, lambda v: 0 < v <= _MOST["window_hours"]),
    "cooloff_minutes": ("Minutes between two submissions", f"0 or more, at most {_MOST['cooloff_minutes']:,}",
                        "none", False, lambda v: 0 <= v <= _MOST["cooloff_minutes"]),
}


def rules_from(form) -> dict:
    """The rules form's values, as `course.edit_rules` takes them; a bad one is a UsageError
    that names the field as the form labels it and says what it takes."""
    values = {name: _rule_number(form, name) for name in RULE_FIELDS}
    try:
        due_at = params.utc_time("due_at", form)
    except UsageError:
        raise UsageError(f"Due (UTC): {params.shown(form.get('due_at', ''))} is not a date and time; "
                         "pick one, or leave it empty for no due date.") from None
    return dict(due_at=due_at,
                penalty_per_day=(values["penalty_percent_per_day"] or 0.0) / 100,
                max_penalty=(values["max_penalty_percent"] or 0.0) / 100,
                closed_after_due=form.get("closed_after_due") == "on",
                max_submissions=values["max_submissions"], window_hours=values["window_hours"],
                cooloff_minutes=values["cooloff_minutes"] or 0.0,
                show_hidden_points=form.get("show_hidden_points") == "on")


def _rule_number(form, name: str) -> float | int | None:
    label, takes, empty, whole, accepts = RULE_FIELDS[name]
    value = params.text(name, form)
    if value is None:
        return None
    rule = f"{label} must be {takes}, or empty for {empty}"
    try:
        number = int(value) if whole else float(value)
    except ValueError:
        raise UsageError(f"{label}: {params.shown(value)} is not a {'whole ' if whole else ''}number. "
                         f"{rule}.") from None
    if not accepts(number):                      # NaN and infinity too
        raise UsageError(f"{rule}, not {params.shown(value)}.")
    return number


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


def settings_page(s, exercise, effect: course.RulesEffect | None = None, form=None, rules_error=None):
    """The settings page; with `effect`, the rules just sent wait for the instructor's confirmation;
    with `rules_error`, they were refused and the form shows them as typed."""
    extensions = course.extensions(s, exercise)
    row = next(e for e in exercise_rows(s) if e.id == exercise.id)
    students = [u.name for u in all_users(s, role="student")]
    pending = None
    if effect is not None:
        pending = {"words": effect_words(effect),
                   "fields": [(k, v) for k, v in form.items(multi=True) if k not in ("csrf_token", "confirm")]}
    values = typed_rules(form) if rules_error else stored_rules(row)
    return render_template("exercise_settings.html", e=row, extensions=extensions, students=students,
                           pending=pending, v=values, rules_error=rules_error,
                           canvas_assignment_id=exercise.canvas_assignment_id)


def stored_rules(e) -> dict:
    """An exercise's rules as the form's fields show them (percents, empty for none)."""
    return {"due_at": when_field(e.due_at),
            "penalty_percent_per_day": points(e.penalty_per_day * 100) if e.penalty_per_day else "",
            "max_penalty_percent": points(e.max_penalty * 100) if e.max_penalty else "",
            "closed_after_due": e.closed_after_due, "max_submissions": e.max_submissions or "",
            "window_hours": points(e.window_hours) if e.window_hours else "",
            "cooloff_minutes": points(e.cooloff_minutes) if e.cooloff_minutes else "",
            "show_hidden_points": e.show_hidden_points}


def typed_rules(form) -> dict:
    """The rules form as sent (a refused value stays where the instructor typed it)."""
    return {**{name: form.get(name, "") for name in ("due_at", *RULE_FIELDS)},
            "closed_after_due": form.get("closed_after_due") == "on",
            "show_hidden_points": form.get("show_hidden_points") == "on"}


@bp.route("/course", methods=["POST"])
@instructor_required
def course_settings():
    """The gradebook's one Counting control, for an instructor: what the course counts (the
    gradebook, its downloads, the students' home pages, `grader export`). Back to the same section."""
    policy = params.text("policy", request.form) or ""
    section = params.text("section", request.form)
    with db() as s:
        set_course_policy(s, policy)
    flash(f"The course now counts each student's {policy} submission.", "info")
    return redirect(url_for("staff.gradebook_page", section=section), 303)
