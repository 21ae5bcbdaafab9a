"""Stubs earn nothing: every exercise's hidden suite gives a stub submission 0 points and 0 bonus.

The stubs (tests/stubs.py) define every name the contract asks for and return their input, zeros,
a constant or None; a class stub has the contract's parameter shapes (numpy) or is an nn.Module
with the right layer sizes whose forward ignores them (torch). A test a stub passes checks only a
shape or an attribute: it must check a value too.
"""
import pytest

from conftest import ROOT, grader
from grader.manifest import exercise_ids, load_exercise
from stubs import KINDS, stub_source

EXERCISES = ROOT / "exercises"


def _cases():
    for exercise_id in exercise_ids(EXERCISES):
        marks = [pytest.mark.slow]
        if load_exercise(EXERCISES, exercise_id).datasets:
            marks.append(pytest.mark.datasets)
        for kind in KINDS:
            yield pytest.param(exercise_id, kind, marks=marks, id=f"{exercise_id}-{kind}")


@pytest.mark.parametrize("exercise_id, kind", list(_cases()))
def test_stub_scores_zero(exercise_id, kind, tmp_path):
    exercise = load_exercise(EXERCISES, exercise_id)
    path = tmp_path / f"stub_{kind}.py"
    path.write_text(stub_source(exercise, kind))
    run = grader("run", exercise_id, str(path), "--json")
    assert run.code == 0, run.stderr
    earned = [(t["name"], t["points"], "bonus" if t["bonus"] else "points") for t in run.result["tests"]
              if t["points"] > 0]
    assert run.result["score"] == 0 and run.result["bonus"] == 0, (
        f"a {kind!r} stub of {exercise_id} earned {run.result['score']} points and "
        f"{run.result['bonus']} bonus, from: {earned}")
    assert not earned
