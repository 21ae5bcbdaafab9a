"""Two-stage feedback on the pages and the API: while the training tests run, the quick tests'
results are shown (in the final table's words, a hidden test's as the final result would show
it, or not at all), with "the score is not final" and the time left; the final result replaces
them. Driven by the worker's own progress writer and the real suite (tests/queue/test_stages.py
does it with a real worker)."""
from __future__ import annotations

import re

import pytest

from grader.grading import grade
from grader.queue.tasks import _progress_writer
from grader.storage.db import dispose_engines, session_scope
from grader.storage.exercises import get_exercise
from grader.storage.submissions import create_submission, get_submission, mark_status, record_run
from grader.web.views import time_left
from support import STAGED, TOY_SOLUTION, Site, stored_graded, toy_result

WRONG_SCALE = TOY_SOLUTION.replace("return np.asarray(x) * k", "return np.asarray(x) * k + 1").encode()
QUICK = ["test_add", "test_scale", "test_counter_reset"]


@pytest.fixture
def site(tmp_path):
    yield Site(tmp_path, settings={"exercises_dir": STAGED})
    dispose_engines()


def test_the_time_left_is_the_usual_time_minus_the_time_so_far():
    assert time_left(100.0, 40.0) == "about 60 s left"
    assert time_left(100.0, 99.2) == "about 1 s left"
    assert time_left(100.0, 99.6) == time_left(100.0, 130.0) == "a little longer than usual"
    assert time_left(None, 5.0) is None                      # no history: nothing said


def rows(page: str, section: str) -> dict[str, str]:
    """The rows of the section's results table, by test name."""
    part = page[page.index(f'id="{section}"'):]
    part = part[:part.index("</table>")]
    return {re.search(r"<code>(\w+)</code>", row).group(1): row.strip()
            for row in re.findall(r"<tr class=.*?</tr>", part, re.S)}


def set_hidden_points(site, shown: bool) -> None:
    with session_scope(site.config) as s:
        get_exercise(s, "staged").show_hidden_points = shown


def running(site, source: bytes, usual_s: float | None = None) -> tuple[int, int]:
    """alice's submission of `source` to staged, taken by a worker: (id, attempt). `usual_s`:
    first a graded run of bob's that long, the exercise's history for the estimate."""
    if usual_s is not None:
        history = toy_result(6)
        history.duration_s = usual_s
        stored_graded(site.config, "bob", b"x = 1", history, exercise="staged")
    with session_scope(site.config) as s:
        submission = create_submission(s, site.config, "alice", "staged", "mine.py", source)
        mark_status(s, submission, "queued")
        mark_status(s, submission, "running")
        return submission.id, submission.attempts


def test_quick_results_are_shown_while_training_runs_and_hidden_ones_never(site):
    submission_id, attempt = running(site, WRONG_SCALE, usual_s=600.0)    # the usual time: 10 minutes
    write = _progress_writer(site.config, submission_id, attempt)
    alice, tina = site.client("alice"), site.client("tina")
    api = {"Authorization": f"Bearer {site.token('alice')}"}
    status_url, page_url = f"/submissions/{submission_id}/status.json", f"/submissions/{submission_id}"
    seen = {}

    def progress(event):
        write(event)
        if event.kind == "running" and event.name == "test_counter_trains":      # training has begun
            seen["status"] = alice.get(status_url).get_json()
            seen["page"] = alice.get(page_url).get_data(as_text=True)
            seen["api"] = alice.get(f"/api/v1/submissions/{submission_id}", headers=api).get_json()
            seen["staff"] = tina.get(status_url).get_json()
            set_hidden_points(site, False)
            seen["no points status"] = alice.get(status_url).get_json()
            seen["no points page"] = alice.get(page_url).get_data(as_text=True)
            set_hidden_points(site, True)
        if event.kind == "started":
            seen["before"] = alice.get(status_url).get_json()

    result = grade("staged", WRONG_SCALE, "mine.py", site.config, progress=progress)
    assert "quick" not in seen["before"]["progress"]              # nothing before the quick stage ends
    status, page = seen["status"], seen["page"]
    assert status["status"] == "running" and not status["final"] and status["score"] is None
    quick = status["progress"]["quick"]
    assert [t["name"] for t in quick] == QUICK and status["progress"]["quick_concealed"] == 0
    assert [t["status"] for t in quick] == ["passed", "failed", "passed"]
    assert quick[1]["hidden"] and quick[1]["message"] is None             # shown as in the result: no message
    left = re.fullmatch(r"about (\d+) s left", status["estimate"])
    assert left and 500 < int(left.group(1)) <= 600, status["estimate"]
    assert seen["api"]["progress"] == status["progress"] and seen["api"]["estimate"].startswith("about ")
    assert "Your score is not final" in page and "training tests running" in page
    assert status["estimate"] in page
    assert '<section class="card" id="quick-results" >' in page          # shown, not `hidden`
    for text in (status, page, seen["api"], seen["no points status"], seen["no points page"]):
        assert "SECRET" not in str(text)
    # without show_hidden_points the hidden quick test is not listed at all, only counted
    concealed = seen["no points status"]["progress"]
    assert [t["name"] for t in concealed["quick"]] == ["test_add", "test_counter_reset"]
    assert concealed["quick_concealed"] == 1
    assert "test_scale" not in str(seen["no points status"]) and "test_scale" not in seen["no points page"]
    assert "1 quick test is not shown." in seen["no points page"]
    assert [t["name"] for t in seen["staff"]["progress"]["quick"]] == QUICK          # staff: everything
    # the final result replaces them, and the quick rows read as the final table's rows
    with session_scope(site.config) as s:
        submission = get_submission(s, submission_id)
        record_run(s, submission, result, backend="local")
        mark_status(s, submission, "graded")
    final = alice.get(status_url).get_json()
    assert final["final"] and final["progress"] is None and final["estimate"] is None
    final_page = alice.get(page_url).get_data(as_text=True)
    assert 'id="quick-results"' not in final_page and "Your score is not final" not in final_page
    final_rows, quick_rows = rows(final_page, "tests"), rows(page, "quick-results")
    assert list(quick_rows) == QUICK
    assert {name: final_rows[name] for name in QUICK} == quick_rows


def test_without_history_there_is_no_estimate(site):
    submission_id, _ = running(site, WRONG_SCALE)
    status = site.client("alice").get(f"/submissions/{submission_id}/status.json").get_json()
    assert status["status"] == "running" and status["estimate"] is None
    page = site.client("alice").get(f"/submissions/{submission_id}").get_data(as_text=True)
    assert re.search(r'<span id="status-estimate" class="muted"></span>', page)


# add() raises with markup and backticks in its message: the student's own text, shown as text
NASTY = WRONG_SCALE.replace(b"    return a + b", b"    raise ValueError('`a` <img src=x onerror=alert(1)> & \"b\"')")


def _same_markup(html_text: str) -> str:
    """Rows as the server wrote them or as the script built them, read alike: no whitespace
    between tags, entities as their characters (the DOM writes quotes raw, Jinja as &#34;)."""
    import html
    return html.unescape(re.sub(r">\s+<", "><", html_text.strip()))


@pytest.mark.slow
@pytest.mark.browser
def test_the_open_page_builds_the_quick_rows_as_the_server_writes_them(site, browser):
    import threading

    from werkzeug.serving import make_server
    submission_id, attempt = running(site, NASTY, usual_s=600.0)
    events = []
    result = grade("staged", NASTY, "mine.py", site.config, progress=events.append)
    stage = [e.kind for e in events].index("stage")
    write = _progress_writer(site.config, submission_id, attempt, every_s=0)
    write(events[0])                                         # started: the page opens before the stage ends
    server = make_server("127.0.0.1", 0, site.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    dialogs = []
    try:
        page = browser.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(url + "/login")
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", "alice-pw")
        page.click("button[type=submit]")
        page.wait_for_url(url + "/")
        page.goto(f"{url}/submissions/{submission_id}")
        assert page.is_hidden("#quick-results")
        for event in events[1:stage + 2]:                    # up to the training test's start
            write(event)
        page.wait_for_selector("#quick-results", state="visible", timeout=30000)
        assert "training tests running" in page.inner_text("#status-detail")
        assert re.fullmatch(r"· about \d+ s left", page.inner_text("#status-estimate")), \
            page.inner_text("#status-estimate")
        live = page.inner_html("#quick-rows")
        served = site.client("alice").get(f"/submissions/{submission_id}").get_data(as_text=True)
        served_rows = served[served.index('<tbody id="quick-rows">') + len('<tbody id="quick-rows">'):]
        served_rows = served_rows[:served_rows.index("</tbody>")]
        assert _same_markup(live) == _same_markup(served_rows)
        assert "<code>a</code> <img" in _same_markup(live)          # backticks as code, the rest as text
        assert page.query_selector("#quick-rows img") is None and not dialogs
        for event in events[stage + 2:]:
            write(event)
        with session_scope(site.config) as s:
            submission = get_submission(s, submission_id)
            record_run(s, submission, result, backend="local")
            mark_status(s, submission, "graded")
        page.wait_for_selector("#tests", timeout=30000)                 # reloaded once final
        assert page.query_selector("#quick-results") is None and not dialogs
    finally:
        server.shutdown()
