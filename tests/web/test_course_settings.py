"""Course rules through the web app: refusals with their reasons before and at upload, an
extension honoured, late penalties in the gradebook, instructors alone change settings, and a
hidden test's message never reaches a student, in pages or the API."""
from __future__ import annotations

import io
import re
from datetime import datetime, timedelta, timezone

from grader.storage import course
from grader.storage.exercises import get_exercise, sync_exercises
from grader.storage.submissions import get_submission, latest_run, submissions_in
from grader.storage.users import get_user
from grader.storage.db import session_scope
from support import PERCEPTRON, csrf, perceptron_result


def set_rules(site, exercise="perceptron", **values):
    with session_scope(site.config) as s:
        course.edit_rules(s, get_exercise(s, exercise), **values)


def test_closed_late_and_over_limit_uploads_are_refused_and_an_extension_honoured(site):
    alice = site.client("alice")
    set_rules(site, due_at=datetime.now(timezone.utc) - timedelta(hours=1), closed_after_due=True)
    home = alice.get("/")
    assert b"takes no late submissions" in home.data           # said before uploading
    refused = site.upload(alice)                                 # the form's refusal redirects to it
    assert refused.status_code == 303 and b"takes no late submissions" in alice.get(refused.headers["Location"]).data
    api = site.client().post("/api/v1/submissions", headers={"Authorization": f"Bearer {site.token('alice')}"},
                             content_type="multipart/form-data",
                             data={"exercise": "perceptron", "file": (io.BytesIO(PERCEPTRON), "p.py")})
    assert api.status_code == 403 and "takes no late submissions" in api.get_json()["message"]
    with session_scope(site.config) as s:
        assert submissions_in(s, ["received", "queued"]) == []
        course.set_extension(s, get_user(s, "alice"), get_exercise(s, "perceptron"),
                             datetime.now(timezone.utc) + timedelta(days=2))
    assert b"your extension" in alice.get("/").data
    assert "/submissions/" in site.upload(alice).headers["Location"]            # the extension counts
    bob = site.client("bob")
    refused = site.upload(bob)                                                  # bob has none
    assert refused.status_code == 303 and b"takes no late submissions" in bob.get(refused.headers["Location"]).data
    assert "/submissions/" in site.upload(site.client("tina")).headers["Location"]   # staff are never limited

    set_rules(site, due_at=None, closed_after_due=False, max_submissions=2, window_hours=24, cooloff_minutes=0)
    second = PERCEPTRON + b"\n# the second\n"      # another file: the same one again at once is a repeat
    assert "/submissions/" in site.upload(alice, data=second).headers["Location"]
    over = site.upload(alice, data=PERCEPTRON + b"\n# the third\n")
    assert over.status_code == 303
    assert b"You have used your 2 submissions of the last 24 hours" in alice.get(over.headers["Location"]).data
    assert b"0 of 2 left" in alice.get("/").data

    set_rules(site, max_submissions=None, window_hours=None, cooloff_minutes=30)
    soon = site.upload(alice, data=PERCEPTRON + b"\n# the fourth\n")
    assert soon.status_code == 303
    assert b"Please wait 30 minutes between submissions" in alice.get(soon.headers["Location"]).data


def test_a_late_submission_counts_with_its_penalty_in_the_gradebook(site):
    set_rules(site, due_at=datetime.now(timezone.utc) - timedelta(hours=1), penalty_per_day=0.2, max_penalty=0.5)
    alice = site.client("alice")
    submission_id = int(site.upload(alice).headers["Location"].rsplit("/", 1)[1])
    site.graded(submission_id, perceptron_result(score=10.0))
    assert b"after a 20% late penalty" in alice.get("/").data and b"8 / 20" in alice.get("/").data
    rows = site.client("ines").get("/staff/grades.csv").data.decode().splitlines()
    alice_row = next(r for r in rows if r.startswith("alice,"))
    assert ",8," in alice_row + ",", rows


def test_only_instructors_change_course_settings(site):
    ta, ines = site.client("tina"), site.client("ines")
    assert ta.get("/staff/exercises/perceptron/settings").status_code == 403
    page = ines.get("/staff/exercises/perceptron/settings")
    assert page.status_code == 200 and b"Save rules" in page.data
    assert b'<option value="bob">' in page.data and b'<option value="ines">' not in page.data   # students to pick
    ta_page = ta.get("/staff/gradebook")
    assert ta.post("/staff/exercises/perceptron/settings",
                   data={"csrf_token": csrf(ta_page), "action": "publish"}).status_code == 403
    assert ta.post("/staff/course", data={"csrf_token": csrf(ta_page), "policy": "latest"}).status_code == 403
    saved = ines.post("/staff/exercises/perceptron/settings", data={
        "csrf_token": csrf(page), "action": "rules", "due_at": "2030-01-02T03:04", "penalty_percent_per_day": "10",
        "max_penalty_percent": "50", "max_submissions": "5", "window_hours": "24", "cooloff_minutes": "2"})
    assert saved.status_code == 303
    with session_scope(site.config) as s:
        e = get_exercise(s, "perceptron")
        assert (e.due_at, e.penalty_per_day, e.max_penalty, e.max_submissions, e.window_hours, e.cooloff_minutes) == \
            (datetime(2030, 1, 2, 3, 4, tzinfo=timezone.utc), 0.1, 0.5, 5, 24.0, 2.0)
        assert e.rules_edited_at is not None and e.show_hidden_points is False
        sync_exercises(s, site.config)                 # the manifest no longer overwrites them
        assert get_exercise(s, "perceptron").max_submissions == 5
    bad = ines.post("/staff/exercises/perceptron/settings", data={
        "csrf_token": csrf(page), "action": "rules", "penalty_percent_per_day": "lots"})
    assert bad.status_code == 400 and b"The late penalty per started day: &#39;lots&#39; is not a number" in bad.data
    ext = ines.post("/staff/exercises/perceptron/settings", data={
        "csrf_token": csrf(page), "action": "extension", "student": "bob", "extension_due_at": "2031-01-01T00:00"},
        follow_redirects=True)
    assert b"Extension for bob saved" in ext.data and b"2031-01-01 00:00 UTC" in ext.data
    assert ines.post("/staff/course", data={"csrf_token": csrf(page), "policy": "latest"}).status_code == 303
    assert b'value="latest" selected' in ines.get("/staff/gradebook").data


def test_a_student_never_sees_a_hidden_tests_message(site):
    alice = site.client("alice")
    submission_id = int(site.upload(alice).headers["Location"].rsplit("/", 1)[1])
    site.graded(submission_id, perceptron_result(message="visible words"))
    with session_scope(site.config) as s:      # a hidden test that carries a message in the stored result
        run = latest_run(s, get_submission(s, submission_id))
        result = dict(run.result)
        result["tests"] = [dict(t, message="SECRET-EXPECTED" if t["name"] == "test_hidden_one" else t["message"])
                           for t in result["tests"]]
        run.result = result
    for show_points in (True, False):
        set_rules(site, show_hidden_points=show_points)
        page = alice.get(f"/submissions/{submission_id}").data
        api = site.client().get(f"/api/v1/submissions/{submission_id}",
                                headers={"Authorization": f"Bearer {site.token('alice')}"}).get_data()
        for body in (page, api):
            assert b"SECRET-EXPECTED" not in body and b"visible words" in body
        assert (b"test_hidden_one" in page) == show_points
        assert b"all tests passed" not in page.lower()
    assert b"not shown yet" in page and b"1 of 2 shown tests passed" in page
    assert b"SECRET-EXPECTED" in site.client("ines").get(f"/submissions/{submission_id}").data   # staff see it


def test_a_limit_past_the_calendar_is_refused_and_the_pages_keep_working(site):
    """A window of two billion hours would put the next submission's time outside the calendar
    on every student's page: the form refuses it with the largest it takes."""
    alice, ines = site.client("alice"), site.client("ines")
    assert site.upload(alice).status_code == 303
    page = ines.get("/staff/exercises/perceptron/settings")
    window = b"The window must be more than 0 hours, at most 8,784, or empty for the whole course"
    for field, value, words in (("window_hours", "2000000000", window),
                                ("cooloff_minutes", "1e9", b"Minutes between two submissions must be 0 or more, "
                                                           b"at most 527,040"),
                                ("window_hours", "NaN", window + b", not &#39;NaN&#39;"),
                                ("window_hours", "1e308", window),
                                ("max_submissions", "99999999999", b"at least 1 submission, at most 100,000"),
                                ("max_submissions", "12345678901234567890", b"at least 1 submission")):
        saved = ines.post("/staff/exercises/perceptron/settings", data={
            "csrf_token": csrf(page), "action": "rules", "max_submissions": "1", field: value})
        assert saved.status_code == 400 and words in saved.data, (field, value)
        assert alice.get("/").status_code == 200
    with session_scope(site.config) as s:
        e = get_exercise(s, "perceptron")
        assert (e.max_submissions, e.window_hours, e.cooloff_minutes) == (None, None, 0.0)      # nothing saved


def test_live_progress_shows_a_student_only_the_tests_they_may_see(site):
    """While a grading runs, status.json, the page and the API tell a student which test of how
    many it is at; a hidden test's name and status only where its result would be shown."""
    alice = site.client("alice")
    submission_id = int(site.upload(alice).headers["Location"].rsplit("/", 1)[1])
    token = site.token("alice")

    def running(name: str, status: str):
        with session_scope(site.config) as s:          # as a worker writes it between two tests
            submission = get_submission(s, submission_id)
            submission.status, submission.attempts = "running", 1
            submission.progress = {"kind": "test", "index": 17, "total": 19, "name": name, "status": status}

    running("test_iris_heldout_accuracy", "passed")          # hidden in the perceptron's manifest
    for show_points in (False, True):
        set_rules(site, show_hidden_points=show_points)
        status = alice.get(f"/submissions/{submission_id}/status.json").get_json()
        api = site.client().get(f"/api/v1/submissions/{submission_id}",
                                headers={"Authorization": f"Bearer {token}"}).get_json()
        page = alice.get(f"/submissions/{submission_id}").get_data()
        assert b"running test 17 of 19" in page and b"test_iris_heldout_accuracy" not in page
        for progress in (status["progress"], api["progress"]):
            expected = {"index": 17, "total": 19}
            if show_points:            # hidden tests' status is shown in the result: in progress too
                expected.update(name="test_iris_heldout_accuracy", status="passed")
            assert progress == expected
    set_rules(site, show_hidden_points=False)
    running("test_sigmoid_values", "failed")                 # a visible test: its name and status show
    assert alice.get(f"/submissions/{submission_id}/status.json").get_json()["progress"] == {
        "index": 17, "total": 19, "name": "test_sigmoid_values", "status": "failed"}
    running("test_iris_heldout_accuracy", "passed")
    staff = site.client("tina").get(f"/submissions/{submission_id}/status.json").get_json()["progress"]
    assert staff["name"] == "test_iris_heldout_accuracy" and staff["status"] == "passed"     # staff see all


def test_a_rules_change_that_regrades_graded_work_says_so_and_waits_for_confirmation(site):
    """Moving the due date before work already graded re-penalizes it: the page says how much
    before anything is saved; a change that touches no graded work saves at once."""
    alice, bob, ines = site.client("alice"), site.client("bob"), site.client("ines")
    for student in (alice, bob):
        site.graded(int(site.upload(student).headers["Location"].rsplit("/", 1)[1]), perceptron_result(score=10.0))
    page = ines.get("/staff/exercises/perceptron/settings")
    earlier = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    form = {"csrf_token": csrf(page), "action": "rules", "due_at": earlier, "penalty_percent_per_day": "30",
            "max_penalty_percent": "50", "show_hidden_points": "on"}
    asked = ines.post("/staff/exercises/perceptron/settings", data=form)
    assert asked.status_code == 200 and b"Save these rules?" in asked.data
    assert b"2 graded submissions become late or later: 2 scores change, of 2 students." in asked.data
    with session_scope(site.config) as s:
        assert get_exercise(s, "perceptron").due_at is None                 # nothing saved yet
    confirmed = ines.post("/staff/exercises/perceptron/settings", follow_redirects=True,
                          data=dict(re.findall(rb'<input type="hidden" name="([^"]+)" value="([^"]*)">',
                                               asked.data.split(b'id="confirm-rules"')[1].split(b"</form>")[0])))
    assert b"Rules saved. 2 graded submissions become late" in confirmed.data
    with session_scope(site.config) as s:
        e = get_exercise(s, "perceptron")
        assert e.due_at is not None and e.penalty_per_day == 0.3 and e.show_hidden_points is True
    quiet = ines.post("/staff/exercises/perceptron/settings", follow_redirects=True,
                      data={**form, "cooloff_minutes": "5"})                 # the same penalties: saved at once
    assert b"Rules saved." in quiet.data and b"Save these rules?" not in quiet.data


def test_the_rules_form_refuses_in_its_own_words_and_keeps_what_was_typed(site):
    """Percents, not fractions; "at least 1 submission", not "max_submissions must be above 0";
    and the instructor's other values stay in the form, nothing saved."""
    ines = site.client("ines")
    page = ines.get("/staff/exercises/perceptron/settings")
    for field, value, words in (
            ("penalty_percent_per_day", "150", b"The late penalty per started day must be a percent of the score, "
                                               b"from 0 to 100, or empty for no penalty, not &#39;150&#39;."),
            ("max_penalty_percent", "-5", b"The largest late penalty must be a percent of the score, from 0 to 100"),
            ("max_submissions", "0", b"Submissions allowed must be at least 1 submission"),
            ("max_submissions", "2.5", b"Submissions allowed: &#39;2.5&#39; is not a whole number."),
            ("window_hours", "0", b"The window must be more than 0 hours"),
            ("due_at", "tomorrow", b"Due (UTC): &#39;tomorrow&#39; is not a date and time")):
        sent = {"csrf_token": csrf(page), "action": "rules", "cooloff_minutes": "7", "penalty_percent_per_day": "10",
                "closed_after_due": "on", field: value}
        refused = ines.post("/staff/exercises/perceptron/settings", data=sent)
        assert refused.status_code == 400 and words in refused.data, (field, value, refused.data[-3000:])
        form = refused.data.decode()
        assert 'id="rules-error"' in form and "Nothing was saved" in form
        assert f'name="{field}" value="{value}"' in form and 'name="cooloff_minutes" value="7"' in form
        assert re.search(r'name="closed_after_due"\s+checked', form)
        error = re.search(r'id="rules-error"[^>]*>(.*?)</p>', form).group(1)
        assert "fraction" not in error and "max_submissions" not in error and "penalty_per_day" not in error
    with session_scope(site.config) as s:
        e = get_exercise(s, "perceptron")
        assert (e.cooloff_minutes, e.rules_edited_at) == (0.0, None)         # nothing saved
    assert ines.get("/staff/exercises/perceptron/settings").data.count(b'name="cooloff_minutes" value=""') == 1


def test_an_instructor_maps_an_exercise_to_a_canvas_assignment_and_clears_it(site):
    """The settings page's Canvas field: a number is stored (a manifest sync keeps it) and the Canvas
    download's column names it; anything else is refused with a sentence and changes nothing; empty
    clears it. A TA cannot set it."""
    ines, tina = site.client("ines"), site.client("tina")
    url = "/staff/exercises/perceptron/settings"
    page = ines.get(url)
    assert b'name="canvas_assignment_id"' in page.data and b"Not mapped" in page.data
    saved = ines.post(url, data={"csrf_token": csrf(page), "action": "canvas", "canvas_assignment_id": " 4321 "},
                      follow_redirects=True)
    assert b"The Canvas export fills Canvas assignment 4321." in saved.data
    assert b'value="4321"' in saved.data
    with session_scope(site.config) as s:
        sync_exercises(s, site.config)
        assert get_exercise(s, "perceptron").canvas_assignment_id == "4321"
    header = ines.get("/staff/grades.csv?format=canvas").data.decode().splitlines()[0]
    assert [h for h in header.split(",") if h.startswith("The perceptron")][0].endswith(" (4321)"), header
    for bad in ("abc", "12 34", "https://canvas.example/courses/1/assignments/99", "1" * 33, "<b>9</b>"):
        refused = ines.post(url, data={"csrf_token": csrf(page), "action": "canvas", "canvas_assignment_id": bad},
                            follow_redirects=True)
        assert refused.status_code == 200
        assert ("A Canvas assignment id is the number in the assignment's address (…/assignments/1234), not "
                f"{bad[:40]!r}.".replace("'", "&#39;").replace("<", "&lt;").replace(">", "&gt;")) in \
            refused.get_data(as_text=True), bad
    assert b"<b>9</b>" not in refused.data
    with session_scope(site.config) as s:
        assert get_exercise(s, "perceptron").canvas_assignment_id == "4321"             # nothing changed
    assert tina.post(url, data={"csrf_token": csrf(tina.get("/staff/gradebook")), "action": "canvas",
                                "canvas_assignment_id": "1"}).status_code == 403
    cleared = ines.post(url, data={"csrf_token": csrf(page), "action": "canvas", "canvas_assignment_id": ""},
                        follow_redirects=True)
    assert b"The Canvas export makes its own assignment for this exercise." in cleared.data
    with session_scope(site.config) as s:
        assert get_exercise(s, "perceptron").canvas_assignment_id is None
    assert "The perceptron (perceptron)" in ines.get("/staff/grades.csv?format=canvas").data.decode()
