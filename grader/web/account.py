"""A user's own account: their password and their API tokens (the notebook client and scripts
use one). A token is shown once, when made; its owner sees when each was made and last used,
gives it a label and an expiry, and revokes it. A password change ends every other session."""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from ..errors import UserError
from ..storage.models import utcnow
from ..storage.users import get_user, issue_token, revoke_token, set_password, tokens_of, verify_password
from . import params
from .auth import log_in, login_required
from .db import db

bp = Blueprint("account", __name__, url_prefix="/account")

EXPIRY_DAYS = (7, 30, 90, 365)          # the form's choices; none: until revoked


def account_page(new_token: str | None = None, status: int = 200):
    with db() as s:
        tokens = tokens_of(s, g.user.id)
        has_password = bool(get_user(s, g.user.name).password_hash)
    return render_template("account.html", tokens=tokens, new_token=new_token, now=utcnow(),
                           has_password=has_password, expiry_days=EXPIRY_DAYS), status


@bp.route("")
@login_required
def account():
    return account_page()


@bp.route("/tokens", methods=["POST"])
@login_required
def new_token():
    label = params.text("label", request.form)
    days = params.number("expires_days", request.form, whole=True)
    try:
        if days is not None and days not in EXPIRY_DAYS:
            raise UserError(f"expires_days must be one of {', '.join(map(str, EXPIRY_DAYS))}, or empty for no expiry")
        with db() as s:
            token = issue_token(s, g.user.name, label, utcnow() + timedelta(days=days) if days else None)
    except UserError as e:
        flash(str(e), "error")
        return account_page(status=e.http_status)
    return account_page(new_token=token, status=201)


@bp.route("/tokens/<id:token_id>/revoke", methods=["POST"])
@login_required
def revoke(token_id: int):
    with db() as s:
        revoke_token(s, g.user.id, token_id)
    flash("The token is revoked: nothing can use it any more.", "info")
    return redirect(url_for("account.account"), 303)


@bp.route("/password", methods=["POST"])
@login_required
def password():
    form = request.form
    current, new, again = form.get("current", ""), form.get("new", ""), form.get("again", "")
    try:
        with db() as s:
            user = get_user(s, g.user.name)
            if not verify_password(user, current):
                raise UserError("The current password is not right; nothing was changed.")
            if new != again:
                raise UserError("The two new passwords differ; nothing was changed.")
            set_password(s, user, new)        # UserError for an empty or too long one; ends every session
    except UserError as e:
        flash(str(e), "error")
        return account_page(status=e.http_status)
    log_in(g.user.id)                         # this browser goes on with a new session
    flash("Password changed. Every other browser that was logged in as you is logged out.", "info")
    return redirect(url_for("account.account"), 303)
