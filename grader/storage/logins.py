"""Failed logins, counted per key in a sliding window (the web's login rate limit)."""
from __future__ import annotations

from datetime import timedelta, timezone

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from .models import LoginFailure, utcnow


def wait_s(session: Session, limits: dict[str, int], window_s: float) -> float:
    """Seconds until another try is allowed under every key's limit (0: now)."""
    now = utcnow()
    since = now - timedelta(seconds=window_s)
    wait = 0.0
    for key, limit in limits.items():
        count, oldest = session.execute(select(func.count(), func.min(LoginFailure.at))
                                        .where(LoginFailure.key == key, LoginFailure.at > since)).one()
        if count >= limit and oldest is not None:
            if oldest.tzinfo is None:              # SQLite's aggregate comes back plain
                oldest = oldest.replace(tzinfo=timezone.utc)
            wait = max(wait, window_s - (now - oldest).total_seconds())
    return wait


def failed(session: Session, keys: list[str], window_s: float) -> None:
    """Record a failure for each key; drop what is older than the window (the table stays small)."""
    now = utcnow()
    session.execute(delete(LoginFailure).where(LoginFailure.at < now - timedelta(seconds=window_s)))
    session.add_all(LoginFailure(key=key[:200], at=now) for key in keys)


def succeeded(session: Session, keys: list[str]) -> None:
    session.execute(delete(LoginFailure).where(LoginFailure.key.in_(keys)))
