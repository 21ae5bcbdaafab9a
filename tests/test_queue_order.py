"""The queue's order as pure decisions: which received submission may be sent now (one first
grading per student per queue, upload order, bulk work never held) and the position shown."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from grader.queue_order import Waiting, expected_order, lanes, may_send, position, to_send

T0 = datetime(2026, 12, 10, 9, 0, tzinfo=timezone.utc)


def row(id, user, status="received", gpu=False, bulk=False, sent=None) -> Waiting:
    """`sent`: seconds after T0 it was sent (queued_at), for queued and running ones."""
    queued_at = None if sent is None else T0 + timedelta(seconds=sent)
    return Waiting(id, user, gpu, status, bulk, T0 + timedelta(seconds=id), queued_at)


def test_one_first_grading_per_student_and_queue_in_flight():
    burst = [row(1, 7, "queued", sent=1)] + [row(i, 7) for i in range(2, 9)]
    assert not may_send(burst[1], burst)                       # the first one is in flight
    other = row(9, 8)
    assert may_send(other, [*burst, other])                    # another student is not held by it
    assert to_send([*burst, other]) == [9]
    # the first one ended: the next goes, in upload order (not the newest)
    rest = burst[1:]
    assert [may_send(r, rest) for r in rest] == [True] + [False] * 6
    assert to_send(rest) == [2]
    # running holds as queued does; another queue (gpu) and bulk work do not hold
    running = [row(1, 7, "running", sent=1), row(2, 7)]
    assert to_send(running) == []
    assert to_send([row(1, 7, "running", gpu=True, sent=1), row(2, 7)]) == [2]
    assert to_send([row(1, 7, "queued", bulk=True, sent=1), row(2, 7)]) == [2]
    # bulk work is never held, even behind the student's own
    assert may_send(row(3, 7, bulk=True), running)
    assert to_send([*running, row(3, 7, bulk=True)]) == [3]


def test_expected_order_goes_round_by_round():
    # alice (7): one running, three held; bob (8): one queued; carol (9): one queued after bob, one held
    rows = [row(1, 7, "running", sent=1), row(2, 7), row(3, 7), row(4, 7),
            row(5, 8, "queued", sent=5), row(6, 9, "queued", sent=6), row(10, 9)]
    assert expected_order(rows) == [5, 6, 2, 10, 3, 4]
    assert [position(rows, i) for i in (5, 6, 2, 10, 3, 4)] == [1, 2, 3, 4, 5, 6]
    assert position(rows, 1) is None and position(rows, 99) is None          # running; not waiting
    # a later upload of someone with nothing in flight goes before alice's held ones
    later = [*rows, row(11, 12)]
    assert position(later, 11) == 3 and position(later, 2) == 4
    # the other queue counts nothing here
    assert position([*rows, row(20, 13, "queued", gpu=True, sent=0)], 5) == 1


def test_bulk_work_goes_behind_with_lanes_and_in_line_without():
    regrades = [row(i, 50 + i, "queued", bulk=True, sent=i) for i in range(1, 6)]
    running = row(30, 40, "running", bulk=True, sent=0)
    upload = row(31, 7, "queued", sent=31)
    held = row(32, 7)
    rows = [running, *regrades, upload, held]
    assert expected_order(rows) == [31, 32, 1, 2, 3, 4, 5]                   # Redis: behind every first grading
    assert position(rows, 31) == 1 and position(rows, 1) == 3
    # the embedded broker: one FIFO line, the regrades sent before the upload come first
    assert expected_order(rows, with_lanes=False) == [1, 2, 3, 4, 5, 31, 32]
    assert position(rows, 31, with_lanes=False) == 6


def test_lanes_only_on_redis():
    assert lanes("redis://127.0.0.1:6379/0") and lanes("rediss://h/1")
    assert not lanes("sqla+sqlite:////tmp/broker.db") and not lanes("amqp://h//")
