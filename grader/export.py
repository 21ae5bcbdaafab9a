"""`grader export grades`: the gradebook as one row per student and one column per exercise.

Two formats, both CSV (UTF-8, no BOM, "\\n" line ends, quoted only where needed):

- `csv`: for a spreadsheet. The header is `name, email, section`, one column per exercise id, one
  column `<exercise id> bonus` per exercise that has bonus points (in its manifest, or in a
  student's counting submission), then `total`. The second row starts with `Points possible` (no
  user name can be that: names have no spaces) and gives each exercise's maximum (its main
  points), each bonus column's maximum, and the total's maximum: the sum of the exercises' main
  points, the bonus being extra credit on top. Then one row per student: an exercise's cell is the
  counting submission's score alone, its bonus cell that submission's bonus, both plain numbers and
  both empty when the student has no graded submission for that exercise; `total` is the sum of
  the student's scores and bonuses (an exercise without a graded submission counts 0).
- `canvas`: Canvas's gradebook import format. The header is `Student, ID, SIS User ID,
  SIS Login ID, Section`, then one column per exercise: `<title> (<Canvas assignment id>)` for an
  exercise an instructor mapped to a Canvas assignment (its settings page), else
  `<title> (<exercise id>)`; the second row starts with `Points Possible` and gives each
  exercise's maximum (its main points); then one row per student, whose cell is the counting
  submission's score + bonus: the bonus counts as extra credit on top, as in the Gradescope
  format, and Canvas has no column for it.

  How Canvas reads it (its GradebookImporter): the first column must contain "Student" and the
  second "ID", and "Section" must be the last student column; a row whose first cell contains
  "Points Possible" sets the points of the assignments the import creates. Students are matched by
  ID (Canvas's numeric user id), then SIS User ID, then SIS Login ID, then by name: ID and SIS User
  ID carry the user's Canvas user id and SIS id where the grader knows them (from a roster's
  columns or an LTI launch; empty otherwise), and SIS Login ID and Student carry the grader's user
  name (the login that the roster import uses). An assignment column is matched by a numeric Canvas
  id in parentheses at the end of its title ("Title (1234)"), else by its whole title, else a new
  assignment is made with that title. So a mapped exercise fills its existing Canvas assignment
  (which keeps its points possible in Canvas), and an unmapped one's `<title> (<exercise id>)` is
  never taken for a Canvas id (an all-digit exercise id is written `(exercise <id>)` so that it is
  not): the second import of the same export updates the assignments the first one created. A
  blank cell is "no score"; Canvas's preview shows it as clearing a grade entered there by hand,
  if one was.

Which submission counts is the gradebook's policy (`best`: highest score + bonus, the later on a
tie; `latest`: the last received; by default the course's setting), see `storage.gradebook`.
Scores are after the late penalty (extensions count), as the gradebook computes them.

Spreadsheets run a cell that starts with `=`, `+`, `-` or `@` (or a tab or CR before one) as a
formula, and a user name, e-mail or section comes from a roster or the LMS: `=HYPERLINK(...)` or
`=cmd|...` would run on the instructor's machine. So every text cell that people wrote goes through
`text_cell`, which puts a `'` in front of such a value (OWASP's advice; spreadsheets show the text
and drop the quote). The decision is by column, not by looks: score and Points Possible cells are
numbers we format ourselves (`number`, where `-1.5` is a number and stays one), and the header's
exercise ids and titles come from the course's manifests (a Canvas assignment id is digits); only
the people's columns are quoted (the Canvas ids too), even a name such as `-5` (a name, not a score).

The formatting functions are pure (gradebook rows + exercises in, rows of cells or text out);
`export_grades` is the one that opens a session and writes. The exercises are those the gradebook
returns: every exercise synced into the database, in id order (the order `sync_exercises` and the
manifests list them); with no student in the database there are no rows, and the export is the
header and its points row alone. Only the storage's functions touch the database, in a few queries however many
students there are (the gradebook, the exercises, the students' e-mail addresses and LMS ids).
"""
from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TextIO

from .config import Config
from .errors import UsageError

FORMATS = ("csv", "canvas")
POLICIES = ("best", "latest")        # storage.gradebook.POLICIES, without importing SQLAlchemy
CANVAS_STUDENT_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
POINTS_POSSIBLE = "Points Possible"
CSV_POINTS_POSSIBLE = "Points possible"      # no user name has a space: never a student's row


class ExerciseInfo(Protocol):
    """What the export needs of an exercise (the `Exercise` model has it)."""

    id: str
    title: str
    points: float
    bonus_points: float
    canvas_assignment_id: str | None


class Row(Protocol):
    """What the export needs of a gradebook row (`storage.gradebook.GradebookRow` has it)."""

    user: str
    section: str | None
    exercise: str
    score: float | None
    bonus: float | None


class Person(Protocol):
    """What the export needs of a user besides the gradebook (`storage.users.people_of` gives it)."""

    email: str | None
    sis_user_id: str | None
    canvas_user_id: str | None


@dataclass(frozen=True)
class Student:
    name: str
    section: str | None
    rows: dict[str, Row]           # exercise id -> the gradebook row (score None: nothing graded)

    def score(self, exercise_id: str) -> str:
        """The counting score alone (after the late penalty), "" when nothing is graded."""
        row = self.rows.get(exercise_id)
        return "" if row is None or row.score is None else number(row.score)

    def bonus(self, exercise_id: str) -> str:
        """The counting submission's bonus alone, "" when nothing is graded."""
        row = self.rows.get(exercise_id)
        return "" if row is None or row.score is None else number(row.bonus or 0.0)

    def points(self, exercise_id: str) -> str:
        """Score + bonus, "" when nothing is graded (Canvas's cell)."""
        row = self.rows.get(exercise_id)
        return "" if row is None or row.score is None else number(row.score + (row.bonus or 0.0))

    def total(self) -> str:
        """Every score and bonus, an exercise without a graded submission counting 0."""
        return number(sum(r.score + (r.bonus or 0.0) for r in self.rows.values() if r.score is not None))


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: str | None) -> str:
    """A cell of text from people (name, e-mail, section): never read as a formula ("" for None)."""
    value = value or ""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def number(value: float) -> str:
    """A score as CSV wants it: no exponent, no trailing zeros, at most 4 decimals (6.0 -> "6")."""
    text = f"{round(float(value), 4):.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def students(rows: Iterable[Row]) -> list[Student]:
    """The gradebook rows (one per student x exercise) grouped by student, in their order."""
    found: dict[str, Student] = {}
    for row in rows:
        student = found.get(row.user)
        if student is None:
            student = found[row.user] = Student(row.user, row.section, {})
        student.rows[row.exercise] = row
    return list(found.values())


def canvas_title(exercise: ExerciseInfo) -> str:
    """The assignment column's title: `<title> (<Canvas assignment id>)` for a mapped exercise (Canvas
    fills that assignment), else `<title> (<id>)`, never a numeric id in parentheses."""
    if exercise.canvas_assignment_id:
        return f"{exercise.title} ({exercise.canvas_assignment_id})"
    label = f"exercise {exercise.id}" if exercise.id.isdigit() else exercise.id
    return f"{exercise.title} ({label})"


def with_bonus(rows: Sequence[Row], exercises: Sequence[ExerciseInfo]) -> list[ExerciseInfo]:
    """The exercises that get a bonus column: bonus points in the manifest, or a bonus given."""
    given = {row.exercise for row in rows if row.score is not None and row.bonus}
    return [e for e in exercises if e.bonus_points or e.id in given]


def csv_table(rows: Sequence[Row], exercises: Sequence[ExerciseInfo],
              people: Mapping[str, Person]) -> list[list[str]]:
    """`csv`: name, email, section, a score column per exercise, a bonus column per exercise with
    bonus points, total; the Points possible row; one row per student."""
    bonus = with_bonus(rows, exercises)
    table = [["name", "email", "section", *(e.id for e in exercises), *(f"{e.id} bonus" for e in bonus), "total"],
             [CSV_POINTS_POSSIBLE, "", "", *(number(e.points) for e in exercises),
              *(number(e.bonus_points) for e in bonus), number(sum(e.points for e in exercises))]]
    for student in students(rows):
        person = people.get(student.name)
        table.append([text_cell(student.name), text_cell(person.email if person else None),
                      text_cell(student.section), *(student.score(e.id) for e in exercises),
                      *(student.bonus(e.id) for e in bonus), student.total()])
    return table


def canvas_table(rows: Sequence[Row], exercises: Sequence[ExerciseInfo],
                 people: Mapping[str, Person]) -> list[list[str]]:
    """`canvas`: Canvas's gradebook import CSV (header, Points Possible row, one row per student)."""
    blank = [""] * (len(CANVAS_STUDENT_COLUMNS) - 1)
    table = [[*CANVAS_STUDENT_COLUMNS, *(canvas_title(e) for e in exercises)],
             [POINTS_POSSIBLE, *blank, *(number(e.points) for e in exercises)]]
    for student in students(rows):
        name, person = text_cell(student.name), people.get(student.name)
        table.append([name, text_cell(person.canvas_user_id if person else None),
                      text_cell(person.sis_user_id if person else None), name, text_cell(student.section),
                      *(student.points(e.id) for e in exercises)])
    return table


def to_text(table: Iterable[Sequence[str]]) -> str:
    """The table as CSV: "\\n" line ends, a cell quoted only where it must be. Python's csv module
    leaves a bare CR unquoted when the line end is "\\n", and a spreadsheet starts a new row at it,
    where `x\\r=cmd|...` would begin a formula cell: here a CR is quoted like a comma or a newline."""
    return "".join(",".join(_quoted(cell) for cell in row) + "\n" for row in table)


def _quoted(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"' if any(c in cell for c in ',"\r\n') else cell


def render(fmt: str, rows: Sequence[Row], exercises: Sequence[ExerciseInfo],
           people: Mapping[str, Person] | None = None) -> str:
    """The whole export as text, in `fmt` (csv or canvas); `people` by user name (none: unknown)."""
    if fmt == "csv":
        return to_text(csv_table(rows, exercises, people or {}))
    if fmt == "canvas":
        return to_text(canvas_table(rows, exercises, people or {}))
    raise UsageError(f"export format {fmt!r} is not one of {', '.join(FORMATS)}")


@dataclass(frozen=True)
class Export:
    text: str
    students: int
    exercises: int
    policy: str          # the one used (the course's setting when none was asked for)


def build(config: Config, fmt: str = "csv", policy: str | None = None, section: str | None = None) -> Export:
    """Read the gradebook in one transaction and format it; `section`: that section's students only
    (the gradebook page's filter), None: everyone."""
    if fmt not in FORMATS:
        raise UsageError(f"export format {fmt!r} is not one of {', '.join(FORMATS)}")
    from .storage.db import session_scope
    from .storage.exercises import exercises_by_id
    from .storage.gradebook import course_policy, gradebook
    from .storage.users import people_of
    with session_scope(config) as session:
        policy = policy or course_policy(session)
        rows = gradebook(session, policy)       # UsageError for a bad policy
        if section is not None:
            rows = [row for row in rows if row.section == section]
        by_id = exercises_by_id(session, {row.exercise for row in rows})
        exercises = [by_id[exercise_id] for exercise_id in dict.fromkeys(row.exercise for row in rows)]
        names = list(dict.fromkeys(row.user for row in rows))
        people = people_of(session, names)
    return Export(render(fmt, rows, exercises, people), len(names), len(exercises), policy)


def write(text: str, output: Path | None, stdout: TextIO | None = None) -> None:
    """To stdout, or to `output` whole: a temporary file beside it, then renamed into place, so a
    reader never sees half a file. The file is private (mode 600): it holds students' grades."""
    if output is None:
        (stdout or sys.stdout).write(text)
        return
    output = Path(output)
    if output.is_dir():
        raise UsageError(f"cannot write {output}: it is a folder")
    try:
        fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.")
    except OSError as e:
        raise UsageError(f"cannot write {output}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, output)
    except OSError as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise UsageError(f"cannot write {output}: {e.strerror}") from None


def export_grades(config: Config, fmt: str = "csv", policy: str | None = None, output: Path | None = None,
                  stdout: TextIO | None = None, section: str | None = None) -> Export:
    """`grader export grades`: build the export, then write it to `output` or stdout. Errors are
    the grader's: UsageError (exit 2) for a bad format, policy or output path, DatabaseUnavailable
    (exit 1) when the database cannot be reached or has no tables."""
    if policy is not None and policy not in POLICIES:
        raise UsageError(f"gradebook policy {policy!r} is not one of {', '.join(POLICIES)}")
    done = build(config, fmt, policy, section)
    write(done.text, output, stdout)
    return done
