"""Manifests are read and checked in one place (grader/manifest.py), course rules included: what
`grader run`, the worker and the sync into the database all see."""
from __future__ import annotations

import shutil
from datetime import datetime, timezone

import pytest

from grader.errors import ManifestError
from grader.manifest import CourseRules, load_exercise
from grader.storage.course import EDITABLE
from support import EXERCISES, TOY_SOLUTION, grader


@pytest.fixture
def toy(tmp_path):
    shutil.copytree(EXERCISES / "toy", tmp_path / "toy")
    return tmp_path / "toy" / "exercise.toml"


def _with(manifest, text: str) -> None:
    manifest.write_text(manifest.read_text().replace('names = ["add", "scale", "Counter"]\n',
                                                     'names = ["add", "scale", "Counter"]\n' + text, 1))


def test_course_rules_default_and_as_written(toy):
    assert load_exercise(toy.parent.parent, "toy").course == CourseRules()
    assert {f for f in CourseRules.__dataclass_fields__} == set(EDITABLE)      # what instructors edit
    _with(toy, 'due = 2026-03-01\n[late]\npenalty_per_day = 0.25\n[rules]\nmax_submissions = 3\n'
               'window_hours = 24\nshow_hidden_points = false\n\n')
    rules = load_exercise(toy.parent.parent, "toy").course
    assert rules.due_at == datetime(2026, 3, 1, 23, 59, 59, tzinfo=timezone.utc)     # the end of that day
    assert (rules.penalty_per_day, rules.max_penalty, rules.closed_after_due) == (0.25, 1.0, False)
    assert (rules.max_submissions, rules.window_hours, rules.show_hidden_points) == (3, 24.0, False)


@pytest.mark.parametrize("text, words", [
    ("[late]\npenalty_per_day = 2\n\n", "penalties are fractions of the score"),
    ("[late]\npenalty_per_day = 'a lot'\n\n", "[late] must hold"),
    ("[rules]\nmax_submissions = 'few'\n\n", "[rules] max_submissions (a whole number)"),
    ('due = "next week"\n', "is not a date-time"),
])
def test_a_bad_course_rule_is_a_manifest_error_everywhere(toy, tmp_path, text, words):
    _with(toy, text)
    with pytest.raises(ManifestError, match=words.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        load_exercise(toy.parent.parent, "toy")
    path = tmp_path / "sub.py"
    path.write_text(TOY_SOLUTION)
    run = grader("run", "toy", str(path), env={"GRADER_EXERCISES_DIR": str(toy.parent.parent)})
    assert run.code == 1 and words in run.stderr, run.stderr


def test_a_test_stage_is_quick_or_training_and_training_when_unsaid(toy):
    from grader.manifest import STAGES
    from support import STAGED
    assert {t.stage for t in load_exercise(toy.parent.parent, "toy").tests} == {"training"}
    staged = load_exercise(STAGED, "staged")
    assert [t.name for t in staged.quick_tests] == ["test_add", "test_scale", "test_counter_reset"]
    toy.write_text(toy.read_text().replace('name = "test_add"\n', 'name = "test_add"\nstage = "fast"\n'))
    with pytest.raises(ManifestError) as e:
        load_exercise(toy.parent.parent, "toy")
    assert "test 'test_add': stage must be one of quick, training, not 'fast'" in str(e.value)
    assert STAGES == ("quick", "training")


def _seeded_test(manifest, text: str) -> None:
    manifest.write_text(manifest.read_text() + '\n[[tests]]\nname = "test_extra"\npoints = 1\n' + text)


def test_a_threshold_tests_seeds_as_written_and_their_time_reserved(toy):
    plain = load_exercise(toy.parent.parent, "toy")
    assert {(t.seeds, t.margin, t.rule) for t in plain.tests} == {((0,), 0.0, "median")}
    _seeded_test(toy, 'seeds = [4, 1, 2]\nmargin = 0.01\nrule = "mean"\n')
    seeded = load_exercise(toy.parent.parent, "toy")
    spec = seeded.test("test_extra")
    assert (spec.seeds, spec.margin, spec.rule) == ((4, 1, 2), 0.01, "mean")
    # two extra seeds, each with the test's whole time limit (3 s), on top of the sandbox's life
    assert seeded.sandbox_wall_s == plain.sandbox_wall_s + 2 * 3
    assert seeded.sandbox_cpu_s == plain.sandbox_cpu_s + 2 * 3


@pytest.mark.parametrize("text, words", [
    ("seeds = []\n", "seeds must be a non-empty list of whole numbers"),
    ("seeds = [0, 1.5]\n", "seeds must be a non-empty list of whole numbers"),
    ("seeds = [0, -1]\n", "seeds must be a non-empty list of whole numbers"),
    ("seeds = 3\n", "seeds must be a non-empty list of whole numbers"),
    ("seeds = [0, 1, 0]\nmargin = 0.01\n", "repeats a seed"),
    ("seeds = [0, 1, 2]\n", "margin must be a number above 0"),
    ("seeds = [0, 1, 2]\nmargin = 0\n", "margin must be a number above 0"),
    ("seeds = [0, 1, 2]\nmargin = 'near'\n", "margin must be a number above 0"),
    ("seeds = [0, 1, 2]\nmargin = 0.01\nrule = 'best'\n", "rule must be one of median, mean"),
    ("margin = 0.01\n", "margin needs more than one seed"),
    ("seeds = [0]\nrule = 'median'\n", "rule needs more than one seed"),
])
def test_a_bad_seed_plan_is_a_manifest_error_naming_the_test(toy, text, words):
    _seeded_test(toy, text)
    with pytest.raises(ManifestError, match="test 'test_extra'") as caught:
        load_exercise(toy.parent.parent, "toy")
    assert words in str(caught.value)
