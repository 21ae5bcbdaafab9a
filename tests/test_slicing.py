"""Slicing: which top-level statements run for the names a suite needs, resolved like a top-to-bottom run."""
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.ingest import load_submission
from grader.slicing import analyse, select


def notebook_chunks(tmp_path, *cells):
    nb = new_notebook(cells=[new_markdown_cell("# Exercise")] + [new_code_cell(c) for c in cells])
    path = tmp_path / "sub.ipynb"
    nbformat.write(nb, path)
    return load_submission(path).chunks


def kept(tmp_path, names, *cells):
    """Sources of the kept chunks, and how many were left out."""
    chunks, left_out = select(notebook_chunks(tmp_path, *cells), names)
    return [c.source for c in chunks], left_out


# --- analyse ---------------------------------------------------------------------------------

def test_function_reads_globals_later_and_never_its_own_locals():
    a = analyse("def f(X, k=DEFAULT):\n    y = X * W\n    return helper(y)")
    assert a.defines == {"f"}
    assert a.reads_now == {"DEFAULT"}            # defaults are evaluated when the def runs
    assert a.reads_later == {"W", "helper"}      # X and y are local to f


def test_class_body_reads_now_and_methods_read_later():
    a = analyse("@register\nclass Net(Base):\n    lr = LR\n    def fit(self, X):\n        return helper(X) * self.lr")
    assert a.defines == {"Net"}
    assert a.reads_now == {"register", "Base", "LR"}
    assert a.reads_later == {"helper"}


def test_mutation_reads_and_defines_the_base_name():
    assert analyse("cfg['lr'] = 0.1")[:3] == ({"cfg"}, {"cfg"}, set())
    assert analyse("model.layers[0].w = 1")[:3] == ({"model"}, {"model"}, set())
    assert analyse("x += 1")[:3] == ({"x"}, {"x"}, set())
    assert analyse("losses.append(3)")[:3] == (set(), {"losses"}, set())   # a call is just a read


def test_other_ways_to_bind_at_module_scope():
    assert analyse("import numpy as np, os.path").defines == {"np", "os"}
    assert analyse("for epoch in range(3):\n    loss = epoch").defines == {"epoch", "loss"}
    assert analyse("ys = [(last := f(x)) for x in xs]")[:2] == ({"ys", "last"}, {"f", "xs"})
    a = analyse("def init():\n    global W, b\n    W = zeros(3)\n    b += 1")
    assert a.defines == {"init", "W", "b"}
    assert a.reads_later == {"zeros", "b"}
    assert analyse("g = lambda x: x * K")[:3] == ({"g"}, set(), {"K"})


def test_imports_are_recognised():
    assert analyse("import numpy as np").is_import
    assert analyse("from math import pi").is_import
    assert analyse("try:\n    import torch\nexcept ImportError:\n    torch = None").is_import
    assert not analyse("if GPU:\n    import torch").is_import
    assert not analyse("try:\n    import torch\n    torch.ones(1)\nexcept ImportError:\n    pass").is_import


def test_source_the_scope_analysis_rejects_binds_and_reads_nothing():
    assert analyse("nonlocal x\nx = 1")[:3] == (set(), set(), set())


# --- select ----------------------------------------------------------------------------------

def test_plots_prints_and_training_loops_are_left_out(tmp_path):
    cells = [
        "import numpy as np\nimport matplotlib.pyplot as plt",
        "LR = 0.1",
        "def sigmoid(z):\n    return 1 / (1 + np.exp(-z))",
        "class Perceptron:\n    def __init__(self, n):\n        self.w = np.zeros(n)\n"
        "    def fit(self, X, y):\n        self.w += LR * X.T @ (y - sigmoid(X @ self.w))",
        "X = np.random.rand(100, 2)\ny = (X.sum(axis=1) > 1).astype(float)",
        "z = np.linspace(-5, 5)\nplt.plot(z, sigmoid(z))\nplt.show()",
        "print(sigmoid(0))",
        "model = Perceptron(2)\nfor epoch in range(1000):\n    model.fit(X, y)",
    ]
    sources, left_out = kept(tmp_path, ["sigmoid", "Perceptron"], *cells)
    assert sources == ["import numpy as np", "import matplotlib.pyplot as plt", "LR = 0.1", cells[2], cells[3]]
    assert left_out == 8


def test_execute_all_keeps_everything(tmp_path):
    chunks = notebook_chunks(tmp_path, "import os", "print('hi')", "x = 1")
    assert select(chunks, ["x"], "all") == (chunks, 0)
    with pytest.raises(ValueError):
        select(chunks, ["x"], "some")


def test_last_definition_wins(tmp_path):
    sources, left_out = kept(tmp_path, ["add"], "def add(a, b):\n    return a * b", "def add(a, b):\n    return a + b")
    assert sources == ["def add(a, b):\n    return a + b"] and left_out == 1


def test_helper_used_inside_a_function_resolves_to_its_last_definition(tmp_path):
    sources, _ = kept(tmp_path, ["f"], "def helper():\n    return 1", "def f():\n    return helper()",
                      "def helper():\n    return 2", "print(f())")
    assert sources == ["def f():\n    return helper()", "def helper():\n    return 2"]


def test_constant_read_at_top_level_resolves_to_the_definition_before_use(tmp_path):
    cells = ["N = 3", "W = [0.0] * N", "N = 5"]
    assert kept(tmp_path, ["W"], *cells) == (["N = 3", "W = [0.0] * N"], 1)
    assert kept(tmp_path, ["W", "N"], *cells) == (cells, 0)   # both N run, in order


def test_function_locals_do_not_pull_globals_of_the_same_name(tmp_path):
    cells = ["X = load_big_dataset()", "def f(X):\n    return X", "def g():\n    X = 1\n    return X"]
    assert kept(tmp_path, ["f", "g"], *cells) == (cells[1:], 1)


def test_class_methods_pull_the_globals_they_read(tmp_path):
    cells = ["SCALE = 2", "def helper(x):\n    return x * SCALE", "UNUSED = 7",
             "class A:\n    def m(self):\n        return helper(1)"]
    assert kept(tmp_path, ["A"], *cells) == ([cells[0], cells[1], cells[3]], 1)


def test_mutations_of_a_needed_name_run_too(tmp_path):
    cells = ["cfg = {}", "cfg['lr'] = 0.1", "other = 3", "cfg['epochs'] = 10",
             "def train():\n    return cfg['lr'] * cfg['epochs']", "cfg2 = dict(cfg)"]
    assert kept(tmp_path, ["train"], *cells) == (["cfg = {}", "cfg['lr'] = 0.1", "cfg['epochs'] = 10", cells[4]], 2)


def test_decorators_are_kept_with_what_they_need(tmp_path):
    cells = ["import functools", "def timer(f):\n    @functools.wraps(f)\n    def inner(*a):\n        return f(*a)\n"
             "    return inner", "@timer\ndef add(a, b):\n    return a + b", "add(1, 2)"]
    sources, left_out = kept(tmp_path, ["add"], *cells)
    assert sources == cells[:3] and left_out == 1
    assert sources[2].startswith("@timer\n")


def test_imports_always_run_and_unknown_names_are_ignored(tmp_path):
    cells = ["import os", "try:\n    import torch\nexcept ImportError:\n    torch = None", "print(os.getcwd())",
             "def f():\n    return len(undefined_name)"]
    assert kept(tmp_path, ["f", "never_defined"], *cells) == ([cells[0], cells[1], cells[3]], 1)


def test_a_shadowed_builtin_is_pulled_in(tmp_path):
    cells = ["def sum(xs):\n    return 0", "def total(xs):\n    return sum(xs)", "def count(xs):\n    return len(xs)"]
    assert kept(tmp_path, ["total"], *cells) == (cells[:2], 1)


def test_broken_cells_do_not_stop_slicing(tmp_path):
    cells = ["import numpy as np", "def relu(z):\n    return np.maximum(0, z)",
             "class Perceptron:\n    def predict(self, X):\n        z = \n", "relu(np.ones(3))"]
    assert kept(tmp_path, ["relu", "Perceptron"], *cells) == (cells[:2], 1)
