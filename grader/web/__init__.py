"""The web app: students upload and follow their gradings, staff run the gradebook, scripts use
the JSON API. `create_app(config=None, **overrides)` in the style of Flask's tutorial: settings
from the one `Config` (GRADER_* variables when none is given), Flask settings as keyword
overrides (TESTING=True, SESSION_COOKIE_SECURE=False, ...), one blueprint per area.

The web calls `grader.service` and `grader.storage` only: it never imports the harness, the
sandbox or pytest, and never grades inline (an upload stores and enqueues).
"""
from __future__ import annotations

from datetime import timedelta

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

from ..config import Config


def create_app(config: Config | None = None, **overrides) -> Flask:
    config = config or Config.from_env()
    app = Flask(__name__, instance_path=str(config.instance_dir), instance_relative_config=False)
    app.config.update(
        DEBUG=False,             # whatever FLASK_DEBUG says (Flask reads it): never the debugger
        SECRET_KEY=config.web_secret_key(),
        MAX_CONTENT_LENGTH=config.max_submission_bytes + 64 * 1024,   # the form's other fields on top
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # https in production; `grader serve` on 127.0.0.1 turns it off (a browser would drop it)
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_NAME="grader_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        # failed logins (auth.py, storage/logins.py): per user name from one address in LOGIN_WINDOW_S,
        # per address (a lab or campus NAT is many students), and the delay that failures for a
        # name from anywhere add to its next tries
        LOGIN_ATTEMPTS=5,
        LOGIN_ATTEMPTS_PER_ADDRESS=50,
        LOGIN_WINDOW_S=300,
        LOGIN_DELAY_S=0.25,
        LOGIN_MAX_DELAY_S=2.0,
        STATUS_POLL_MS=1000,
    )
    app.config.update(overrides)
    app.grader_config = config

    from . import account, api, auth, errors, lti, params, staff, student, views
    app.url_map.converters["id"] = params.RowId         # before the routes that use <id:...>
    app.before_request(params.refuse_nul)
    auth.init_app(app)
    errors.init_app(app)
    views.init_app(app)
    # lti (LTI 1.3, /lti/...) answers 404 unless GRADER_LTI_CONFIG is set
    for blueprint in (auth.bp, account.bp, student.bp, staff.bp, api.bp, lti.bp):
        app.register_blueprint(blueprint)
    app.after_request(_security_headers)
    if config.trusted_proxies:           # the client's address, not the proxy's (login limits count it)
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.trusted_proxies, x_proto=config.trusted_proxies)
    return app


# No script runs but the app's own file: whatever a notebook, a file name or a test message holds
# is escaped by Jinja, and even markup that slipped through could not run a script.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
       "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


def _security_headers(response):
    if request.endpoint != "static":         # grades, exports, files, tokens: never kept by a browser or proxy
        response.headers["Cache-Control"] = "no-store"     # send_file's no-cache would let a cache keep it
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


__all__ = ["create_app"]
