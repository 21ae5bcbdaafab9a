"""Fair queues with real components (PostgreSQL, Redis, `grader worker` processes): one student's
burst does not delay others, regrades go behind students' first gradings, held submissions are
never lost by the sweep, and the position shown (web and API) follows the order the queue grades
in. The order is asserted on the stored started_at/finished_at, never on timing guesses."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from grader import service
from grader.queue.outbox import sweep
from grader.storage.db import session_scope
from grader.storage.models import Submission, utcnow
from grader.storage.users import add_user, issue_token
from support import TOY_SOLUTION, csrf, stored_graded, toy_result, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

# about a second of grading each: long enough that an upload lands while one is running
STEADY = TOY_SOLUTION + "\n\nimport time\n\ndef add(a, b):\n    time.sleep(1.0)\n    return a + b\n"


def students(config, *names: str) -> None:
    with session_scope(config) as s:
        for name in names:
            add_user(s, name, password=f"{name}-pw")


def upload(config, user: str, version: int = 0) -> int:
    """A student's upload, as the web and the API make it (`version`: other bytes, so that it is
    not taken for a double click of the one before)."""
    return service.submit_upload(config, user, "toy", "sub.py", (STEADY + f"\n# version {version}\n").encode()).id


def times(config, ids) -> dict[int, tuple]:
    """{id: (status, started_at, finished_at)} as stored."""
    with session_scope(config) as s:
        return {i: (sub.status, sub.started_at, sub.finished_at) for i in ids if (sub := s.get(Submission, i))}


def statuses(config, ids) -> list[str]:
    return [times(config, [i])[i][0] for i in ids]


def one_at_a_time(config, ids) -> None:
    """Each of `ids` started after the one before it finished (upload order, never two at once)."""
    stored = times(config, ids)
    for before, after in zip(ids, ids[1:]):
        assert stored[after][1] >= stored[before][2], (before, after, stored)


def test_a_burst_does_not_delay_another_student(production):
    config = production.config
    students(config, "bea", "otto")
    burst = [upload(config, "bea", i) for i in range(8)]
    other = upload(config, "otto")
    # before any worker: bea's first is queued, the other seven held (received); otto's is queued
    assert statuses(config, burst) == ["queued"] + ["received"] * 7
    assert statuses(config, [other]) == ["queued"]
    production.start_worker(concurrency=2)
    for submission_id in [*burst, other]:
        assert production.wait(submission_id, timeout_s=240)["status"] == "graded"
    stored = times(config, [*burst, other])
    # otto's grading started before bea's second one ended (FIFO would have put it ninth)
    assert stored[other][1] < stored[burst[1]][2], stored
    one_at_a_time(config, burst)
    assert all(len(production.runs(i)) == 1 for i in [*burst, other])


def test_a_regrade_goes_behind_a_students_upload(production):
    config = production.config
    students(config, "otto")
    for i in range(6):       # six graded submissions of six students, to be regraded
        name = f"s{i}"
        students(config, name)
        stored_graded(config, name, (STEADY + f"\n# {i}\n").encode(), toy_result(6.0))
    production.start_worker(concurrency=1)
    regraded = service.regrade(config, exercise_id="toy", requested_by="ines")
    assert len(regraded) == 6
    # one regrade in progress, the other five sent (behind); then a student uploads
    wait_for(lambda: "running" in statuses(config, regraded), 60, "a regrade is running", details=production.logs)
    mine = upload(config, "otto")
    assert production.wait(mine, timeout_s=120)["status"] == "graded"
    for submission_id in regraded:
        assert production.wait(submission_id, timeout_s=240)["status"] == "graded"
    stored = times(config, [*regraded, mine])
    before = [i for i in regraded if stored[i][1] < stored[mine][1]]
    assert len(before) == 1, stored             # only the one in progress when the upload came
    assert all([r.attempt for r in production.runs(i)] == [1, 2] for i in regraded)


def test_the_sweep_never_sends_a_held_submission(production):
    config = replace(production.config, sweep_after_s=2.0)
    students(config, "bea")
    # stored, never sent (crashes between storing and sending): the sweep sends the oldest only
    held = [service.store_submission(config, "bea", "toy", f"c{i}.py", STEADY.encode()) for i in range(4)]
    assert statuses(config, held) == ["received"] * 4
    # every row is older than the sweep's cutoff for received ones (min(10 s, sweep_after_s))
    with session_scope(config) as s:
        newest = max(s.get(Submission, i).received_at for i in held)
    wait_for(lambda: utcnow() - newest > timedelta(seconds=2.5), 10, "the rows are older than the cutoff")
    done = sweep(config)
    assert done["received"] == 1 and statuses(config, held) == ["queued"] + ["received"] * 3
    done = sweep(config)                         # again: one of hers is in flight, nothing more is sent
    assert done["received"] == 0 and statuses(config, held) == ["queued"] + ["received"] * 3
    # a worker whose sweep runs every second while they wait: each graded once, one at a time
    production.start_worker(concurrency=2, GRADER_SWEEP_AFTER_S="8")
    for submission_id in held:
        assert production.wait(submission_id, timeout_s=180)["status"] == "graded"
    one_at_a_time(config, held)
    assert all(len(production.runs(i)) == 1 for i in held)


def test_the_position_shown_follows_the_queues_order(production):
    from grader.web import create_app
    config = replace(production.config, secret_key="k" * 32)
    students(config, "bea", "otto")
    bea = [upload(config, "bea", i) for i in range(3)]
    otto = upload(config, "otto")
    regrade_source = stored_graded(config, "otto", b"def add(a, b):\n    return a + b\n", toy_result(2.0))
    service.regrade(config, submission_id=regrade_source)
    expected = {bea[0]: 1, otto: 2, bea[1]: 3, bea[2]: 4, regrade_source: 5}
    app = create_app(config, TESTING=True, SESSION_COOKIE_SECURE=False)
    with session_scope(config) as s:
        token = issue_token(s, "bea")
    client = app.test_client()
    login = client.post("/login", data={"username": "bea", "password": "bea-pw", "csrf_token": csrf(client.get("/login"))})
    assert login.status_code == 302, login.data
    for submission_id in bea:
        api = app.test_client().get(f"/api/v1/submissions/{submission_id}",
                                    headers={"Authorization": f"Bearer {token}"}).get_json()
        page = client.get(f"/submissions/{submission_id}/status.json").get_json()
        assert api["queue_position"] == page["queue_position"] == expected[submission_id], (submission_id, api)
    staff_view = {i: service.status(config, i)["status"] for i in expected}
    assert staff_view == {bea[0]: "queued", otto: "queued", bea[1]: "received", bea[2]: "received",
                          regrade_source: "queued"}
    from grader.storage.submissions import get_submission, queue_position
    with session_scope(config) as s:
        assert {i: queue_position(s, get_submission(s, i)) for i in expected} == expected
        # the embedded broker has no lanes: the regrade, sent last, still comes after all sent ones
        assert queue_position(s, get_submission(s, regrade_source), lanes=False) == 3
    # as they are graded, the held ones move up: bea's second is next once her first and otto's ran
    production.start_worker(concurrency=1)
    for submission_id in expected:
        assert production.wait(submission_id, timeout_s=180)["status"] == "graded"
    stored = times(config, list(expected))
    assert sorted(expected, key=lambda i: stored[i][1]) == sorted(expected, key=expected.get)
