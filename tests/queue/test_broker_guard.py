"""kombu on a closed broker connection (grader.queue.broker_guard): a late acknowledgement, a
rejection, and putting unacknowledged messages back. The end-to-end case, a worker that meets a
Redis outage with one grading running and one process idle, is in test_queue.py."""
from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from support import ROOT, free_redis_db


def _received_message(broker_url: str):
    """A real message, taken from a real Redis by a consumer, not yet acknowledged."""
    from kombu import Connection, Consumer, Exchange, Queue
    queue = Queue("ack-guard", Exchange("ack-guard"), "ack-guard")
    with Connection(broker_url) as sender:
        sender.Producer().publish({"submission": 1}, exchange=queue.exchange, routing_key="ack-guard",
                                  declare=[queue])
    connection = Connection(broker_url)
    got = []
    Consumer(connection.default_channel, [queue], callbacks=[lambda body, m: got.append(m)],
             no_ack=False).consume()
    connection.drain_events(timeout=10)
    return connection, got[0]


def _forget(message) -> None:
    """After the check: nothing left for kombu to put back when the connection is collected at
    exit (the guard would log it once more, after pytest's summary)."""
    message.channel.qos._delivered.clear()


def _close_under_it(connection, message) -> None:
    """The state Celery leaves a channel in when it drops a connection at a Redis restart while a
    task runs (CI's traceback: `_connparams`, `conninfo.hostname` on None). The race that leads
    there cannot be caused on demand, so the state is set directly: the channel's pools are gone
    and its transport no longer has a client."""
    message.channel._disconnect_pools()
    message.channel.connection.client = None


RESTORE = "message.channel.qos.restore_unacked()"
ACK = "message.ack_log_error(logging.getLogger(), connection.connection_errors + connection.channel_errors)"


@pytest.mark.redis
@pytest.mark.parametrize("call", [ACK, RESTORE], ids=["ack", "restore"])
def test_kombu_raises_attribute_error_there(call):
    """The fault the guard exists for, in a fresh interpreter without it: if kombu ever raises a
    connection error here instead, the guard can go."""
    code = f"""
import logging, sys
sys.path.insert(0, {str(ROOT / 'tests')!r})
from test_broker_guard import _close_under_it, _received_message
connection, message = _received_message(sys.argv[1])
_close_under_it(connection, message)
try:
    {call}
except AttributeError as e:
    print("AttributeError", e)
"""
    with free_redis_db() as broker_url:
        out = subprocess.run([sys.executable, "-c", code, broker_url], capture_output=True, text=True,
                             timeout=60, cwd=ROOT / "tests" / "queue")
    assert "AttributeError" in out.stdout and "hostname" in out.stdout, out.stdout + out.stderr


@pytest.mark.redis
@pytest.mark.parametrize("method", ["ack_log_error", "reject_log_error"])
def test_the_guard_logs_and_drops_it(method, caplog):
    from grader.queue.broker_guard import install
    install()
    install()                                   # twice: still one wrapper
    from kombu.message import Message
    assert not getattr(getattr(Message, method).__wrapped__, "grader_guarded", False)
    with free_redis_db() as broker_url:
        connection, message = _received_message(broker_url)
        _close_under_it(connection, message)
        with caplog.at_level(logging.WARNING, logger="grader.queue"):
            getattr(message, method)(logging.getLogger(), connection.connection_errors + connection.channel_errors)
        _forget(message)
    assert "its broker connection is closed" in caplog.text


@pytest.mark.redis
def test_an_attribute_error_on_an_open_connection_still_raises(monkeypatch):
    """Only a closed connection is forgiven: a bug elsewhere still surfaces."""
    from grader.queue.broker_guard import install
    install()
    with free_redis_db() as broker_url:
        connection, message = _received_message(broker_url)

        def broken(*args, **kwargs):
            raise AttributeError("a bug")
        monkeypatch.setattr(message.channel, "basic_ack", broken)
        with pytest.raises(AttributeError, match="a bug"):
            message.ack_log_error(logging.getLogger(), connection.connection_errors)
        _forget(message)
        connection.close()


@pytest.mark.redis
def test_the_guard_drops_the_restore_and_forgets_the_messages(caplog):
    from grader.queue.broker_guard import install
    install()
    with free_redis_db() as broker_url:
        connection, message = _received_message(broker_url)
        qos = message.channel.qos
        assert len(qos._delivered) == 1
        _close_under_it(connection, message)
        with caplog.at_level(logging.WARNING, logger="grader.queue"):
            qos.restore_unacked()
    assert "1 unacknowledged message(s) not put back" in caplog.text and not qos._delivered
