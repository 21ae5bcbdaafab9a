"""A long-lived worker grades every submission with the suite as it is on disk now: a suite edited
between two gradings, two exercises whose suite files share a name, and a suite's module-level
state, all in one worker process (concurrency 1: one pool child), on the embedded default."""
from __future__ import annotations

import shutil

import pytest

from grader import service as use_cases
from support import EXERCISES, TOY_SOLUTION, Service

# a second exercise whose suite file has the toy's name (hidden/test_toy.py) and other tests; its
# module-level list must be empty when a grading starts (a fresh import), whatever ran before
TWIN_SUITE = '''"""The twin of the toy exercise: the same file name, other tests."""
SEEN = []


def test_twin_fresh_module(student):
    SEEN.append(1)
    assert SEEN == [1], f"the suite module was not imported afresh: {SEEN}"


def test_twin_add(student):
    assert student.add(10, 5) == 15, "add(10, 5) should be 15"
'''
TWIN_MANIFEST = '''id = "twin"
title = "Twin of the toy exercise"
names = ["add"]

[limits]
test_timeout_s = 3
suite_timeout_s = 60
memory_mb = 1024

[[tests]]
name = "test_twin_fresh_module"
points = 1
description = "the suite is imported afresh"
visible = true

[[tests]]
name = "test_twin_add"
points = 2
description = "add works on other numbers"
visible = true
'''


@pytest.fixture
def exercises(tmp_path):
    folder = tmp_path / "exercises"
    shutil.copytree(EXERCISES / "toy", folder / "toy")
    (folder / "twin" / "hidden").mkdir(parents=True)
    (folder / "twin" / "exercise.toml").write_text(TWIN_MANIFEST)
    (folder / "twin" / "hidden" / "test_toy.py").write_text(TWIN_SUITE)
    return folder


def test_one_worker_process_grades_with_the_suite_on_disk(tmp_path, exercises):
    service = Service(tmp_path / "instance", None, None, GRADER_EXERCISES_DIR=str(exercises))
    try:
        service.start_worker(concurrency=1)
        first = service.submit(TOY_SOLUTION)
        done = service.wait(first)
        assert (done["status"], done["score"]) == ("graded", 6.0), done
        # the instructor fixes the suite on disk (test_add now wants 2 + 3 == 6), then regrades
        suite = exercises / "toy" / "hidden" / "test_toy.py"
        suite.write_text(suite.read_text().replace("student.add(2, 3) == 5", "student.add(2, 3) == 6"))
        assert use_cases.regrade(service.config, submission_id=first) == [first]
        again = service.wait(first)
        assert again["status"] == "graded" and again["score"] == 5.0, again
        assert next(t for t in again["result"]["tests"] if t["name"] == "test_add")["status"] == "failed"
        # another exercise whose suite file has the same name runs its own tests, twice, each
        # time with a fresh module
        for _ in range(2):
            twin = service.wait(service.submit(TOY_SOLUTION, exercise="twin"))
            assert twin["status"] == "graded", twin
            assert {t["name"]: t["status"] for t in twin["result"]["tests"]} == \
                {"test_twin_fresh_module": "passed", "test_twin_add": "passed"}, twin["result"]["tests"]
            assert twin["score"] == 3.0
        # and the toy exercise still grades with its edited suite after the twin
        assert service.wait(service.submit(TOY_SOLUTION))["score"] == 5.0
        log = service.logs(tail=None)
        assert log.count("ForkPoolWorker-1") >= 5 and "ForkPoolWorker-2" not in log   # all in one pool child
    finally:
        service.close()
