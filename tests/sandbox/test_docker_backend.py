"""The docker backend against the real engine: references score full marks, infrastructure faults
are operator errors (never a zero), and no container outlives its run."""
import pytest

from support import FIXTURES, ROOT, exercise_params, grader, require_docker

TOY = str(FIXTURES / "toy_solution.py")
TOY_ENV = {"GRADER_EXERCISES_DIR": str(FIXTURES / "exercises")}


pytestmark = pytest.mark.docker


@pytest.fixture(autouse=True)
def _engine():
    require_docker()


def _our_containers():
    from grader.sandbox.container import LABEL, engine
    return engine().containers.list(all=True, filters={"label": LABEL})


@pytest.mark.parametrize("exercise_id", exercise_params())
def test_reference_scores_full_marks_in_docker(exercise_id):
    run = grader("run", exercise_id, str(ROOT / "reference" / f"{exercise_id}.py"), "--json",
                 "--backend", "docker")
    assert run.code == 0, run.stderr
    failing = [(t["name"], t["status"], t["message"]) for t in run.result["tests"] if t["status"] != "passed"]
    assert failing == []
    assert run.result["sandbox"]["backend"] == "docker"
    assert not _our_containers()


def test_missing_image_is_an_operator_error():
    run = grader("run", "toy", TOY, "--json", "--backend", "docker",
                 env={**TOY_ENV, "GRADER_DOCKER_IMAGE": "grader-sandbox:does-not-exist"})
    assert run.code == 1 and run.stdout == ""
    assert "grader-sandbox:does-not-exist not found" in run.stderr and "grader sandbox build" in run.stderr


def test_unreachable_engine_is_an_operator_error(tmp_path):
    run = grader("run", "toy", TOY, "--json", "--backend", "docker",
                 env={**TOY_ENV, "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"})
    assert run.code == 1 and run.stdout == ""
    assert "Docker engine is not reachable" in run.stderr


def test_stale_image_is_refused(tmp_path):
    """An image whose runner differs from this grader's is refused before any test runs."""
    from grader.config import Config
    from grader.sandbox.container import engine
    client = engine()
    stale = "grader-sandbox:stale-test"
    dockerfile = (f"FROM {Config.from_env().docker_image}\nUSER 0\n"
                  "RUN echo '# changed' >> /opt/grader/wire.py\nUSER 65534:65534\n")
    import io
    client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=stale, pull=False, rm=True)
    try:
        run = grader("run", "toy", TOY, "--json", "--backend", "docker",
                     env={**TOY_ENV, "GRADER_DOCKER_IMAGE": stale})
        assert run.code == 1
        assert "another version of the student runner" in run.stderr
    finally:
        client.images.remove(stale, force=True)


def test_orphans_of_dead_graders_are_reaped():
    from grader.config import Config
    from grader.sandbox.container import LABEL, DockerSandbox, engine
    client = engine()
    image = Config.from_env().docker_image
    import socket
    orphan = client.containers.create(image, ["sleep", "600"], labels={
        LABEL: "1", "grader.host": socket.gethostname(), "grader.pid": "999999999"})
    alive = client.containers.create(image, ["sleep", "600"], labels={
        LABEL: "1", "grader.host": socket.gethostname(), "grader.pid": "1"})
    try:
        DockerSandbox(Config.from_env())
        ids = {c.id for c in _our_containers()}
        assert orphan.id not in ids and alive.id in ids
    finally:
        for c in (orphan, alive):
            try:
                c.remove(force=True)
            except Exception:  # noqa: BLE001 - already removed by the reaper
                pass
