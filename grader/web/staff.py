"""What TAs and instructors see: the gradebook (best or latest per student and exercise, filtered
by section), its CSV exports, every submission with operators' details, regrades and analytics."""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from .. import export, service
from ..errors import GraderError
from ..storage import queries
from ..storage.gradebook import POLICIES, course_policy, gradebook
from .auth import staff_required
from .db import config, db

bp = Blueprint("staff", __name__, url_prefix="/staff")


def _policy() -> str | None:
    """The ?policy= asked for, or None: the course's setting."""
    policy = request.args.get("policy") or None
    if policy is not None and policy not in POLICIES:
        abort(400, description=f"policy must be one of {', '.join(POLICIES)}")
    return policy


@bp.route("/gradebook")
@staff_required
def gradebook_page():
    section = request.args.get("section") or None
    with db() as s:
        policy = _policy() or course_policy(s)
        rows = gradebook(s, policy)
        exercises = queries.exercises(s)
    sections = sorted({r.section for r in rows if r.section})
    if section:
        rows = [r for r in rows if r.section == section]
    table: dict[str, dict] = {}
    for r in rows:
        student = table.setdefault(r.user, {"name": r.user, "section": r.section or "", "cells": {}, "total": 0.0})
        student["cells"][r.exercise] = r
        student["total"] += (r.score or 0.0) + (r.bonus or 0.0)
    return render_template("gradebook.html", students=list(table.values()), exercises=exercises,
                           sections=sections, section=section, policy=policy, policies=POLICIES)


@bp.route("/grades.csv")
@staff_required
def grades_csv():
    fmt = request.args.get("format", "csv")
    if fmt not in ("csv", "canvas"):
        abort(400, description="format must be csv or canvas")
    built = export.build(config(), fmt, _policy())
    name = "grades-canvas.csv" if fmt == "canvas" else "grades.csv"
    return Response(built.text, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/submissions")
@staff_required
def submissions():
    exercise_id = request.args.get("exercise") or None
    with db() as s:
        rows = queries.submissions(s, exercise_id=exercise_id, limit=500)
        exercises = queries.exercises(s)
    return render_template("staff_submissions.html", rows=rows, exercises=exercises, selected=exercise_id)


@bp.route("/regrade", methods=["POST"])
@staff_required
def regrade():
    submission_id = request.form.get("submission", type=int)
    exercise_id = request.form.get("exercise") or None
    try:
        ids = service.regrade(config(), submission_id, None if submission_id else exercise_id)
    except GraderError as e:
        flash(str(e), "error")
        return redirect(request.referrer or url_for("staff.submissions"), 303)
    flash(f"{len(ids)} submission(s) queued again.", "info")
    if submission_id:
        return redirect(url_for("student.submission", submission_id=submission_id), 303)
    return redirect(url_for("staff.submissions", exercise=exercise_id), 303)


@bp.route("/analytics/<exercise_id>")
@staff_required
def analytics(exercise_id: str):
    with db() as s:
        if exercise_id not in {e.id for e in queries.exercises(s)}:
            abort(404)
        data = queries.analytics(s, exercise_id, _policy())
    return render_template("analytics.html", a=data)
