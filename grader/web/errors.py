"""The grader's errors turned into HTTP at the edge: the class says the status (grader/errors.py),
the message says what is wrong. Pages get an HTML page, the API a JSON object {error, message}."""
from __future__ import annotations

import logging

from flask import current_app, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from ..errors import GraderError, SetupError
from ..sizes import size

log = logging.getLogger("grader.web")

TITLES = {400: "Bad request", 401: "Please log in", 403: "Not allowed", 404: "Not found", 405: "Not allowed",
          409: "Conflict", 413: "File too large", 422: "Cannot accept this file", 429: "Too many requests",
          500: "Something went wrong on our side", 503: "Temporarily unavailable"}


def init_app(app) -> None:
    app.register_error_handler(GraderError, _grader_error)
    app.register_error_handler(HTTPException, _http_error)


def wants_json() -> bool:
    return request.blueprint == "api" or request.path.startswith("/api/")


def respond(status: int, message: str):
    if wants_json():
        return jsonify(error=TITLES.get(status, "Error"), message=message), status
    return render_template("error.html", status=status, title=TITLES.get(status, "Error"), message=message), status


def _grader_error(e: GraderError):
    if isinstance(e, SetupError):
        log.error("setup problem: %s", e)           # operators' details stay in the log
        return respond(503, "The grader cannot reach one of its services right now, so nothing was changed or "
                            "stored by this request. Please try again in a minute; work stored before is safe.")
    if e.http_status >= 500:
        log.exception("internal error", exc_info=e)
        return respond(500, "Something went wrong on our side. Please try again later.")
    return respond(e.http_status, str(e))


def _http_error(e: HTTPException):
    status = e.code or 500
    if status == 413:
        limit = size(current_app.grader_config.max_submission_bytes)
        if request.endpoint == "student.upload":     # as every refused upload: back to the form, said there
            from . import upload_form
            upload_form.remember(None, upload_form.sentence(None, f"it is over the {limit} limit"))
            return redirect(url_for("student.home") + "#upload", 303)
        return respond(413, f"The file is over the {limit} limit. Nothing was stored.")
    message = e.description if status in (400, 409, 422, 429) else {
        401: "Please log in.", 403: "You do not have access to this page.",
        404: "There is nothing here (or it is not yours to see).", 405: "This address does not take that request.",
    }.get(status, e.description)
    return respond(status, message)
