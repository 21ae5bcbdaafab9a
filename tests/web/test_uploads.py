"""The upload form and the API's upload as they hold up at a deadline: a double click (or a
retried request) stores one submission and uses one attempt; the form offers the exercise the
student came from, or none, never one they cannot submit to now; a refusal redirects back to the
form with a sentence beside it and the choice kept; a file that looks like another exercise's is
refused before it costs an attempt, and sent anyway when the student says so."""
from __future__ import annotations

import io
import re
import threading
from datetime import datetime, timedelta, timezone

from grader.storage import course
from grader.storage.db import session_scope
from grader.storage.exercises import get_exercise
from grader.storage.models import Submission
from sqlalchemy import func, select
from support import PERCEPTRON, csrf


def set_rules(site, exercise="perceptron", **values):
    with session_scope(site.config) as s:
        course.edit_rules(s, get_exercise(s, exercise), **values)


def count(site, user="alice") -> int:
    from grader.storage.models import User
    with session_scope(site.config) as s:
        return s.scalar(select(func.count(Submission.id)).join(User, User.id == Submission.user_id)
                        .where(User.name == user))


def form_post(client, data=PERCEPTRON, filename="mine.py", page=None, **fields):
    """The home page's form as a browser sends it: its CSRF token and idempotency key."""
    page = page or client.get("/")
    key = re.search(rb'name="idempotency_key" value="([^"]+)"', page.data)
    assert key, page.data[:500]
    body = {"exercise": "perceptron", "csrf_token": csrf(page), "idempotency_key": key.group(1).decode(),
            "file": (io.BytesIO(data), filename), **fields}
    return client.post("/submit", data=body, content_type="multipart/form-data")


def api_post(site, data=PERCEPTRON, headers=None, **fields):
    return site.client().post("/api/v1/submissions", content_type="multipart/form-data",
                              headers={"Authorization": f"Bearer {site.token('alice')}", **(headers or {})},
                              data={"exercise": "perceptron", "file": (io.BytesIO(data), "p.py"), **fields})


def option(page, exercise_id: str) -> str:
    match = re.search(rf'<option value="{re.escape(exercise_id)}"[^>]*>[^<]*</option>', page.get_data(as_text=True))
    assert match, page.data[:3000]
    return match.group()


# ---------------------------------------------------------------- a double click


def test_the_same_form_sent_twice_is_one_submission_even_on_the_last_allowed_one(site):
    set_rules(site, max_submissions=1)
    alice = site.client("alice")
    page = alice.get("/")
    first = form_post(alice, page=page)
    second = form_post(alice, page=page)                # the second click of a double click
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert count(site) == 1
    shown = alice.get(second.headers["Location"]).get_data(as_text=True)
    assert "a moment ago: this is that submission" in shown and "no attempt was used" in shown
    assert "0 of 1 left" in alice.get("/").get_data(as_text=True)   # one attempt used, not two


def test_two_requests_at_once_store_one_submission(any_site):
    """Both requests pass the first look; the lock on the student's row makes the second find
    the first's submission (SQLite: a write lock; PostgreSQL: the row lock)."""
    clients = [any_site.client("alice"), any_site.client("alice")]
    pages = [c.get("/") for c in clients]
    start, answers = threading.Barrier(2), []

    def send(i):
        start.wait()
        answers.append(form_post(clients[i], page=pages[i]))
    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert [a.status_code for a in answers] == [303, 303], [a.data[:300] for a in answers]
    assert len({a.headers["Location"] for a in answers}) == 1
    assert count(any_site) == 1


def test_a_different_file_or_a_later_form_is_a_new_submission(site):
    alice = site.client("alice")
    first = form_post(alice)
    other = form_post(alice, data=PERCEPTRON + b"\n# changed\n")
    assert first.headers["Location"] != other.headers["Location"] and count(site) == 2
    with session_scope(site.config) as s:        # the first one was received 11 s ago: the window is over
        s.execute(Submission.__table__.update().values(received_at=datetime.now(timezone.utc) - timedelta(seconds=11)))
    again = form_post(alice)                     # a form drawn now
    assert again.headers["Location"] not in (first.headers["Location"], other.headers["Location"])
    assert count(site) == 3


def test_the_api_answers_a_repeat_with_the_stored_submission(site):
    first = api_post(site)
    second = api_post(site)
    assert first.status_code == 201 and second.status_code == 200, second.data
    assert second.get_json()["id"] == first.get_json()["id"] and second.get_json()["repeated"] is True
    assert "nothing new was stored" in second.get_json()["message"]
    with session_scope(site.config) as s:        # a minute later: a repeat only for a client that sent a key
        s.execute(Submission.__table__.update().values(received_at=datetime.now(timezone.utc) - timedelta(seconds=60)))
    keyed = api_post(site, headers={"Idempotency-Key": "retry-1"})
    assert keyed.status_code == 200 and keyed.get_json()["id"] == first.get_json()["id"]
    fresh = api_post(site)
    assert fresh.status_code == 201 and fresh.get_json()["id"] != first.get_json()["id"]
    assert count(site) == 2


# ---------------------------------------------------------------- which exercise the form offers


def test_the_form_offers_the_exercise_the_student_came_from_or_none(site):
    alice = site.client("alice")
    home = alice.get("/")
    assert re.search(r'<option value="" selected>Choose an exercise</option>', home.get_data(as_text=True))
    assert "selected" not in option(home, "perceptron")
    assert 'href="/?exercise=backprop#upload"' in home.get_data(as_text=True)      # the row's own link
    came = alice.get("/?exercise=backprop")
    assert "selected" in option(came, "backprop") and "selected" not in option(came, "perceptron")


def test_an_exercise_the_student_cannot_submit_to_is_offered_disabled_with_the_reason(site):
    set_rules(site, due_at=datetime.now(timezone.utc) - timedelta(hours=1), closed_after_due=True)
    set_rules(site, "backprop", max_submissions=1)
    alice = site.client("alice")
    stored = alice.post("/submit", content_type="multipart/form-data", data={
        "exercise": "backprop", "csrf_token": csrf(alice.get("/")), "file": (io.BytesIO(b"def relu(x):\n  return x\n"),
                                                                              "b.py")})
    assert stored.status_code == 303 and "/submissions/" in stored.headers["Location"]
    page = alice.get("/?exercise=perceptron")            # came from a closed one: not offered
    closed, limited = option(page, "perceptron"), option(page, "backprop")
    assert "disabled" in closed and "selected" not in closed and "closed since the due date" in closed
    assert "disabled" in limited and "no submissions left" in limited
    assert re.search(r'<option value="" selected>', page.get_data(as_text=True))


# ---------------------------------------------------------------- refusals


def test_a_refused_upload_redirects_to_the_form_with_a_sentence_and_the_choice_kept(site):
    alice = site.client("alice")
    refused = form_post(alice, data=b"hello", filename="notes.txt", exercise="backprop")
    assert refused.status_code == 303 and refused.headers["Location"] == "/?exercise=backprop#upload"
    page = alice.get(refused.headers["Location"])
    text = page.get_data(as_text=True)
    error = re.search(r'<p class="reason" id="upload-error" role="alert">([^<]*)</p>', text)
    assert error, text[:3000]
    assert error.group(1).startswith("notes.txt was not sent for grading: unsupported file type")
    assert "upload a .ipynb notebook or a .py file" in error.group(1) and "no attempt was used" in error.group(1)
    assert text.index('id="upload-error"') > text.index('id="upload-form"')            # beside the form
    assert "selected" in option(page, "backprop")
    assert b"upload-error" not in alice.get("/").data                     # said once; a reload sends nothing
    big = form_post(alice, data=b"x = 1\n" * (site.config.max_submission_bytes // 6 + 200), filename="big.py")
    shown = alice.get(big.headers["Location"]).get_data(as_text=True)
    assert "big.py was not sent for grading: the file is" in shown and "send a smaller file" in shown
    assert count(site) == 0


def test_no_exercise_chosen_is_refused_with_what_to_do(site):
    alice = site.client("alice")
    refused = form_post(alice, exercise="")
    assert refused.status_code == 303 and refused.headers["Location"] == "/#upload"
    assert b"mine.py was not sent: choose the exercise it is for" in alice.get("/").data
    assert count(site) == 0


# ---------------------------------------------------------------- the wrong exercise


def test_a_file_for_another_exercise_is_refused_first_and_sent_when_confirmed(site):
    set_rules(site, "pytorch-basics", max_submissions=1)
    alice = site.client("alice")
    refused = form_post(alice, exercise="pytorch-basics")
    assert refused.status_code == 303 and refused.headers["Location"] == "/?exercise=pytorch-basics#upload"
    page = alice.get(refused.headers["Location"]).get_data(as_text=True)
    assert "mine.py: this looks like perceptron; did you choose the right exercise?" in page
    assert "no attempt was used" in page and "1 of 1 left" in page
    assert 'name="confirm_exercise" value="pytorch-basics"' in page and "Send it to pytorch-basics anyway" in page
    assert count(site) == 0
    sent = form_post(alice, exercise="pytorch-basics", confirm_exercise="pytorch-basics")
    assert sent.status_code == 303 and "/submissions/" in sent.headers["Location"] and count(site) == 1
    assert 'name="confirm_exercise"' not in alice.get("/").get_data(as_text=True)   # asked once


def test_a_file_with_some_of_the_exercises_names_is_not_questioned(site):
    alice = site.client("alice")
    mixed = b"def SimpleNN():\n    pass\n" + PERCEPTRON              # one of pytorch-basics' names
    assert "/submissions/" in form_post(alice, data=mixed, exercise="pytorch-basics").headers["Location"]
    lone = b"def helper():\n    return 1\n"                           # nobody's names: graded as sent
    assert "/submissions/" in form_post(alice, data=lone, exercise="pytorch-basics").headers["Location"]


def test_the_api_refuses_a_file_for_another_exercise_unless_confirmed(site):
    refused = api_post(site, exercise="pytorch-basics")
    assert refused.status_code == 422 and "this looks like perceptron" in refused.get_json()["message"]
    assert count(site) == 0
    sent = api_post(site, exercise="pytorch-basics", confirm_exercise="true")
    assert sent.status_code == 201 and count(site) == 1
