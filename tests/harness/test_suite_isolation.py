"""What the hidden suite's pytest run takes from, and leaves in, the process that runs it: each
grading imports its suite afresh (an edited suite, another exercise's suite of the same file
name), no conftest.py of the folders around the exercises reaches it, and no environment
variable changes. In this test process, as a worker's pool child runs many gradings."""
from __future__ import annotations

import os
import shutil
import sys

from grader.config import Config
from grader.grading import grade
from support import EXERCISES, TOY_SOLUTION

TWIN = '''id = "twin"
title = "Twin"
names = ["add"]

[[tests]]
name = "test_twin"
points = 1
description = "the twin's own test"
visible = true
'''


def _scores(result) -> dict:
    return {t.name: t.status for t in result.tests}


def test_each_grading_imports_its_suite_afresh(tmp_path):
    exercises = tmp_path / "exercises"
    shutil.copytree(EXERCISES / "toy", exercises / "toy")
    (exercises / "twin" / "hidden").mkdir(parents=True)
    (exercises / "twin" / "exercise.toml").write_text(TWIN)
    (exercises / "twin" / "hidden" / "test_toy.py").write_text(
        "def test_twin(student):\n    assert student.add(1, 1) == 2\n")
    config = Config(exercises_dir=exercises, instance_dir=tmp_path / "instance")
    environ = dict(os.environ)
    first = grade("toy", TOY_SOLUTION.encode(), "sub.py", config)
    assert first.score == 6.0 and _scores(first)["test_add"] == "passed"
    suite = exercises / "toy" / "hidden" / "test_toy.py"
    suite.write_text(suite.read_text().replace("student.add(2, 3) == 5", "student.add(2, 3) == 6"))
    edited = grade("toy", TOY_SOLUTION.encode(), "sub.py", config)
    assert _scores(edited)["test_add"] == "failed" and edited.score == 5.0
    twin = grade("twin", TOY_SOLUTION.encode(), "sub.py", config)
    assert _scores(twin) == {"test_twin": "passed"} and twin.score == 1.0
    assert not [name for name, module in sys.modules.items()
                if str(getattr(module, "__file__", "") or "").startswith(str(exercises))]
    assert dict(os.environ) == environ                   # nothing process-wide changed


def test_no_conftest_around_the_exercises_reaches_the_suite(tmp_path):
    """A conftest.py beside the exercises folder (a checkout's own tests, say) with an autouse
    fixture that fails every test: the grading does not load it."""
    exercises = tmp_path / "course" / "exercises"
    shutil.copytree(EXERCISES / "toy", exercises / "toy")
    for folder in (tmp_path / "course", exercises, exercises / "toy"):
        (folder / "conftest.py").write_text(
            "import pytest\n\n@pytest.fixture(autouse=True)\ndef sabotage():\n    raise RuntimeError('loaded')\n")
    result = grade("toy", TOY_SOLUTION.encode(), "sub.py", Config(exercises_dir=exercises,
                                                                  instance_dir=tmp_path / "instance"))
    assert result.score == 6.0 and result.bonus == 1.0, [(t.name, t.status, t.message) for t in result.tests]
