"""`grader` command line: parses arguments and calls the pipeline; nothing else lives here.

Exit status: 0 when grading completed (whatever the score), 2 for bad usage or a submission that
cannot be read (with the reason), 1 for an internal error or a setup problem (datasets, sandbox).
The service's `db`, `users` and `export` commands follow the same rule (2: unknown user, bad role, bad roster
line; 1: the database cannot be reached); they import `grader.storage` only when they run.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import Config
from .errors import ConfigError, SetupError, SubmissionError, UsageError
from .report import printable
from .words import plural

LOGLEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _error(message: object) -> None:
    """One `grader: ...` line on stderr. Messages can quote a submission (a file name, an excerpt,
    a student's exception): no control character of theirs reaches the terminal."""
    print(f"grader: {printable(message)}", file=sys.stderr)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        _error(f"error: {message}")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="grader", description="Grade neural-network course submissions.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="grade one notebook or .py file the way the service does")
    run.add_argument("exercise", help="exercise id (see `grader exercises`)")
    run.add_argument("file", type=Path, help="the submission: a .ipynb notebook or a .py file")
    run.add_argument("--format", choices=["table", "json", "gradescope"], default="table",
                     help="table (default), json (exactly one JSON object on stdout), or gradescope "
                          "(a Gradescope autograder results.json object on stdout)")
    run.add_argument("--json", dest="format", action="store_const", const="json",
                     help="the same as --format json")
    run.add_argument("--backend", choices=["local", "docker"], help="sandbox backend (default: from config)")
    sub.add_parser("exercises", help="list the exercise ids")
    data = sub.add_parser("datasets", help="check or download the MNIST/Fashion-MNIST IDX files")
    verbs = data.add_subparsers(dest="verb", required=True)
    check = verbs.add_parser("check", help="find and md5-verify the files; exit 2 unless grading has "
                                          "every file it reads")
    check.add_argument("--data-dir", type=Path, help="folder with the IDX files (default: GRADER_DATA_DIR)")
    fetch = verbs.add_parser("fetch", help="download both datasets into DIR with torchvision's downloader")
    fetch.add_argument("dir", type=Path, nargs="?",
                       help="target folder (default: the user's data cache, which grading finds by itself)")
    box = sub.add_parser("sandbox", help="the docker backend's image and containers")
    box_verbs = box.add_subparsers(dest="verb", required=True)
    build = box_verbs.add_parser("build", help="build the sandbox image offline (debootstrap + docker import)")
    build.add_argument("--tag", help="image name (default: GRADER_DOCKER_IMAGE or grader-sandbox:latest)")
    build.add_argument("--rebuild-base", action="store_true", help="debootstrap the Debian base again")
    box_verbs.add_parser("reap", help="remove every sandbox container left behind (run when no grading runs)")
    db = sub.add_parser("db", help="the service's database (GRADER_DATABASE_URL)")
    db_verbs = db.add_subparsers(dest="verb", required=True)
    db_verbs.add_parser("upgrade", help="create or migrate the tables to the newest schema, then sync the "
                                        "exercises table from the manifests")
    users = sub.add_parser("users", help="the service's users and their API tokens")
    user_verbs = users.add_subparsers(dest="verb", required=True)
    add = user_verbs.add_parser("add", help="add one user")
    add.add_argument("name")
    add.add_argument("--role", required=True, help="student, ta or instructor")
    add.add_argument("--email")
    add.add_argument("--section")
    add.add_argument("--password-stdin", action="store_true",
                     help="read a password for the web login from the first line of stdin")
    roster = user_verbs.add_parser("import", help="add or update users from a CSV roster "
                                                  "(name, email, section, role; a header row may come first, "
                                                  "and may add sis_user_id and canvas_user_id, or Canvas's "
                                                  "'SIS User ID' and 'ID', for the Canvas export)")
    roster.add_argument("roster", type=Path)
    token = user_verbs.add_parser("token", help="print a new API token for the user (shown only this once)")
    token.add_argument("name")
    export = sub.add_parser("export", help="the gradebook as a file: one row per student, one column per exercise")
    export_verbs = export.add_subparsers(dest="verb", required=True)
    what = ("each student's counting score per exercise after the late penalty (extensions count), as the "
            "gradebook shows it, as CSV or Canvas's gradebook import format")
    grades = export_verbs.add_parser("grades", help=what, description=what[0].upper() + what[1:] + ".")
    grades.add_argument("--format", choices=["csv", "canvas"], default="csv",
                        help="csv (default: name, email, section, one score column per exercise id, a "
                             "'<id> bonus' column per exercise with bonus points, total = scores + bonuses; "
                             "a Points possible row under the header) or canvas (Canvas's gradebook import CSV "
                             "with its Points Possible row, score + bonus per exercise; an exercise mapped to a "
                             "Canvas assignment fills that one, and students' Canvas and SIS ids are filled "
                             "where known)")
    grades.add_argument("--policy", choices=["best", "latest"],
                        help="which graded submission counts: best (highest score + bonus) or latest; default: "
                             "the course's setting (best unless an instructor changed it)")
    grades.add_argument("--section", help="only the students of this section (default: every student)")
    grades.add_argument("--output", type=Path, help="write to this file instead of stdout")
    _queue_verbs(sub)
    serve = sub.add_parser("serve", help="the web app (migrates first; with the embedded broker, a worker too)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--demo", action="store_true", help="create a demo instructor and student, print their logins")
    serve.add_argument("--workers", type=int, default=2, help="gunicorn processes (production broker only)")
    serve.add_argument("--threads", type=int, default=16,
                       help="requests each gunicorn process serves at once (production broker only)")
    return parser


def _queue_verbs(sub) -> None:
    """The service's queue: submit, status, regrade, worker (grader/service.py does the work)."""
    submit = sub.add_parser("submit", help="store a submission and queue it for a worker")
    submit.add_argument("exercise")
    submit.add_argument("file", type=Path)
    submit.add_argument("--user", required=True, help="the student's user name")
    submit.add_argument("--wait", action="store_true", help="block until it is graded (or failed)")
    submit.add_argument("--timeout", type=float, metavar="S",
                        help="with --wait: give up waiting after S seconds (exit 1; it stays queued)")
    submit.add_argument("--json", action="store_true",
                        help="print one JSON object {id, status, score, max_score, result?}")
    status = sub.add_parser("status", help="a submission's status (and result, once graded)")
    status.add_argument("id", type=int)
    status.add_argument("--json", action="store_true")
    regrade = sub.add_parser("regrade", help="grade final submissions again (a new attempt each)")
    regrade.add_argument("--submission", type=int, help="one submission")
    regrade.add_argument("--exercise", help="every final submission of the exercise (with --user: of that student)")
    regrade.add_argument("--user", help="every final submission of the student")
    regrade.add_argument("--wait", action="store_true")
    regrade.add_argument("--timeout", type=float, metavar="S", help="with --wait: give up after S seconds each")
    worker = sub.add_parser("worker", help="run a grading worker (Celery, prefork) on GRADER_BROKER_URL")
    worker.add_argument("--concurrency", type=int, help="grading processes (default GRADER_WORKER_CONCURRENCY)")
    worker.add_argument("--queues", default="cpu,gpu", help="cpu, gpu or cpu,gpu (default)")
    worker.add_argument("--loglevel", default="INFO", choices=LOGLEVELS, type=str.upper,
                        help="how much the worker logs (default INFO)")
    worker.add_argument("--share-broker", action="store_true",
                        help="start even when another deployment uses the broker (GRADER_SHARE_BROKER=1)")


def _queue(args, config) -> int:
    """`grader submit|status|regrade|worker`: exit 0 done, 2 bad input (or a failed submission),
    1 a setup problem (or a submission that ended `error`)."""
    from . import service
    from .errors import GraderError
    try:
        if args.command == "worker":
            from .queue.worker import run_worker
            return run_worker(config, args.concurrency, args.queues, args.loglevel, args.share_broker)
        if args.command == "submit":
            from .ingest import read_submission_file
            if not args.file.is_file():
                raise UsageError(f"cannot read {args.file}: no such file")
            data = read_submission_file(args.file, config.max_submission_bytes)
            submission_id = service.submit(config, args.user, args.exercise, args.file.name, data)
            if not args.wait:
                return _print_status(service.status(config, submission_id), args.json)
            return _print_status(_wait(service, config, submission_id, args.timeout), args.json)
        if args.command == "status":
            return _print_status(service.status(config, args.id), args.json)
        if args.submission is not None and (args.exercise or args.user):
            raise UsageError("--submission regrades one submission: leave out --exercise and --user")
        ids = service.regrade(config, args.submission, args.exercise, args.user)
        print(f"{plural(len(ids), 'submission')} queued again" + (f": {', '.join(map(str, ids))}" if ids else ""))
        code = 0
        for submission_id in ids if args.wait else []:
            code = max(code, _print_status(_wait(service, config, submission_id, args.timeout), False))
        return code
    except TimeoutError as e:
        _error(f"{e}; it stays in the queue (`grader status ID` shows it later). Is a worker running "
               "(`grader worker`) on the same GRADER_BROKER_URL and GRADER_DATABASE_URL?")
        return 1
    except GraderError as e:
        _error(e)
        return e.exit_code


def _wait(service, config, submission_id: int, timeout_s: float | None) -> dict:
    if timeout_s is not None and timeout_s <= 0:
        raise UsageError(f"--timeout {timeout_s:g}: give a number of seconds above 0")
    return service.wait(config, submission_id, timeout_s)


def _print_status(current: dict, as_json: bool) -> int:
    if as_json:
        keys = ["id", "status", "score", "max_score"] + [k for k in ("reason", "result") if k in current]
        print(json.dumps({k: current[k] for k in keys}))
    else:
        score = f" {current['score']:g}/{current['max_score']:g}" if current["score"] is not None else ""
        reason = f": {current['reason']}" if current.get("reason") else ""
        print(printable(f"submission {current['id']} ({current['exercise']}, {current['user']}): "
                        f"{current['status']}{score}{reason}"))
    return {"failed": 2, "error": 1}.get(current["status"], 0)


def _db(args, config) -> int:
    """`grader db upgrade`: Alembic's upgrade to head, then the exercises from the manifests."""
    from .storage import migrate
    from .storage.exercises import sync_exercises
    from .storage.db import session_scope
    revision = migrate.upgrade(config)
    with session_scope(config) as session:
        synced = sync_exercises(session, config)
    print(f"database at revision {revision}; {plural(len(synced), 'exercise')} synced")
    return 0


def _users(args, config) -> int:
    """`grader users add|import|token`: bad input exits 2, an unreachable database 1."""
    from .storage.users import add_user, import_roster, issue_token
    from .storage.db import session_scope
    if args.verb == "add":
        password = None
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
            if not password:
                raise UsageError("--password-stdin: the first line of stdin is empty")
        with session_scope(config) as session:
            user = add_user(session, args.name, args.role, email=args.email, section=args.section,
                                       password=password)
            print(f"added {user.name} ({user.role})")
    elif args.verb == "import":
        if not args.roster.is_file():
            raise UsageError(f"cannot read {args.roster}: no such file")
        with session_scope(config) as session:
            done = import_roster(session, args.roster)
        print(f"{args.roster.name}: {plural(done.added, 'user')} added, {done.updated} updated")
    else:
        with session_scope(config) as session:
            print(issue_token(session, args.name))
    return 0


def _sandbox(args, config) -> int:
    """`grader sandbox build|reap`: operator commands; failures say what to do, exit 1."""
    from .errors import SandboxUnavailable
    from .sandbox.container import engine, reap_orphans
    try:
        if args.verb == "build":
            from .sandbox.image import build_offline
            tag = args.tag or config.docker_image
            seconds = build_offline(tag, args.rebuild_base, log=lambda m: print(m, file=sys.stderr))
            print(f"built {tag} in {seconds:.1f} s")
        else:
            print(f"removed {plural(reap_orphans(engine(), only_dead_owners=False), 'sandbox container')}")
    except SandboxUnavailable as e:
        _error(e)
        return 1
    return 0


def _datasets(args, config) -> int:
    """`grader datasets check|fetch`: one line per file; 2 unless every file grading reads verifies."""
    from . import datasets
    try:
        if args.verb == "fetch":
            from .config import user_data_dir
            args.dir = args.dir or user_data_dir()
            lines = datasets.fetch(args.dir)
        else:
            lines = datasets.check(args.data_dir or config.data_dir)
    except datasets.DatasetError as e:
        _error(e)
        return 2
    for line in lines:
        note = line.detail if line.ok else "(needed for grading)" if line.needed else "(not needed for grading)"
        print(f"{line.dataset:14} {line.file:24} {line.status:9} {note}")
    failed = [line for line in lines if line.needed and not line.ok]
    for line in failed:
        _error(line.detail)
    from .config import user_data_dir
    if not failed and args.verb == "fetch" and args.dir.resolve() != user_data_dir().resolve():
        print(f"set GRADER_DATA_DIR={args.dir.resolve()} to grade with these files")
    return 2 if failed else 0


def _export(args, config) -> int:
    """`grader export grades`: to stdout, or to --output (then one line on stdout says what was
    written). 2: bad arguments or an output that cannot be written; 1: no database."""
    from .errors import GraderError
    from .export import export_grades
    try:
        done = export_grades(config, args.format, args.policy, args.output, section=args.section)
    except GraderError as e:
        _error(e)
        return e.exit_code
    if args.output is not None:
        print(f"{args.output}: {plural(done.students, 'student')} x {plural(done.exercises, 'exercise')}, {args.format}, "
              f"{done.policy} submission")
    return 0


def _service(args, config) -> int:
    """The storage commands: every error the grader classifies is one line on stderr."""
    from .errors import GraderError
    try:
        return _db(args, config) if args.command == "db" else _users(args, config)
    except GraderError as e:
        _error(e)
        return e.exit_code


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from . import report
    from .manifest import exercise_ids
    try:
        config = Config.from_env()
        if args.command == "datasets":
            return _datasets(args, config)
        if args.command == "sandbox":
            return _sandbox(args, config)
        if args.command in ("db", "users"):
            return _service(args, config)
        if args.command == "export":
            return _export(args, config)
        if args.command in ("submit", "status", "regrade", "worker"):
            return _queue(args, config)
        if args.command == "serve":
            from .serve import serve
            return serve(config, args.host, args.port, args.demo, args.workers, args.threads)
        if args.command == "exercises":
            for exercise_id in exercise_ids(config.exercises_dir):
                print(exercise_id)
            return 0
        from .grading import grade_file
        if not args.file.is_file():
            raise UsageError(f"cannot read {args.file}: no such file")
        result = grade_file(args.exercise, args.file, config, args.backend, progress=report.Progress(sys.stderr))
    except SubmissionError as e:          # bad input: the message says what is wrong with it
        _error(e)
        return e.exit_code
    except ConfigError as e:              # a bad setting: named in the message
        _error(e)
        return e.exit_code
    except SetupError as e:               # the operator's setup: say what to fix, never a score
        prefix = "cannot serve" if args.command == "serve" else "cannot grade here"
        _error(f"{prefix}: {e}")
        return e.exit_code
    except Exception as e:  # noqa: BLE001 - anything else is our fault, said plainly
        _error(f"internal error: {type(e).__name__}: {e}")
        return 1
    if args.format == "json":
        print(json.dumps(result.to_dict()))
    elif args.format == "gradescope":
        from .gradescope import to_gradescope
        print(json.dumps(to_gradescope(result)))
    else:
        report.print_result(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
