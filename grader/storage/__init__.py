"""The service's storage: the database (SQLAlchemy models) and the content-addressed folder of
submitted files, one module per entity, each with its queries and writes:

* `users`: users, passwords, API tokens, the roster import; `logins`: failed logins;
* `exercises`: synced from the manifests; `course`: extensions, instructors' rules, publishing;
* `submissions`: submissions, their status moves, grading runs, the queue's bookkeeping;
* `gradebook`: the counting score of each student and exercise (penalties, policy), the
  students' standings; `analytics`: what an exercise's gradings add up to, a regrade's changes;
* `lti_links`: LMS launches; `files`, `db`, `models`, `migrate`.

Callers (the CLI, the service, the worker, the web) get a session from `db.session_scope(config)`
and write no SQL of their own. The core (the pipeline from ingest to scoring) never imports this
package; it never imports the web or the queue (the import contracts in pyproject.toml check both).
"""
