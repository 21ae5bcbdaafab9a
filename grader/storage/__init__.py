"""The service's storage: the database (SQLAlchemy models, one repository of queries and writes)
and the content-addressed folder of submitted files.

The core (everything else in `grader/`) never imports this package; the CLI's `db` and `users`
commands import it inside their functions, and the worker and the web go through
`grader.storage.repository` only.
"""
