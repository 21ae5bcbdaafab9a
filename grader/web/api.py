"""The JSON API for scripts, `/api/v1/...`, described by `/api/v1/openapi.json`.

Authentication is a bearer token only (`Authorization: Bearer <token>`, from `grader users token
NAME`; stored hashed), never the session cookie, so the API needs no CSRF token. Errors are JSON
`{error, message}` with the status of the grader's error class. A student reads only their own
submissions: another's id answers 404, as an id that does not exist."""
from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone

from flask import Blueprint, Response, abort, g, jsonify, request, url_for

from .. import export, service
from ..storage.exercises import exercise_rows
from ..storage import submissions
from ..storage.users import user_for_token
from . import feedback, params
from .auth import UserView
from .db import config, db

bp = Blueprint("api", __name__, url_prefix="/api/v1")
KEYED_REPEAT_S = 600.0      # a client that sends a key may retry that long after a lost answer


def token_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _unauthorized("send `Authorization: Bearer <token>` (a token from `grader users token NAME`)")
        with db() as s:
            user = user_for_token(s, token.strip())
            if user is None:
                return _unauthorized("this token is not valid (revoked, mistyped, or for another server)")
            g.user = UserView(user.id, user.name, user.role, user.section)
        return view(*args, **kwargs)
    return wrapped


def _unauthorized(message: str):
    response = jsonify(error="Unauthorized", message=message)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="grader"'
    return response


@bp.route("/exercises")
@token_required
def exercises():
    with db() as s:
        rows = exercise_rows(s)
    return jsonify([{"id": e.id, "title": e.title, "points": e.points, "bonus_points": e.bonus_points,
                     "due_at": e.due_at.isoformat() if e.due_at else None} for e in rows])


@bp.route("/submissions", methods=["POST"])
@token_required
def create_submission():
    """201 with the new submission; 200 with the one stored before when this is a repeat: the
    same bytes to the same exercise within service.REPEAT_WINDOW_S, or, with an idempotency key
    (the `Idempotency-Key` header or an `idempotency_key` field), within KEYED_REPEAT_S. Keys
    themselves are not stored (the database has no place for them): any key marks the request
    as one that may be a retry. `confirm_exercise=true` sends a file that looks like another
    exercise's anyway."""
    exercise_id = request.form.get("exercise")
    upload = request.files.get("file")
    if not exercise_id or upload is None or not upload.filename:
        abort(400, description="send multipart/form-data with the fields `exercise` and `file`")
    key = request.headers.get("Idempotency-Key") or request.form.get("idempotency_key")
    since = datetime.now(timezone.utc) - timedelta(seconds=KEYED_REPEAT_S) if key else None
    data = upload.read(config().max_submission_bytes + 1)
    accepted = service.submit_upload(config(), g.user.name, exercise_id, upload.filename, data, repeat_since=since,
                                     exercise_confirmed=request.form.get("confirm_exercise") in ("true", "1"))
    with db() as s:
        status = submissions.get_submission(s, accepted.id).status
    if accepted.repeated:
        response = jsonify(id=accepted.id, status=status, repeated=True,
                           message=f"submission {accepted.id} has the same file for the same exercise, received a "
                                   "moment ago: nothing new was stored")
        response.status_code = 200
    else:
        response = jsonify(id=accepted.id, status=status)
        response.status_code = 201
    response.headers["Location"] = url_for("api.get_submission", submission_id=accepted.id)
    return response


@bp.route("/submissions/<id:submission_id>")
@token_required
def get_submission(submission_id: int):
    with db() as s:
        _, d, seen = feedback.submission_for(s, submission_id)
    body = {"id": d.id, "exercise": d.exercise_id, "user": d.user, "status": d.status, "score": seen["score"],
            "max_score": d.max_score, "bonus": seen["bonus"], "attempts": d.attempts}
    if seen["score"] is not None:         # the score counts after the late penalty, as on every page
        body.update(raw_score=d.raw_score, raw_bonus=d.raw_bonus, late_penalty=d.penalty)
    if d.reason:
        body["reason"] = d.reason
    if seen["progress"]:
        body["progress"] = seen["progress"]      # where it stands; test names only where the caller may see them
    if seen["estimate"]:
        body["estimate"] = seen["estimate"]      # "about 40 s left", while it runs, when there is history
    if d.queue_position:
        body["queue_position"] = d.queue_position
    if seen["result"] is not None:
        body["result"] = seen["result"]      # what the caller may see: hidden tests' messages never
    return jsonify(body)


@bp.route("/grades")
@token_required
def grades():
    if not g.user.is_staff:
        abort(403, description="grades are for TAs and instructors")
    fmt = params.text("format") or "csv"
    built = export.build(config(), fmt, params.policy())   # UsageError (400) for a bad format
    return Response(built.text, mimetype="text/csv")


@bp.route("/openapi.json")
def openapi():
    return jsonify(OPENAPI)


def _error_schema():
    return {"$ref": "#/components/schemas/Error"}


def _responses(ok: dict, *codes: int) -> dict:
    out = {"200": ok} if "201" not in ok else ok
    for code in codes:
        out[str(code)] = {"description": {400: "bad request", 401: "no or bad token", 403: "not allowed",
                                          404: "not found", 413: "file too large",
                                          422: "not a notebook or module"}[code],
                          "content": {"application/json": {"schema": _error_schema()}}}
    return out


OPENAPI = {
    "openapi": "3.0.3",
    "info": {"title": "nn-grader API", "version": "1"},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {"type": "object", "required": ["error", "message"],
                      "properties": {"error": {"type": "string"}, "message": {"type": "string"}}},
            "Exercise": {"type": "object", "properties": {
                "id": {"type": "string"}, "title": {"type": "string"}, "points": {"type": "number"},
                "bonus_points": {"type": "number"}, "due_at": {"type": "string", "nullable": True}}},
            "Submission": {"type": "object", "required": ["id", "status", "score", "max_score"], "properties": {
                "id": {"type": "integer"}, "exercise": {"type": "string"}, "user": {"type": "string"},
                "status": {"type": "string",
                           "enum": ["received", "queued", "running", "graded", "failed", "error"]},
                "score": {"type": "number", "nullable": True,
                          "description": "as it counts: after the late penalty, as on the pages and in the gradebook"},
                "max_score": {"type": "number"},
                "bonus": {"type": "number", "nullable": True, "description": "after the late penalty"},
                "raw_score": {"type": "number", "description": "as graded, before the late penalty"},
                "raw_bonus": {"type": "number", "nullable": True},
                "late_penalty": {"type": "number", "description": "the fraction taken off (0: on time)"},
                "attempts": {"type": "integer"},
                "reason": {"type": "string"}, "queue_position": {"type": "integer"},
                "progress": {"type": "object", "description": "while running: index, total, the last test's "
                             "name and status where the caller may see them, and once the quick tests are done "
                             "`quick`, their results as the final result will show them (the score is not final)"},
                "estimate": {"type": "string", "description": "while running: \"about N s left\" from the "
                             "exercise's recent grading times, or \"a little longer than usual\""},
                "result": {"type": "object", "description": "the object `grader run --json` prints"}}},
        },
    },
    "security": [{"bearer": []}],
    "paths": {
        "/api/v1/exercises": {"get": {
            "summary": "The course's exercises",
            "responses": _responses({"description": "exercises", "content": {"application/json": {
                "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Exercise"}}}}}, 401)}},
        "/api/v1/submissions": {"post": {
            "summary": "Upload a submission (stored and queued; never graded inline)",
            "description": "The same file for the same exercise again within 10 s (600 s with an idempotency "
                           "key) is a repeat: 200 with the submission stored the first time. A file that defines "
                           "none of the exercise's names but most of another's is refused (422) unless "
                           "confirm_exercise is true.",
            "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                            "schema": {"type": "string"}}],
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["exercise", "file"],
                "properties": {"exercise": {"type": "string"}, "file": {"type": "string", "format": "binary"},
                               "idempotency_key": {"type": "string"},
                               "confirm_exercise": {"type": "boolean"}}}}}},
            "responses": _responses({"201": {"description": "stored and queued", "content": {
                "application/json": {"schema": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "status": {"type": "string"}}}}}},
                "200": {"description": "a repeat: the submission stored before", "content": {
                    "application/json": {"schema": {"type": "object", "properties": {
                        "id": {"type": "integer"}, "status": {"type": "string"}, "repeated": {"type": "boolean"},
                        "message": {"type": "string"}}}}}}}, 400, 401, 404, 413, 422)}},
        "/api/v1/submissions/{id}": {"get": {
            "summary": "A submission's status, score and result (yours, or anyone's for staff)",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "responses": _responses({"description": "the submission", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Submission"}}}}, 401, 404)}},
        "/api/v1/grades": {"get": {
            "summary": "The gradebook as CSV (staff only)",
            "parameters": [
                {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["csv", "canvas"]}},
                {"name": "policy", "in": "query", "schema": {"type": "string", "enum": ["best", "latest"]},
                 "description": "which submission counts; default: the course's setting, as in the gradebook"}],
            "responses": _responses({"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
                                    400, 401, 403)}},
        "/api/v1/openapi.json": {"get": {"summary": "This description", "security": [],
                                         "responses": {"200": {"description": "OpenAPI 3"}}}},
    },
}
