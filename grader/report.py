"""Human-readable output of a grading run (rich): live progress while the suite runs, then a table.

rich is imported on first use: `grader run` starts the student's process before it is needed.

Student text (exception messages, printed output, excerpts of cells, file names) is hostile: an
escape sequence in it would reach the TA's terminal and could retitle it, clear it, rewrite what
it shows or, on some terminals, answer back as typed input. rich drops a few control characters
(BEL, BS, CR) but passes ESC and the C1 codes, so everything printed here, and the CLI's messages,
goes through `printable` first.
"""
from __future__ import annotations

import re

from .results import GradeResult, ProgressEvent, code_notes

# C0 and C1 control characters but tab and newline, and DEL (ESC starts a terminal sequence,
# U+009B is a one-character CSI); the bidi controls that make a line read in another order than
# it runs
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: object, layout: bool = True) -> str:
    """`text` without control characters, safe to print to a terminal. Newlines and tabs are kept
    where the layout needs them (`layout=True`: a message, a cell's text); with `layout=False`
    (one line: a test name, a status) they become spaces."""
    text = _CONTROLS.sub("", str(text))
    return text if layout else text.replace("\t", " ").replace("\n", " ")


MARKS = {"passed": "[green]passed[/]", "failed": "[red]failed[/]", "error": "[red]error[/]",
         "timeout": "[yellow]timeout[/]"}


class Progress:
    """One line per finished test on stderr, so a long suite visibly moves (stdout stays clean).
    Takes the pipeline's `ProgressEvent`s."""

    def __init__(self, stream):
        self.stream = stream
        self.console = None

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind != "test":
            return
        from rich.markup import escape
        if self.console is None:
            from rich.console import Console
            self.console = Console(file=self.stream, highlight=False)
        status = MARKS.get(event.status) or escape(printable(event.status, False))
        self.console.print(f"  [dim]{event.index:>3}/{event.total}[/] {escape(printable(event.name, False))} ... "
                           f"{status}")


def print_result(result: GradeResult, console=None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    console = console or Console(highlight=False)
    table = Table(title=escape(f"{printable(result.exercise, False)}: {result.score:g} / {result.max_score:g} points"
                               + (f"  (bonus {result.bonus:g} / {result.bonus_max:g})" if result.bonus_max else "")))
    table.add_column("test")
    table.add_column("status")
    table.add_column("points", justify="right")
    table.add_column("what it checks / why it failed")
    for t in result.tests:
        text = escape(printable(t.description)) + (f"\n[dim]{escape(printable(t.message))}[/]" if t.message else "")
        for line in (t.note or "").splitlines():     # a note, not a failure: labelled, not dimmed
            text += f"\n[cyan]note:[/] {escape(printable(line))}"
        status = MARKS.get(t.status) or escape(printable(t.status, False))
        table.add_row(escape(printable(t.name, False)) + (" (bonus)" if t.bonus else ""), status,
                      f"{t.points:g}/{t.max_points:g}", text)
    console.print(table)
    for kind, text in code_notes(result.to_dict()):
        console.print(f"[{'dim' if kind == 'not_run' else 'yellow'}]{escape(printable(text))}[/]")
    sandbox = ", ".join(f"{k} {v}" for k, v in result.sandbox.items() if k != "backend")
    usage = result.usage
    cost = "" if usage.cpu_s is None else f", CPU {usage.cpu_s:.2f} s"
    if usage.gpu_s is not None:
        cost += f", GPU {usage.gpu_s:.2f} s (peak {usage.gpu_peak_mb or 0:.0f} MB)"
    console.print(f"[dim]graded in {result.duration_s:.2f} s{cost}; sandbox: "
                  f"{escape(printable(sandbox, False))} ({escape(printable(result.sandbox.get('backend'), False))})[/]")
