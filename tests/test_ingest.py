"""Ingestion: notebooks and .py files -> top-level statements; broken or foreign cells reported."""
import ast
import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.ingest import IngestError, load_submission, load_submission_bytes
from grader.results import SkippedCell


def write_notebook(tmp_path, *cells, name="sub.ipynb"):
    """Strings become code cells; nbformat cells are used as they are."""
    nb = new_notebook(cells=[new_code_cell(c) if isinstance(c, str) else c for c in cells])
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def load_cells(tmp_path, *cells):
    return load_submission(write_notebook(tmp_path, *cells))


def sources(submission):
    return [c.source for c in submission.chunks]


def test_statements_become_chunks_with_cell_and_line(tmp_path):
    sub = load_cells(tmp_path, new_markdown_cell("# Title"),
                     "import numpy as np\n\nx = 1; y = (2,\n     3)  # comment\n",
                     "def timer(f):\n    return f\n\n\n@timer\n@timer\ndef add(a, b):\n    return a + b\n")
    assert sub.kind == "notebook" and sub.skipped_cells == []
    assert [(c.cell, c.line, c.source) for c in sub.chunks] == [
        (2, 1, "import numpy as np"),
        (2, 3, "x = 1"),
        (2, 3, "y = (2,\n     3)"),
        (3, 1, "def timer(f):\n    return f"),
        (3, 5, "@timer\n@timer\ndef add(a, b):\n    return a + b"),
    ]
    for chunk in sub.chunks:
        ast.parse(chunk.source)
    assert sub.chunks[0].is_import and sub.chunks[0].defines == {"np"}
    assert sub.chunks[4].defines == {"add"} and sub.chunks[4].reads_now == {"timer"}


def test_broken_cell_is_reported_and_the_other_cells_kept(tmp_path):
    sub = load_cells(tmp_path, new_markdown_cell("intro"), "def f(x):\n    return x",
                     "w = 5\nz = \n", "def g():\n    return 2")
    # the names it seems to define, read without parsing, so that tests missing them can say where they are
    assert sub.skipped_cells == [SkippedCell(cell=3, line=2, message="invalid syntax", excerpt="z =", names=["w", "z"])]
    assert sources(sub) == ["def f(x):\n    return x", "def g():\n    return 2"]   # none of cell 3
    assert [c.cell for c in sub.chunks] == [2, 4]


@pytest.mark.parametrize("code, message, line", [
    ("np.mean?", "invalid syntax", 1),
    ("x = 1\nreturn x", "'return' outside function", 2),
    ("def f():\nreturn 1", "expected an indented block after function definition on line 1", 2),
    ("x = (1,\n", "'(' was never closed", 1),
])
def test_cells_python_rejects_are_reported_with_the_compilers_words(tmp_path, code, message, line):
    sub = load_cells(tmp_path, "a = 1", code)
    [skipped] = sub.skipped_cells
    assert (skipped.cell, skipped.line, skipped.message) == (2, line, message)
    assert sources(sub) == ["a = 1"]


def test_null_bytes_and_absurd_nesting_are_reported_not_raised(tmp_path):
    sub = load_cells(tmp_path, "ok = 1", "x = 'a\x00b'", "y = " + "-" * 100_000 + "1")
    assert sources(sub) == ["ok = 1"]
    null, deep = sub.skipped_cells
    assert null.cell == 2 and "null byte" in null.message
    assert deep.cell == 3 and "nested too deeply" in deep.message


def test_shell_and_line_magics_are_neutralised_never_kept(tmp_path):
    sub = load_cells(tmp_path, "%matplotlib inline\n!rm -rf x\nfiles = !ls\nt = %timeit f()\nimport numpy as np\n"
                               "for i in range(2):\n    !pip install torch\n    %time g()\n",
                     "!rm -rf x")
    assert sub.skipped_cells == []   # neutralised lines are noise, not reported
    assert sources(sub) == ["import numpy as np", "for i in range(2):\n    pass\n    pass"]
    assert sub.chunks[0].line == 5   # replacement is line for line
    for text in ("rm -rf", "!", "%", "ls"):
        assert not any(text in s for s in sources(sub))


def test_valid_python_that_looks_like_a_magic_is_left_alone(tmp_path):
    cell = 'msg = ("%d items"\n       % 3)\ndoc = """\n!not a shell command\n%not a magic\n"""\nok = (1\n      != 2)\n'
    sub = load_cells(tmp_path, cell, "%matplotlib inline\n" + cell)   # with and without a real magic
    assert sources(sub)[:3] == sources(sub)[3:]
    assert sources(sub)[1] == 'doc = """\n!not a shell command\n%not a magic\n"""'


@pytest.mark.parametrize("magic", ["%%bash", "%%writefile helper.py", "%%html", "%%javascript"])
def test_foreign_cell_magics_skip_the_whole_cell(tmp_path, magic):
    sub = load_cells(tmp_path, "a = 1", f"\n{magic}\nrm -rf /tmp/x\nimport os\n")
    name = magic.split()[0]
    assert sub.skipped_cells == [SkippedCell(cell=2, line=2, message=f"cell magic {name} is never run",
                                             excerpt=magic)]
    assert sources(sub) == ["a = 1"]


@pytest.mark.parametrize("magic", ["%%time", "%%timeit", "%%capture"])
def test_python_cell_magics_keep_their_body(tmp_path, magic):
    sub = load_cells(tmp_path, f"{magic}\nw = 3\nprint(w)")
    assert sub.skipped_cells == []
    assert [(c.line, c.source) for c in sub.chunks] == [(2, "w = 3"), (3, "print(w)")]


def test_outputs_that_do_not_validate_do_not_reject_the_notebook(tmp_path):
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
          "cells": [{"cell_type": "code", "source": ["x = 1\n", "y = x"], "outputs": [{"bogus": True}]}]}
    sub = load_submission_bytes(json.dumps(nb).encode(), "odd.ipynb")
    assert sources(sub) == ["x = 1", "y = x"]


def test_old_notebook_format_is_upgraded(tmp_path):
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": [
        {"cell_type": "markdown", "source": ["notes"], "metadata": {}},
        {"cell_type": "code", "input": ["x = 1\n", "y = x"], "language": "python", "outputs": [], "metadata": {}},
    ]}]}
    sub = load_submission_bytes(json.dumps(v3).encode(), "old.ipynb")
    assert [(c.cell, c.source) for c in sub.chunks] == [(2, "x = 1"), (2, "y = x")]


@pytest.mark.parametrize("data, message", [
    (b"", "the file is empty"),
    (b"{\n  \"cells\": [,]\n}", "this is not a Jupyter notebook: the file is not valid JSON (line 2, column 13)"),
    (b"\xff\xfe\x00garbage", "this is not a Jupyter notebook: the file is not UTF-8 text"),
    (b'{"name": "not a notebook"}', "this is not a valid Jupyter notebook: it has no list of cells"),
    (b"[1, 2, 3]", "this is not a valid Jupyter notebook: it has no list of cells"),
    (b'{"cells": "x = 1"}', "this is not a valid Jupyter notebook: its 'cells' is not a list"),
    (nbformat.writes(new_notebook()).encode(), "the notebook has no code cells"),
    (nbformat.writes(new_notebook(cells=[new_markdown_cell("only words")])).encode(), "the notebook has no code cells"),
    (nbformat.writes(new_notebook(cells=[new_code_cell("# TODO\n"), new_code_cell("")])).encode(),
     "the notebook has no Python code to grade"),
])
def test_ungradable_notebooks_are_rejected_with_a_clear_message(tmp_path, data, message):
    path = tmp_path / "sub.ipynb"
    path.write_bytes(data)
    with pytest.raises(IngestError) as caught:
        load_submission(path)
    assert str(caught.value) == message


def test_oversized_file_is_rejected_before_it_is_read(tmp_path):
    path = tmp_path / "big.ipynb"
    path.write_bytes(b" " * (3 * 512 * 1024))
    with pytest.raises(IngestError, match=r"^the file is 1\.5 MB, over the 1 MB limit$"):
        load_submission(path, max_bytes=1024 * 1024)
    with pytest.raises(IngestError, match="over the 1 MB limit"):
        load_submission_bytes(b" " * (3 * 512 * 1024), "big.py", max_bytes=1024 * 1024)
    # just over: the two sizes would read the same, so the message says by how much
    with pytest.raises(IngestError, match=r"^the file is 27\.8 KB over the 20 MB limit$"):
        load_submission_bytes(b" " * 21_000_000, "big.py", max_bytes=20 * 1024 * 1024)


@pytest.mark.parametrize("name, shown", [("notes.txt", "'.txt'"), ("Makefile", "(no extension)")])
def test_unsupported_file_type(tmp_path, name, shown):
    with pytest.raises(IngestError) as caught:
        load_submission_bytes(b"x = 1", name)
    assert str(caught.value) == f"unsupported file type {shown}: upload a .ipynb notebook or a .py file"


def test_py_file_without_markers_is_one_cell(tmp_path):
    path = tmp_path / "solution.py"
    path.write_text("import numpy as np\n\n\ndef f(x):\n    return np.tanh(x)\n\n%matplotlib inline\nprint(f(0))\n")
    sub = load_submission(path)
    assert sub.kind == "python" and sub.skipped_cells == []
    assert [(c.cell, c.line, c.source) for c in sub.chunks] == [
        (1, 1, "import numpy as np"), (1, 4, "def f(x):\n    return np.tanh(x)"), (1, 8, "print(f(0))")]


def test_py_file_that_does_not_parse_is_graded_as_nothing_not_rejected():
    sub = load_submission_bytes(b"def f(x):\n    return x\n\nz = \n", "solution.py")
    assert sub.chunks == []
    assert sub.skipped_cells == [SkippedCell(cell=1, line=4, message="invalid syntax", excerpt="z =", names=["f", "z"])]


def test_py_file_with_percent_markers_is_split_into_blocks():
    text = ("import numpy as np\n"                 # preamble: block 1
            "# %%\ndef f(x):\n    return x\n"    # block 2
            "# %% [markdown]\n# Some words\n"     # block 3: markdown, not code
            "# %% training\nx = (\n"             # block 4: broken
            "#%%\n\ny = f(2)\n")                  # block 5
    sub = load_submission_bytes(text.encode(), "solution.py")
    assert [(c.cell, c.line, c.source) for c in sub.chunks] == [
        (1, 1, "import numpy as np"), (2, 1, "def f(x):\n    return x"), (5, 2, "y = f(2)")]
    assert sub.skipped_cells == [SkippedCell(cell=4, line=1, message="'(' was never closed", excerpt="x = (",
                                             names=["x"])]


def test_py_file_must_be_utf8():
    with pytest.raises(IngestError, match="^the file is not UTF-8 text$"):
        load_submission_bytes("x = 'é'".encode("latin-1"), "solution.py")
    with pytest.raises(IngestError, match="^the file has no Python code to grade$"):
        load_submission_bytes(b"# only a comment\n", "solution.py")


def test_names_of_a_cell_that_does_not_parse_are_read_from_its_lines():
    cell = ("def step_function(z)\n    inner = 1\nclass Perceptron:\n    pass\nW, b = 1, 2\nlr: float = 0.1\n"
            "if lr == 1: pass\nlr == 2\nasync def go(): pass\nlambda: x\n"
            "import numpy as np\nimport os.path, sys\nfrom math import pi, tau as t  # both\nfrom m import *\n"
            + "".join(f"v{i} = {i}\n" for i in range(200)))
    [skipped] = load_submission_bytes(cell.encode(), "solution.py").skipped_cells
    assert skipped.names[:11] == ["step_function", "Perceptron", "W", "b", "lr", "go",   # top level, no keywords
                                  "np", "os", "sys", "pi", "t"]
    assert len(skipped.names) == 100                                                   # bounded
