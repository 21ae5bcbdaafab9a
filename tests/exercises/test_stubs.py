"""Stubs earn nothing: every exercise's hidden suite gives a stub submission 0 points and 0 bonus.

A stub defines every name the contract asks for and returns its input, zeros, a constant or None;
a class stub has the contract's parameter shapes (numpy) or is an nn.Module with the right layer
sizes whose forward ignores them (torch). A test a stub passes checks only a shape or an
attribute: it must check a value too.

`stub_source(exercise, kind)` writes the stub as .py source from the
manifest's `names` (exercises/<id>/exercise.toml):

- functions (lower-case names) take anything and return, by kind: their first argument
  ("identity"), zeros shaped like it ("zeros": np.zeros_like / torch.zeros_like, recursing into
  dicts, lists and tuples; 0.0 for anything else), the constant 1.0 ("constant"), None ("none"),
  or (0.0, 0.0) ("pair", the skeleton `return loss, accuracy`);
- classes (names starting with an upper-case letter) take anything in `__init__`; their methods
  (forward, backward, predict, fit, __call__, step, ...) and any other attribute read through
  `__getattr__` are functions doing the same. A numpy class also holds, in its constructor, the
  parameters its contract names with the contract's shapes (Perceptron.weights, NeuralNetwork.W1,
  Dense.weights, ...): zeros ("zeros", "pair"), ones ("constant"), small random numbers ("identity"); so
  a test that only checks those shapes meets a stub that has them;
- in a torch exercise a class is an `nn.Module` holding `nn.Linear` layers sized from its integer
  arguments (SimpleNN(784, 64, 10) has 784x64 and 64x10 layers, a parameter count within the
  contract's bounds), whose forward returns its input ("identity"), zeros or ones of the output
  shape the arguments suggest ((N, last size): "zeros", "constant"; 10 classes when there is no
  size), None ("none"), or a pair (zeros, zeros) ("pair", like an attention block's (output,
  weights)). The parameters are in the graph (times 0), so optimizers and backward
  work and only the values are wrong.
"""
from __future__ import annotations

import json

import pytest

from grader.manifest import Exercise, exercise_ids, load_exercise
from support import ROOT, grader

EXERCISES = ROOT / "exercises"
KINDS = ("identity", "zeros", "constant", "none", "pair")

# Parameters a numpy class's constructor makes, per the contract: attribute -> shape, from the
# positional/keyword arguments (`a` is the list of positional arguments, `k` the keywords).
PARAMETERS = {
    "Perceptron": {"weights": "(a[0],)", "bias": "()"},
    "PocketPerceptron": {"weights": "(a[0],)", "bias": "()"},
    "NeuralNetwork": {"W1": "(a[1], a[0])", "b1": "(a[1], 1)", "W2": "(1, a[1])", "b2": "(1, 1)"},
    "DeepNeuralNetwork": {"W1": "(a[1], a[0])", "b1": "(a[1], 1)", "W2": "(a[2], a[1])",
                          "b2": "(a[2], 1)", "W3": "(1, a[2])", "b3": "(1, 1)"},
    "Dense": {"weights": "(a[1], a[0])", "bias": "(1, a[1])"},
}

METHODS = ("__call__", "forward", "backward", "predict", "fit", "score", "step", "update",
           "update_params", "train_step", "add", "set_loss", "update_parameters", "zero_grad")

_VALUES = {
    "identity": "return args[0] if args else None",
    "zeros": "return _zeros(args[0]) if args else 0.0",
    "constant": "return 1.0",
    "none": "return None",
    "pair": "return (0.0, 0.0)",
}

_COMMON = '''\
def _zeros(x):
    if _torch is not None and isinstance(x, _torch.Tensor):
        return _torch.zeros_like(x)
    if isinstance(x, dict):
        return {k: _zeros(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_zeros(v) for v in x)
    try:
        return np.zeros_like(np.asarray(x, dtype=float))
    except (TypeError, ValueError):
        return 0.0


def _value(args):
    {value}


def _method(*args, **kwargs):
    return _value(args)
'''

_NUMPY_CLASS = '''\
class {name}:
    def __init__(self, *args, **kwargs):
        a = list(args) + list(kwargs.values())
        for attr, shape in {parameters!r}.items():
            try:
                setattr(self, attr, _param(eval(shape, {{"a": a}})))
            except Exception:
                pass

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _method
{methods}'''

_NUMPY_PARAM = {
    "identity": "return np.random.default_rng(0).normal(scale=0.01, size=shape) if shape else 0.0",
    "zeros": "return np.zeros(shape) if shape else 0.0",
    "constant": "return np.ones(shape) if shape else 1.0",
    "none": "return None",
    "pair": "return np.zeros(shape) if shape else 0.0",
}

_TORCH_COMMON = '''\
def _sizes(args, kwargs):
    sizes = []
    for v in list(args) + list(kwargs.values()):
        if isinstance(v, int) and not isinstance(v, bool):
            sizes.append(v)
        elif isinstance(v, (list, tuple)):
            sizes.extend(u for u in v if isinstance(u, int) and not isinstance(u, bool))
    if not sizes:
        return [784, 128, 10], 10
    if len(sizes) == 1:
        return [sizes[0], sizes[0]], sizes[0]
    return sizes, sizes[-1]


def _module_value(module, args):
    x = args[0] if args else None
    anchor = sum(p.sum() for p in module.parameters()) * 0.0
    kind = {kind!r}
    if kind == "none":
        return None
    if kind == "identity":
        return x + anchor if isinstance(x, _torch.Tensor) and x.is_floating_point() else x
    if isinstance(x, _torch.Tensor) and x.dim() >= 1:
        shape = (*x.shape[:-1], module._stub_out) if module._stub_sized and x.dim() <= 3 else (x.shape[0], module._stub_out)
        device = x.device
    else:
        shape, device = (1, module._stub_out), None
    fill = 1.0 if kind == "constant" else 0.0
    out = _torch.full(shape, fill, device=device) + anchor.to(device) if device is not None else _torch.full(shape, fill) + anchor
    return (out, out) if kind == "pair" else out
'''

_TORCH_CLASS = '''\
class {name}(_torch.nn.Module):
    def __init__(self, *args, **kwargs):
        super().__init__()
        sizes, out = _sizes(args, kwargs)
        self.layers = _torch.nn.ModuleList(_torch.nn.Linear(i, o) for i, o in zip(sizes, sizes[1:]))
        self._stub_out = out
        self._stub_sized = bool([v for v in list(args) + list(kwargs.values()) if isinstance(v, (int, list, tuple)) and not isinstance(v, bool)])

    def forward(self, *args, **kwargs):
        return _module_value(self, args)

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name.startswith("_"):
                raise
            return _method
{methods}'''


def uses_torch(exercise: Exercise) -> bool:
    """Whether the exercise's notebook imports torch (then class stubs are nn.Modules)."""
    notebook = exercise.folder / f"{exercise.id}.ipynb"
    cells = json.loads(notebook.read_text()).get("cells", []) if notebook.is_file() else []
    text = "\n".join("".join(c.get("source", "")) for c in cells if c.get("cell_type") == "code")
    return "import torch" in text or "from torch" in text


def stub_source(exercise: Exercise, kind: str) -> str:
    """A submission (.py source) defining every name of `exercise.names` as a `kind` stub."""
    if kind not in KINDS:
        raise ValueError(f"unknown stub kind {kind!r} (known: {', '.join(KINDS)})")
    torch = uses_torch(exercise)
    parts = ["import numpy as np"]
    parts.append("import torch as _torch" if torch else "_torch = None")
    parts.append(_COMMON.replace("{value}", _VALUES[kind]))
    if torch:
        parts.append(_TORCH_COMMON.replace("{kind!r}", repr(kind)))
    else:
        parts.append(f"def _param(shape):\n    {_NUMPY_PARAM[kind]}\n")
    for name in exercise.names:
        if name[:1].isupper():
            skip = {"__call__", "forward"} if torch else set()
            methods = "".join(f"\n    def {m}(self, *args, **kwargs):\n        return _value(args)\n"
                              for m in METHODS if m not in skip)
            if torch:
                parts.append(_TORCH_CLASS.format(name=name, methods=methods))
            else:
                parts.append(_NUMPY_CLASS.format(name=name, parameters=PARAMETERS.get(name, {}),
                                                 methods=methods))
        else:
            parts.append(f"def {name}(*args, **kwargs):\n    return _value(args)\n")
    return "\n\n".join(parts)


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
