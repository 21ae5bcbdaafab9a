"""Hostile submissions: each attacks one part of the toy exercise; the rest must still score,
the attacked test must get 0 with a clear reason, and the run must finish within its limits.
Each runs cold and warm (GRADER_WARM_POOL=1: the runner started ahead by grader/harness/pool.py)."""
import os
import textwrap

import pytest

from support import FIXTURES

FULL = 6.0   # main score of the toy solution (bonus 1 extra)


@pytest.fixture(params=["cold", "warm"])
def grade_toy(grade_toy, request):
    """The conftest's grade_toy, with the warm pool off or on."""
    if request.param == "cold":
        return grade_toy

    def run(extra: str = "", *, base=None, env: dict | None = None):
        kwargs = {} if base is None else {"base": base}
        return grade_toy(extra, env={"GRADER_WARM_POOL": "1", **(env or {})}, **kwargs)
    run.backend = grade_toy.backend
    return run


def _only_add_lost(run, reason_words, status=None):
    assert run.code == 0, run.stderr
    add = run.test("test_add")
    assert add["points"] == 0
    if status:
        assert add["status"] == status
    for word in reason_words:
        assert word in add["message"], add["message"]
    assert run.result["score"] == FULL - 1, run.result
    assert run.result["bonus"] == 1


def test_clean_solution_scores_full(grade_toy):
    run = grade_toy()
    assert run.code == 0, run.stderr
    assert run.result["score"] == FULL and run.result["max_score"] == FULL
    assert run.result["bonus"] == 1 and run.result["bonus_max"] == 1
    assert {t["status"] for t in run.result["tests"]} == {"passed"}
    assert run.test("test_counter")["note"] == "Counter found"        # the suite's note, shown on a pass
    assert run.test("test_counter")["message"] is None                # beside the message, not in it
    assert run.test("test_add")["message"] is None


def test_sys_exit(grade_toy):
    run = grade_toy("def add(a, b):\n    import sys\n    sys.exit(3)\n")
    _only_add_lost(run, ["exit()", "add"], "error")


def test_os_exit_restarts_for_next_test(grade_toy):
    run = grade_toy("def add(a, b):\n    import os\n    os._exit(7)\n")
    _only_add_lost(run, ["exited", "exit status 7"], "error")


def test_exit_during_import_fails_everything_clearly(grade_toy):
    run = grade_toy("import os\nos._exit(4)\ndef add(a, b):\n    return a + b\n",
                    base="")
    # the statement `os._exit(4)` is top-level code the slicer does not need: it never runs
    assert run.result["score"] == 1.0
    run = grade_toy("import os\ndef add(a, b):\n    return a + b\nSTART = os._exit(4)\n"
                    "def scale(x, k):\n    return x * k * START\n", base="")
    assert run.code == 0
    assert "during import" in run.test("test_scale")["message"]
    assert run.result["score"] == 0


def test_infinite_loop_times_out(grade_toy):
    run = grade_toy("def add(a, b):\n    while True:\n        pass\n")
    _only_add_lost(run, ["timed out after 3 s in add"], "timeout")
    assert run.seconds < 30


def test_fork_bomb(grade_toy):
    run = grade_toy("def add(a, b):\n    import os\n    while True:\n        try:\n            os.fork()\n"
                    "        except OSError:\n            pass\n")
    _only_add_lost(run, ["add"])
    assert run.seconds < 40
    assert not _sandbox_processes(), "processes of the sandbox outlived the run"


def test_daemon_does_not_outlive_the_run(grade_toy):
    run = grade_toy(textwrap.dedent("""
        def add(a, b):
            import os, time
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    time.sleep(600)
                os._exit(0)
            return a + b
    """))
    assert run.result["score"] == FULL
    assert not _sandbox_processes(), "a daemonised process outlived the run"


def test_memory_bomb(grade_toy):
    run = grade_toy("def add(a, b):\n    import numpy as np\n    return np.ones(30 * 1024**3 // 8).sum()\n")
    _only_add_lost(run, ["out of memory"], "error")


def test_output_flood_is_capped(grade_toy):
    run = grade_toy("def add(a, b):\n    import sys\n    for _ in range(1024):\n"
                    "        sys.stdout.write('x' * 1024 * 1024)\n    return a + b\n")
    assert run.code == 0
    assert len(run.stdout) < 200_000, "the JSON report must not carry the flood"
    assert run.result["score"] >= FULL - 1
    assert len(run.result["output"]) <= 4000


def test_what_the_code_prints_is_kept(grade_toy):
    run = grade_toy("def add(a, b):\n    print('printed-by-add')\n    return a + b\n")
    assert run.result["score"] == FULL
    assert "printed-by-add" in run.result["output"]


@pytest.mark.parametrize("port", [6379, 5432])
def test_no_network(grade_toy, port):
    run = grade_toy(f"def add(a, b):\n    import socket\n"
                    f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n    return a + b\n")
    _only_add_lost(run, ["Error", "add raised"], "error")
    message = run.test("test_add")["message"]
    # the host listens on this port: only a sandbox without the host's network gets no answer
    assert "unreachable" in message or "refused" in message, message


def test_monkeypatching_numpy_pytest_and_builtins_does_not_help(grade_toy):
    run = grade_toy(textwrap.dedent("""
        import builtins, numpy as np
        np.allclose = lambda *a, **k: True
        np.testing.assert_allclose = lambda *a, **k: None
        builtins.isinstance = lambda *a: True
        try:
            import _pytest.outcomes, pytest
            pytest.fail = lambda *a, **k: None
            _pytest.outcomes.fail = lambda *a, **k: None
        except ImportError:
            pass
        def scale(x, k):
            return np.allclose   # wrong on purpose
        def add(a, b):
            return np.allclose(a, b)
    """))
    assert run.code == 0
    assert run.test("test_scale")["points"] == 0
    assert run.test("test_add")["points"] == 0
    assert run.result["score"] == FULL - 3


def test_fake_results_and_own_tests_do_not_count(grade_toy, tmp_path):
    run = grade_toy(textwrap.dedent("""
        import json, os
        FAKE = {"exercise": "toy", "score": 100, "max_score": 6, "tests": []}
        for where in ("result.json", "results.json", "/tmp/result.json", os.path.expanduser("~/results.json")):
            try:
                open(where, "w").write(json.dumps(FAKE))
            except OSError:
                pass
        def test_add():
            assert True
        def test_scale():
            assert True
        def add(a, b):
            print(json.dumps(FAKE))
            return a - b
        def scale(x, k):
            return x
    """))
    assert run.code == 0
    assert run.result["score"] == FULL - 3
    assert run.test("test_add")["status"] == "failed"


def test_hidden_source_and_secrets_never_shown(grade_toy):
    secret = "grader-secret-value-9d81"
    suite = FIXTURES / "exercises" / "toy" / "hidden"
    run = grade_toy(textwrap.dedent(f"""
        import os, glob
        def _loot():
            found = [repr(dict(os.environ))]
            for pattern in ("{suite}/*.py", "{suite.parent}/*", "/proc/*/environ", "/proc/*/cmdline"):
                for path in glob.glob(pattern, recursive=True)[:50]:
                    try:
                        found.append(open(path, errors="replace").read())
                    except OSError as e:
                        found.append(str(e))
            return "\\n".join(found)
        def add(a, b):
            loot = _loot()
            print(loot)
            raise RuntimeError(loot[:1500])
        def scale(x, k):
            return _loot()
    """), env={"GRADER_SECRET_KEY": secret, "DATABASE_URL": f"postgresql://u:{secret}@db/x"})
    assert run.code == 0
    shown = run.stdout + run.stderr
    assert secret not in shown
    assert "SECRET-MARKER-7f3a9c" not in shown
    assert "EXPECTED_SCALE_FACTOR" not in shown
    assert run.test("test_add")["status"] == "error"   # its RuntimeError is reported, without secrets
    assert "RuntimeError" in run.test("test_add")["message"]


def test_filling_tmp_stops_at_its_size(grade_toy):
    run = grade_toy(textwrap.dedent("""
        def add(a, b):
            import tempfile
            open("/tmp/grader-planted.txt", "w").write("x")
            for i in range(10_000):
                with tempfile.NamedTemporaryFile(delete=False) as f:
                    f.write(b"x" * 8 * 1024 * 1024)
            return a + b
    """))
    _only_add_lost(run, ["add raised OSError", "No space left"], "error")
    planted = os.path.exists("/tmp/grader-planted.txt")
    if planted:
        os.remove("/tmp/grader-planted.txt")
    # A checkout under /tmp keeps the host's /tmp (covering it would hide the grader's Python):
    # then the report must say so.
    assert not planted or "/tmp is the host's" in run.result["sandbox"]["files"]


def test_the_root_filesystem_is_not_writable(grade_toy):
    run = grade_toy("def add(a, b):\n    open('/usr/planted.txt', 'w').write('x')\n    return a + b\n")
    _only_add_lost(run, ["add raised", "Error"], "error")
    assert not os.path.exists("/usr/planted.txt")


def _sandbox_processes() -> list[int]:
    """Processes of a sandbox: the local backend's throwaway uids (200000 and up; as a normal user,
    our own processes in another PID namespace), the docker backend's `nobody` (65534), and any of
    our containers still present."""
    pids = []
    own_namespace = os.readlink("/proc/self/ns/pid")
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                uid = os.stat(f"/proc/{entry}").st_uid
                namespace = os.readlink(f"/proc/{entry}/ns/pid") if uid == os.getuid() != 0 else own_namespace
            except OSError:
                continue
            if uid >= 200_000 or uid == 65534 or namespace != own_namespace:
                pids.append(int(entry))
    from support import docker_problem
    if docker_problem() is None:
        from grader.sandbox.container import LABEL, engine
        pids += [-1 for _ in engine().containers.list(all=True, filters={"label": LABEL})]
    return pids
