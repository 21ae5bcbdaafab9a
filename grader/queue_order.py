"""The order the queue grades in, as pure decisions on plain values (no database, no broker): which
waiting submission may be sent now, and the position a student is shown.

Why the database orders the work, not the broker: the broker is FIFO and carries only ids; a
student who uploads eight files at once would otherwise take eight workers (or the next eight
places in line) from everyone behind them. So:

* One first grading per student per queue (cpu, gpu) is in flight (queued or running). The rest
  stay `received`, held in upload order, and the next one is sent when the one in flight ends
  (`may_send`, `to_send`: the outbox applies them, the worker's finish step and the sweep call
  the outbox). A later upload of another student is sent at once, so it waits for at most the
  gradings already queued, one per student, never for a burst.
* Bulk work (a regrade, the instructors') is not held per student but goes behind every first
  grading: it is sent in a low-priority lane. Only a broker with priorities has lanes (Redis,
  `lanes`); on the embedded broker (kombu's SQLAlchemy transport, `grader serve`) everything is
  one FIFO line, and the position below says so.
* The position a student sees is computed from that same order (`expected_order`): the gradings
  sent already in the order they were sent, then each student's held ones round by round (a
  student's second one goes when their first ends, after what was queued meanwhile). That is
  the exact order for one worker and gradings of equal length; otherwise the best the database
  knows: a position is never one that the queue's rule makes impossible.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Waiting:
    """A submission on its way (received, queued or running), as the order reads it."""

    id: int
    user_id: int
    gpu: bool                       # its queue: gpu or cpu
    status: str                     # received, queued or running
    bulk: bool                      # a regrade: behind first gradings, never held per student
    received_at: datetime
    queued_at: datetime | None      # when it was last sent (or taken); the broker's order


def lanes(broker_url: str) -> bool:
    """Whether the broker honours message priorities, i.e. bulk work really goes behind (Redis's
    transport keeps one list per priority step and takes the highest first)."""
    return broker_url.startswith(("redis://", "rediss://"))


def _in_flight(row: Waiting) -> bool:
    return row.status in ("queued", "running")


def may_send(candidate: Waiting, same_student: Iterable[Waiting]) -> bool:
    """Whether a received submission may be sent now: bulk work always; a first grading when its
    student has no other first grading queued or running in its queue, nor an older one held."""
    if candidate.bulk:
        return True
    for other in same_student:
        if other.id == candidate.id or other.bulk or other.user_id != candidate.user_id or other.gpu != candidate.gpu:
            continue
        if _in_flight(other) or (other.status == "received" and other.id < candidate.id):
            return False
    return True


def to_send(rows: Iterable[Waiting]) -> list[int]:
    """The received submissions among `rows` (every waiting one of their students) that may be
    sent now, oldest first: each student's oldest held one per queue, when nothing of theirs is in
    flight there, and every received bulk one."""
    rows = list(rows)
    busy = {(r.user_id, r.gpu) for r in rows if not r.bulk and _in_flight(r)}
    chosen, taken = [], set()
    for row in sorted((r for r in rows if r.status == "received"), key=lambda r: r.id):
        key = (row.user_id, row.gpu)
        if row.bulk:
            chosen.append(row.id)
        elif key not in busy and key not in taken:
            taken.add(key)
            chosen.append(row.id)
    return sorted(chosen)


_STAGE = {"running": 0, "queued": 1, "received": 2}


def _sent_order(row: Waiting) -> tuple:
    """Sent ones by when they were sent; received ones (not sent yet) after them, by id."""
    return (row.queued_at is None or row.status == "received", row.queued_at or row.received_at, row.id)


def expected_order(rows: Iterable[Waiting], with_lanes: bool = True) -> list[int]:
    """The ids of the waiting (not running) submissions of ONE queue in the order they are
    expected to start (see the module's doc). Each student's first gradings are ranked (running,
    then queued, then held in upload order); rank k of every student goes before rank k + 1 of
    any, students in the order their earliest one was sent. Bulk work follows all of it (with
    lanes), or takes its place in the one FIFO line as it was sent (without)."""
    rows = list(rows)
    first = [r for r in rows if not r.bulk]
    bulk = [r for r in rows if r.bulk]
    ranked: list[tuple[tuple, int]] = []          # ((rank, student's place, ...), id)
    students: dict[int, list[Waiting]] = {}
    for row in first:
        students.setdefault(row.user_id, []).append(row)
    for own in students.values():
        own.sort(key=lambda r: (_STAGE.get(r.status, 3), *_sent_order(r)))
        place = _sent_order(own[0])
        for rank, row in enumerate(own):
            if row.status != "running":
                ranked.append(((rank, place, row.id), row.id))
    behind = sorted((r for r in bulk if r.status != "running"), key=_sent_order)
    if not with_lanes:                            # one FIFO line: a sent regrade is a student of its own
        ranked += [((0, _sent_order(r), r.id), r.id) for r in behind]
        behind = []
    return [i for _, i in sorted(ranked)] + [r.id for r in behind]


def position(rows: Iterable[Waiting], submission_id: int, with_lanes: bool = True) -> int | None:
    """Where `submission_id` stands among the waiting submissions of its queue (1: next), None
    when it does not wait (running, final, or not among `rows`)."""
    rows = list(rows)
    mine = next((r for r in rows if r.id == submission_id), None)
    if mine is None or mine.status == "running":
        return None
    order = expected_order([r for r in rows if r.gpu == mine.gpu], with_lanes)
    return order.index(submission_id) + 1
