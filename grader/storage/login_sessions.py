"""Logged-in browsers, kept on the server: the signed session cookie only names one (a random
token; its sha256 is stored), so logging out ends that session and a password change ends all of
the user's, at once and in every web process, however long the cookie itself would still be good."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from .models import LoginSession, User, utcnow


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(session: Session, user_id: int, lifetime: timedelta) -> str:
    """A new session for the user (its expired ones swept); the token the cookie holds."""
    now = utcnow()
    session.execute(delete(LoginSession).where(LoginSession.user_id == user_id, LoginSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    session.add(LoginSession(user_id=user_id, token_hash=_hash(token), created_at=now, expires_at=now + lifetime))
    session.flush()
    return token


def user_of(session: Session, token: str | None) -> User | None:
    """The user of a live session, or None (never started, ended, or expired)."""
    if not isinstance(token, str) or not token:
        return None
    row = session.scalar(select(LoginSession).where(LoginSession.token_hash == _hash(token)))
    if row is None or row.expires_at <= utcnow():
        return None
    return session.get(User, row.user_id)


def end(session: Session, token: str | None) -> None:
    if isinstance(token, str) and token:
        session.execute(delete(LoginSession).where(LoginSession.token_hash == _hash(token)))


def end_all(session: Session, user_id: int) -> None:
    session.execute(delete(LoginSession).where(LoginSession.user_id == user_id))
