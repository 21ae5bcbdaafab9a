"""`grader export grades` on real databases: SQLite (a file per test) and PostgreSQL (scratch
databases, marker `postgres`; the fixtures are tests/conftest.py's). The data goes in through
the repository (users, submissions, runs of GradeResults built here); the CSV and Canvas outputs are
checked to the character: numbers, order, the points rows, the bonus and total columns, best vs
latest, Canvas assignments and students' LMS ids; then the CLI verb end to end, including its exit
statuses.
"""
from __future__ import annotations

import csv
import io
import re
import shutil
import stat
from contextlib import contextmanager
from types import SimpleNamespace

import pytest

from grader import errors, export, results
from grader.config import Config
from grader.results import GradeResult
from grader.storage.exercises import get_exercise, sync_exercises
from grader.storage.submissions import create_submission, mark_status, record_run
from grader.storage.users import add_user, get_user, import_roster
from grader.storage.db import dispose_engines, session_scope
from support import FIXTURES, grader, scratch_database

EXERCISES = FIXTURES / "exercises"      # courseenv (5 points), probe (1), toy (6 + 1 bonus), toytorch (6)

CSV_HEADER = ("name,email,section,courseenv,probe,toy,toytorch,toy bonus,total\n"
              "Points possible,,,5,1,6,6,1,18\n")
CSV_BEST = CSV_HEADER + ("alice,alice@uni.example,A,,1,5,,1,7\n"
                         'bob,,"Lab, Tue",4,,3,,0,7\n'
                         "carol,carol@uni.example,,,,,,,0\n")
CSV_LATEST = CSV_HEADER + ("alice,alice@uni.example,A,,1,4.5,,0,5.5\n"
                           'bob,,"Lab, Tue",2.5,,3,,0,5.5\n'
                           "carol,carol@uni.example,,,,,,,0\n")
CANVAS_HEADER = ("Student,ID,SIS User ID,SIS Login ID,Section,"
                 "The course's packages and identity in the sandbox (courseenv),"
                 "Filesystem probe for the sandbox tests (probe),"
                 "Toy exercise for the harness tests (toy),"
                 "Toy torch exercise for the harness tests (toytorch)\n"
                 "Points Possible,,,,,5,1,6,6\n")
CANVAS_BEST = CANVAS_HEADER + ("alice,,,alice,A,,1,6,\n"
                               'bob,,,bob,"Lab, Tue",4,,3,\n'
                               "carol,,,carol,,,,,\n")
CANVAS_LATEST = CANVAS_HEADER + ("alice,,,alice,A,,1,4.5,\n"
                                 'bob,,,bob,"Lab, Tue",2.5,,3,\n'
                                 "carol,,,carol,,,,,\n")


# ---------------------------------------------------------------- the data

def result(exercise: str, score: float, max_score: float, bonus: float = 0.0, bonus_max: float = 0.0) -> GradeResult:
    status = "passed" if score == max_score else "failed"
    tests = [results.TestResult("test_main", "the main part", status, score, max_score)]
    if bonus_max:
        tests.append(results.TestResult("test_extra", "the bonus", "passed" if bonus else "failed", bonus, bonus_max,
                                bonus=True))
    return GradeResult(exercise, score, max_score, bonus, bonus_max, tests, duration_s=0.5,
                       sandbox={"backend": "local", "device": "cpu"})


def submit(config: Config, user: str, exercise: str, status: str = "graded", run: GradeResult | None = None) -> int:
    """One submission taken to `status` (graded: through one recorded run); its id."""
    with session_scope(config) as session:
        submission = create_submission(session, config, user, exercise, "sub.py", f"# {user}\n".encode())
        if status == "received":
            return submission.id
        if status == "failed":
            mark_status(session, submission, "failed", reason="not Python")
            return submission.id
        mark_status(session, submission, "queued")
        if status == "queued":
            return submission.id
        mark_status(session, submission, "running")
        record_run(session, submission, run, backend="local")
        mark_status(session, submission, "graded")
        return submission.id


def populate(config: Config) -> None:
    """alice: toy 5 + 1 bonus, then 4.5 (latest); probe 1. bob: toy 3, then a failed upload;
    courseenv 4, then 2.5 (latest). carol: only a submission still queued. tara is a TA."""
    with session_scope(config) as session:
        add_user(session, "bob", section="Lab, Tue")
        add_user(session, "alice", email="alice@uni.example", section="A")
        add_user(session, "carol", email="carol@uni.example")
        add_user(session, "tara", "ta", email="tara@uni.example", section="A")
    submit(config, "alice", "toy", run=result("toy", 5.0, 6.0, 1.0, 1.0))
    submit(config, "alice", "probe", run=result("probe", 1.0, 1.0))
    submit(config, "alice", "toy", run=result("toy", 4.5, 6.0, 0.0, 1.0))
    submit(config, "bob", "toy", run=result("toy", 3.0, 6.0, 0.0, 1.0))
    submit(config, "bob", "toy", "failed")
    submit(config, "bob", "courseenv", run=result("courseenv", 4.0, 5.0))
    submit(config, "bob", "courseenv", run=result("courseenv", 2.5, 5.0))
    submit(config, "carol", "toytorch", "queued")
    submit(config, "tara", "toy", run=result("toy", 6.0, 6.0, 1.0, 1.0))


# ---------------------------------------------------------------- the formats, on both databases

def test_csv_and_canvas_best_and_latest(db):
    populate(db)
    assert export.build(db, "csv", "best").text == CSV_BEST
    assert export.build(db, "csv", "latest").text == CSV_LATEST
    assert export.build(db, "canvas", "best").text == CANVAS_BEST
    done = export.build(db, "canvas", "latest")
    assert (done.text, done.students, done.exercises) == (CANVAS_LATEST, 3, 4)


def test_export_grades_writes_stdout_or_a_private_file(db, tmp_path):
    populate(db)
    out = io.StringIO()
    export.export_grades(db, "canvas", "best", stdout=out)
    assert out.getvalue() == CANVAS_BEST
    target = tmp_path / "grades.csv"
    target.write_text("old contents, replaced whole\n")
    export.export_grades(db, "csv", "latest", output=target)
    assert target.read_text() == CSV_LATEST
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".grades")) == []   # no temp left
    for bad, words in [(dict(fmt="xlsx"), "export format 'xlsx' is not one of csv, canvas"),
                       (dict(policy="worst"), "gradebook policy 'worst' is not one of best, latest"),
                       (dict(output=tmp_path), "it is a folder"),
                       (dict(output=tmp_path / "missing" / "g.csv"), "No such file or directory")]:
        with pytest.raises(errors.UsageError, match=words):
            export.export_grades(db, **{"fmt": "csv", "policy": "best", "stdout": io.StringIO(), **bad})


def test_the_canvas_export_reads_as_canvas_reads_it(db):
    """The rules of Canvas's GradebookImporter: "Student" then "ID" first, "Section" the last
    student column, a first cell containing "Points Possible", and no assignment title ending in
    a numeric Canvas id in parentheses (which would update another assignment)."""
    populate(db)
    rows = list(csv.reader(io.StringIO(export.build(db, "canvas", "best").text)))
    header, possible, students = rows[0], rows[1], rows[2:]
    assert "Student" in header[0] and "ID" in header[1]
    assert header[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert "Points Possible" in possible[0] and possible[1:5] == ["", "", "", ""]
    assert not [title for title in header[5:] if re.fullmatch(r"(.*)\s\((\d+)\)", title)]
    assert all(len(row) == len(header) for row in rows)
    assert [(row[0], row[3]) for row in students] == [("alice", "alice"), ("bob", "bob"), ("carol", "carol")]


def test_the_canvas_export_fills_a_mapped_assignment_with_the_rosters_ids(db):
    """An instructor maps toy to Canvas assignment 1234; a roster gives alice and bob Canvas's ids
    (Canvas's own header spellings). The export names toy's column by that id and fills ID and SIS
    User ID; the other exercises and carol stay as before. A manifest sync keeps the mapping."""
    from grader.storage import course
    populate(db)
    with session_scope(db) as session:
        course.set_canvas_assignment(session, get_exercise(session, "toy"), "1234")
        import_roster(session, "name,email,section,SIS User ID,ID\n"
                               "alice,alice@uni.example,A,S-17,501\n"
                               'bob,,"Lab, Tue",,502\n')
        sync_exercises(session, db)
    with session_scope(db) as session:
        assert get_exercise(session, "toy").canvas_assignment_id == "1234"
    text = export.build(db, "canvas", "best").text
    assert text == CANVAS_BEST.replace("Toy exercise for the harness tests (toy)",
                                       "Toy exercise for the harness tests (1234)").replace(
        "alice,,,alice,", "alice,501,S-17,alice,").replace("bob,,,bob,", "bob,502,,bob,")
    assert export.build(db, "csv", "best").text == CSV_BEST                 # the plain CSV: unchanged


def test_late_penalty_is_applied_and_an_extension_honoured(db, tmp_path):
    """A manifest's due date and [late] policy reach the exercises table; the export writes the
    score after the penalty (capped), and the full score once the student has an extension."""
    exercises = tmp_path / "exercises"
    shutil.copytree(EXERCISES, exercises)
    manifest = exercises / "toy" / "exercise.toml"
    manifest.write_text(manifest.read_text().replace(
        'title = "Toy exercise for the harness tests"',
        'title = "Toy exercise for the harness tests"\ndue = 2020-01-01T00:00:00\n'
        '[late]\npenalty_per_day = 0.5\nmax_penalty = 0.3\n', 1))
    config = Config(exercises_dir=exercises, instance_dir=db.instance_dir, database_url=db.database_url)
    with session_scope(config) as session:
        sync_exercises(session, config)
        assert get_exercise(session, "toy").due_at is not None
        assert get_exercise(session, "toy").penalty_per_day == 0.5
        add_user(session, "alice")
    submit(config, "alice", "toy", run=result("toy", 5.0, 6.0, 0.5, 1.0))
    assert export.build(config, "csv").text.splitlines()[2] == "alice,,,,,3.5,,0.35,3.85"   # (5 + 0.5) x 0.7
    from datetime import datetime, timezone

    from grader.storage import course
    with session_scope(config) as session:
        course.set_extension(session, get_user(session, "alice"), get_exercise(session, "toy"),
                             datetime(2100, 1, 1, tzinfo=timezone.utc))
    assert export.build(config, "csv").text.splitlines()[2] == "alice,,,,,5,,0.5,5.5"


def test_no_students_gives_the_header_only(db):
    assert export.build(db, "csv").text == "name,email,section,total\nPoints possible,,,0\n"
    assert export.build(db, "canvas").text == ("Student,ID,SIS User ID,SIS Login ID,Section\n"
                                               "Points Possible,,,,\n")


# ---------------------------------------------------------------- the pure functions

def test_numbers_are_plain():
    assert [export.number(v) for v in (6.0, 0.0, -0.0, 2.5, 1 / 3, 2 / 3, 1e-9, 12345678.0, 0.1 + 0.2)] == \
        ["6", "0", "0", "2.5", "0.3333", "0.6667", "0", "12345678", "0.3"]


def exercise(id: str, title: str, points: float, bonus_points: float = 0.0, canvas: str | None = None):
    return SimpleNamespace(id=id, title=title, points=points, bonus_points=bonus_points, canvas_assignment_id=canvas)


def person(email: str | None = None, sis: str | None = None, canvas: str | None = None):
    return SimpleNamespace(email=email, sis_user_id=sis, canvas_user_id=canvas)


def plain_row(user, ex, score, bonus=None, section=None):
    return SimpleNamespace(user=user, section=section, exercise=ex, score=score, bonus=bonus)


def test_formatting_over_plain_rows():
    """The bonus has its own column where the manifest has bonus points or a student got some
    (2024: none in the manifest, 0.5 given), apart from the score; the total adds both up."""
    exercises = [exercise("b", 'Second, "quoted"', 2.5), exercise("2024", "Numeric id", 10.0)]
    rows = [plain_row("zed", "2024", 7.25, 0.5, "S 1"), plain_row("zed", "b", None, None, "S 1"),
            plain_row("amy", "b", 1.0)]
    assert export.render("csv", rows, exercises, {"amy": person("amy@x.example")}) == (
        "name,email,section,b,2024,2024 bonus,total\n"
        "Points possible,,,2.5,10,0,12.5\n"
        "zed,,S 1,,7.25,0.5,7.75\n"
        "amy,amy@x.example,,1,,,1\n")
    assert export.render("canvas", rows, exercises) == (
        'Student,ID,SIS User ID,SIS Login ID,Section,"Second, ""quoted"" (b)",Numeric id (exercise 2024)\n'
        "Points Possible,,,,,2.5,10\n"
        "zed,,,zed,S 1,,7.75\n"
        "amy,,,amy,,1,\n")
    with pytest.raises(errors.UsageError, match="export format 'pdf'"):
        export.render("pdf", rows, exercises)


def test_a_mapped_exercise_fills_its_canvas_assignment_and_known_ids_match_students():
    """Canvas takes a numeric id in parentheses at the end of a title for an existing assignment:
    the mapped exercise gets its assignment's id there, the unmapped one keeps `<title> (<id>)`.
    ID and SIS User ID are the ones known, empty for a student the grader knows none of."""
    exercises = [exercise("b", "Backprop", 4.0, 1.0, canvas="98765"), exercise("c", "Conv", 2.0)]
    rows = [plain_row("amy", "b", 3.0, 1.0, "S 1"), plain_row("amy", "c", 2.0, None, "S 1"),
            plain_row("bea", "b", None), plain_row("bea", "c", 1.5),
            plain_row("cy", "b", 0.5), plain_row("cy", "c", None)]
    people = {"amy": person("amy@x.example", sis="S-001", canvas="4242"), "bea": person(sis="=S-2"),
              "cy": person()}
    assert export.render("canvas", rows, exercises, people) == (
        "Student,ID,SIS User ID,SIS Login ID,Section,Backprop (98765),Conv (c)\n"
        "Points Possible,,,,,4,2\n"
        "amy,4242,S-001,amy,S 1,4,2\n"
        "bea,,'=S-2,bea,,,1.5\n"
        "cy,,,cy,,0.5,\n")
    header = next(csv.reader(io.StringIO(export.render("canvas", rows, exercises, people))))
    canvas_ids = [m.group(2) for title in header[5:] if (m := re.fullmatch(r"(.*)\s\((\d+)\)", title))]
    assert canvas_ids == ["98765"]
    # the plain CSV knows no Canvas: the exercise ids, whatever the mapping
    assert export.render("csv", rows, exercises, people).splitlines()[:3] == [
        "name,email,section,b,c,b bonus,total", "Points possible,,,4,2,1,6", "amy,amy@x.example,S 1,3,2,1,6"]


def test_text_cells_from_people_never_start_a_formula():
    """A spreadsheet runs `=`, `+`, `-`, `@` (and a tab or CR before one) as a formula: the cells
    people wrote get a `'` in front; the scores stay numbers, a negative one too. A CR inside a
    cell is quoted: a spreadsheet would start a row there, and the rest would be a formula cell."""
    row = lambda user, score, section=None: plain_row(user, "b", score, None, section)  # noqa: E731
    exercises = [exercise("b", "B", 2.0)]
    rows = [row("@SUM", -1.5, '=HYPERLINK("http://evil.example","x")'), row("-5", 2.0, "\r=1"),
            row("+1", None, "\tlab"), row("ann", 1.0, "Lab - Tue"), row("bea", 0.0, "Lab\r=1+1")]
    people = {"@SUM": person("=cmd|'/Ccalc'!A0@evil.example"), "ann": person("ann@x.example")}
    assert export.render("csv", rows, exercises, people) == (
        "name,email,section,b,total\n"
        "Points possible,,,2,2\n"
        "'@SUM,'=cmd|'/Ccalc'!A0@evil.example,\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",-1.5,-1.5\n"
        "'-5,,\"'\r=1\",2,2\n"
        "'+1,,'\tlab,,0\n"
        "ann,ann@x.example,Lab - Tue,1,1\n"
        'bea,,"Lab\r=1+1",0,0\n')
    canvas = list(csv.reader(io.StringIO(export.render("canvas", rows, exercises))))
    assert canvas[2:] == [["'@SUM", "", "", "'@SUM", '\'=HYPERLINK("http://evil.example","x")', "-1.5"],
                          ["'-5", "", "", "'-5", "'\r=1", "2"], ["'+1", "", "", "'+1", "'\tlab", ""],
                          ["ann", "", "", "ann", "Lab - Tue", "1"], ["bea", "", "", "bea", "Lab\r=1+1", "0"]]


# ---------------------------------------------------------------- the CLI, on both databases

@contextmanager
def _database(kind: str, tmp_path):
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'grader.db'}"
    else:
        with scratch_database() as url:
            yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def cli_env(request, tmp_path):
    """The environment of a `grader` process on a new database that `grader db upgrade` set up."""
    with _database(request.param, tmp_path) as url:
        env = {"GRADER_INSTANCE_DIR": str(tmp_path), "GRADER_DATABASE_URL": url,
               "GRADER_EXERCISES_DIR": str(EXERCISES)}
        upgrade = grader("db", "upgrade", env=env)
        assert upgrade.code == 0, upgrade.stderr
        assert upgrade.stdout.strip().startswith("database at revision 0")
        assert upgrade.stdout.strip().endswith("; 4 exercises synced")
        yield env
        dispose_engines()


def test_cli_export_grades(cli_env, tmp_path):
    config = Config(database_url=cli_env["GRADER_DATABASE_URL"], instance_dir=tmp_path, exercises_dir=EXERCISES)
    populate(config)
    dispose_engines()
    # --format=X as one word: conftest's grader() reads stdout as JSON when "--format" is an argument
    for args, expected in [((), CSV_BEST), (("--format=csv", "--policy", "latest"), CSV_LATEST),
                           (("--format=canvas",), CANVAS_BEST),
                           (("--policy", "latest", "--format=canvas"), CANVAS_LATEST)]:
        run = grader("export", "grades", *args, env=cli_env)
        assert (run.code, run.stdout, run.stderr) == (0, expected, ""), args
    one_section = grader("export", "grades", "--section", "Lab, Tue", env=cli_env)    # the gradebook's filter
    assert one_section.code == 0 and one_section.stdout == CSV_HEADER + 'bob,,"Lab, Tue",4,,3,,0,7\n'
    target = tmp_path / "canvas.csv"
    run = grader("export", "grades", "--format=canvas", "--output", str(target), env=cli_env)
    assert (run.code, run.stderr) == (0, "")
    assert run.stdout == f"{target}: 3 students x 4 exercises, canvas, best submission\n"
    assert target.read_text() == CANVAS_BEST


def test_cli_export_of_a_hostile_roster_holds_no_formula(cli_env, tmp_path):
    """A roster imported with `grader users import`, exported with `grader export grades`."""
    roster = tmp_path / "roster.csv"
    roster.write_text('name,email,section,role\n'
                      '@SUM,=cmd|\'/Ccalc\'!A0@evil.example,"=HYPERLINK(""http://evil.example"",""x"")",student\n'
                      '-5,+1@evil.example,-2,student\n')
    assert grader("users", "import", str(roster), env=cli_env).code == 0
    config = Config(database_url=cli_env["GRADER_DATABASE_URL"], instance_dir=tmp_path, exercises_dir=EXERCISES)
    submit(config, "-5", "probe", run=result("probe", 1.0, 1.0))
    submit(config, "@SUM", "probe", run=result("probe", 0.0, 1.0))
    dispose_engines()
    for fmt in ("csv", "canvas"):
        run = grader("export", "grades", f"--format={fmt}", env=cli_env)
        assert run.code == 0, run.stderr
        rows = list(csv.reader(io.StringIO(run.stdout)))
        people = [cell for row in rows[1:] if row[0] not in ("Points Possible", "Points possible")
                  for cell in row[:5]]
        assert "'@SUM" in people and "'-5" in people, rows
        assert not [c for row in rows[1:] for c in row if c.startswith(("=", "+", "-", "@", "\t", "\r"))], rows
    by_name = {row[0]: row for row in csv.reader(io.StringIO(grader("export", "grades", env=cli_env).stdout))}
    assert by_name["'-5"] == ["'-5", "'+1@evil.example", "'-2", "", "1", "", "", "", "1"]
    assert by_name["'@SUM"][:3] == ["'@SUM", "'=cmd|'/Ccalc'!A0@evil.example",
                                    '\'=HYPERLINK("http://evil.example","x")']


def test_cli_export_help_says_scores_are_after_the_late_penalty():
    """The help says what build() does: the gradebook's scores, late penalties applied."""
    for args in (("export", "--help"), ("export", "grades", "--help")):
        run = grader(*args)
        text = " ".join(run.stdout.split())
        assert run.code == 0 and "raw" not in text and "no late penalty" not in text, text
        assert "after the late penalty" in text, text


@pytest.mark.parametrize("args, words", [
    (("export", "grades", "--format", "xlsx"), "argument --format: invalid choice: 'xlsx'"),
    (("export", "grades", "--policy", "worst"), "argument --policy: invalid choice: 'worst'"),
    (("export",), "the following arguments are required: verb"),
    (("export", "grades", "--output"), "argument --output: expected one argument"),
    (("export", "grades", "--output", "{tmp}"), "it is a folder"),
    (("export", "grades", "--output", "{tmp}/missing/grades.csv"), "No such file or directory"),
])
def test_cli_export_bad_arguments_exit_2(tmp_path, args, words):
    env = {"GRADER_INSTANCE_DIR": str(tmp_path), "GRADER_DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}",
           "GRADER_EXERCISES_DIR": str(EXERCISES)}
    if "{tmp}" in "".join(args):             # the arguments parse: the command gets to the database
        assert grader("db", "upgrade", env=env).code == 0
    run = grader(*(a.format(tmp=tmp_path) for a in args), env=env)
    assert run.code == 2 and run.stdout == "" and words in run.stderr, run.stderr
    assert "Traceback" not in run.stderr


def test_cli_export_database_down_or_empty_exit_1(tmp_path):
    run = grader("export", "grades", env={"GRADER_INSTANCE_DIR": str(tmp_path),
                                          "GRADER_DATABASE_URL": "postgresql+psycopg://postgres:pw@127.0.0.1:1/x"})
    assert run.code == 1 and run.stdout == "" and len(run.stderr.strip().splitlines()) == 1
    assert run.stderr.startswith("grader: cannot use the database at GRADER_DATABASE_URL="
                                 "postgresql+psycopg://postgres:***@127.0.0.1:1/x")
    empty = f"sqlite:///{tmp_path / 'new.db'}"
    run = grader("export", "grades", "--format=canvas",
                 env={"GRADER_INSTANCE_DIR": str(tmp_path), "GRADER_DATABASE_URL": empty})
    assert run.code == 1 and run.stdout == "" and "has no tables yet: run `grader db upgrade`" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
