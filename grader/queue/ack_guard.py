"""A finished grading's acknowledgement must never stop the worker.

With late acknowledgement, a task that ends just as Redis restarts acknowledges on the channel of
the connection Celery has just closed. kombu then raises AttributeError (the closed transport's
`client` is None) instead of a connection error; `Message.ack_log_error` lets it through, the
event loop dies, and the whole worker stops (seen in CI: the worker shut down mid-grading and its
gradings waited forever). An acknowledgement that cannot be sent costs nothing here: the grading
is already stored, Redis hands the message out again after the visibility timeout, and the
repeat finds nothing to do (`lifecycle.take`). So such a failure is logged and dropped.
"""
from __future__ import annotations

import functools
import logging

log = logging.getLogger("grader.queue")


def _closed(message) -> bool:
    """The message came on a channel or connection that is gone."""
    channel = getattr(message, "channel", None)
    transport = getattr(channel, "connection", None)
    return channel is None or transport is None or getattr(transport, "client", None) is None \
        or bool(getattr(channel, "closed", False))


def _guarded(method):
    @functools.wraps(method)
    def call(self, logger, errors, *args, **kwargs):
        try:
            return method(self, logger, errors, *args, **kwargs)
        except AttributeError as e:
            if not _closed(self):
                raise
            log.warning("message %s not %s: its broker connection is closed (%s); the broker hands "
                        "it out again later and the repeat does nothing", self.delivery_tag,
                        "acknowledged" if method.__name__ == "ack_log_error" else "rejected", e)
    call.grader_guarded = True
    return call


def install() -> None:
    """Guard kombu's acknowledgement and rejection, once per process (the worker's main process
    acknowledges for its pool)."""
    from kombu.message import Message
    for name in ("ack_log_error", "reject_log_error"):
        method = getattr(Message, name)
        if not getattr(method, "grader_guarded", False):
            setattr(Message, name, _guarded(method))
