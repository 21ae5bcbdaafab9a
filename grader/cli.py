"""`grader` command line: parses arguments and calls the pipeline; nothing else lives here.

Exit status: 0 when grading completed (whatever the score), 2 for bad usage or a submission that
cannot be read (with the reason), 1 for an internal error.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import Config


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"grader: error: {message}", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="grader", description="Grade neural-network course submissions.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="grade one notebook or .py file the way the service does")
    run.add_argument("exercise", help="exercise id (see `grader exercises`)")
    run.add_argument("file", type=Path, help="the submission: a .ipynb notebook or a .py file")
    run.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    run.add_argument("--backend", choices=["local"], help="sandbox backend (default: from config)")
    sub.add_parser("exercises", help="list the exercise ids")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    config = Config.from_env()
    from . import report
    from .ingest import IngestError
    from .manifest import UnknownExercise, exercise_ids
    try:
        if args.command == "exercises":
            for exercise_id in exercise_ids(config.exercises_dir):
                print(exercise_id)
            return 0
        from .grading import grade
        if not args.file.is_file():
            raise UsageError(f"cannot read {args.file}: no such file")
        progress = report.Progress(sys.stderr)
        result = grade(args.exercise, args.file, config, args.backend, progress=progress)
        progress.close()
    except (UsageError, UnknownExercise, IngestError) as e:
        print(f"grader: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - anything else is our fault, said plainly
        print(f"grader: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        report.print_result(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
