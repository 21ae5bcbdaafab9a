"""A worker's warm sandboxes (grader/harness/pool.py): each pool child starts one per exercise of
its queues before any submission arrives, grades in them, and kills them when it stops."""
from __future__ import annotations

import signal
from pathlib import Path

from grader.manifest import exercise_ids, load_exercise
from grader.sandbox import procs
from support import EXERCISES, RUNNER_STARTED, TOY_SOLUTION, runner_started, uptime, wait_for

def _runners(worker, backend: str) -> set:
    """The student runners (local: processes; docker: containers) of the worker's pool children."""
    family = procs.descendants(worker.pid)
    if backend == "docker":
        from grader.sandbox.container import LABEL, engine
        return {c.id for c in engine().containers.list(filters={"label": LABEL})
                if (c.labels or {}).get("grader.pid", "").isdigit() and int(c.labels["grader.pid"]) in family}
    found = set()
    for pid in family:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"python") and any(a.endswith(b"student_runner.py") for a in argv):
            found.add(pid)
    return found


def test_a_worker_grades_in_sandboxes_it_started_ahead_and_kills_them_when_it_stops(production, backend):
    cpu_exercises = [e for e in exercise_ids(EXERCISES) if not load_exercise(EXERCISES, e).gpu]
    worker = production.start_worker("--queues", "cpu", GRADER_BACKEND=backend)
    warm = wait_for(lambda: len(r := _runners(worker, backend)) == len(cpu_exercises) and r, 120,
                    f"one warm sandbox per cpu exercise ({len(cpu_exercises)})", every_s=0.5,
                    details=lambda: f"{_runners(worker, backend)}\n{production.logs()}")
    starts = []
    for _ in range(2):
        full = uptime()          # the runners' starts and the submission's are told apart by the clock
        wait_for(lambda: uptime() > full + 0.5, 5, "half a second has passed")
        asked = uptime()
        final = production.wait(production.submit(TOY_SOLUTION + RUNNER_STARTED), timeout_s=180)
        assert final["status"] == "graded" and final["score"] == 6.0, final
        started = runner_started(final["result"]["output"])
        assert started < asked, "the grading's runner started after the submission"
        starts.append(started)
        # the used one is gone, and one is warming in its place
        wait_for(lambda: len(_runners(worker, backend)) == len(cpu_exercises), 120, "the pool is full again",
                 every_s=0.5)
    assert starts[0] != starts[1], "one runner served two submissions"
    seen = _runners(worker, backend) | warm
    worker.send_signal(signal.SIGTERM)           # a warm shutdown: the children end, and their sandboxes
    worker.wait(timeout=60)

    def left():
        if backend == "docker":
            from grader.sandbox.container import LABEL, engine
            return {c.id for c in engine().containers.list(all=True, filters={"label": LABEL})} & seen
        return {pid for pid in seen if Path(f"/proc/{pid}").exists()}
    wait_for(lambda: not left(), 30, "no warm sandbox outlives the worker", details=lambda: str(left()))
