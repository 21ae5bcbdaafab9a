"""The tables, as SQLAlchemy 2.0 typed models. `migrations/` must create exactly this schema
(tests/storage/test_migrations.py compares them).

A submission's status is one of `lifecycle.STATUSES` and moves as `grader.lifecycle` decides; each
grading attempt of it is one GradingRun (history is kept), with one TestOutcome row per test.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (JSON, Boolean, CheckConstraint, DateTime, Float, ForeignKey, Index, Integer,
                        MetaData, String, Text, TypeDecorator, UniqueConstraint, false)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from ..lifecycle import STATUSES as SUBMISSION_STATUSES
from ..results import STATUSES as TEST_STATUSES
from . import names

ROLES = ("student", "ta", "instructor")

# Constraint names are fixed, so migrations can name what they alter on every database.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every database (SQLite keeps none: it is restored here)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the storage keeps aware UTC times only")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def _one_of(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_one_of("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # the name as logins and uniqueness compare it (storage/names.py: NFKC, casefold, look-alikes
    # folded): `alice`, `Alice`, a fullwidth or a Cyrillic-`а` alice are one account
    name_key: Mapped[str] = mapped_column(String(80), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    section: Mapped[str | None] = mapped_column(String(64))
    # the LMS's ids, for the Canvas export (a roster's columns or an LTI launch): None when unknown
    sis_user_id: Mapped[str | None] = mapped_column(String(100))
    canvas_user_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user", cascade="all, delete-orphan",
                                                  passive_deletes=True)

    @validates("name")
    def _keyed(self, _field: str, name: str) -> str:
        self.name_key = names.name_key(name)
        return name

    def __repr__(self) -> str:
        return f"User({self.name!r}, {self.role})"


class ApiToken(Base):
    """An API token: only its sha256 is stored; the plain token is shown once, when issued."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    label: Mapped[str | None] = mapped_column(String(100))              # what its owner calls it
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)     # None: until revoked

    user: Mapped[User] = relationship(back_populates="tokens")


class LoginSession(Base):
    """One logged-in browser: the session cookie names it (its sha256 is kept), so logging out
    ends it and a password change ends every session of the user, whatever the cookie says."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Exercise(Base):
    """An exercise as its manifest says (`sync_exercises`); the id is the manifest's id."""

    __tablename__ = "exercises"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    points: Mapped[float] = mapped_column(Float)               # the main score's maximum
    bonus_points: Mapped[float] = mapped_column(Float, default=0.0)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    penalty_per_day: Mapped[float] = mapped_column(Float, default=0.0)    # fraction of the score
    max_penalty: Mapped[float] = mapped_column(Float, default=0.0)        # fraction of the score
    closed_after_due: Mapped[bool] = mapped_column(Boolean, default=False)
    limits: Mapped[dict] = mapped_column(JSON, default=dict)
    gpu: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())   # graded on the gpu queue
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # the manifest's tests: [{name, description, points, bonus, visibility}] (what pages may show)
    tests: Mapped[list] = mapped_column(JSON, default=list)
    # course rules: at most max_submissions per window_hours (None: no window, the whole course),
    # and cooloff_minutes between two submissions of a student
    max_submissions: Mapped[int | None] = mapped_column(Integer)
    window_hours: Mapped[float | None] = mapped_column(Float)
    cooloff_minutes: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)    # after_published tests show
    show_hidden_points: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # set when an instructor edits the rules in the web app: the manifests' due and [late] no longer
    # overwrite them on sync
    rules_edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # the Canvas assignment (its numeric id) that this exercise's column of the Canvas export fills;
    # set by an instructor, never by a manifest sync. None: the export makes or updates its own
    canvas_assignment_id: Mapped[str | None] = mapped_column(String(32))


class Extension(Base):
    """A later due date for one student and one exercise (the late policy counts from it)."""

    __tablename__ = "extensions"
    __table_args__ = (UniqueConstraint("user_id", "exercise_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    exercise_id: Mapped[str] = mapped_column(ForeignKey("exercises.id", ondelete="CASCADE"))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CourseSettings(Base):
    """The course's own settings, one row (id 1): which submission counts in the gradebook."""

    __tablename__ = "course_settings"
    __table_args__ = (CheckConstraint("gradebook_policy IN ('best', 'latest')", name="gradebook_policy"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gradebook_policy: Mapped[str] = mapped_column(String(16), default="best", server_default="best")


class Submission(Base):
    """One uploaded file for one exercise. The file itself lives in the content-addressed store
    (`<storage_dir>/<sha[:2]>/<sha>`); the row keeps its sha256 and size."""

    __tablename__ = "submissions"
    __table_args__ = (
        CheckConstraint(_one_of("status", SUBMISSION_STATUSES), name="status"),
        # the gradebook: a user's graded submissions per exercise
        Index("ix_submissions_user_exercise_status", "user_id", "exercise_id", "status"),
        # the queue's order (grader/queue_order.py): the submissions on their way
        Index("ix_submissions_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    exercise_id: Mapped[str] = mapped_column(ForeignKey("exercises.id"))
    filename: Mapped[str] = mapped_column(String(255))        # as uploaded: says .ipynb or .py
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)   # lateness counts from here
    # when it was last handed to the queue or taken by a worker (the queue's sweep counts from here)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)   # the current attempt's start
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="received")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str | None] = mapped_column(Text)          # the final word for the student, if any
    # the running attempt's progress, {"index", "total", "name"} (the web's "running test 3 of 12"),
    # and once its quick tests are done their results, "quick" (cleared by a final status)
    progress: Mapped[dict | None] = mapped_column(JSON)
    # the next attempt takes its GPU to itself: the last one ran out of GPU memory beside a neighbour
    gpu_alone: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # its grading is bulk work (a regrade): sent behind students' first gradings, never held per
    # student (grader/queue_order.py)
    bulk: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    user: Mapped[User] = relationship()
    exercise: Mapped[Exercise] = relationship()
    runs: Mapped[list[GradingRun]] = relationship(back_populates="submission", order_by="GradingRun.attempt",
                                                  cascade="all, delete-orphan", passive_deletes=True)


class GradingRun(Base):
    """One grading attempt. `result` is the whole GradeResult.to_dict() (None when the attempt
    ended in a setup problem: `infrastructure`, never a score); `error` is for operators only."""

    __tablename__ = "grading_runs"
    # the unique index leads with submission_id: it serves the gradebook's join too
    __table_args__ = (UniqueConstraint("submission_id", "attempt"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)
    backend: Mapped[str] = mapped_column(String(16))
    device: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_s: Mapped[float] = mapped_column(Float)
    result: Mapped[dict | None] = mapped_column(JSON)
    score: Mapped[float | None] = mapped_column(Float)
    max_score: Mapped[float | None] = mapped_column(Float)
    bonus: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    infrastructure: Mapped[bool] = mapped_column(Boolean, default=False)
    # what it cost, measured by the grader (results.Usage; wall time is duration_s): None when not
    # measured (no result, no GPU, a run from before the columns)
    cpu_s: Mapped[float | None] = mapped_column(Float)
    gpu_s: Mapped[float | None] = mapped_column(Float)
    gpu_peak_mb: Mapped[float | None] = mapped_column(Float)

    submission: Mapped[Submission] = relationship(back_populates="runs")
    tests: Mapped[list[TestOutcome]] = relationship(back_populates="run", order_by="TestOutcome.id",
                                                    cascade="all, delete-orphan", passive_deletes=True)


class TestOutcome(Base):
    """One test of one run, as a row (per-test statistics without reading the JSON)."""

    __tablename__ = "test_outcomes"
    __test__ = False      # not a pytest class
    __table_args__ = (
        UniqueConstraint("run_id", "name"),
        CheckConstraint(_one_of("status", TEST_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("grading_runs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    points: Mapped[float] = mapped_column(Float)
    max_points: Mapped[float] = mapped_column(Float)
    bonus: Mapped[bool] = mapped_column(Boolean, default=False)

    run: Mapped[GradingRun] = relationship(back_populates="tests")


class LtiLink(Base):
    """An LMS link (LTI 1.3) of one user to one exercise, from their last launch: who they are on
    that platform (issuer + sub: a later launch finds the same user) and where their score goes
    (the AGS lineitem and the scopes the platform granted; None when the link has no grade column)."""

    __tablename__ = "lti_links"
    __table_args__ = (
        UniqueConstraint("user_id", "exercise_id", "issuer"),
        Index("ix_lti_links_issuer_sub", "issuer", "sub"),       # a launch finds its user
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    exercise_id: Mapped[str] = mapped_column(ForeignKey("exercises.id", ondelete="CASCADE"))
    issuer: Mapped[str] = mapped_column(String(255))
    client_id: Mapped[str] = mapped_column(String(255))
    deployment_id: Mapped[str] = mapped_column(String(255))
    sub: Mapped[str] = mapped_column(String(255))             # the user's id on the platform
    lineitem: Mapped[str | None] = mapped_column(Text)
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoginFailure(Base):
    """A failed login, one row per key it counts under ("name:<name>", "pair:<ip> <name>",
    "addr:<ip>"; storage/logins.py): in the database, so every web process and host sees the same
    counts."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Regrade(Base):
    """A regrade someone asked for: what it covered (one submission, an exercise, a student's
    work) and when, so its report (storage.analytics.regrade_changes) can be listed and opened
    again later. Names, not foreign keys: the record outlives a deleted user or exercise."""

    __tablename__ = "regrades"
    __table_args__ = (Index("ix_regrades_started_at", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    requested_by: Mapped[str | None] = mapped_column(String(64))      # None: the operator's CLI
    submission_id: Mapped[int | None] = mapped_column(Integer)
    exercise_id: Mapped[str | None] = mapped_column(String(64))
    user_name: Mapped[str | None] = mapped_column(String(64))
    queued: Mapped[int] = mapped_column(Integer)


class Deployment(Base):
    """This deployment's identity, one row (id 1): a random id that `grader db upgrade` writes once.
    It names the deployment's queues on the broker and rides on each grading message, so two
    deployments that share a broker never take each other's work (grader/queue/deployments.py)."""

    __tablename__ = "deployment"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
