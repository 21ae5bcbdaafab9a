"""Human-readable output of a grading run (rich): live progress while the suite runs, then a table.

rich is imported on first use: `grader run` starts the student's process before it is needed.
"""
from __future__ import annotations

from .results import GradeResult, ProgressEvent, code_notes

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
        if self.console is None:
            from rich.console import Console
            self.console = Console(file=self.stream, highlight=False)
        self.console.print(f"  [dim]{event.index:>3}/{event.total}[/] {event.name} ... "
                           f"{MARKS.get(event.status, event.status)}")


def print_result(result: GradeResult, console=None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    console = console or Console(highlight=False)
    table = Table(title=f"{result.exercise}: {result.score:g} / {result.max_score:g} points"
                        + (f"  (bonus {result.bonus:g} / {result.bonus_max:g})" if result.bonus_max else ""))
    table.add_column("test")
    table.add_column("status")
    table.add_column("points", justify="right")
    table.add_column("what it checks / why it failed")
    for t in result.tests:
        text = escape(t.description) + (f"\n[dim]{escape(t.message)}[/]" if t.message else "")
        table.add_row(t.name + (" (bonus)" if t.bonus else ""), MARKS.get(t.status, t.status),
                      f"{t.points:g}/{t.max_points:g}", text)
    console.print(table)
    for kind, text in code_notes(result.to_dict()):
        console.print(f"[{'dim' if kind == 'not_run' else 'yellow'}]{escape(text)}[/]")
    console.print(f"[dim]graded in {result.duration_s:.2f} s; sandbox: "
                  + ", ".join(f"{k} {v}" for k, v in result.sandbox.items() if k != "backend")
                  + f" ({result.sandbox.get('backend')})[/]")
