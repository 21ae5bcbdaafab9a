"""The regrades staff asked for, as a list: each one's report is computed again from its start
time and what it covered (storage.analytics.regrade_changes), so only that is kept."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Regrade


def record_regrade(session: Session, started_at: datetime, queued: int, requested_by: str | None = None,
                   submission_id: int | None = None, exercise_id: str | None = None,
                   user_name: str | None = None) -> Regrade:
    row = Regrade(started_at=started_at, queued=queued, requested_by=requested_by,
                  submission_id=submission_id, exercise_id=exercise_id, user_name=user_name)
    session.add(row)
    session.flush()
    return row


def recent_regrades(session: Session, limit: int = 50) -> list[Regrade]:
    """The newest first."""
    return list(session.scalars(select(Regrade).order_by(Regrade.started_at.desc(), Regrade.id.desc())
                                .limit(limit)))
