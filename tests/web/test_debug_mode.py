"""create_app keeps Flask's debug mode off whatever the environment says: Flask reads FLASK_DEBUG
when the app is made, and in debug mode an unhandled error propagates (to the debugger, under
Flask's server) instead of ending as the 500 page. `grader serve` with FLASK_DEBUG=1 is
tests/test_serve.py's."""
from __future__ import annotations

from grader.storage.db import dispose_engines
from support import Site


def test_flask_debug_in_the_environment_leaves_the_app_out_of_debug_mode(tmp_path, monkeypatch):
    monkeypatch.setenv("FLASK_DEBUG", "1")
    site = Site(tmp_path)
    try:
        assert site.app.debug is False and site.app.config["DEBUG"] is False
        assert site.client().get("/console").status_code == 404
    finally:
        dispose_engines()
