"""Optional keywords cost nothing: a correct solution whose signature lacks `verbose` (or
`print_cost`) gets full marks, while a renamed required argument still fails the tests that pass it.

The suites pass optional keywords through `call_optional` (grader/harness/client.py), which asks
the student process for the callable's signature (the runner's "signature" operation).
"""
import ast
import functools

import pytest

from grader.harness.client import accepts, call_optional, signature
from support import ROOT, grader


def drop_parameter(source: str, name: str) -> str:
    """`source` with the parameter `name` removed from every function that has it; the body then
    starts with `name = <its default>`, so the function behaves as before when it was not passed."""
    tree = ast.parse(source)
    changed = 0
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        args = node.args
        positional = args.posonlyargs + args.args
        defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
        for i, arg in enumerate(positional):
            if arg.arg == name:
                default = defaults[i] or ast.Constant(None)
                args.defaults = [d for j, d in enumerate(defaults) if j != i and d is not None]
                if arg in args.args:
                    args.args.remove(arg)
                else:
                    args.posonlyargs.remove(arg)
                break
        else:
            kw = [a.arg for a in args.kwonlyargs]
            if name not in kw:
                continue
            i = kw.index(name)
            default = args.kw_defaults[i] or ast.Constant(None)
            del args.kwonlyargs[i], args.kw_defaults[i]
        node.body.insert(0, ast.Assign([ast.Name(name, ast.Store())], default, lineno=node.lineno))
        changed += 1
    assert changed, f"no function has a parameter {name!r}"
    return ast.unparse(ast.fix_missing_locations(tree))


def rename_parameter(source: str, function: str, old: str, new: str) -> str:
    """`source` with the parameter `old` of the method/function `function` renamed `new` (body too)."""
    tree = ast.parse(source)
    owner, method = function.split(".") if "." in function else (None, function)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == owner or owner is None and node is tree:
            for fn in node.body:
                if isinstance(fn, ast.FunctionDef) and fn.name == method:
                    for sub in ast.walk(fn):
                        if isinstance(sub, ast.arg) and sub.arg == old:
                            sub.arg = new
                        elif isinstance(sub, ast.Name) and sub.id == old:
                            sub.id = new
                    return ast.unparse(tree)
    raise AssertionError(f"{function} not found")


# ---------------------------------------------------------------------------
# The helpers on local callables (no sandbox): the same rules as on the student's
# ---------------------------------------------------------------------------

def test_accepts_reads_the_signature():
    def plain(X, y, epochs=100):
        return epochs

    def loud(X, y, epochs=100, verbose=True):
        return verbose

    def anything(X, **kwargs):
        return kwargs

    def positional_only(X, verbose=True, /):
        return verbose

    assert accepts(loud, "verbose") and not accepts(plain, "verbose")
    assert accepts(anything, "verbose")
    assert not accepts(positional_only, "verbose"), "a positional-only parameter takes no keyword"
    assert accepts(functools.partial(loud, 1), "verbose")
    assert signature(plain) == {"parameters": ["X", "y", "epochs"], "kwargs": False}
    unreadable = type("Unreadable", (), {"__signature__": property(lambda self: 1 / 0),
                                         "__call__": lambda self, *a, **k: k})()
    assert signature(unreadable) is None and accepts(unreadable, "verbose"), (
        "a signature that cannot be read: pass the keyword, the call decides")


def test_call_optional_passes_only_what_is_accepted():
    calls = []

    def plain(X, y, epochs=100):
        calls.append(("plain", epochs))

    def loud(X, y, epochs=100, verbose=True):
        calls.append(("loud", epochs, verbose))

    call_optional(plain, 1, 2, epochs=5, optional={"verbose": False})
    call_optional(loud, 1, 2, epochs=5, optional={"verbose": False})
    assert calls == [("plain", 5), ("loud", 5, False)]
    with pytest.raises(TypeError):      # required keywords stay strict
        call_optional(plain, 1, 2, n_epochs=5, optional={"verbose": False})


# ---------------------------------------------------------------------------
# Through the grader: the student process answers the signature question
# ---------------------------------------------------------------------------

def _grade(tmp_path, exercise_id, source):
    path = tmp_path / "submission.py"
    path.write_text(source)
    run = grader("run", exercise_id, str(path), "--json")
    assert run.code == 0, run.stderr
    return run


@pytest.mark.slow
@pytest.mark.parametrize("exercise_id, keyword", [("perceptron", "verbose"), ("backprop", "print_cost")])
def test_a_signature_without_the_optional_keyword_gets_full_marks(tmp_path, exercise_id, keyword):
    source = (ROOT / "reference" / f"{exercise_id}.py").read_text()
    stripped = drop_parameter(source, keyword)
    for node in ast.walk(ast.parse(stripped)):       # Perceptron.fit, PocketPerceptron.fit, train_network
        if isinstance(node, ast.FunctionDef):
            assert keyword not in [a.arg for a in node.args.args + node.args.kwonlyargs]
    run = _grade(tmp_path, exercise_id, stripped)
    failing = [(t["name"], t["status"], t["message"]) for t in run.result["tests"] if t["status"] != "passed"]
    assert failing == []
    assert run.result["score"] == run.result["max_score"] > 0
    assert run.result["bonus"] == run.result["bonus_max"]


@pytest.mark.slow
def test_a_renamed_required_argument_still_fails(tmp_path):
    """Perceptron.fit(X, y, n_epochs=100): the suites pass epochs=..., which stays required."""
    source = rename_parameter((ROOT / "reference" / "perceptron.py").read_text(), "Perceptron.fit",
                              "epochs", "n_epochs")
    run = _grade(tmp_path, "perceptron", drop_parameter(source, "verbose"))
    by_name = {t["name"]: t for t in run.result["tests"]}
    for name in ("test_learns_and", "test_learns_or", "test_learns_separable_blobs", "test_iris_heldout_accuracy"):
        assert by_name[name]["status"] == "error" and by_name[name]["points"] == 0, by_name[name]
        assert "epochs" in by_name[name]["message"], by_name[name]["message"]
    assert by_name["test_predict_values"]["status"] == "passed"
    assert 0 < run.result["score"] < run.result["max_score"]
