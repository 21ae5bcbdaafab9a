"""`grader` command line: exit statuses, the JSON contract, the readable table, and no terminal
codes from a student's text on the TA's terminal."""
import json
import shutil

import nbformat

from support import FIXTURES, TOY_SOLUTION, grader

TOY_ENV = {"GRADER_EXERCISES_DIR": str(FIXTURES / "exercises")}


def test_exercises_lists_ids():
    run = grader("exercises")
    assert run.code == 0
    assert {"perceptron", "feedforward", "backprop"} <= set(run.stdout.split())
    assert grader("exercises", env=TOY_ENV).stdout.split() == ["courseenv", "probe", "toy", "toytorch"]


def test_json_is_exactly_one_object_with_the_contract_keys(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(TOY_SOLUTION), nbformat.v4.new_code_cell("x = = 1")]
    path = tmp_path / "sub.ipynb"
    nbformat.write(nb, path)
    run = grader("run", "toy", str(path), "--json", env=TOY_ENV)
    assert run.code == 0, run.stderr
    result = json.loads(run.stdout)          # the whole stdout is one JSON document
    for key in ("exercise", "score", "max_score", "bonus", "tests", "skipped_cells", "duration_s"):
        assert key in result
    assert result["exercise"] == "toy" and result["score"] == 6
    assert result["skipped_cells"][0]["cell"] == 2
    assert "test_add" in run.stderr           # progress goes to stderr while the suite runs


def test_table_output(tmp_path):
    path = tmp_path / "sub.py"
    path.write_text(TOY_SOLUTION.replace("return a + b", "return a - b"))
    run = grader("run", "toy", str(path), env=TOY_ENV)
    assert run.code == 0, run.stderr
    assert "toy: 5 / 6 points" in run.stdout
    assert "failed" in run.stdout and "add(2, 3) should be 5" in run.stdout


def test_bad_usage_and_unreadable_submissions_exit_2(tmp_path):
    junk = tmp_path / "sub.ipynb"
    junk.write_text("this is { not json")
    cases = [
        (("run", "nope", str(junk)), "unknown exercise 'nope'"),
        (("run", "toy", str(tmp_path / "missing.py")), "no such file"),
        (("run", "toy", str(junk)), "not valid JSON"),
        (("run",), "the following arguments are required"),
    ]
    for args, words in cases:
        run = grader(*args, env=TOY_ENV)
        assert run.code == 2, (args, run.stderr)
        assert words in run.stderr, (args, run.stderr)
        assert run.stdout == ""


def test_broken_suite_is_an_internal_error(tmp_path):
    exercises = tmp_path / "exercises"
    shutil.copytree(FIXTURES / "exercises", exercises)
    (exercises / "toy" / "hidden" / "test_toy.py").write_text("def test_add(student):\n    assert (\n")
    path = tmp_path / "sub.py"
    path.write_text(TOY_SOLUTION)
    run = grader("run", "toy", str(path), "--json", env={"GRADER_EXERCISES_DIR": str(exercises)})
    assert run.code == 1
    assert "internal error" in run.stderr and run.stdout == ""


def test_a_sandbox_that_cannot_start_is_an_internal_error_not_a_zero(tmp_path):
    path = tmp_path / "sub.py"
    path.write_text(TOY_SOLUTION)
    run = grader("run", "toy", str(path), "--json", env=dict(TOY_ENV, GRADER_SANDBOX_PYTHON="/bin/false"))
    assert run.code == 1
    assert "Python /bin/false does not run" in run.stderr and run.stdout == ""


# what a student's code can put in front of a TA: an OSC retitle, a screen clear, colours, a C1 CSI
ESCAPES = "\x1b]0;owned\x07\x1b[2J\x1b[31mred\x9b1m\u202eright"


def test_the_table_prints_no_control_character_from_the_student(tmp_path):
    """An exception message and a line that does not parse, both full of terminal codes: the table
    and the progress show their text, never the codes."""
    path = tmp_path / "sub.py"
    path.write_text(TOY_SOLUTION.replace("return a + b", f"raise ValueError({ESCAPES!r} + '\\nsecond line')")
                    + f"\n# %%\nbroken = = '{ESCAPES}'\n")
    run = grader("run", "toy", str(path), env=TOY_ENV)
    assert run.code == 0, run.stderr
    assert "owned" in run.stdout and "red1mright" in run.stdout and "second line" in run.stdout
    assert "was not run" in run.stdout              # the excerpt of the broken line is printed, cleaned
    for stream in (run.stdout, run.stderr):
        assert not {"\x1b", "\x07", "\x9b", "\u202e", "\r"} & set(stream), repr(stream)


def test_printable_keeps_the_layout_and_drops_the_codes():
    from grader.report import printable
    assert printable("a\tb\nc\x1b[2Jd\x00\x7f\x9b\x85e\u2066f") == "a\tb\nc[2Jdef"
    assert printable("name\twith\nlines\x1b", layout=False) == "name with lines"


def test_status_prints_no_control_character_of_a_failure_reason(db):
    """`grader status` prints a failed submission's reason, which quotes what the student sent."""
    from grader.storage.db import dispose_engines, session_scope
    from grader.storage.submissions import create_submission, mark_status
    from grader.storage.users import add_user
    with session_scope(db) as s:
        add_user(s, "alice")
        submission = create_submission(s, db, "alice", "toy", "sub.ipynb", b"{not json")
        mark_status(s, submission, "failed", reason=f"not a notebook: {ESCAPES}")
        submission_id = submission.id
    dispose_engines()
    run = grader("status", str(submission_id), env={**TOY_ENV, "GRADER_DATABASE_URL": db.database_url,
                                                    "GRADER_INSTANCE_DIR": str(db.instance_dir)})
    assert run.code == 2, run.stderr
    assert "failed: not a notebook: ]0;owned[2J[31mred1mright" in run.stdout, repr(run.stdout)
    assert not {"\x1b", "\x07", "\x9b", "\u202e"} & set(run.stdout + run.stderr), repr(run.stdout)
