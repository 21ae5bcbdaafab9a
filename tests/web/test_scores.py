"""One score everywhere: a late submission's score reads the same on the home page, its own page,
the history, the recent and staff lists and the gradebook (what counts, the penalty, the score
before it), computed in one place (`course_rules.counting_score`) for the lists and the pages."""
from __future__ import annotations

import dataclasses
import html
import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event

from grader.course_rules import Score
from grader.storage import course
from grader.storage.db import get_engine, session_scope
from grader.storage.exercises import exercise_rows, get_exercise
from grader.storage.gradebook import gradebook
from grader.storage.submissions import get_submission, submission_detail, submission_rows
from grader.storage.users import get_user
from grader.web.views import late_words, plural, score_words
from support import perceptron_result

LATE = "14 / 20 + 2.1 bonus, after a 30% late penalty on 20 + 3"


def set_rules(site, exercise="perceptron", **values):
    with session_scope(site.config) as s:
        course.edit_rules(s, get_exercise(s, exercise), **values)


def graded_upload(site, client, score=20.0, bonus=3.0) -> int:
    response = site.upload(client)
    assert response.status_code == 303, response.data
    submission_id = int(response.headers["Location"].rsplit("/", 1)[1])
    site.graded(submission_id, dataclasses.replace(perceptron_result(score=score), bonus=bonus))
    return submission_id


def text(response) -> str:
    """The page's words, tags dropped and entities decoded (what a reader sees, roughly)."""
    assert response.status_code == 200, response.data[:300]
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))))


def late_upload(site) -> int:
    """alice's full marks (20 + 3 bonus), received within the first day after the due date
    (30 % per started day, at most 50 %)."""
    set_rules(site, due_at=datetime.now(timezone.utc) - timedelta(hours=1), penalty_per_day=0.3, max_penalty=0.5)
    return graded_upload(site, site.client("alice"))


def test_a_late_score_reads_the_same_on_every_page(site):
    submission_id = late_upload(site)
    alice, ines = site.client("alice"), site.client("ines")
    home = text(alice.get("/"))
    assert home.count(LATE) == 2, home                    # the exercise's counting score and the recent list
    history = text(alice.get("/history"))
    assert LATE in history and "20 / 20" not in history   # never the raw score as if it counted
    page = text(alice.get(f"/submissions/{submission_id}"))
    assert LATE in page
    assert "Graded 20 / 20 + 3 bonus" in page and "Late penalty −30%" in page and "Counts 14 / 20 + 2.1 bonus" in page
    assert LATE in text(ines.get("/staff/submissions")) and LATE in text(ines.get(f"/submissions/{submission_id}"))
    status = alice.get(f"/submissions/{submission_id}/status.json").get_json()
    assert (status["score"], status["max_score"]) == (14.0, 20.0)
    api = site.app.test_client().get(f"/api/v1/submissions/{submission_id}",
                                     headers={"Authorization": f"Bearer {site.token('alice')}"}).get_json()
    assert (api["score"], api["bonus"], api["raw_score"], api["raw_bonus"], api["late_penalty"]) == \
        (14.0, pytest.approx(2.1), 20.0, 3.0, pytest.approx(0.3))


def test_an_on_time_score_says_no_penalty_and_its_bonus_as_a_sum(site):
    submission_id = graded_upload(site, site.client("alice"))
    alice = site.client("alice")
    for body in (text(alice.get("/")), text(alice.get("/history")), text(alice.get(f"/submissions/{submission_id}"))):
        assert "20 / 20 + 3 bonus" in body and "late penalty" not in body and "+3" not in body


def test_an_extension_counts_in_the_lists_as_in_the_gradebook(site):
    set_rules(site, due_at=datetime.now(timezone.utc) - timedelta(hours=1), penalty_per_day=0.3, max_penalty=0.5)
    with session_scope(site.config) as s:
        course.set_extension(s, get_user(s, "alice"), get_exercise(s, "perceptron"),
                             datetime.now(timezone.utc) + timedelta(days=1))
    graded_upload(site, site.client("alice"))
    graded_upload(site, site.client("bob"))
    alice, bob = text(site.client("alice").get("/history")), text(site.client("bob").get("/history"))
    assert "20 / 20 + 3 bonus" in alice and "late penalty" not in alice
    assert LATE in bob


def test_the_gradebook_names_exercises_marks_penalized_cells_and_gives_the_total_maximum(site):
    late_upload(site)
    page = site.client("ines").get("/staff/gradebook").get_data(as_text=True)
    header = re.search(r'<th data-sort="number" data-exercise="perceptron">(.*?)</th>', page, re.S).group(1)
    assert re.search(r'<button type="button" class="sort"[^>]*>The perceptron<', header)   # the title sorts,
    assert "<code>perceptron</code>" in header.split("</button>", 1)[1]                 # its id beneath
    with session_scope(site.config) as s:
        total = sum(e.points for e in exercise_rows(s))
    assert f'id="total-max">/ {total:g}<' in page
    cell = re.search(r'<td data-value="14.0" class="late">(.*?)</td>', page, re.S).group(1)
    assert ">14</a> + 2.1" in cell and "after a 30% late penalty on 20 + 3" in cell
    assert f'title="{LATE}"' in cell


def test_counts_are_said_without_parentheses(site):
    set_rules(site, show_hidden_points=False)                # the hidden test is not shown: 1 concealed
    submission_id = graded_upload(site, site.client("alice"), score=3.0, bonus=0.0)
    page = text(site.client("alice").get(f"/submissions/{submission_id}"))
    assert "1 test is not shown yet" in page and "1 test not shown yet" in page and "(s)" not in page


def test_a_partial_score_says_the_penalty_still_to_come(site):
    set_rules(site, show_hidden_points=False)                # the hidden test is not shown: the score is partial
    submission_id = late_upload(site)
    page = text(site.client("alice").get(f"/submissions/{submission_id}"))
    assert "points so far, before a 30% late penalty" in page and "1 test is not shown yet" in page


def test_the_lists_the_page_and_the_gradebook_compute_one_score(any_site):
    """The same submission: the same numbers from submission_rows, submission_detail and the
    gradebook, in one query for a list however many rows (the rules and extensions come joined)."""
    site = any_site
    submission_id = late_upload(site)
    graded_upload(site, site.client("bob"))
    with session_scope(site.config) as s:
        (row,) = [r for r in submission_rows(s) if r.id == submission_id]
        detail = submission_detail(s, get_submission(s, submission_id))
        (cell,) = [c for c in gradebook(s) if c.user == "alice" and c.exercise == "perceptron"]
        for shown in (row, detail, cell):
            assert (shown.score, shown.bonus, shown.raw_score, shown.raw_bonus, shown.penalty) == \
                pytest.approx((14.0, 2.1, 20.0, 3.0, 0.3))
    seen = []
    engine = get_engine(site.config)

    def count(conn, cursor, statement, *args):
        seen.append(statement)
    event.listen(engine, "before_cursor_execute", count)
    try:
        with session_scope(site.config) as s:
            assert len(submission_rows(s)) == 2
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len([q for q in seen if q.lstrip().upper().startswith("SELECT")]) == 1, seen


def test_the_score_words():
    assert score_words(Score(20.0, 3.0, 20.0, 0.3)) == LATE
    assert score_words(Score(20.0, 3.0, 20.0, 0.3), late=False) + ", " + late_words(Score(20.0, 3.0, 20.0, 0.3)) \
        == LATE
    assert score_words(Score(20.0, 0.0, 20.0, 0.0)) == "20 / 20"
    assert score_words(Score(10.0, 0.0, 20.0, 0.125)) == "8.75 / 20, after a 12.5% late penalty on 10"
    assert score_words(Score(20.0, 3.0, 20.0, 1.0)) == "0 / 20, after a 100% late penalty on 20 + 3"
    assert score_words(Score(7.0, 0.0, None, 0.0), 20.0) == "7 / 20"          # the exercise's maximum
    assert score_words(None) == "—" and late_words(Score(20.0, 0.0, 20.0, 0.0)) == ""
    assert (plural(1, "test"), plural(2, "test"), plural(2, "test is", "tests are")) == ("1 test", "2 tests",
                                                                                          "2 tests are")
