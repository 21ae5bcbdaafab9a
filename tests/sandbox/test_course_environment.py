"""The course's environment in the sandbox: its packages import in graded functions, the sandbox's
user can be looked up (torch, getpass), and an interpreter without the packages is a setup problem
(exit 1, the path and the fix), never a zero."""
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from support import FIXTURES, TOY_SOLUTION, grader

FIXTURE_ENV = {"GRADER_EXERCISES_DIR": str(FIXTURES / "exercises")}
SITE_PACKAGES = sysconfig.get_paths()["purelib"]


@pytest.mark.slow
def test_tqdm_sklearn_seaborn_torch_and_the_users_identity_in_graded_functions(backend):
    run = grader("run", "courseenv", str(FIXTURES / "courseenv_solution.py"), "--json", "--backend", backend,
                 env=FIXTURE_ENV)
    assert run.code == 0, run.stderr
    failing = [(t["name"], t["message"]) for t in run.result["tests"] if t["status"] != "passed"]
    assert failing == [] and run.result["score"] == run.result["max_score"] == 5
    assert run.result["load_errors"] == []


def _bare_venv(folder: Path, with_course_packages: bool) -> Path:
    """A real interpreter: a venv without pip; with the packages, through a .pth to ours."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    site = next(folder.glob("lib/python3*/site-packages"))
    if with_course_packages:
        (site / "course.pth").write_text(SITE_PACKAGES + "\n")
    return folder / "bin" / "python"


def _grade_toy_with(python: Path, tmp_path: Path):
    path = tmp_path / "sub.py"
    path.write_text(TOY_SOLUTION)
    return grader("run", "toy", str(path), "--json", "--backend", "local",
                  env={**FIXTURE_ENV, "GRADER_SANDBOX_PYTHON": str(python)})


def test_an_interpreter_without_the_course_packages_is_a_setup_problem(tmp_path):
    python = _bare_venv(tmp_path / "bare", with_course_packages=False)
    run = _grade_toy_with(python, tmp_path)
    assert run.code == 1 and run.stdout == "", run.stderr
    assert "cannot import the course's packages" in run.stderr and str(python) in run.stderr
    assert "numpy (" in run.stderr and "sklearn (" in run.stderr and "student-requirements.txt" in run.stderr


def test_a_venv_in_a_private_home_works_and_unreadable_packages_are_a_setup_problem(tmp_path):
    """As root, the sandbox's throwaway uid cannot enter a mode-700 home; the venv there still works
    (the sandbox shows the venv itself), and packages it cannot read are reported, not scored."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    python = _bare_venv(home / "venv", with_course_packages=True)
    run = _grade_toy_with(python, tmp_path)
    assert run.code == 0, run.stderr
    assert run.result["score"] == run.result["max_score"]

    site = next((home / "venv").glob("lib/python3*/site-packages"))
    (site / "course.pth").unlink()
    private = site / "numpy"
    private.mkdir()
    (private / "__init__.py").write_text("")
    private.chmod(0o700)
    run = _grade_toy_with(python, tmp_path)
    assert run.code == 1 and run.stdout == "", run.stderr
    assert "cannot import the course's packages" in run.stderr
    if os.geteuid() == 0:     # as root the sandbox runs as another uid: the folder is unreadable to it
        assert "numpy (its folder cannot be read)" in run.stderr
