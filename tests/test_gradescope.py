"""Gradescope interop: `to_gradescope`, `grader run --format gradescope`, and the bundle's
run_autograder / make_bundle.sh (docker/gradescope/)."""
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat

from grader.gradescope import to_gradescope
from grader.results import CellError, GradeResult, SkippedCell
from grader.results import TestResult as GradedTest  # not collected as a test class
from support import FIXTURES, ROOT, TOY_SOLUTION, grader

TOY_ENV = {"GRADER_EXERCISES_DIR": str(FIXTURES / "exercises")}
BUNDLE = ROOT / "docker" / "gradescope"
TOP_KEYS = {"score", "execution_time", "output", "visibility", "stdout_visibility", "tests"}
TEST_KEYS = {"score", "max_score", "status", "name", "number", "output", "visibility"}


def _result() -> GradeResult:
    return GradeResult(
        exercise="demo", score=1.0, max_score=6.0, bonus=1.0, bonus_max=2.0,
        tests=[
            GradedTest("test_a", "a works", "passed", 1.0, 1.0, note="note for a\nand more", visibility="visible"),
            GradedTest("test_extra", "extra credit", "passed", 1.0, 1.0, bonus=True, visibility="after_published"),
            GradedTest("test_b", "b works", "failed", 0.0, 3.0, message=None, visibility="hidden"),
            GradedTest("test_c", "c works", "timeout", 0.0, 2.0, message="took over 3 s",
                       visibility="after_due_date"),
            GradedTest("test_extra2", "more extra", "error", 0.0, 1.0, bonus=True, message="crashed",
                       visibility="visible"),
        ],
        skipped_cells=[SkippedCell(cell=2, line=1, message="invalid syntax", excerpt="x = = 1")],
        load_errors=[CellError(cell=4, line=3, message="NameError: name 'q' is not defined")],
        not_run=5, duration_s=12.6)


def test_to_gradescope_maps_scores_bonus_messages_and_cells():
    gs = to_gradescope(_result())
    json.dumps(gs)                                           # plain data
    assert set(gs) == TOP_KEYS
    assert gs["score"] == 2.0                                # main 1 + bonus 1, given explicitly
    assert gs["execution_time"] == 13 and isinstance(gs["execution_time"], int)
    assert gs["visibility"] == "visible"
    tests = gs["tests"]
    assert all(set(t) == TEST_KEYS for t in tests)
    # main tests first, then the bonus ones; numbered 1..n as strings
    assert [t["name"] for t in tests] == ["test_a", "test_b", "test_c", "test_extra (bonus)",
                                          "test_extra2 (bonus)"]
    assert [t["number"] for t in tests] == ["1", "2", "3", "4", "5"]
    assert [t["status"] for t in tests] == ["passed", "failed", "failed", "passed", "failed"]
    assert [(t["score"], t["max_score"]) for t in tests] == [(1, 1), (0, 3), (0, 2), (1, 1), (0, 1)]
    assert sum(t["score"] for t in tests) == gs["score"]
    assert [t["visibility"] for t in tests] == ["visible", "hidden", "after_due_date", "after_published", "visible"]
    by_name = {t["name"]: t for t in tests}
    assert by_name["test_a"]["output"] == "a works\n\nNote: note for a\nNote: and more"   # notes, labelled
    assert by_name["test_b"]["output"] == "b works"          # the hidden message is not there
    assert "ran out of time" in by_name["test_c"]["output"] and "took over 3 s" in by_name["test_c"]["output"]
    assert "crashed" in by_name["test_extra2 (bonus)"]["output"]
    out = gs["output"]
    assert out.startswith("demo: 1 / 6 points, bonus 1 / 2")
    assert "cell 2, line 1 was not run: invalid syntax" in out and "x = = 1" in out
    assert "cell 4, line 3 raised while loading: NameError" in out
    assert "Not needed for grading, so not run: 5 top-level statements (plots, prints, training runs)." in out


LEVELS = {"test_add": "visible", "test_scale": "hidden", "test_counter": "after_due_date",
          "test_counter_reset": "after_published"}


def test_each_tests_visibility_reaches_gradescope_under_its_own_name(tmp_path):
    """A real grading of a toy copy whose manifest gives its tests the four levels: Gradescope's
    results name the same level per test, and a hidden test's message never appears."""
    exercises = tmp_path / "exercises"
    shutil.copytree(FIXTURES / "exercises" / "toy", exercises / "toy")
    manifest = exercises / "toy" / "exercise.toml"
    text = manifest.read_text()
    for name, level in LEVELS.items():
        text = text.replace(f'name = "{name}"\n', f'name = "{name}"\nvisibility = "{level}"\n')
    manifest.write_text(text)
    path = tmp_path / "sub.py"
    path.write_text(TOY_SOLUTION.replace("return np.asarray(x) * k", "return np.asarray(x) * k + 1"))
    run = grader("run", "toy", str(path), "--format", "gradescope", env={"GRADER_EXERCISES_DIR": str(exercises)})
    assert run.code == 0, run.stderr
    levels = {t["name"].removesuffix(" (bonus)"): t["visibility"] for t in run.result["tests"]}
    assert levels == LEVELS
    scale = next(t for t in run.result["tests"] if t["name"] == "test_scale")
    assert scale["status"] == "failed" and "SECRET-MARKER" not in run.stdout
    plain = grader("run", "toy", str(path), "--json", env={"GRADER_EXERCISES_DIR": str(exercises)})
    assert {t["name"]: t["visibility"] for t in plain.result["tests"]} == LEVELS     # the one result schema


def test_clean_result_has_a_one_line_output():
    result = GradeResult(exercise="demo", score=1.0, max_score=1.0, bonus=0.0, bonus_max=0.0,
                         tests=[GradedTest("test_a", "a works", "passed", 1.0, 1.0)])
    gs = to_gradescope(result)
    assert gs["output"] == "demo: 1 / 1 points"
    assert gs["score"] == 1.0 and gs["tests"][0]["output"] == "a works"


def test_cli_format_gradescope_matches_json_score(tmp_path):
    nb = nbformat.v4.new_notebook()
    broken = TOY_SOLUTION.replace("return a + b", "return a - b")
    nb.cells = [nbformat.v4.new_code_cell(broken), nbformat.v4.new_code_cell("x = = 1")]
    path = tmp_path / "sub.ipynb"
    nbformat.write(nb, path)
    run = grader("run", "toy", str(path), "--format", "gradescope", env=TOY_ENV)
    assert run.code == 0, run.stderr
    gs = json.loads(run.stdout)                              # the whole stdout is one JSON object
    assert set(gs) == TOP_KEYS
    assert all(set(t) == TEST_KEYS for t in gs["tests"])
    plain = grader("run", "toy", str(path), "--json", env=TOY_ENV)
    assert plain.code == 0, plain.stderr
    same = grader("run", "toy", str(path), "--format", "json", env=TOY_ENV)
    assert json.loads(same.stdout)["score"] == plain.result["score"]
    assert gs["score"] == plain.result["score"] + plain.result["bonus"] == 6
    assert len(gs["tests"]) == len(plain.result["tests"]) == 4
    add = next(t for t in gs["tests"] if t["name"] == "test_add")
    assert add["status"] == "failed" and "add(2, 3) should be 5" in add["output"]
    assert gs["tests"][-1]["name"] == "test_counter_reset (bonus)"
    assert "cell 2, line 1 was not run" in gs["output"]
    assert "SECRET-MARKER" not in run.stdout


def _autograder(tmp_path: Path, files: dict[str, str], **env) -> tuple[subprocess.CompletedProcess, dict]:
    """run_autograder in a folder laid out like /autograder (AUTOGRADER_ROOT), on the toy exercise."""
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    (root / "source" / "exercise_id").write_text("toy\n")
    (root / "submission").mkdir()
    for name, text in files.items():
        (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "submission" / name).write_text(text)
    command = Path(sys.executable).parent / "grader"
    assert command.is_file(), "the venv has no `grader` script: pip install -e ."
    full_env = {**os.environ, **TOY_ENV, "AUTOGRADER_ROOT": str(root), "GRADER": str(command),
                "GRADER_INSTANCE_DIR": str(tmp_path / "instance"), **env}
    full_env.pop("EXERCISE", None)
    proc = subprocess.run([str(BUNDLE / "run_autograder")], capture_output=True, text=True,
                          env=full_env, cwd=root, timeout=300)
    return proc, json.loads((root / "results" / "results.json").read_text())


def test_run_autograder_grades_the_submission(tmp_path):
    proc, results = _autograder(tmp_path, {"notes.txt": "hello",
                                           ".ipynb_checkpoints/old-checkpoint.ipynb": "{",
                                           "sub.py": TOY_SOLUTION})
    assert proc.returncode == 0, proc.stderr
    assert "sub.py" in proc.stdout
    assert set(results) == TOP_KEYS
    assert results["score"] == 7.0 and results["output"].startswith("toy: 6 / 6 points")
    assert [t["status"] for t in results["tests"]] == ["passed"] * 4


def test_run_autograder_reports_an_unreadable_submission_with_score_0(tmp_path):
    proc, results = _autograder(tmp_path, {"sub.ipynb": "this is { not json"})
    assert proc.returncode == 0
    assert results["score"] == 0 and results["tests"] == []
    assert "sub.ipynb could not be graded" in results["output"]
    assert "not valid JSON" in results["output"]


def test_run_autograder_reports_a_setup_problem_and_a_missing_file(tmp_path):
    proc, results = _autograder(tmp_path, {"sub.py": TOY_SOLUTION}, GRADER_SANDBOX_PYTHON="/bin/false")
    assert results["score"] == 0
    assert "exit status 1" in results["output"] and "/bin/false does not run" in results["output"]
    assert "not with your submission" in results["output"]
    proc, results = _autograder(tmp_path / "empty", {"README.txt": "no code"})
    assert results["score"] == 0 and "No .ipynb notebook or .py file" in results["output"]


def test_make_bundle_zips_the_scripts_and_the_repository(tmp_path):
    out = tmp_path / "bundle.zip"
    proc = subprocess.run([str(BUNDLE / "make_bundle.sh"), "perceptron", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        assert {"setup.sh", "run_autograder", "exercise_id", "nn-grader/pyproject.toml",
                "nn-grader/exercises/perceptron/exercise.toml"} <= names
        assert zf.read("exercise_id").decode().strip() == "perceptron"
        assert (zf.getinfo("run_autograder").external_attr >> 16) & stat.S_IXUSR
        assert not any(n.startswith((".venv", "nn-grader/.venv", "nn-grader/instance")) for n in names)
    bad = subprocess.run([str(BUNDLE / "make_bundle.sh"), "nope", str(tmp_path / "x.zip")],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown exercise 'nope'" in bad.stderr
