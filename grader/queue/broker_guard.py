"""A Redis restart must never stop the worker: guards around two kombu faults.

When Redis goes away, Celery collects and closes the consumer's connection; the closed transport's
`client` is then None, and two things kombu still does on that connection's channel raise
AttributeError (`conninfo.hostname` on None) instead of a connection error, which Celery does not
catch, so the whole worker stops with its gradings running (seen in CI and in tests here):

* closing the channel puts its unacknowledged messages back (`QoS.restore_unacked`): a worker
  that had one grading running and another process waiting for work stops at once;
* a grading that finishes afterwards acknowledges (late acknowledgement) on that channel
  (`Message.ack_log_error`, `reject_log_error`).

Neither costs anything here when skipped: the messages stay in Redis's unacknowledged set and
Redis hands them out again after the visibility timeout (gone with a Redis restarted without
persistence: then the sweep sends their submissions again), the grading is already stored, and
a repeat finds nothing to do (`lifecycle.take`). So on a closed connection these are logged and
dropped; an AttributeError anywhere else still raises.
"""
from __future__ import annotations

import functools
import logging

log = logging.getLogger("grader.queue")


def _closed(channel) -> bool:
    """The channel, or the connection it came on, is gone."""
    transport = getattr(channel, "connection", None)
    return channel is None or transport is None or getattr(transport, "client", None) is None \
        or bool(getattr(channel, "closed", False))


def _guarded_message(method):
    @functools.wraps(method)
    def call(self, logger, errors, *args, **kwargs):
        try:
            return method(self, logger, errors, *args, **kwargs)
        except AttributeError as e:
            if not _closed(getattr(self, "channel", None)):
                raise
            log.warning("message %s not %s: its broker connection is closed (%s); the broker hands "
                        "it out again later and the repeat does nothing", self.delivery_tag,
                        "acknowledged" if method.__name__ == "ack_log_error" else "rejected", e)
    call.grader_guarded = True
    return call


def _guarded_restore(method):
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except AttributeError as e:
            if not _closed(getattr(self, "channel", None)):
                raise
            left = len(self._delivered)
            self._delivered.clear()         # one try: they are Redis's to hand out again
            log.warning("%d unacknowledged message(s) not put back: the broker connection is closed (%s); "
                        "Redis hands them out again after the visibility timeout, the sweep sooner", left, e)
            return None
    call.grader_guarded = True
    return call


def install() -> None:
    """Guard kombu's acknowledgement, rejection and restore, once per process (the worker's main
    process acknowledges for its pool)."""
    from kombu.message import Message
    from kombu.transport.redis import QoS
    for owner, name, guard in ((Message, "ack_log_error", _guarded_message),
                               (Message, "reject_log_error", _guarded_message),
                               (QoS, "restore_unacked", _guarded_restore)):
        method = getattr(owner, name)
        if not getattr(method, "grader_guarded", False):
            setattr(owner, name, guard(method))
