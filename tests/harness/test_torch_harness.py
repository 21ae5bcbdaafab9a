"""The torch path through the real harness: tensors by value, remote construction, handles, device,
threads and the grading splits (the toy torch exercise in tests/fixtures)."""
import pytest

from support import FIXTURES, grader

TOY_ENV = {"GRADER_EXERCISES_DIR": str(FIXTURES / "exercises")}


@pytest.mark.slow
@pytest.mark.datasets
def test_toy_torch_solution_scores_full_marks(backend):
    run = grader("run", "toytorch", str(FIXTURES / "toytorch_solution.py"), "--json", "--backend", backend,
                 env=TOY_ENV)
    assert run.code == 0, run.stderr
    failing = [(t["name"], t["message"]) for t in run.result["tests"] if t["status"] != "passed"]
    assert failing == []
    assert run.result["sandbox"]["device"] in ("cpu",) or run.result["sandbox"]["device"].startswith("cuda")


@pytest.mark.slow
@pytest.mark.datasets
def test_a_model_that_ignores_the_device_and_crashes_loses_only_its_tests(tmp_path):
    source = (FIXTURES / "toytorch_solution.py").read_text()
    source += "\n\ndef train_epoch(model, loader, criterion, optimizer, device):\n    raise RuntimeError('boom')\n"
    path = tmp_path / "broken.py"
    path.write_text(source)
    run = grader("run", "toytorch", str(path), "--json", env=TOY_ENV)
    assert run.code == 0, run.stderr
    training = run.test("test_remote_training")
    assert training["status"] == "error" and "RuntimeError: boom" in training["message"]
    assert run.test("test_tensor_round_trip")["status"] == "passed"


def test_missing_datasets_are_an_operator_error_naming_the_setting(tmp_path):
    run = grader("run", "toytorch", str(FIXTURES / "toytorch_solution.py"), "--json",
                 env={**TOY_ENV, "GRADER_DATA_DIR": str(tmp_path)})
    assert run.code == 1
    assert "t10k-images-idx3-ubyte" in run.stderr and "GRADER_DATA_DIR" in run.stderr
    assert run.stdout == ""
