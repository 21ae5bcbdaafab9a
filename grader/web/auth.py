"""Login, logout, roles and CSRF.

* Sessions live on the server (`storage.login_sessions`): Flask's signed cookie (HttpOnly,
  SameSite=Lax, Secure in production) holds only the session's token, and every request looks it
  up, so logging out, a password change or a deleted user ends the session at once.
* A login for an unknown name takes as long as one for a known name (a dummy hash is checked):
  the answer's time does not tell which names exist.
* Every form POST carries the session's CSRF token (`csrf_token()` in templates); the JSON API
  is exempt: it authenticates with a bearer token, never with the cookie.
* Failed logins are counted in the database (`storage.logins`: every web process and host sees
  the same counts) per user name and address (LOGIN_ATTEMPTS in LOGIN_WINDOW_S, then that address
  waits: 429 with Retry-After), per address (LOGIN_ATTEMPTS_PER_ADDRESS: loose, a campus behind one
  NAT is many students) and per name from anywhere, which only slows the next tries (LOGIN_DELAY_S
  per failure, at most LOGIN_MAX_DELAY_S): a classmate cannot lock anyone out, and guessing stays
  slow. Behind a reverse proxy, GRADER_TRUSTED_PROXIES makes the address the client's.
"""
from __future__ import annotations

import functools
import hmac
import math
import secrets
import time
from urllib.parse import urlsplit

from flask import (Blueprint, abort, current_app, flash, g, redirect, render_template, request, session,
                   url_for)

from ..errors import UnknownUser
from ..storage import login_sessions, logins
from ..storage.users import get_user, verify_password
from .db import db
from ..words import plural

bp = Blueprint("auth", __name__)

STAFF = ("ta", "instructor")
NEXT_CHARS = 2000            # a longer ?next= is no page of ours


def init_app(app) -> None:
    app.before_request(load_user)
    app.before_request(check_csrf)
    app.jinja_env.globals["csrf_token"] = csrf_token


def load_user() -> None:
    g.user = None
    token = session.get("sid")
    if token is None:
        return
    with db() as s:
        user = login_sessions.user_of(s, token)
        if user is None:
            session.clear()
            return
        g.user = UserView(user.id, user.name, user.role, user.section)


def log_in(user_id: int) -> None:
    """A new session for the user (the login form and LTI launches): no fixation of an earlier one."""
    session.clear()
    with db() as s:
        session["sid"] = login_sessions.start(s, user_id, current_app.permanent_session_lifetime)
    session.permanent = True


class UserView:
    """The logged-in user, detached from the database session."""

    def __init__(self, id: int, name: str, role: str, section: str | None):
        self.id, self.name, self.role, self.section = id, name, role, section

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF

    @property
    def is_instructor(self) -> bool:
        return self.role == "instructor"


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def check_csrf() -> None:
    if request.method in ("GET", "HEAD", "OPTIONS") or request.blueprint in ("api", "lti"):
        return
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf") or ""
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):     # bytes: any text compares
        abort(400, description="This form expired or did not come from this site. Reload the page and try again.")


def login_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g.user is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)
    return wrapped


def role_required(*roles: str):
    def decorate(view):
        @functools.wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if g.user.role not in roles:
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorate


staff_required = role_required(*STAFF)
instructor_required = role_required("instructor")


def _safe_next(target: str | None) -> str | None:
    """Where to go after the login: a path on this site, or None (then the home page). Never
    //evil.example or https://..., never a backslash (browsers read /\\evil.example as
    //evil.example) and never a control character: CR/LF would end the Location header."""
    if not target or len(target) > NEXT_CHARS or "\\" in target:
        return None
    if any(ord(c) < 32 or ord(c) == 127 for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def _login_limits() -> logins.Limits:
    c = current_app.config
    return logins.Limits(c["LOGIN_ATTEMPTS"], c["LOGIN_ATTEMPTS_PER_ADDRESS"], c["LOGIN_WINDOW_S"], c["LOGIN_DELAY_S"],
                         c["LOGIN_MAX_DELAY_S"])


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        if g.user is not None:
            return redirect(url_for("student.home"))
        return render_template("login.html", next=_safe_next(request.args.get("next")) or "")
    name = (request.form.get("username") or "").strip()
    password = request.form.get("password") or ""
    address = request.remote_addr or ""
    again = {"next": _safe_next(request.form.get("next")) or "", "username": name}     # the form, filled in
    with db() as s:
        verdict = logins.check(s, name, address, _login_limits())
    if verdict.wait_s > 0:
        whose = "for this user name from your address" if verdict.refused_for == "name" else "from your address"
        flash(f"Too many failed logins {whose}. Try again in {plural(math.ceil(verdict.wait_s / 60), 'minute')}.", "error")
        return render_template("login.html", **again), 429, {"Retry-After": str(math.ceil(verdict.wait_s))}
    time.sleep(verdict.delay_s)           # someone is guessing this name: slow, never refused
    with db() as s:
        try:
            user = get_user(s, name) if name else None
        except UnknownUser:
            user = None
        ok = verify_password(user, password)     # a dummy hash for no user: the same time for every name
        user_id = user.id if ok else None
        if ok:
            logins.succeeded(s, name, address)
        else:
            logins.failed(s, name, address, current_app.config["LOGIN_WINDOW_S"])
    if not ok:
        flash("Wrong user name or password.", "error")
        return render_template("login.html", **again), 401
    log_in(user_id)
    return redirect(again["next"] or url_for("student.home"))


@bp.route("/logout", methods=["POST"])
def logout():
    with db() as s:
        login_sessions.end(s, session.get("sid"))
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
