"""Notebook semantics end to end: broken cells, redefinitions, magics, top-level clutter."""
import shutil

import nbformat

from support import FIXTURES, TOY_SOLUTION, grader

TOY_ENV = {"GRADER_EXERCISES_DIR": str(FIXTURES / "exercises")}
RIGHT_ADD = "def add(a, b):\n    return a + b"
WRONG_ADD = "def add(a, b):\n    return a * b"


def grade_cells(tmp_path, *cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Toy")] + [nbformat.v4.new_code_cell(c) for c in cells]
    path = tmp_path / "sub.ipynb"
    nbformat.write(nb, path)
    run = grader("run", "toy", str(path), "--json", env=TOY_ENV)
    assert run.code == 0, run.stderr
    return run


def test_broken_cells_still_earn_the_working_parts(tmp_path):
    run = grade_cells(tmp_path, "import numpy as np", RIGHT_ADD, "def scale(x, k):\n    return np.asarray(x) * k",
                      "class Counter:\n    def step(self):\n        self.count = \n")
    assert run.test("test_add")["status"] == "passed"
    assert run.test("test_scale")["status"] == "passed"
    assert run.test("test_counter")["points"] == 0
    # the test points at the cause: the cell that did not parse, not a name the code lacks
    assert run.test("test_counter")["message"] == "`Counter` is in cell 5, which did not parse: invalid syntax at line 3"
    assert run.result["score"] == 3
    [skipped] = run.result["skipped_cells"]
    assert (skipped["cell"], skipped["line"]) == (5, 3)      # the markdown cell is cell 1
    assert "self.count =" in skipped["excerpt"]
    assert skipped["names"] == ["Counter"]


def test_a_name_in_a_cell_that_did_not_parse_is_found_there(tmp_path):
    run = grade_cells(tmp_path, "import numpy as np\ndef add(a, b)\n    return a + b\nLIMIT = 3",
                      "def scale(x, k):\n    return np.asarray(x) * k")
    assert run.test("test_add")["message"] == "`add` is in cell 2, which did not parse: expected ':' at line 2"
    assert run.result["skipped_cells"][0]["names"] == ["np", "add", "LIMIT"]
    # a name that is nowhere in the notebook is still missing, in those words
    assert run.test("test_counter")["message"] == "your code does not define `Counter`"
    # scale needs `np`, which only the broken cell imports: it ran, and its NameError says where np is
    assert run.test("test_scale")["status"] == "error"
    assert run.test("test_scale")["message"] == (
        "scale raised NameError: name 'np' is not defined (cell 3, line 2); "
        "`np` is in cell 2, which did not parse: expected ':' at line 2")


def test_last_definition_wins(tmp_path):
    run = grade_cells(tmp_path, WRONG_ADD, RIGHT_ADD)
    assert run.test("test_add")["status"] == "passed"
    run = grade_cells(tmp_path, RIGHT_ADD, WRONG_ADD)
    assert run.test("test_add")["status"] == "failed"


def test_magics_and_shell_lines_never_run(tmp_path):
    marker = tmp_path / "magic-ran"
    run = grade_cells(tmp_path, f"!touch {marker}\n%system touch {marker}\n" + RIGHT_ADD,
                      f"%%bash\ntouch {marker}", f"files = !touch {marker}\n")
    assert not marker.exists()
    assert run.test("test_add")["status"] == "passed"
    assert any("%%bash" in c["message"] for c in run.result["skipped_cells"])


def test_top_level_clutter_is_not_run(tmp_path):
    run = grade_cells(tmp_path, TOY_SOLUTION, "import time\nfor epoch in range(10**9):\n    time.sleep(1)",
                      "print(add(1, 2))\nraise SystemExit('plot cell')")
    assert run.result["score"] == 6
    assert run.result["not_run"] >= 2
    assert run.seconds < 30


def test_execute_all_runs_every_cell(tmp_path):
    exercises = tmp_path / "ex"
    shutil.copytree(FIXTURES / "exercises", exercises)
    manifest = exercises / "toy" / "exercise.toml"
    manifest.write_text(manifest.read_text().replace('names = [', 'execute = "all"\nnames = ['))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(TOY_SOLUTION), nbformat.v4.new_code_cell("add = None")]
    path = tmp_path / "sub.ipynb"
    nbformat.write(nb, path)
    run = grader("run", "toy", str(path), "--json", env={"GRADER_EXERCISES_DIR": str(exercises)})
    assert run.code == 0, run.stderr
    assert run.result["not_run"] == 0
    add = run.test("test_add")                          # `add = None` ran last
    assert add["status"] == "failed" and "NoneType" not in add["message"] and "TypeError" in add["message"]
