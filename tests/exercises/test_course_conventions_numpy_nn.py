"""numpy-nn graded the way the course teaches it (CONTRACT.md, "Conventions the course itself uses").

reference/numpy-nn.py followed by tests/fixtures/course_forms/numpy_nn_course.py (whose classes replace
the reference's, the last definition winning as in a notebook) is the reference rewritten the course's way:
the combined softmax + cross-entropy shortcut (Softmax.backward passes its gradient through,
CategoricalCrossEntropyLoss.backward() returns y_pred - y_true) and loss gradients not divided by
the batch size. It must score full marks, bonus included, and its feedback must name the accepted
variants; the textbook reference scores full marks too (tests/exercises/test_exercises.py). Wrong variants of
it, made here by editing one method, lose exactly the tests that method affects, with a message
that says what was found.
"""
import pytest

from support import FIXTURES, ROOT, grader

COURSE_FORM = (ROOT / "reference" / "numpy-nn.py").read_text() + "\n\n" + \
    (FIXTURES / "course_forms" / "numpy_nn_course.py").read_text()
SHORTCUT = "combined softmax + cross-entropy gradient (accepted)"
SUMMED = "loss gradients summed over the batch (accepted)"

pytestmark = [pytest.mark.slow, pytest.mark.datasets]


def _replace(source: str, old: str, new: str) -> str:
    assert source.count(old) == 1, f"the course form no longer contains {old!r}"
    return source.replace(old, new)


MSE_BACKWARD = "        return 2.0 * (self.y_pred - self.y_true) / n\n"
BCE_BACKWARD = "        return (p - y) / (p * (1 - p))\n"
CCE_BACKWARD = "        return self.y_pred - self.y_true\n"

# name: (old line of the course form, its replacement, the tests that must fail, a phrase of the
# first failing test's message)
WRONG_VARIANTS = {
    "mse-wrong-sign": (
        MSE_BACKWARD, "        return 2.0 * (self.y_true - self.y_pred) / n\n",
        {"test_mse_loss"}, "the wrong sign"),
    "bce-divides-only-even-batches": (
        BCE_BACKWARD, "        return (p - y) / (p * (1 - p)) / (len(p) if len(p) % 2 == 0 else 1)\n",
        {"test_binary_cross_entropy_loss"}, "not scaled by one convention"),
    "mse-divides-by-a-call-counter": (
        MSE_BACKWARD, ("        self.calls = getattr(self, 'calls', 0) + 1\n"
                       "        return 2.0 * (self.y_pred - self.y_true) / n / self.calls\n"),
        {"test_mse_loss"}, "2 times the gradient of the mean loss"),
    # Softmax still passes its gradient through, but the loss returns dL/dy_pred: the pair is wrong,
    # and so is every gradient that goes through it.
    "pass-through-softmax-with-dl-dy-pred-loss": (
        CCE_BACKWARD, "        return -self.y_true / self.y_pred / self.y_pred.shape[0]\n",
        {"test_softmax_layer", "test_categorical_cross_entropy_loss",
         "test_softmax_cross_entropy_gradient", "test_train_step", "test_fit_lowers_loss",
         "test_mnist_accuracy", "test_fashion_mnist_accuracy"},
        "must return the gradient with respect to the logits"),
}


def _grade(path):
    run = grader("run", "numpy-nn", str(path), "--json")
    assert run.code == 0, run.stderr
    return run


def test_the_course_form_scores_full_marks_and_is_told_which_variants_were_accepted(tmp_path):
    path = tmp_path / "course.py"
    path.write_text(COURSE_FORM)
    run = _grade(path)
    failing = [(t["name"], t["status"], t["message"]) for t in run.result["tests"] if t["status"] != "passed"]
    assert failing == []
    assert run.result["score"] == run.result["max_score"] > 0
    assert run.result["bonus"] == run.result["bonus_max"] > 0
    # what was accepted is a note of each passed test, one a line; a passed test has no message
    assert [t["name"] for t in run.result["tests"] if t["message"] is not None] == []
    note = {t["name"]: t["note"] or "" for t in run.result["tests"]}
    for name in ("test_softmax_layer", "test_categorical_cross_entropy_loss",
                 "test_softmax_cross_entropy_gradient"):
        assert SHORTCUT in note[name] and SUMMED in note[name], note[name]
        assert len(note[name].splitlines()) >= 2, note[name]
    assert SUMMED in note["test_binary_cross_entropy_loss"]
    # MSELoss divides by the batch size while its forward averages over every element
    assert "loss gradients summed over the outputs, averaged over the batch (accepted)" in note["test_mse_loss"]
    for name in ("test_train_step", "test_fit_lowers_loss", "test_mnist_accuracy", "test_fashion_mnist_accuracy"):
        assert SUMMED in note[name] and "divides its learning rates by" in note[name], note[name]
    assert "divides its learning rates by 64" in note["test_mnist_accuracy"]


@pytest.mark.parametrize("variant", list(WRONG_VARIANTS))
def test_a_wrong_variant_loses_exactly_the_tests_it_affects(variant, tmp_path):
    old, new, expected, phrase = WRONG_VARIANTS[variant]
    path = tmp_path / f"{variant}.py"
    path.write_text(_replace(COURSE_FORM, old, new))
    run = _grade(path)
    failing = {t["name"] for t in run.result["tests"] if t["status"] != "passed"}
    assert failing == expected, {t["name"]: t["message"] for t in run.result["tests"]
                                 if t["name"] in failing ^ expected}
    lost = sum(t["max_points"] for t in run.result["tests"] if t["name"] in expected and not t["bonus"])
    assert run.result["score"] == run.result["max_score"] - lost
    assert run.result["bonus"] == run.result["bonus_max"]
    first = next(t for t in run.result["tests"] if t["name"] in expected)
    assert phrase in (first["message"] or ""), first["message"]
