"""The upload check (grader/upload_check.py, ingest.check_readable): the grader's own refusals,
word for word, whether it reads the file here or in its limited child; a child that runs out of
a limit accepts the file (the worker decides), never refuses it."""
from __future__ import annotations

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.errors import IngestError
from grader.ingest import TooCostly, check_readable, load_submission_bytes
from grader.upload_check import READ_HERE, READ_IN_CHILD, check_upload


def notebook(*sources: str) -> bytes:
    return nbformat.writes(new_notebook(cells=[new_markdown_cell("words")] + [new_code_cell(s) for s in sources])).encode()


CASES = [   # (filename, data): files the grader refuses, and files just on the other side
    ("a.py", b"# only a comment\n"), ("a.py", b"pass\n"), ("a.py", b"pass; pass  # two\n"),
    ("a.py", b"pass \\\n; pass\n"), ("a.py", b"pass \\\n\n"), ("a.py", b"\\\n"), ("a.py", b";\n"),
    ("a.py", b"!pip install numpy\n%matplotlib inline\nx = !ls\n"), ("a.py", b"passage = 1\n"),
    ("a.py", b"pass\nx = 1\n"), ("a.py", b"def f(:\n"), ("a.py", b"return 1\n"), ("a.py", b"'''doc'''\n"),
    ("a.py", b"# c\n\x00\n"), ("a.py", "\u00a0\n".encode()), ("a.py", b"@decorated\n"), ("a.py", b"x = (\n"),
    ("a.py", b"# %%\n# nothing\n# %% [markdown]\n# x = 1\n"), ("a.py", b"# %%\npass\n# %%\ny = 2\n"),
    ("a.py", b"%%time\n# only\n"), ("a.py", b"%%bash\nls\n"), ("a.py", b"%%time\nw = 3\n"),
    ("a.py", b"   \n"), ("a.py", "x = 'é'".encode("latin-1")), ("a.py", b"\xef\xbb\xbfpass\n"),
    ("a.ipynb", notebook("# TODO\n", "")), ("a.ipynb", notebook("!ls", "pass")), ("a.ipynb", notebook("", "y = 1")),
    ("a.ipynb", notebook()), ("a.ipynb", b"{ not json"), ("a.ipynb", b"[1, 2]"), ("a.ipynb", b'{"cells": "x"}'),
    ("a.ipynb", b"\xff\xfe\x00garbage"), ("a.ipynb", b'{"cells": [{"cell_type": "code", "source": 3}]}'),
    ("a.ipynb", json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": [
        {"cell_type": "code", "input": "# nothing", "language": "python", "outputs": [], "metadata": {}}]}]}).encode()),
]


def grader_says(data: bytes, filename: str) -> str | None:
    """The grader's refusal of the file (None: it grades it)."""
    try:
        load_submission_bytes(data, filename)
    except IngestError as e:
        return str(e)
    return None


def check_says(check, data: bytes, filename: str) -> str | None:
    try:
        check(data, filename)
    except IngestError as e:
        return str(e)
    return None


@pytest.mark.parametrize("filename, data", CASES)
def test_the_check_refuses_what_the_grader_refuses_in_its_words(filename, data):
    expected = grader_says(data, filename)
    assert check_says(check_readable, data, filename) == expected
    assert check_says(check_upload, data, filename) == expected


def test_the_child_gives_the_same_answers():
    """All the cases in one go, each read in a child (no file is read here)."""
    for filename, data in CASES:
        expected = grader_says(data, filename)
        try:
            assert check_upload(data, filename, inline_file_bytes=0) == READ_IN_CHILD
            said = None
        except IngestError as e:
            said = str(e)
        assert said == expected, (filename, data)


def test_a_cell_that_needs_parsing_beyond_the_budget_is_read_elsewhere():
    with pytest.raises(TooCostly):
        check_readable(b"pass\n" * 20_000, "a.py", parse_budget=64 * 1024)
    check_readable(b"x = 1\n" + b"pass\n" * 20_000, "a.py", parse_budget=64 * 1024)   # plainly code: no parse
    with pytest.raises(IngestError, match="^the file has no Python code to grade$"):
        check_upload(b"pass\n" * 20_000, "a.py")                                        # read in the child


def test_a_large_hostile_file_is_read_in_the_child_and_a_normal_one_here():
    """8 MB of `x = 1+1+...` (1.6 GB for Python's parser) and 6 MB of small defs (~30 s of CPU for
    the full load): the check needs no parse for either."""
    plus = b"x = 1" + b"+1" * (4 * 1024 * 1024) + b"\n"
    defs = b"".join(b"def f%d(a, b):\n    return a + b\n" % i for i in range(170_000))
    assert check_upload(plus, "plus.py", 20 * 1024 * 1024) == READ_IN_CHILD
    assert check_upload(defs, "defs.py", 20 * 1024 * 1024) == READ_IN_CHILD
    assert check_upload(notebook("import numpy as np", "x = np.ones(3)"), "nb.ipynb") == READ_HERE


def test_a_child_out_of_its_limits_accepts_the_file_unchecked():
    """Real limits, made small: a file the grader refuses ("no Python code"), but that only a full
    parse can tell, is accepted when the child runs out of CPU time or of wall-clock time."""
    passes = b"pass\n" * 2_000_000
    assert grader_says(b"pass\n" * 1000, "a.py") == "the file has no Python code to grade"
    out_of_cpu = check_upload(passes, "a.py", 20 * 1024 * 1024, cpu_s=1)
    assert out_of_cpu == "not checked: the check ended with status -24", out_of_cpu        # SIGXCPU
    out_of_time = check_upload(passes, "a.py", 20 * 1024 * 1024, wall_s=0.05)
    assert out_of_time == "not checked: no answer within 0.05 s"


def test_a_child_out_of_memory_accepts_the_file_unchecked():
    # old notebook formats load nbformat, which does not fit in 32 MB of address space (the interpreter and the grader do)
    old = CASES[-1][1]
    assert grader_says(old, "a.ipynb") == "the notebook has no Python code to grade"
    assert check_upload(old, "a.ipynb", inline_file_bytes=0, memory_bytes=32 * 1024 * 1024) == \
        "not checked: out of memory"


def test_the_file_name_the_student_chose_never_reaches_the_child():
    big = b"x = 1\n" * 300_000
    assert check_upload(big, "we\x00ird -c 'x'.py", 20 * 1024 * 1024) == READ_IN_CHILD
    with pytest.raises(IngestError, match="unsupported file type"):
        check_upload(big, "we\x00ird.exe", 20 * 1024 * 1024)
