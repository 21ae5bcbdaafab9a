"""Feedback that points at the cause: the cells that did not run come before the tests, a test that
misses a name says which cell holds it, the suite's notes read as notes (not failures), no literal
backticks on the page, and the live progress counts the test that is running, from 1."""
from __future__ import annotations

import html
import re

import nbformat

from support import PERCEPTRON, perceptron_result, stored_graded

STEP = "def step_function(z):\n    \"\"\"1 where z >= 0, else 0.\"\"\"\n    z = np.asarray(z, dtype=float)\n" \
       "    return np.where(z >= 0, 1.0, 0.0)\n"


def _perceptron_notebook() -> bytes:
    """The reference in three cells, step_function in cell 2 with its colon missing (line 2)."""
    source = PERCEPTRON.decode()
    assert STEP in source
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import numpy as np"),
                nbformat.v4.new_code_cell("# activations\n" + STEP.replace("def step_function(z):",
                                                                           "def step_function(z)")),
                nbformat.v4.new_code_cell(source.replace(STEP, ""))]
    return nbformat.writes(nb).encode()


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def _rows(page: str) -> dict[str, str]:
    """test name -> the HTML of its feedback cell."""
    rows = re.findall(r'<tr class="\w+">.*?<code>(\w+)</code>.*?</td>.*?</td>.*?</td>\s*<td>(.*?)</td>\s*</tr>',
                      page, re.S)
    return dict(rows)


def test_the_cell_that_did_not_parse_comes_first_and_each_test_names_it(site):
    from grader.grading import grade
    data = _perceptron_notebook()
    result = grade("perceptron", data, "mine.ipynb", site.config)
    submission_id = stored_graded(site.config, "alice", data, result, exercise="perceptron", filename="mine.ipynb")
    page = site.client("alice").get(f"/submissions/{submission_id}").get_data(as_text=True)

    # what did not run is above the table of tests, and says what the cell defines
    assert 0 < page.index('id="code-notes"') < page.index('<table class="grid tests">')
    notes = _text(page[page.index('id="code-notes"'):page.index('id="tests"')])
    assert "cell 2, line 2 was not run: expected ':'" in notes and "it defines step_function" in notes

    where = "step_function is in cell 2, which did not parse: expected ':' at line 2"
    rows = _rows(page)
    affected = {name for name, cell in rows.items() if "step_function" in _text(cell)}
    assert "test_step_function_values" in affected
    for name in affected:
        assert where in _text(rows[name]), (name, rows[name])
        assert "<code>step_function</code> is in cell 2" in rows[name]
    assert "does not define" not in page
    # the other tests ran on the rest of the notebook and passed
    passed = {t.name for t in result.tests if t.status == "passed"}
    assert passed and not passed & affected
    assert "`" not in _text(page[page.index('id="code-notes"'):])
    # staff's list of common failure messages shows the name as code too
    analytics = site.client("ines").get("/staff/analytics/perceptron").get_data(as_text=True)
    assert "<code>step_function</code> is in cell 2, which did not parse" in analytics
    assert "`step_function`" not in analytics


def test_notes_are_shown_as_notes_beside_the_failure_message(site):
    result = perceptron_result()
    passed, failed, hidden = result.tests
    passed.note = "forward returns a bare `A2` (accepted)\nloss gradients summed over the batch (accepted)"
    failed.note = "the loss's backward takes (y_pred, y_true) (accepted)"
    hidden.note = "a note of a hidden test"
    submission_id = stored_graded(site.config, "alice", PERCEPTRON, result, exercise="perceptron")
    page = site.client("alice").get(f"/submissions/{submission_id}").get_data(as_text=True)
    rows = _rows(page)

    # a passed test: its notes, each on its own line, styled as notes; no failure message
    cell = rows["test_step_function_values"]
    assert 'class="message"' not in cell
    assert re.findall(r'<p class="note">(.*?)</p>', cell) == [
        '<span class="note-label">Note:</span> forward returns a bare <code>A2</code> (accepted)',
        '<span class="note-label">Note:</span> loss gradients summed over the batch (accepted)']
    # a failed test: the message says one thing, the note is beside it
    cell = rows["test_sigmoid_values"]
    assert re.search(r'<pre class="message">(.*?)</pre>', cell, re.S).group(1) == "expected 1.0, got 0.5"
    assert "(y_pred, y_true) (accepted)" in re.search(r'<p class="note">(.*?)</p>', cell).group(1)
    # student text between backticks is escaped inside the <code>; a stray backtick stays text
    result.tests[1].message = "`<script>alert(1)</script>` is `not` closed: `"
    result.tests[1].note = "`<img src=x onerror=alert(1)>` (accepted)"
    other = stored_graded(site.config, "alice", PERCEPTRON, result, exercise="perceptron")
    mixed = _rows(site.client("alice").get(f"/submissions/{other}").get_data(as_text=True))["test_sigmoid_values"]
    assert "<script" not in mixed and "<img" not in mixed
    assert '<pre class="message">`&lt;script&gt;alert(1)&lt;/script&gt;` is `not` closed: `</pre>' in mixed
    assert "<code>&lt;img src=x onerror=alert(1)&gt;</code> (accepted)" in mixed
    # a hidden test's note never reaches the student, nor any backtick
    assert "a note of a hidden test" not in page
    assert "`" not in _text(page[page.index('id="tests"'):])
    # staff see the hidden test's note
    assert "a note of a hidden test" in site.client("tina").get(f"/submissions/{submission_id}").get_data(as_text=True)


def test_progress_says_running_test_1_while_the_first_test_runs(site):
    """The worker's own progress writer, on a running submission, with the real suite: what the page
    says at each event."""
    from grader.grading import grade
    from grader.queue.tasks import _progress_writer
    from grader.storage.db import session_scope
    from grader.storage.submissions import create_submission, get_submission, mark_status
    with session_scope(site.config) as s:
        submission = create_submission(s, site.config, "alice", "perceptron", "mine.py", PERCEPTRON)
        submission_id = submission.id
        mark_status(s, submission, "queued")
        mark_status(s, submission, "running")
    with session_scope(site.config) as s:
        attempt = get_submission(s, submission_id).attempts
    write = _progress_writer(site.config, submission_id, attempt)
    alice = site.client("alice")
    seen = []

    def progress(event):
        write(event)
        page = alice.get(f"/submissions/{submission_id}").get_data(as_text=True)
        detail = re.search(r'<span id="status-detail">\s*(.*?)\s*</span>', page, re.S).group(1)
        status = alice.get(f"/submissions/{submission_id}/status.json").get_json()
        seen.append((event.kind, event.index, detail, status["progress"]["index"]))

    result = grade("perceptron", PERCEPTRON, "mine.py", site.config, progress=progress)
    total = len(result.tests)
    assert seen[0] == ("started", 0, "starting your code", 0)       # not "running test 0 of n"
    assert seen[1] == ("running", 1, f"running test 1 of {total}", 1)
    assert [i for kind, i, *_ in seen if kind == "running"] == list(range(1, total + 1))
    assert all(detail != f"running test 0 of {total}" for *_, detail, _ in seen)
