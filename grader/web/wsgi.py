"""`gunicorn grader.web.wsgi:app`: the app on the GRADER_* settings (production: https, so the
session cookie is Secure)."""
from . import create_app

app = create_app()
