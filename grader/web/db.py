"""The web's database access: one transaction per block, on the app's config (the same
`session_scope` the CLI and the worker use)."""
from __future__ import annotations

from flask import current_app

from ..storage.db import session_scope


def db():
    return session_scope(current_app.grader_config)


def config():
    return current_app.grader_config
