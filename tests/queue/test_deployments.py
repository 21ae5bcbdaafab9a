"""Two deployments (two scratch PostgreSQL databases) on one Redis database number, with real
`grader worker` processes: each grades its own submissions only; a message of the other that
reaches a worker is sent on, not graded, and said once; a worker refuses a broker another
deployment uses unless told to share it, and a restart of a deployment is never refused.

Markers: postgres, redis.
"""
from __future__ import annotations

from dataclasses import replace

import pytest

from grader import service as use_cases
from grader.config import Config
from grader.errors import BrokerShared, ConfigError
from grader.queue import TASK_NAME, get_app
from grader.queue.app import DEPLOYMENT_HEADER, queue_name
from grader.queue.deployments import LIVE_S, REGISTRY_KEY, Registry, claim_broker
from grader.storage.db import session_scope
from grader.storage.deployment import deployment_id
from grader.storage.submissions import get_submission, mark_status
from support import EXERCISES, TOY_SOLUTION, Service, free_redis_db, scratch_database, wait_for

FOREIGN = "another deployment"          # the words of the worker's one log line about such a message


@pytest.fixture
def two(tmp_path):
    """Deployments A and B: their own databases, one Redis database number (their broker)."""
    with scratch_database() as url_a, scratch_database() as url_b, free_redis_db() as broker:
        services = []
        for name, url in (("a", url_a), ("b", url_b)):
            (tmp_path / name).mkdir()
            services.append(Service(tmp_path / name, url, broker, GRADER_SWEEP_AFTER_S="600"))
        try:
            yield services
        finally:
            for s in services:
                s.close()


def redis_of(service: Service):
    import redis
    return redis.Redis.from_url(service.config.broker_url)


def waiting(service: Service, queue: str = "cpu") -> int:
    """Messages waiting in the deployment's own queue on the broker."""
    return redis_of(service).llen(queue_name(deployment_id(service.config), queue))


def queued_without_message(service: Service) -> int:
    """A submission stored and marked queued, its message never sent (the sweep leaves it alone
    for GRADER_SWEEP_AFTER_S)."""
    submission_id = use_cases.store_submission(service.config, "alice", "toy", "sub.py", TOY_SOLUTION.encode())
    with session_scope(service.config) as session:
        mark_status(session, get_submission(session, submission_id), "queued")
    return submission_id


@pytest.mark.postgres
@pytest.mark.redis
def test_the_deployment_id_is_written_once_and_names_the_queues(two):
    a, b = two
    ids = deployment_id(a.config), deployment_id(b.config)
    assert ids[0] != ids[1] and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert a.cli("db", "upgrade").returncode == 0          # upgrading again keeps the id
    from grader.storage import deployment as stored
    stored._ids.clear()
    assert deployment_id(a.config) == ids[0]
    assert queue_name(ids[0], "cpu") == f"grader-{ids[0][:12]}-cpu" != queue_name(ids[1], "cpu")


@pytest.mark.postgres
@pytest.mark.redis
def test_two_deployments_on_one_redis_each_grade_their_own(two):
    a, b = two
    a.start_worker()
    # B's submission waits in B's queue while A's worker runs and grades A's, submitted after it
    theirs = b.submit(TOY_SOLUTION)
    assert waiting(b) == 1
    mine = a.submit(TOY_SOLUTION)
    assert a.wait(mine)["status"] == "graded"
    assert waiting(b) == 1 and b.status(theirs)["status"] == "queued"
    # B's worker refuses a broker that A uses: exit 1, one sentence naming A and the setting
    refused = b.cli("worker", "--concurrency", "1", timeout=120)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    said = [line for line in refused.stderr.splitlines() if line.startswith("grader: ")]
    assert len(said) == 1 and deployment_id(a.config)[:12] in said[0], refused.stderr
    assert "GRADER_SHARE_BROKER=1" in said[0] and "--share-broker" in said[0]
    assert waiting(b) == 1                                  # it took nothing
    # told to share, it starts, and grades B's submission; A's worker never took it
    b.start_worker("--share-broker")
    assert b.wait(theirs)["status"] == "graded" and len(b.runs(theirs)) == 1
    # restarts of either deployment are never refused, B's worker running or A's
    for service in (a, b):
        service.kill(service.workers[-1])
        service.start_worker()
    again = (a.submit(TOY_SOLUTION), b.submit(TOY_SOLUTION))
    assert a.wait(again[0])["status"] == "graded" and b.wait(again[1])["status"] == "graded"
    assert FOREIGN not in a.logs(tail=None) + b.logs(tail=None)


@pytest.mark.postgres
@pytest.mark.redis
def test_a_message_of_another_deployment_is_sent_on_not_graded_and_said_once(two):
    a, b = two
    a.start_worker()
    a_own, b_own = queued_without_message(a), queued_without_message(b)
    assert a_own == b_own                  # the same id in both databases: A must not grade its own
    ids = deployment_id(a.config), deployment_id(b.config)
    app = get_app(b.config)
    for _ in range(3):                     # B's messages, put in A's queue by mistake
        app.send_task(TASK_NAME, args=[b_own, 1], queue=queue_name(ids[0], "cpu"),
                      headers={DEPLOYMENT_HEADER: ids[1]})
    wait_for(lambda: waiting(b) == 3, 60, "A's worker sends the three on to B's queue", details=a.logs)
    assert a.logs(tail=None).count(FOREIGN) == 1, a.logs()
    assert ids[1][:12] in a.logs(tail=None)
    assert a.status(a_own)["status"] == "queued" and a.runs(a_own) == []
    # B's worker grades it, once (the other two messages find nothing to do)
    b.start_worker("--share-broker")
    assert b.wait(b_own)["status"] == "graded" and len(b.runs(b_own)) == 1
    assert a.status(a_own)["status"] == "queued" and a.runs(a_own) == []


@pytest.mark.redis
def test_claim_refuses_a_new_deployment_beside_a_live_one_unless_told(tmp_path):
    with free_redis_db() as broker:
        config = Config(exercises_dir=EXERCISES, instance_dir=tmp_path, broker_url=broker)
        first, second, third = "a" * 32, "b" * 32, "c" * 32
        claim_broker(config, first)                          # alone on the broker
        with pytest.raises(BrokerShared, match="another deployment \\(id aaaaaaaaaaaa") as refused:
            claim_broker(config, second)
        assert "GRADER_SHARE_BROKER=1" in str(refused.value) and "GRADER_BROKER_URL" in str(refused.value)
        claim_broker(replace(config, share_broker=True), second)       # told to share: recorded
        claim_broker(config, first)                          # known: a restart is never refused
        claim_broker(config, second)                         # ... also of the one that joined later
        with pytest.raises(BrokerShared):
            claim_broker(config, third)
        # entries not seen for LIVE_S are deployments gone: they refuse no one
        registry = Registry(config)
        import json
        for name in (first, second):
            entry = json.loads(registry.client.hget(REGISTRY_KEY, name))
            entry["seen"] -= LIVE_S + 1
            registry.client.hset(REGISTRY_KEY, name, json.dumps(entry))
        claim_broker(config, third)
        assert set(registry.entries()) == {first, second, third}


def test_grader_share_broker_is_validated():
    assert Config.from_env({"GRADER_SHARE_BROKER": "1", "GRADER_EXERCISES_DIR": str(EXERCISES)}).share_broker
    assert not Config.from_env({"GRADER_SHARE_BROKER": "false", "GRADER_EXERCISES_DIR": str(EXERCISES)}).share_broker
    with pytest.raises(ConfigError, match="GRADER_SHARE_BROKER='maybe'"):
        Config.from_env({"GRADER_SHARE_BROKER": "maybe", "GRADER_EXERCISES_DIR": str(EXERCISES)})
