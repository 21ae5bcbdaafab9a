"""A suite's notes (the `note` fixture) travel beside a test's failure message, never inside it,
in the result and in the CLI's table, where they are labelled as notes."""
from support import EXERCISES, TOY_SOLUTION, grader

TOY_ENV = {"GRADER_EXERCISES_DIR": str(EXERCISES)}
COUNTS_THREE = "\n\nclass Counter:\n    def __init__(self):\n        self.count = -1\n    def step(self):\n" \
               "        self.count += 1\n    def reset(self):\n        self.count = 0\n"


def test_a_failed_test_says_one_thing_and_its_note_is_beside_it(tmp_path):
    path = tmp_path / "sub.py"
    path.write_text(TOY_SOLUTION + COUNTS_THREE)
    run = grader("run", "toy", str(path), "--json", env=TOY_ENV)
    assert run.code == 0, run.stderr
    counter = run.test("test_counter")
    assert counter["status"] == "failed"
    assert counter["message"] == "after 4 steps count is 3, expected 4"
    assert counter["note"] == "Counter found"

    table = grader("run", "toy", str(path), env={**TOY_ENV, "COLUMNS": "200"})
    assert table.code == 0, table.stderr
    [line] = [line for line in table.stdout.splitlines() if "Counter found" in line]
    assert "note: Counter found" in line, table.stdout
    assert "(Counter found)" not in table.stdout
