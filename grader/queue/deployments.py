"""Deployments that share one broker: each keeps its own work.

A deployment is one database; its id (`storage.deployment`, written by `grader db upgrade`)
names its queues on the broker (`app.queue_name`: `cpu` is `grader-<id>-cpu` there) and rides on
every grading message (the `grader_deployment` header). A worker left running from another
deployment on the same Redis therefore never sees this deployment's messages, which it used to
take and grade against its own database while this one's stayed `queued`. Three guards here:

* `strategy`: a message of another deployment that reaches a worker anyway (a sender told the
  wrong queue) is not graded: the worker's main process sends it on to that deployment's own
  queue, acknowledges it, and says so in its log once per deployment, not per message. A
  message without the header was queued by an older version, and is this deployment's.
* `claim_broker`, at `grader worker`'s start (Redis brokers): a registry on the broker (the hash
  `grader:deployments`: id -> database, host, last seen) says which deployments use it. A
  deployment the registry does not know, starting while another is live (seen within `LIVE_S`),
  is refused (`BrokerShared`, exit 1) unless GRADER_SHARE_BROKER / `--share-broker` says to
  share. A known deployment is never refused, so restarting one cannot be blocked by another
  that joined later; an entry is never removed at shutdown, only forgotten after `FORGET_S`.
* `Presence`: a worker's thread keeps its deployment's entry fresh (every `REFRESH_S`).

Messages queued before this version sit under the old shared names (`cpu`, `gpu`), which no
worker of this version reads (they may be another deployment's): the start says how many wait
there, and the sweep sends this deployment's submissions again under its own names. The embedded
broker (`sqla+sqlite`, a file of the instance) and other transports have no registry.
"""
from __future__ import annotations

import json
import logging
import socket
import threading
from datetime import datetime

from ..config import Config, redact_url
from ..errors import BrokerShared
from .app import BULK_PRIORITY, DEPLOYMENT_HEADER, QUEUES, app_deployment, send_grading

log = logging.getLogger("grader.queue")

REGISTRY_KEY = "grader:deployments"
LIVE_S = 300                # an entry seen this recently is a deployment in use (workers refresh every REFRESH_S)
REFRESH_S = 60
FORGET_S = 30 * 24 * 3600   # an entry not seen for this long is dropped at the next start
LEGACY_QUEUES = QUEUES      # the broker's queue names before there were deployment ids


def redis_broker(config: Config) -> bool:
    return config.broker_url.startswith(("redis://", "rediss://"))


class Registry:
    """The broker's registry of deployments (Redis): {id: {database, host, seen, shared}}."""

    def __init__(self, config: Config):
        import redis
        self.config = config
        self.client = redis.Redis.from_url(config.broker_url, socket_connect_timeout=5, socket_timeout=10)

    def now(self) -> float:
        seconds, micros = self.client.time()       # the broker's clock: the same for every host
        return seconds + micros / 1e6

    def entries(self) -> dict[str, dict]:
        out = {}
        for key, value in self.client.hgetall(REGISTRY_KEY).items():
            try:
                out[key.decode()] = json.loads(value)
            except ValueError:
                continue                           # not ours: ignored
        return out

    def record(self, deployment: str, shared: bool) -> None:
        entry = {"database": redact_url(self.config.database_url), "host": socket.gethostname(),
                 "seen": self.now(), "shared": shared}
        self.client.hset(REGISTRY_KEY, deployment, json.dumps(entry))

    def forget(self, deployments) -> None:
        if deployments:
            self.client.hdel(REGISTRY_KEY, *deployments)

    def waiting_in_legacy_queues(self) -> int:
        return sum(self.client.llen(name) for name in LEGACY_QUEUES)


def claim_broker(config: Config, deployment: str) -> None:
    """Record this deployment on the broker, or raise BrokerShared (see the module's doc). A broker
    that cannot be reached is left to the worker's own reconnecting: `Presence` records it later."""
    if not redis_broker(config):
        return
    import redis
    try:
        registry = Registry(config)
        entries, now = registry.entries(), registry.now()
        mine = entries.get(deployment)
        others = {i: e for i, e in entries.items() if i != deployment and now - e.get("seen", 0) < LIVE_S}
        if others and mine is None and not config.share_broker:
            other_id, other = max(others.items(), key=lambda item: item[1].get("seen", 0))
            raise BrokerShared(
                f"another deployment (id {other_id[:12]}, database {other.get('database')}, a worker on "
                f"{other.get('host')} {now - other.get('seen', now):.0f} s ago) uses the broker at "
                f"GRADER_BROKER_URL={redact_url(config.broker_url)}: give this deployment (database "
                f"{redact_url(config.database_url)}) a broker of its own (another Redis or database number), "
                "or set GRADER_SHARE_BROKER=1 (`grader worker --share-broker`) to share it")
        registry.record(deployment, shared=config.share_broker or bool(mine and mine.get("shared")))
        registry.forget([i for i, e in entries.items() if i != deployment and now - e.get("seen", 0) > FORGET_S])
        for other_id, other in others.items():
            log.warning("this broker is shared with deployment %s (database %s); each has its own queues",
                        other_id[:12], other.get("database"))
        legacy = registry.waiting_in_legacy_queues()
    except redis.RedisError as e:
        log.warning("cannot check which deployments use the broker (%s); this worker records itself later", e)
        return
    if legacy:
        log.warning("%d messages wait in the old shared queues (%s), from a version before deployment ids: "
                    "this worker does not take them (they may be another deployment's); the sweep sends this "
                    "deployment's submissions again", legacy, ", ".join(LEGACY_QUEUES))


class Presence(threading.Thread):
    """Keeps this deployment's registry entry fresh while the worker runs (Redis brokers)."""

    def __init__(self, config: Config, deployment: str, interval_s: float = REFRESH_S):
        super().__init__(name="grader-presence", daemon=True)
        self.config, self.deployment, self.interval_s = config, deployment, interval_s
        self.stopped = threading.Event()

    def run(self) -> None:
        if not redis_broker(self.config):
            return
        registry = None
        while not self.stopped.wait(self.interval_s if registry else 0):
            try:
                registry = registry or Registry(self.config)
                mine = registry.entries().get(self.deployment) or {}
                registry.record(self.deployment, shared=self.config.share_broker or bool(mine.get("shared")))
            except Exception as e:  # noqa: BLE001 - the broker is down: the next round
                log.debug("deployment not recorded on the broker: %s", e)
                self.stopped.wait(self.interval_s)


# ---------------------------------------------------------------- messages of another deployment

def strategy(task, app, consumer, **kwargs):
    """Celery's default strategy (how the worker's main process takes a message of the task), with
    messages of another deployment sent on to that deployment's queue instead of graded."""
    from celery.worker.strategy import default
    handle = default(task, app, consumer, **kwargs)
    ours = app_deployment(app)
    told: set[str] = set()

    def on_message(message, body, ack, reject, callbacks, **more):
        theirs = (message.headers or {}).get(DEPLOYMENT_HEADER)
        if not theirs or theirs == ours:
            return handle(message, body, ack, reject, callbacks, **more)
        queue = _queue_of(message)
        try:
            args = message.decode()[0]
            eta = message.headers.get("eta")
            send_grading(app, args[0], args[1], queue, deployment=theirs,
                         eta=datetime.fromisoformat(eta) if eta else None,
                         bulk=(message.properties or {}).get("priority") == BULK_PRIORITY)
        except Exception as e:  # noqa: BLE001 - the broker refused: back where it was, taken again later
            log.warning("a message of deployment %s could not be sent on to its queue (%s)", theirs[:12], e)
            reject(log, consumer.connection_errors, True)
            return
        ack(log, consumer.connection_errors)
        if theirs not in told:
            told.add(theirs)
            log.error("a message of another deployment (id %s) reached this worker of deployment %s: not graded "
                      "here, sent on to that deployment's own %s queue; a sender or worker of it has this "
                      "deployment's queue names. Said once per deployment.", theirs[:12], ours[:12], queue)
    return on_message


def _queue_of(message) -> str:
    """cpu or gpu: the logical queue a message was delivered on (its routing key ends with it)."""
    routing_key = (message.delivery_info or {}).get("routing_key") or ""
    name = routing_key.rsplit("-", 1)[-1]
    return name if name in QUEUES else "cpu"
