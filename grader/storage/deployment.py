"""This deployment's identity (the `deployment` table's one row, written by `grader db upgrade`),
read once per process: it names the queues on the broker and rides on every grading message.

A database whose row is missing (emptied by hand, restored from part of a dump) gets a new one on
the first read, made once whatever the number of processes asking (the row's key is fixed).
"""
from __future__ import annotations

import secrets
import threading

from sqlalchemy.exc import IntegrityError

from ..config import Config
from .db import database_url, session_scope
from .models import Deployment

SHORT = 12              # hex digits of the id in queue names and messages to people (48 bits)

_ids: dict[str, str] = {}
_lock = threading.Lock()


def deployment_id(config: Config) -> str:
    """The deployment's id (32 hex digits), from the database on the first call of this process."""
    key = database_url(config)
    with _lock:
        if key not in _ids:
            _ids[key] = _read_or_make(config)
        return _ids[key]


def short_id(config: Config) -> str:
    return deployment_id(config)[:SHORT]


def _read_or_make(config: Config) -> str:
    for _ in range(2):
        try:
            with session_scope(config) as session:
                row = session.get(Deployment, 1)
                if row is None:
                    row = Deployment(id=1, deployment_id=secrets.token_hex(16))
                    session.add(row)
                return row.deployment_id
        except IntegrityError:          # another process made it meanwhile: read theirs
            continue
    raise RuntimeError("the deployment row could be neither read nor made")   # pragma: no cover
