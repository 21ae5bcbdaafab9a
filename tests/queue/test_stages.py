"""Two-stage feedback with a real worker: the quick tests' results are stored and shown (page and
status.json) while the training test still runs, which waits, in the worker, for a file this test
creates only once it has seen them; then the final result replaces them."""
from __future__ import annotations

from grader.storage.db import session_scope
from grader.storage.users import set_password
from grader.web import create_app
from support import STAGED, TOY_SOLUTION, Service, logged_in, wait_for


def test_the_quick_stage_is_stored_and_shown_before_training_ends(tmp_path):
    release = tmp_path / "release-the-training-test"
    service = Service(tmp_path / "instance", None, None, GRADER_EXERCISES_DIR=str(STAGED),
                      STAGED_RELEASE_FILE=str(release))
    try:
        with session_scope(service.config) as s:
            set_password(s, "alice", "alice-pw")
        alice = logged_in(create_app(service.config, TESTING=True, SESSION_COOKIE_SECURE=False), "alice")
        service.start_worker()
        submission_id = service.submit(TOY_SOLUTION, exercise="staged")
        url = f"/submissions/{submission_id}/status.json"

        def quick_shown():
            status = alice.get(url).get_json()      # `url`: the submission being watched
            assert not status["final"], ("final before the training test was released", status, service.logs())
            return (status.get("progress") or {}).get("quick") and status
        status = wait_for(quick_shown, 180, "the quick stage's results on status.json", every_s=0.2,
                          details=service.logs)
        assert not release.exists() and status["status"] == "running"
        assert [(t["name"], t["status"]) for t in status["progress"]["quick"]] == \
            [("test_add", "passed"), ("test_scale", "passed"), ("test_counter_reset", "passed")]
        assert status["progress"]["training_running"] and status["score"] is None
        assert status["estimate"] is None                     # the exercise has no graded run yet
        page = alice.get(f"/submissions/{submission_id}").get_data(as_text=True)
        assert "Your score is not final" in page and "training tests running" in page
        assert "add(a, b) returns a + b" in page and "Counter.reset() sets the count back to 0" in page
        release.touch()                                       # the training test may finish now
        final = service.wait(submission_id, timeout_s=180)
        assert (final["status"], final["score"], final["bonus"]) == ("graded", 6.0, 1.0)
        assert alice.get(url).get_json()["progress"] is None
        page = alice.get(f"/submissions/{submission_id}").get_data(as_text=True)
        assert "Your score is not final" not in page and "Counter counts calls to step() (the training stage)" in page
        # the next grading of the exercise (held at its training test again) has a usual time to count from
        release.unlink()
        second = service.submit(TOY_SOLUTION.replace("a + b", "b + a"), exercise="staged")
        url = f"/submissions/{second}/status.json"
        status = wait_for(quick_shown, 180, "the second submission's quick stage", every_s=0.2, details=service.logs)
        assert status["estimate"] and ("s left" in status["estimate"] or "longer than usual" in status["estimate"])
        release.touch()
        assert service.wait(second, timeout_s=180)["status"] == "graded"
    finally:
        release.touch()
        service.close()
