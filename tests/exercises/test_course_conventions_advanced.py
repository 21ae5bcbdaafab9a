"""pytorch-advanced graded as the course teaches it (CONTRACT.md, "Conventions the course itself uses").

The course writes `SelfAttention` for a (batch_size, in_features) batch whose rows attend to each
other, and `CustomLoss` with an L1 penalty; the reference (reference/pytorch-advanced.py, full marks
in test_exercises.py) attends over (N, seq, features) and uses L2. A solution written the course's
way (the reference followed by tests/fixtures/course_forms/pytorch_advanced_course.py) must score
full marks too, saying which form the suite found; variants of it with one class replaced by a
wrong one (appended: the last definition wins) must lose exactly
the tests about that class, with a message that says what is wrong.
"""
import numpy as np
import pytest

from grader.suitekit import attention
from support import FIXTURES, ROOT, grader

# the reference, then the course's classes replacing its own (the last definition wins, as in a notebook)
COURSE_FORM = (ROOT / "reference" / "pytorch-advanced.py").read_text() + "\n\n" + \
    (FIXTURES / "course_forms" / "pytorch_advanced_course.py").read_text()
SLOW = [pytest.mark.slow, pytest.mark.datasets]       # each grading trains on Fashion-MNIST
ATTENTION_TESTS = {"test_self_attention_shape"}
LOSS_TESTS = {"test_custom_loss_value", "test_custom_loss_backpropagates"}


def grade(path):
    run = grader("run", "pytorch-advanced", str(path), "--json")
    assert run.code == 0, run.stderr
    return run


def failing(run) -> set[str]:
    return {t["name"] for t in run.result["tests"] if t["status"] != "passed"}


# ---------------------------------------------------------------------------
# Wrong variants: one class of the course form replaced
# ---------------------------------------------------------------------------

NO_SOFTMAX = '''
class SelfAttention(nn.Module):
    """The course's form without the softmax: (Q @ K.T / sqrt(d)) @ V."""

    def __init__(self, in_features):
        super().__init__()
        self.query = nn.Linear(in_features, in_features)
        self.key = nn.Linear(in_features, in_features)
        self.value = nn.Linear(in_features, in_features)

    def forward(self, x):
        Q, K, V = self.query(x), self.key(x), self.value(x)
        attention_scores = torch.matmul(Q, K.T) / (Q.size(-1) ** 0.5)
        return torch.matmul(attention_scores, V)
'''

NO_SOFTMAX_OTHER_NAMES = '''
class SelfAttention(nn.Module):
    """No softmax, and layer names that do not say which is the query, key or value (the suite
    checks it by a property of softmax attention instead of the formula)."""

    def __init__(self, in_features):
        super().__init__()
        self.proj_a = nn.Linear(in_features, in_features)
        self.proj_b = nn.Linear(in_features, in_features)
        self.proj_c = nn.Linear(in_features, in_features)

    def forward(self, x):
        return torch.matmul(torch.matmul(self.proj_a(x), self.proj_b(x).T), self.proj_c(x))
'''

PACKED_WITH_OUTPUT = '''
class SelfAttention(nn.Module):
    """Correct softmax attention over (N, seq, F), with one packed q/k/v layer and an output
    projection: no names to compare with the formula, the property check accepts it."""

    def __init__(self, in_features):
        super().__init__()
        self.to_qkv = nn.Linear(in_features, 3 * in_features)
        self.out = nn.Linear(in_features, in_features)

    def forward(self, x):
        q, k, v = self.to_qkv(x).chunk(3, dim=-1)
        weights = F.softmax(q @ k.transpose(-2, -1) / q.size(-1) ** 0.5, dim=-1)
        return self.out(weights @ v)
'''

L2_NORM_NOT_SQUARED = '''
class CustomLoss(nn.Module):
    """A penalty of the wrong order: the L2 norm of all the parameters, not squared."""

    def __init__(self, weight_decay=0.01):
        super().__init__()
        self.weight_decay = weight_decay

    def forward(self, output, target, model):
        penalty = torch.sqrt(sum((param ** 2).sum() for param in model.parameters()))
        return F.cross_entropy(output, target) + self.weight_decay * penalty
'''

L1_WRONG_SIGN = '''
class CustomLoss(nn.Module):
    """The course's L1 penalty, subtracted instead of added."""

    def __init__(self, weight_decay=0.01):
        super().__init__()
        self.weight_decay = weight_decay

    def forward(self, output, target, model):
        l1_penalty = sum(torch.norm(param, 1) for param in model.parameters())
        return F.cross_entropy(output, target) - self.weight_decay * l1_penalty
'''

# (id, class replaced, its new source, the tests it must fail, {test: words its message must hold})
VARIANTS = [
    ("attention-without-softmax", "SelfAttention", NO_SOFTMAX, ATTENTION_TESTS,
     {"test_self_attention_shape": "the softmax is missing"}),
    ("attention-without-softmax-unnamed-layers", "SelfAttention", NO_SOFTMAX_OTHER_NAMES, ATTENTION_TESTS,
     {"test_self_attention_shape": "is not softmax attention"}),
    ("attention-packed-with-output-projection", "SelfAttention", PACKED_WITH_OUTPUT, set(),
     {"test_self_attention_shape": "checked by a property of softmax attention"}),
    ("penalty-l2-norm-not-squared", "CustomLoss", L2_NORM_NOT_SQUARED, LOSS_TESTS,
     {"test_custom_loss_value": "the L2 norm, not squared"}),
    ("penalty-l1-wrong-sign", "CustomLoss", L1_WRONG_SIGN, LOSS_TESTS,
     {"test_custom_loss_value": "do not subtract it"}),
]


# ---------------------------------------------------------------------------
# Quick: the suite's own formula
# ---------------------------------------------------------------------------

def test_suitekit_attention_is_torchs_scaled_dot_product_attention():
    import torch  # here, not at import: collecting this file must not load torch
    gen = torch.Generator().manual_seed(0)
    for shape in [(5, 8), (3, 6, 8)]:                  # rows attend to rows; positions within a sample
        q, k, v = (torch.randn(*shape, generator=gen, dtype=torch.float64) for _ in range(3))
        expected = torch.nn.functional.scaled_dot_product_attention(q[None], k[None], v[None])[0]
        assert np.allclose(attention(q.numpy(), k.numpy(), v.numpy()), expected.numpy())
    q, k, v = (torch.randn(2, 6, 8, generator=gen, dtype=torch.float64) for _ in range(3))
    heads = [torch.nn.functional.scaled_dot_product_attention(q[..., i:i + 2], k[..., i:i + 2], v[..., i:i + 2])
             for i in range(0, 8, 2)]
    assert np.allclose(attention(q.numpy(), k.numpy(), v.numpy(), heads=4), torch.cat(heads, dim=-1).numpy())
    assert np.allclose(attention(q.numpy(), k.numpy(), v.numpy(), scale=1.0),
                       torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=1.0).numpy())


# ---------------------------------------------------------------------------
# Slow: whole gradings
# ---------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.datasets
def test_the_course_form_scores_full_marks_and_says_which_form(tmp_path):
    path = tmp_path / "course.py"
    path.write_text(COURSE_FORM)
    run = grade(path)
    assert [(t["name"], t["message"]) for t in run.result["tests"] if t["status"] != "passed"] == []
    assert run.result["score"] == run.result["max_score"] > 0
    assert run.result["bonus"] == run.result["bonus_max"] > 0
    for name in ("test_self_attention_shape", "test_self_attention_mixes_positions"):
        assert "SelfAttention on (batch, features): rows attend to rows (accepted)" in run.test(name)["note"]
    for name in LOSS_TESTS:
        assert "L1 penalty (accepted)" in run.test(name)["note"]


@pytest.mark.parametrize("replaced, new_source, expected, words",
                         [pytest.param(*v[1:], marks=SLOW, id=v[0]) for v in VARIANTS])
def test_a_wrong_variant_loses_exactly_its_tests(replaced, new_source, expected, words, tmp_path):
    path = tmp_path / "variant.py"
    path.write_text(COURSE_FORM + "\n\n" + new_source)     # the wrong class replaces `replaced`
    run = grade(path)
    assert failing(run) == expected, [(t["name"], t["message"]) for t in run.result["tests"]
                                      if t["status"] != "passed" or t["name"] in expected]
    for name, text in words.items():      # a failure says it in its message, a passed test in its note
        test = run.test(name)
        said = test["message"] if test["status"] != "passed" else test["note"]
        assert text in (said or ""), (test["status"], test["message"], test["note"])
