"""What an upload costs the web process: a hostile 8 MB `x = 1+1+...` (1.6 GB for Python's parser)
or 6 MB of small defs, sent to the API and to the upload form, is answered with the web process's
peak memory barely moved; a student the course's rules refuse is refused before the file is read
at all. Each request runs in a fresh interpreter whose peak RSS is reset to its current RSS just
before it (Linux: /proc/self/clear_refs; VmHWM is the process's own, where ru_maxrss would also
count the pytest process it was started from, and the building of the file); the checker child
is counted apart (RUSAGE_CHILDREN). A resource bound, not a timing."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from support import ROOT

GROWTH_LIMIT_MB = 300

REQUEST = r'''
import io, json, resource, sys
from pathlib import Path
root, folder, door, kind, over_limit = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5] == "1"
sys.path[:0] = [root, root + "/tests"]
from support import PERCEPTRON, Site, csrf
from grader.storage import course
from grader.storage.db import session_scope
from grader.storage.exercises import get_exercise
from grader.storage.submissions import get_submission

if kind == "plus":
    data = b"x = 1" + b"+1" * (4 * 1024 * 1024 - 3) + b"\n"
else:
    data = b"".join(b"def f%d(a, b):\n    return a + b\n" % i for i in range(200_000))
site = Site(folder, settings={"max_submission_mb": 20})
if over_limit:
    with session_scope(site.config) as s:
        course.edit_rules(s, get_exercise(s, "perceptron"), max_submissions=1, window_hours=None)
api = site.client()
headers = {"Authorization": f"Bearer {site.token('alice')}"}
alice = site.client("alice")


def send(payload, name):
    if door == "api":
        return api.post("/api/v1/submissions", headers=headers, content_type="multipart/form-data",
                        data={"exercise": "perceptron", "file": (io.BytesIO(payload), name)})
    return alice.post("/submit", content_type="multipart/form-data",
                      data={"exercise": "perceptron", "csrf_token": csrf(alice.get("/")),
                            "file": (io.BytesIO(payload), name)})




def memory_kb(key):
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith(key + ":")).split()[1])


warm = send(PERCEPTRON, "warm.py")               # imports and first requests paid before measuring
assert warm.status_code in (201, 303), warm.data[:300]
if door == "form":
    alice.get("/")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")                                 # the peak (VmHWM) starts again from the current RSS
before, children = memory_kb("VmRSS"), resource.getrusage(resource.RUSAGE_CHILDREN)
response = send(data, "hostile.py")
after, children_after = memory_kb("VmHWM"), resource.getrusage(resource.RUSAGE_CHILDREN)
answer = {"status": response.status_code, "growth_mb": (after - before) / 1024,
          "children_ran": (children_after.ru_utime + children_after.ru_stime) > (children.ru_utime + children.ru_stime),
          "text": response.get_data(as_text=True)}
if response.status_code == 201:
    submission_id = response.get_json()["id"]
elif response.status_code == 303 and "/submissions/" in response.headers["Location"]:
    submission_id = int(response.headers["Location"].rsplit("/", 1)[1])
elif response.status_code == 303:                # the form's refusal: the reason is on the form it redirects to
    answer["text"] = alice.get(response.headers["Location"]).get_data(as_text=True)
    submission_id = None
else:
    submission_id = None
if submission_id is not None:
    with session_scope(site.config) as s:
        submission = get_submission(s, submission_id)
        answer["stored"] = [submission.status, submission.size]
print(json.dumps(answer))
'''


def request_cost(tmp_path, door: str, kind: str, over_limit: bool = False) -> dict:
    run = subprocess.run([sys.executable, "-c", REQUEST, str(ROOT), str(tmp_path), door, kind, str(int(over_limit))],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("door, kind", [("api", "plus"), ("form", "plus"), ("api", "defs")])
def test_a_hostile_upload_costs_the_web_process_little_and_is_stored(tmp_path, door, kind):
    """Accepted: the check needs no parse for either file (the worker grades it, or fails it with
    the reason)."""
    cost = request_cost(tmp_path, door, kind)
    assert cost["growth_mb"] < GROWTH_LIMIT_MB, cost["growth_mb"]
    assert cost["status"] == (201 if door == "api" else 303), cost["text"][:3000]
    status, size = cost["stored"]
    # stored whole, and held behind alice's warm-up upload, still queued (fair queues: one of a
    # student's gradings in flight at a time)
    assert status == "received" and size > 6_000_000, cost["stored"]


@pytest.mark.parametrize("door", ["api", "form"])
def test_a_student_over_the_limit_is_refused_before_the_file_is_read(tmp_path, door):
    cost = request_cost(tmp_path, door, "plus", over_limit=True)
    assert cost["status"] == (429 if door == "api" else 303), cost["text"][:3000]
    assert "You have used your 1 submission for this exercise." in cost["text"], cost["text"][:3000]
    assert not cost["children_ran"]                     # no checker started
    assert cost["growth_mb"] < GROWTH_LIMIT_MB, cost["growth_mb"]
    assert "stored" not in cost
