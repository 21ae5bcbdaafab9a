"""The course's exercises: manifests match suites, references score full marks, unfilled notebooks 0."""
import ast

import nbformat
import pytest

from grader.manifest import exercise_ids, load_exercise
from support import ROOT, exercise_params, grader

EXERCISES = ROOT / "exercises"
IDS = exercise_ids(EXERCISES)
COURSE = ["perceptron", "feedforward", "backprop", "numpy-nn", "pytorch-basics", "pytorch-advanced"]


def test_the_first_three_exercises_exist():
    assert set(COURSE[:3]) <= set(IDS)


@pytest.mark.parametrize("exercise_id", IDS)
def test_manifest_matches_suite(exercise_id):
    exercise = load_exercise(EXERCISES, exercise_id)
    suite = exercise.suite_dir / f"test_{exercise_id.replace('-', '_')}.py"
    functions = {n.name for n in ast.parse(suite.read_text()).body
                 if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}
    assert functions == {t.name for t in exercise.tests}
    assert all(t.points > 0 and t.description for t in exercise.tests)
    assert sum(t.points for t in exercise.tests if not t.bonus) > 0
    assert not (exercise.suite_dir / "conftest.py").exists()


@pytest.mark.parametrize("exercise_id", exercise_params())
def test_reference_scores_full_marks(exercise_id):
    run = grader("run", exercise_id, str(ROOT / "reference" / f"{exercise_id}.py"), "--json")
    assert run.code == 0, run.stderr
    failing = [(t["name"], t["status"], t["message"]) for t in run.result["tests"] if t["status"] != "passed"]
    assert failing == []
    assert run.result["score"] == run.result["max_score"] > 0
    assert run.result["bonus"] == run.result["bonus_max"]


@pytest.mark.parametrize("exercise_id", exercise_params())
def test_unfilled_notebook_scores_zero_and_lists_broken_cells(exercise_id):
    exercise = load_exercise(EXERCISES, exercise_id)
    run = grader("run", exercise_id, str(exercise.folder / f"{exercise_id}.ipynb"), "--json")
    assert run.code == 0, run.stderr
    assert run.result["score"] == 0 and run.result["bonus"] == 0
    assert run.result["skipped_cells"], "the unfilled notebook has half-written cells to report"
    assert run.seconds < exercise.suite_timeout_s


def test_a_broken_perceptron_cell_keeps_the_activation_points(tmp_path):
    """The contract's example: a notebook with a broken Perceptron cell still earns the activation points."""
    source = (ROOT / "reference" / "perceptron.py").read_text()
    tree = ast.parse(source)
    cells = []
    for node in tree.body:
        segment = "\n".join(source.splitlines()[(node.decorator_list[0].lineno if getattr(node, "decorator_list", None) else node.lineno) - 1:node.end_lineno])
        if isinstance(node, ast.ClassDef) and node.name == "Perceptron":
            segment = segment.replace("def predict(self, X):", "def predict(self, X):\n        z = ", 1)
        cells.append(nbformat.v4.new_code_cell(segment))
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    path = tmp_path / "broken.ipynb"
    nbformat.write(nb, path)
    run = grader("run", "perceptron", str(path), "--json")
    assert run.code == 0, run.stderr
    by_name = {t["name"]: t for t in run.result["tests"]}
    activation = [t for n, t in by_name.items() if any(k in n for k in ("sigmoid", "tanh", "relu", "step"))]
    assert activation and all(t["status"] == "passed" for t in activation)
    assert 0 < run.result["score"] < run.result["max_score"]
    assert len(run.result["skipped_cells"]) == 1
