"""Two-stage feedback in the harness: the quick tests run first (manifest order within each
stage), and a "stage" event carries their results, as the final result shows them, before any
training test starts."""
from __future__ import annotations

from dataclasses import asdict

from grader.config import Config
from grader.grading import grade
from support import EXERCISES, STAGED, TOY_SOLUTION

# test_scale (hidden, quick) fails with a message that names the suite's secret
WRONG_SCALE = TOY_SOLUTION.replace("return np.asarray(x) * k", "return np.asarray(x) * k + 1")


def test_quick_tests_run_first_and_their_stage_event_comes_before_training():
    events = []
    result = grade("staged", WRONG_SCALE.encode(), "mine.py", Config(exercises_dir=STAGED), progress=events.append)
    # manifest: add (quick), counter_trains (training), scale (quick), counter_reset (quick, bonus);
    # the suite's file has counter_trains first
    started = [e.name for e in events if e.kind == "running"]
    assert started == ["test_add", "test_scale", "test_counter_reset", "test_counter_trains"]
    kinds = [(e.kind, e.name) for e in events]
    stage = kinds.index(("stage", ""))
    assert kinds[stage - 1] == ("test", "test_counter_reset")          # right after the last quick test
    assert kinds[stage + 1] == ("running", "test_counter_trains")      # before training starts
    assert [e.kind for e in events].count("stage") == 1
    event = events[stage]
    assert (event.index, event.total) == (3, 4)
    # the quick results are the final result's own entries for those tests, in manifest order
    final = {t.name: asdict(t) for t in result.tests}
    assert event.tests == [final["test_add"], final["test_scale"], final["test_counter_reset"]]
    assert [t["status"] for t in event.tests] == ["passed", "failed", "passed"]
    scale = event.tests[1]
    assert scale["visibility"] == "hidden" and scale["message"] is None      # a hidden message never leaves
    assert "SECRET" not in repr(event.to_dict())
    # the result keeps the manifest's order and scores both stages
    assert [t.name for t in result.tests] == ["test_add", "test_counter_trains", "test_scale", "test_counter_reset"]
    assert (result.score, result.bonus) == (4.0, 1.0)


def test_a_suite_without_quick_tests_runs_in_one_stage_in_its_own_order():
    events = []
    grade("toy", TOY_SOLUTION.encode(), "mine.py", Config(exercises_dir=EXERCISES), progress=events.append)
    assert "stage" not in [e.kind for e in events]
    assert [e.name for e in events if e.kind == "running"] == \
        ["test_add", "test_scale", "test_counter", "test_counter_reset"]
    assert all("tests" not in e.to_dict() for e in events)       # stored progress as before stages
