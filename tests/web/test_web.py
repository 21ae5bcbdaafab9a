"""The web app through Flask's test client, on a fresh database per test (SQLite, and PostgreSQL
for the storage-heavy cases) with the embedded broker: uploads are stored and queued, nothing is
graded here (tests/web/test_browser.py runs a real worker). Results the pages show are written with
the repository as a worker would."""
from __future__ import annotations

import io
import json
import re
import time

import pytest

from grader import sizes
from grader.config import Config
from grader.results import SkippedCell
from grader.storage.submissions import submissions_in
from grader.storage.db import dispose_engines, session_scope
from grader.web import create_app
from support import PERCEPTRON, ROOT, Site, csrf, grader, perceptron_result, stored_graded, uncolored

# ---------------------------------------------------------------- auth

def test_login_logout_and_wrong_password(site):
    anonymous = site.client()
    assert anonymous.get("/").status_code == 302 and "/login" in anonymous.get("/").headers["Location"]
    page = anonymous.get("/login")
    wrong = anonymous.post("/login", data={"username": "alice", "password": "nope", "csrf_token": csrf(page)})
    assert wrong.status_code == 401 and b"Wrong user name or password" in wrong.data
    alice = site.client("alice")
    home = alice.get("/")
    assert home.status_code == 200 and b"alice" in home.data and b"The perceptron" in home.data
    out = alice.post("/logout", data={"csrf_token": csrf(home)})
    assert out.status_code == 302
    assert alice.get("/").status_code == 302


def test_session_cookie_is_httponly_samesite_and_secure_by_default(tmp_path):
    site = Site(tmp_path)
    app = create_app(site.config)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    client = app.test_client()
    page = client.get("/login")
    cookie = page.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    dispose_engines()


A, B = {"REMOTE_ADDR": "10.0.0.1"}, {"REMOTE_ADDR": "10.0.0.2"}


def try_login(client, name: str, password: str, address: dict, **headers):
    page = client.get("/login", environ_base=address, headers=headers)
    return client.post("/login", data={"username": name, "password": password, "csrf_token": csrf(page)},
                       environ_base=address, headers=headers)


def test_login_is_rate_limited(site):
    """Five wrong passwords for alice from address A (a classmate; "ALICE " is alice) lock out A
    only: alice's right password from B logs her in, A waits before it may try alice again, and
    another web process on the same database sees the same counts."""
    mallory = site.client()
    for name in ("alice", "ALICE ", " Alice", "alice", "aLiCe"):
        assert try_login(mallory, name, "guess", A).status_code == 401
    assert try_login(site.client(), "alice", "alice-pw", B).status_code == 302
    blocked = try_login(mallory, "alice", "alice-pw", A)            # even the right password waits
    assert blocked.status_code == 429, blocked.data
    assert b"Too many failed logins for this user name from your address" in blocked.data
    assert 0 < int(blocked.headers["Retry-After"]) <= site.app.config["LOGIN_WINDOW_S"]
    other = create_app(site.config, TESTING=True, SESSION_COOKIE_SECURE=False).test_client()
    assert try_login(other, "alice", "alice-pw", A).status_code == 429
    assert try_login(other, "bob", "bob-pw", A).status_code == 302          # other names from A: no wait


def test_an_address_with_too_many_failures_is_refused_and_another_is_not(site):
    client = site.client()
    for n in range(site.app.config["LOGIN_ATTEMPTS_PER_ADDRESS"]):       # a different name each time
        assert try_login(client, f"student{n}", "guess", A).status_code == 401
    refused = try_login(client, "bob", "bob-pw", A)
    assert refused.status_code == 429 and b"Too many failed logins from your address" in refused.data
    assert int(refused.headers["Retry-After"]) > 0
    assert try_login(site.client(), "bob", "bob-pw", B).status_code == 302


def test_guessing_one_name_from_many_addresses_is_slowed_but_the_right_password_works(tmp_path):
    """Failures for a name past LOGIN_ATTEMPTS, from any address, delay every further try for it
    by LOGIN_DELAY_S each, at most LOGIN_MAX_DELAY_S; the right password is still accepted."""
    site = Site(tmp_path, LOGIN_ATTEMPTS=2, LOGIN_DELAY_S=0.0)
    guesser = site.client()
    for n in range(12):                                  # 12 addresses, one guess each: none refused
        assert try_login(guesser, "alice", "guess", {"REMOTE_ADDR": f"10.0.1.{n}"}).status_code == 401
    site.app.config.update(LOGIN_DELAY_S=0.25, LOGIN_MAX_DELAY_S=0.6)      # 10 past the limit: 2.5 s uncapped
    for client, password, status in ((site.client(), "alice-pw", 302), (guesser, "guess", 401)):
        started = time.monotonic()
        answer = try_login(client, "alice", password, {"REMOTE_ADDR": "10.0.2.1"})
        took = time.monotonic() - started
        assert answer.status_code == status and 0.6 <= took < 2.0, (password, answer.status_code, took)
    dispose_engines()


def test_behind_a_trusted_proxy_each_student_is_counted_at_their_own_address(tmp_path):
    """Behind a reverse proxy the app sees the proxy's address: with GRADER_TRUSTED_PROXIES=1 it
    reads the client's from X-Forwarded-For, so one student's failures do not refuse another's."""
    proxy = {"REMOTE_ADDR": "127.0.0.1"}
    for trusted, other_student in ((0, 429), (1, 302)):
        site = Site(tmp_path / str(trusted), settings={"trusted_proxies": trusted}, LOGIN_ATTEMPTS_PER_ADDRESS=3)
        client = site.client()
        for name in ("x", "y", "z"):
            assert try_login(client, name, "guess", proxy, **{"X-Forwarded-For": "10.9.0.1"}).status_code == 401
        answer = try_login(site.client(), "bob", "bob-pw", proxy, **{"X-Forwarded-For": "10.9.0.2"})
        assert answer.status_code == other_student, trusted
        dispose_engines()


def test_open_redirect_after_login_is_refused(site):
    client = site.client()
    page = client.get("/login")
    response = client.post("/login", data={"username": "alice", "password": "alice-pw", "csrf_token": csrf(page),
                                           "next": "//evil.example/x"})
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target", ["/\r\nX-Injected: 1", "/\nX-Injected: 1", "/\x1b[2J", "/\\evil.example",
                                    "/\\/evil.example", "/\x7f", "/" + "x" * 5000])
def test_control_characters_and_backslashes_in_next_never_reach_a_header(site, target):
    client = site.client()
    form = client.get("/login", query_string={"next": target})
    assert form.status_code == 200
    assert re.search(rb'name="next" value="/?"', form.data), form.data        # never put in the form either
    response = client.post("/login", data={"username": "alice", "password": "alice-pw", "csrf_token": csrf(form),
                                           "next": target})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "X-Injected" not in response.headers


def test_a_page_asked_for_before_login_is_opened_after_it(site):
    client = site.client()
    asked = client.get("/history?exercise=perceptron")
    assert asked.status_code == 302
    form = client.get(asked.headers["Location"])
    assert b'name="next" value="/history?exercise=perceptron"' in form.data
    done = client.post("/login", data={"username": "alice", "password": "alice-pw", "csrf_token": csrf(form),
                                       "next": "/history?exercise=perceptron"})
    assert done.status_code == 302 and done.headers["Location"] == "/history?exercise=perceptron"


def test_csrf_is_required_on_every_form(site):
    alice = site.client("alice")
    import io
    no_token = alice.post("/submit", data={"exercise": "perceptron", "file": (io.BytesIO(PERCEPTRON), "a.py")},
                          content_type="multipart/form-data")
    assert no_token.status_code == 400 and b"did not come from this site" in no_token.data
    assert alice.post("/logout").status_code == 400
    assert alice.post("/logout", data={"csrf_token": "forged"}).status_code == 400
    assert site.client("ines").post("/staff/regrade", data={"exercise": "perceptron"}).status_code == 400
    with session_scope(site.config) as s:
        assert submissions_in(s, ["received", "queued"]) == []          # nothing was stored
    assert site.upload(alice).status_code == 303                             # with the token: accepted


def test_roles_are_enforced(site):
    alice = site.client("alice")
    for path in ("/staff/gradebook", "/staff/submissions", "/staff/grades.csv", "/staff/analytics/perceptron"):
        assert alice.get(path).status_code == 403, path
        assert site.client("tina").get(path).status_code == 200, path
    assert site.client().get("/staff/gradebook").status_code == 302


def test_a_student_cannot_open_another_students_submission(site):
    alice, bob = site.client("alice"), site.client("bob")
    location = site.upload(alice).headers["Location"]
    submission_id = int(location.rstrip("/").split("/")[-1])
    assert alice.get(location).status_code == 200
    assert bob.get(location).status_code == 404
    assert bob.get(f"/submissions/{submission_id}/status.json").status_code == 404
    assert bob.get("/submissions/99999").status_code == 404
    assert site.client("tina").get(location).status_code == 200          # staff see everyone's


# ---------------------------------------------------------------- uploads

def test_upload_stores_queues_and_shows_the_live_status(any_site):
    alice = any_site.client("alice")
    response = any_site.upload(alice)
    assert response.status_code == 303
    page = alice.get(response.headers["Location"])
    assert b"waiting in the queue" in page.data and b"position 1 in the queue" in page.data
    status = alice.get(response.headers["Location"] + "/status.json").get_json()
    assert status["status"] == "queued" and status["queue_position"] == 1 and status["final"] is False
    assert any_site.config.storage_dir.stat().st_mode & 0o777 == 0o700     # students' files are private


@pytest.mark.parametrize("filename, data, status, words", [
    ("notes.txt", b"print(1)", 422, b"unsupported file type"),
    ("mine.ipynb", b"{ not json", 422, b"notebook"),
    ("empty.py", b"   ", 422, b"the file is empty"),
    ("big.py", b"x = 1\n" * 400_000, 413, b"over the 1 MB limit"),
])
def test_wrong_files_are_refused_with_the_reason_and_nothing_is_stored(site, filename, data, status, words):
    """The API answers with the status; the form redirects back to itself (a reload sends
    nothing again), also far over the limit, which Flask refuses before the form is read."""
    alice = site.client("alice")
    response = site.upload(alice, filename=filename, data=data)
    assert response.status_code == 303, response.data[:300]
    assert words in alice.get(response.headers["Location"]).data
    api = site.client().post("/api/v1/submissions", headers={"Authorization": f"Bearer {site.token('alice')}"},
                             content_type="multipart/form-data",
                             data={"exercise": "perceptron", "file": (io.BytesIO(data), filename)})
    assert api.status_code == status and words.decode() in api.get_json()["message"], api.data[:300]
    with session_scope(site.config) as s:
        assert submissions_in(s, ["received", "queued"]) == []
    assert not any(p.is_file() for p in site.config.storage_dir.rglob("*"))    # no file kept either


def test_a_file_just_over_and_one_far_over_the_limit_read_the_same_limit(site):
    """Just over the limit reaches ingest (under MAX_CONTENT_LENGTH, the limit + 64 KiB), far over
    is refused by Flask before the view (413): both redirect back to the form and say the limit
    as the form does; the API answers 413 with the same limit."""
    limit = sizes.size(site.config.max_submission_bytes)
    assert limit == "1 MB"
    alice = site.client("alice")
    assert f"at most {limit})".encode() in alice.get("/").data
    just_over = b"x = 1\n" * (site.config.max_submission_bytes // 6 + 200)
    assert len(just_over) + 2000 < site.app.config["MAX_CONTENT_LENGTH"]
    near = site.upload(alice, filename="near.py", data=just_over)
    near_page = alice.get(near.headers["Location"])                    # the form's refusal redirects to it
    far = site.upload(alice, filename="far.py", data=just_over * 3)
    assert (near.status_code, far.status_code) == (303, 303)
    far_page = alice.get(far.headers["Location"])
    said = [re.findall(rb"over the ([^<]*?) limit", r.data) for r in (near_page, far_page)]
    assert said == [[limit.encode()], [limit.encode()]], said
    assert b"Nothing was stored" in far_page.data and b"over the" not in alice.get("/").data     # said once
    import io
    api = site.app.test_client().post("/api/v1/submissions", headers={"Authorization": f"Bearer {site.token('alice')}"},
                                      content_type="multipart/form-data",
                                      data={"exercise": "perceptron", "file": (io.BytesIO(just_over * 3), "far.py")})
    assert api.status_code == 413 and limit in api.get_json()["message"]


def test_unknown_exercise_is_refused(site):
    alice = site.client("alice")
    response = site.upload(alice, exercise="nope")
    assert response.status_code == 303 and b"unknown exercise" in alice.get(response.headers["Location"]).data


# ---------------------------------------------------------------- feedback and escaping

NASTY = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_feedback_shows_tests_cells_and_escapes_what_the_student_controls(site):
    alice = site.client("alice")
    response = site.upload(alice, filename="<img src=x onerror=alert(1)>.py")
    submission_id = int(response.headers["Location"].rsplit("/", 1)[1])
    site.graded(submission_id, perceptron_result(message=NASTY, output=NASTY))
    for client, path in ((alice, f"/submissions/{submission_id}"), (alice, "/"), (alice, "/history"),
                         (site.client("ines"), f"/submissions/{submission_id}"),
                         (site.client("ines"), "/staff/submissions"),
                         (site.client("ines"), "/staff/analytics/perceptron")):
        page = client.get(path)
        assert page.status_code == 200, path
        assert b"<script>alert" not in page.data and b"<img src=x" not in page.data, path
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    page = alice.get(f"/submissions/{submission_id}").data
    assert b"&lt;script&gt;" in page
    assert b"3 / 20" in page and b"1 of 3 tests passed" in page
    assert b"cell 4, line 2 was not run: invalid syntax" in page
    assert b"details hidden for this test" in page        # a hidden test's message is never shown
    assert b"all tests passed" not in page.lower()


# ---------------------------------------------------------------- staff

def test_gradebook_and_canvas_export(any_site):
    alice, bob = any_site.client("alice"), any_site.client("bob")
    a = int(any_site.upload(alice).headers["Location"].rsplit("/", 1)[1])
    b = int(any_site.upload(bob).headers["Location"].rsplit("/", 1)[1])
    any_site.graded(a, perceptron_result(score=20.0))
    any_site.graded(b, perceptron_result(score=7.5))
    ines = any_site.client("ines")
    page = ines.get("/staff/gradebook")
    assert page.status_code == 200 and b"alice" in page.data and b"bob" in page.data
    only_a = ines.get("/staff/gradebook?section=A").data
    assert b"alice" in only_a and b">bob<" not in only_a
    canvas = ines.get("/staff/grades.csv?format=canvas")
    assert canvas.status_code == 200 and canvas.mimetype == "text/csv"
    lines = canvas.data.decode().splitlines()
    assert lines[0].startswith("Student,ID,SIS User ID,SIS Login ID,Section")
    column = next(i for i, h in enumerate(lines[0].split(",")) if h.startswith("The perceptron"))
    scores = {line.split(",")[0]: line.split(",")[column] for line in lines[1:] if line.split(",")[0] in ("alice", "bob")}
    assert scores == {"alice": "20", "bob": "7.5"}, lines
    assert ines.get("/staff/gradebook?policy=worst").status_code == 400


def test_staff_regrade_requeues_a_final_submission(site):
    alice = site.client("alice")
    submission_id = int(site.upload(alice).headers["Location"].rsplit("/", 1)[1])
    site.graded(submission_id, perceptron_result())
    ines = site.client("ines")
    page = ines.get(f"/submissions/{submission_id}")
    assert b"Regrade this submission" in page.data and b"For staff" in page.data
    assert b"For staff" not in alice.get(f"/submissions/{submission_id}").data
    done = ines.post("/staff/regrade", data={"submission": submission_id, "csrf_token": csrf(page)})
    assert done.status_code == 303
    assert alice.get(f"/submissions/{submission_id}/status.json").get_json()["status"] == "queued"


# ---------------------------------------------------------------- the JSON API

def test_api_tokens_and_who_sees_what(any_site):
    client = any_site.client()
    assert client.get("/api/v1/exercises").status_code == 401
    bad = client.get("/api/v1/exercises", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.get_json()["message"] and "Bearer" in bad.headers["WWW-Authenticate"]
    alice = {"Authorization": f"Bearer {any_site.token('alice')}"}
    bob = {"Authorization": f"Bearer {any_site.token('bob')}"}
    staff = {"Authorization": f"Bearer {any_site.token('tina')}"}
    exercises = client.get("/api/v1/exercises", headers=alice).get_json()
    assert "perceptron" in {e["id"] for e in exercises}
    import io
    created = client.post("/api/v1/submissions", headers=alice, content_type="multipart/form-data",
                          data={"exercise": "perceptron", "file": (io.BytesIO(PERCEPTRON), "p.py")})
    assert created.status_code == 201, created.data
    body = created.get_json()
    assert body["status"] == "queued" and isinstance(body["id"], int)
    any_site.graded(body["id"], perceptron_result(score=12.0))
    mine = client.get(f"/api/v1/submissions/{body['id']}", headers=alice).get_json()
    assert mine["score"] == 12.0 and mine["max_score"] == 20.0 and mine["result"]["tests"][0]["name"]
    assert client.get(f"/api/v1/submissions/{body['id']}", headers=bob).status_code == 404
    assert client.get(f"/api/v1/submissions/{body['id']}", headers=staff).status_code == 200
    # cookies never authenticate the API, and the API needs no CSRF token
    assert any_site.client("alice").get("/api/v1/exercises").status_code == 401
    wrong = client.post("/api/v1/submissions", headers=alice, content_type="multipart/form-data",
                        data={"exercise": "perceptron", "file": (io.BytesIO(b"{"), "p.ipynb")})
    assert wrong.status_code == 422 and "notebook" in wrong.get_json()["message"]
    assert client.post("/api/v1/submissions", headers=alice, data={}).status_code == 400
    assert client.get("/api/v1/grades", headers=alice).status_code == 403
    grades = client.get("/api/v1/grades?format=canvas", headers=staff)
    assert grades.status_code == 200 and grades.data.startswith(b"Student,ID")
    assert client.get("/api/v1/grades?format=xls", headers=staff).status_code == 400


def test_every_front_door_counts_the_courses_policy_by_default(site):
    """The course counts the latest submission: the gradebook page, its CSV download, the API and
    `grader export grades` all count it when no policy is asked for."""
    ines = site.client("ines")
    saved = ines.post("/staff/course", data={"csrf_token": csrf(ines.get("/staff/gradebook")), "policy": "latest"})
    assert saved.status_code == 303
    for score in (18.0, 6.5):                                    # the later one scores lower
        stored_graded(site.config, "alice", PERCEPTRON, perceptron_result(score=score), exercise="perceptron")
    page = ines.get("/staff/gradebook").data
    assert b'value="latest" selected' in page and b">6.5</a>" in page and b">18</a>" not in page
    download = ines.get("/staff/grades.csv").get_data(as_text=True)
    api = site.client().get("/api/v1/grades", headers={"Authorization": f"Bearer {site.token('tina')}"})
    cli = grader("export", "grades", env={"GRADER_INSTANCE_DIR": str(site.config.instance_dir)})
    assert cli.code == 0, cli.stderr
    alice = next(line for line in download.splitlines() if line.startswith("alice,"))
    header = download.splitlines()[0].split(",")
    assert alice.split(",")[header.index("perceptron")] == "6.5", download
    assert api.status_code == 200 and api.get_data(as_text=True) == download == cli.stdout


def test_openapi_describes_every_api_route(site):
    spec = site.client().get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    routes = {re.sub(r"<id:(\w+)>", "{id}", r.rule) for r in site.app.url_map.iter_rules()
              if r.rule.startswith("/api/")}
    routes = {re.sub(r"<(\w+)>", "{id}", r) for r in routes}
    assert routes == set(spec["paths"]), (routes, set(spec["paths"]))
    json.dumps(spec)


def test_staff_see_the_submitted_notebook_rendered_safely_with_its_problem_cells_marked(site):
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Mine <script>alert(1)</script><img src=x onerror=alert(2)>"),
                nbformat.v4.new_code_cell("def step_function(z):\n    return z"),
                nbformat.v4.new_code_cell("def broken(:")]
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data", data={
        "text/html": "<script>alert(3)</script>", "application/javascript": "alert(4)", "text/plain": "shown"})]
    alice = site.client("alice")
    location = site.upload(alice, filename="mine.ipynb", data=nbformat.writes(nb).encode()).headers["Location"]
    submission_id = int(location.rsplit("/", 1)[1])
    result = perceptron_result()
    result.skipped_cells = [SkippedCell(3, 1, "invalid syntax", "def broken(:")]
    site.graded(submission_id, result)
    ines = site.client("ines")
    page = ines.get(location).data
    notebook = uncolored(page.split(b'<div class="notebook">', 1)[1].split(b"</details>", 1)[0])
    assert "celltag_grader-skipped" in notebook and "def step_function(z):" in notebook and "shown" in notebook
    for bad in ("<script", "onerror", "alert(4)"):
        assert bad not in notebook, bad
    assert page.count(b"<script") == 1                                  # the app's own file only
    assert b"celltag_grader" not in alice.get(location).data          # students get their feedback only
    download = ines.get(f"/staff/submissions/{submission_id}/file")
    assert download.status_code == 200 and download.data == nbformat.writes(nb).encode()
    assert "attachment" in download.headers["Content-Disposition"]
    assert alice.get(f"/staff/submissions/{submission_id}/file").status_code == 403


def test_regrade_an_exercise_shows_progress_and_the_scores_that_changed(site):
    ids = []
    for name, score in (("alice", 10.0), ("bob", 5.0)):
        submission_id = int(site.upload(site.client(name)).headers["Location"].rsplit("/", 1)[1])
        site.graded(submission_id, perceptron_result(score=score))
        ids.append(submission_id)
    ines = site.client("ines")
    page = ines.get("/staff/submissions")
    tina = site.client("tina")
    assert tina.post("/staff/regrade", data={"exercise": "perceptron",
                                             "csrf_token": csrf(tina.get("/staff/submissions"))}).status_code == 403
    started = ines.post("/staff/regrade", data={"exercise": "perceptron", "csrf_token": csrf(page)})
    assert started.status_code == 303 and "/staff/regrade/report" in started.headers["Location"]
    report = ines.get(started.headers["Location"]).data
    assert b"0 of 2 done" in report and b"2 still queued or running" in report
    site.graded(ids[0], perceptron_result(score=12.0))         # the suite changed: alice's score moves
    site.graded(ids[1], perceptron_result(score=5.0))
    report = ines.get(started.headers["Location"]).data
    assert b"2 of 2 done" in report and b"1 score unchanged" in report
    changes = report.split(b'id="changes"', 1)[1]
    assert b"alice" in changes and b"<td>10</td><td><strong>12</strong>" in changes and b"bob" not in changes
    # one student's submissions
    student = ines.post("/staff/regrade", data={"user": "bob", "csrf_token": csrf(page)})
    assert b"0 of 1 done" in ines.get(student.headers["Location"]).data
    # the regrades are listed, newest first, each linked to its report
    listed = tina.get("/staff/regrades").data.decode()
    rows = re.findall(r"<tr><td>.*?</tr>", listed.split('id="regrades"', 1)[1], re.S)
    assert len(rows) == 2 and "every exercise, student bob" in rows[0] and "exercise perceptron, every student" in rows[1]
    assert ">ines<" in rows[0] and "<td>1</td>" in rows[0] and "<td>2</td>" in rows[1]
    again = re.search(r'href="([^"]*/staff/regrade/report[^"]*)"', rows[1]).group(1).replace("&amp;", "&")
    reopened = tina.get(again).data               # bob's submission is queued again by the later regrade
    assert b"1 of 2 done" in reopened and b"<td>10</td><td><strong>12</strong>" in reopened


def test_a_regrade_report_says_which_scores_moved_under_another_environment(site):
    """A threshold test's figures may move with torch's version or the device alone: the report
    says, per changed score, what changed in the environment, and how many were graded so."""
    from dataclasses import replace

    from grader.environment import record
    before = record({"python": "3.11.7", "numpy": "2.1.0", "torch": "2.14.1", "torchvision": "0.29.1"}, "cpu")
    newer = record({"python": "3.11.7", "numpy": "2.1.0", "torch": "2.15.0", "torchvision": "0.29.1"}, "cpu")
    from grader.storage.db import session_scope
    from grader.storage.users import add_user
    with session_scope(site.config) as s:
        add_user(s, "carol", "student", password="carol-pw")
    ids = []
    for name in ("alice", "bob", "carol"):
        submission_id = int(site.upload(site.client(name)).headers["Location"].rsplit("/", 1)[1])
        site.graded(submission_id, replace(perceptron_result(score=10.0),
                                           environment={} if name == "carol" else before))
        ids.append(submission_id)
    ines = site.client("ines")
    started = ines.post("/staff/regrade", data={"exercise": "perceptron", "csrf_token": csrf(ines.get("/staff/submissions"))})
    site.graded(ids[0], replace(perceptron_result(score=12.0), environment=newer))     # moved, torch changed
    site.graded(ids[1], replace(perceptron_result(score=11.0), environment=before))    # moved, same setup
    site.graded(ids[2], replace(perceptron_result(score=9.0), environment=before))     # no record before
    report = ines.get(started.headers["Location"]).data.decode()
    rows = dict(re.findall(r"<td>(alice|bob|carol)</td>.*?<td>([^<]*(?:<span[^>]*>[^<]*</span>)?)</td></tr>",
                           report.split('id="changes"', 1)[1], re.S))
    assert rows == {"alice": "torch 2.14.1 -&gt; 2.15.0", "bob": "the same",
                    "carol": '<span class="muted">not recorded</span>'}
    assert "1 submission graded under another environment than its score before" in report
    unchanged_setup = ines.get(started.headers["Location"].replace("exercise=perceptron", "submission=%d" % ids[1]))
    assert 'id="other-environment"' not in unchanged_setup.data.decode()


def test_the_regrade_form_starts_on_a_choice_it_can_send(site):
    """Its exercise list starts on an exercise (not "every exercise", which needs a student); sent
    without either it says what to choose, and nothing is queued."""
    ines = site.client("ines")
    page = ines.get("/staff/submissions").data.decode()
    form = page.split('action="/staff/regrade"', 1)[1].split("</form>", 1)[0]
    chosen = re.findall(r'<option value="([^"]*)"\s+selected', form)
    assert chosen == ["perceptron"] or (len(chosen) == 1 and chosen[0] != ""), chosen
    assert "(s)" not in page
    nothing = ines.post("/staff/regrade", data={"exercise": "", "user": "", "csrf_token": csrf(ines.get("/staff/submissions"))},
                        follow_redirects=True)
    assert b"Choose an exercise to regrade, or a student" in nothing.data
    assert b"No regrades yet." in ines.get("/staff/regrades").data


def test_regrade_report_reads_a_naive_since_as_utc_and_refuses_a_malformed_one(site):
    ines = site.client("ines")
    for since in ("2000-01-01T00:00:00", "2000-01-01T00:00:00+00:00", "2000-01-01T02:00:00+02:00"):
        page = ines.get("/staff/regrade/report", query_string={"since": since})
        assert page.status_code == 200 and b'Started <time datetime="2000-01-01T00:00:00Z"' in page.data, since
    for since in ("", "yesterday", "2000-13-01T00:00", "9999-12-31T23:59:59-14:00"):
        bad = ines.get("/staff/regrade/report", query_string={"since": since})
        assert bad.status_code == 400, (since, bad.status_code)
        assert b"is not a date and time (YYYY-MM-DDTHH:MM" in bad.data or b"since is missing" in bad.data


LAYERS = r'''
import io, re, sys, tempfile
from pathlib import Path
from grader import sizes
from grader.config import Config
from grader.storage import migrate
from grader.storage.exercises import sync_exercises
from grader.storage.submissions import submissions_in
from grader.storage.users import add_user
from grader.storage.db import session_scope
from grader.web import create_app
config = Config(instance_dir=Path(tempfile.mkdtemp()), secret_key="k" * 32)
migrate.upgrade(config)
with session_scope(config) as s:
    sync_exercises(s, config)
    add_user(s, "ines", "instructor", password="pw")
client = create_app(config, SESSION_COOKIE_SECURE=False).test_client()
csrf = lambda page: re.search(rb'name="csrf_token" value="([^"]+)"', page.data).group(1).decode()
client.post("/login", data={"username": "ines", "password": "pw", "csrf_token": csrf(client.get("/login"))})
sent = client.post("/submit", data={"exercise": "perceptron", "csrf_token": csrf(client.get("/")),
                                    "file": (io.BytesIO(b"def relu(z):\n    return z\n"), "a.py")},
                   content_type="multipart/form-data")
assert sent.status_code == 303, sent.status_code
for path in (sent.headers["Location"], "/staff/gradebook", "/staff/analytics/perceptron", "/api/v1/openapi.json"):
    assert client.get(path).status_code == 200, path
print(" ".join(sorted(m for m in sys.modules if m.split(".")[0] in ("pytest", "_pytest", "torch")
                      or m.startswith(("grader.harness", "grader.sandbox", "grader.grading", "grader.scoring")))))
'''


def test_the_web_never_loads_the_harness_the_sandbox_or_pytest(tmp_path):
    """The layering rule, checked in a fresh interpreter that serves an upload and staff pages."""
    import subprocess
    import sys
    run = subprocess.run([sys.executable, "-c", LAYERS], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={k: v for k, v in __import__("os").environ.items() if not k.startswith("GRADER_")})
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "", run.stdout


def test_a_database_that_is_down_is_a_503_with_a_plain_sentence(tmp_path):
    """A real fault: PostgreSQL URL on a port where nothing listens."""
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = Config(instance_dir=tmp_path, database_url=f"postgresql://nobody@127.0.0.1:{port}/none",
                    secret_key="k" * 32)
    client = create_app(config, TESTING=True, SESSION_COOKIE_SECURE=False).test_client()
    page = client.get("/login")
    assert page.status_code == 200                      # no database needed to show the form
    down = client.post("/login", data={"username": "alice", "password": "x", "csrf_token": csrf(page)})
    assert down.status_code == 503 and b"nothing was changed or stored" in down.data
    assert b"127.0.0.1" not in down.data and b"Traceback" not in down.data        # operators' details stay in the log
    from grader.storage.users import TOKEN_PREFIX
    api = client.get("/api/v1/exercises", headers={"Authorization": f"Bearer {TOKEN_PREFIX}abc"})
    assert api.status_code == 503 and "try again" in api.get_json()["message"]
    dispose_engines()


def test_the_menu_and_titles_lead_each_role_where_they_work(site):
    """Staff reach analytics and (instructors) settings from the menu and switch exercises there;
    a student's menu has their submissions; a submission's tab names its exercise, and its page
    leads its owner to upload again or to the exercise's other submissions."""
    alice, tina, ines = site.client("alice"), site.client("tina"), site.client("ines")
    menu = lambda client: client.get("/").get_data(as_text=True).split("</nav>")[0]     # noqa: E731
    assert "My submissions" in menu(alice) and "Analytics" not in menu(alice) and "Gradebook" not in menu(alice)
    assert "Analytics" in menu(tina) and "Settings" not in menu(tina) and "My submissions" not in menu(tina)
    assert "Analytics" in menu(ines) and "Settings" in menu(ines)
    analytics = ines.get("/staff/analytics/perceptron").get_data(as_text=True)
    switcher = analytics.split('<nav class="switcher"')[1].split("</nav>")[0]
    assert '<strong aria-current="page">The perceptron</strong>' in switcher and "/staff/analytics/backprop" in switcher
    settings = ines.get("/staff/exercises/perceptron/settings").get_data(as_text=True)
    assert "/staff/exercises/numpy-nn/settings" in settings.split('<nav class="switcher"')[1]
    submission_id = int(site.upload(alice).headers["Location"].rsplit("/", 1)[1])
    page = alice.get(f"/submissions/{submission_id}").get_data(as_text=True)
    title = re.search(r"<title>(.*?)</title>", page).group(1)
    assert title.startswith(f"The perceptron: submission {submission_id}")
    assert 'href="/?exercise=perceptron#upload">Upload again</a>' in page and "/history?exercise=perceptron" in page
    assert "Upload again" not in tina.get(f"/submissions/{submission_id}").get_data(as_text=True)   # not hers
    assert '<span class="visually-hidden">Links</span>' in alice.get("/").get_data(as_text=True)    # no empty header
