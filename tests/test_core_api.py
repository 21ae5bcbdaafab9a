"""What the service builds on: grade() on bytes with progress events, errors classified by fault,
validated settings, the GPU memory budget the runner applies."""
import os
import types

import pytest

from grader import errors
from grader.config import Config
from grader.grading import grade
from grader.harness.student_runner import apply_gpu_budget
from grader.results import STATUSES, GradeResult, ProgressEvent
from grader.sandbox.base import Limits, student_environment
from support import FIXTURES, TOY_SOLUTION, grader

TOY_CONFIG = Config(exercises_dir=FIXTURES / "exercises")


def test_grade_takes_bytes_and_a_name_and_reports_progress_events():
    events = []
    result = grade("toy", TOY_SOLUTION.encode(), "upload.py", TOY_CONFIG, progress=events.append)
    assert isinstance(result, GradeResult) and result.score == result.max_score == 6
    assert all(isinstance(e, ProgressEvent) for e in events)
    assert events[0] == ProgressEvent("started", total=4)
    tests = [e for e in events if e.kind == "test"]
    assert [(e.index, e.total) for e in tests] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert [e.name for e in tests] == [t.name for t in result.tests]
    assert all(e.status in STATUSES for e in tests)
    assert events[-1].kind == "finished"


def test_bad_input_setup_and_our_errors_are_classified():
    with pytest.raises(errors.IngestError) as bad:
        grade("toy", b"print('x')", "upload.txt", TOY_CONFIG)
    assert bad.value.exit_code == 2 and bad.value.http_status == 422 and not bad.value.retry
    with pytest.raises(errors.UnknownExercise) as unknown:
        grade("nope", TOY_SOLUTION.encode(), "upload.py", TOY_CONFIG)
    assert isinstance(unknown.value, errors.SubmissionError) and unknown.value.http_status == 404
    with pytest.raises(errors.DatasetError) as setup:
        grade("toytorch", b"x = 1", "upload.py", Config(exercises_dir=FIXTURES / "exercises", data_dir=None))
    assert setup.value.exit_code == 1 and setup.value.retry and setup.value.http_status == 503
    assert issubclass(errors.SandboxUnavailable, errors.SetupError)
    assert issubclass(errors.ManifestError, errors.GraderError) and not errors.ManifestError.retry


@pytest.mark.parametrize("key, value, words", [
    ("GRADER_MAX_SUBMISSION_MB", "abc", "GRADER_MAX_SUBMISSION_MB='abc' is not a number"),
    ("GRADER_MAX_SUBMISSION_MB", "-3", "GRADER_MAX_SUBMISSION_MB=-3 must be"),
    ("GRADER_BACKEND", "podman", "GRADER_BACKEND='podman' is not a sandbox backend"),
    ("GRADER_EXERCISES_DIR", "/no/such/folder", "GRADER_EXERCISES_DIR=/no/such/folder is not a folder"),
    ("GRADER_SANDBOX_PYTHON", "/no/python", "GRADER_SANDBOX_PYTHON=/no/python is not an executable"),
    ("GRADER_SANDBOX_ROOT", "/no/root", "GRADER_SANDBOX_ROOT=/no/root is not a folder"),
    ("GRADER_DOCKER_GPUS", "all; rm -rf", "GRADER_DOCKER_GPUS='all; rm -rf' must be"),
    ("GRADER_TRUSTED_PROXIES", "nginx", "GRADER_TRUSTED_PROXIES='nginx' is not a whole number"),
    ("GRADER_TRUSTED_PROXIES", "-1", "GRADER_TRUSTED_PROXIES=-1 must be the number of proxies"),
])
def test_a_bad_setting_is_named_without_a_traceback(key, value, words):
    with pytest.raises(errors.ConfigError, match=None) as e:
        Config.from_env({key: value})
    assert words in str(e.value)
    run = grader("exercises", env={key: value})
    assert run.code == 1 and words in run.stderr and "Traceback" not in run.stderr and run.stdout == ""


def test_the_one_submission_limit():
    from grader.ingest import DEFAULT_MAX_BYTES
    assert DEFAULT_MAX_BYTES == Config().max_submission_bytes == 20 * 1024 * 1024


def test_gpu_exercises_carry_their_memory_budget_to_the_runner():
    gpu = student_environment(Limits(gpu=True, gpu_memory_mb=6144), "/tmp", "/tmp", "student")
    cpu = student_environment(Limits(gpu=False, gpu_memory_mb=6144), "/tmp", "/tmp", "student")
    assert gpu["GRADER_GPU_MEMORY_MB"] == "6144" and "GRADER_GPU_MEMORY_MB" not in cpu
    from grader.manifest import load_exercise
    from support import ROOT
    for exercise_id in ("pytorch-basics", "pytorch-advanced"):
        exercise = load_exercise(ROOT / "exercises", exercise_id)
        assert exercise.gpu and exercise.gpu_memory_mb == 8192


def test_the_runner_caps_torchs_allocator_on_every_gpu(monkeypatch):
    """No GPU here and in CI: a stand-in for torch.cuda records the calls (a mock, for a device we
    cannot have); on a GPU machine the same function runs against the real torch."""
    calls = []
    cuda = types.SimpleNamespace(
        is_available=lambda: True, device_count=lambda: 2,
        get_device_properties=lambda i: types.SimpleNamespace(total_memory=80 * 1024 ** 3),
        set_per_process_memory_fraction=lambda fraction, device: calls.append((device, fraction)))
    fake_torch = types.SimpleNamespace(cuda=cuda)
    monkeypatch.setenv("GRADER_GPU_MEMORY_MB", str(8 * 1024))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert apply_gpu_budget(fake_torch) == [[0, 0.1], [1, 0.1]] and calls == [(0, 0.1), (1, 0.1)]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")        # a CPU sandbox: torch is not even imported
    assert apply_gpu_budget(fake_torch) == []
    monkeypatch.delenv("GRADER_GPU_MEMORY_MB")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert apply_gpu_budget(fake_torch) == []


def test_the_developers_grader_settings_do_not_reach_the_tests():
    assert not [k for k in os.environ if k.startswith("GRADER_")]


def test_the_trusted_proxies_setting_is_read():
    assert Config.from_env({}).trusted_proxies == 0           # no proxy: REMOTE_ADDR is the client
    assert Config.from_env({"GRADER_TRUSTED_PROXIES": "2"}).trusted_proxies == 2
