"""What student code can read: an attacker searches the whole readable filesystem for the hidden
suites (by a test's name, also inside git packs), the references and the service's configuration.
Both backends must show it nothing; the same search on the host finds all of it (so it can fail)."""
import json
import sys

import pytest

from support import FIXTURES, ROOT, grader

MARKERS = json.loads((FIXTURES / "exercises" / "probe" / "hidden" / "markers.json").read_text())
SECRET = MARKERS[-1]


@pytest.fixture
def service_config():
    """The service's configuration where a deployment keeps it: the instance folder of the checkout."""
    instance = ROOT / "instance"
    instance.mkdir(exist_ok=True)
    path = instance / "probe-service.env"
    path.write_text(f"GRADER_SECRET_KEY={SECRET}\n")
    yield path
    path.unlink()


def test_the_search_finds_everything_on_the_host(service_config):
    sys.path.insert(0, str(FIXTURES))
    try:
        from probe_solution import probe
    finally:
        sys.path.remove(str(FIXTURES))
    found = {what for _, what in probe(MARKERS, roots=[str(ROOT)])}
    assert set(MARKERS) <= found, f"the search itself is broken: it found only {found}"
    assert "name" in found


@pytest.mark.slow
@pytest.mark.parametrize("warm_pool", ["0", "1"], ids=["cold", "warm"])
def test_the_sandbox_shows_no_grader_file(backend, service_config, warm_pool):
    run = grader("run", "probe", str(FIXTURES / "probe_solution.py"), "--json", "--backend", backend,
                 env={"GRADER_EXERCISES_DIR": str(FIXTURES / "exercises"), "GRADER_SECRET_KEY": SECRET,
                      "GRADER_WARM_POOL": warm_pool},
                 timeout=400)
    assert run.code == 0, run.stderr
    test = run.test("test_nothing_found")
    assert test["status"] == "passed", test["message"]
