"""The exports and the LMS passback ask the database the same few questions however many
students and exercises there are (no query per row). Counted with SQLAlchemy's own events on the
real database."""
from __future__ import annotations

import shutil
from contextlib import contextmanager

from sqlalchemy import event

from grader import export
from grader.config import Config
from grader.storage import migrate
from grader.storage.db import dispose_engines, get_engine, session_scope
from grader.storage.exercises import sync_exercises
from grader.storage.gradebook import counting
from grader.storage.users import add_user, get_user
from support import EXERCISES, stored_graded, toy_result


@contextmanager
def statements(config: Config):
    seen = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)
    engine = get_engine(config)
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _course(tmp_path, students: int, exercises: int) -> Config:
    folder = tmp_path / f"exercises-{students}-{exercises}"
    for k in range(exercises):
        target = folder / ("toy" if k == 0 else f"toy{k}")
        shutil.copytree(EXERCISES / "toy", target)
        manifest = target / "exercise.toml"
        manifest.write_text(manifest.read_text().replace('id = "toy"', f'id = "{target.name}"'))
    config = Config(exercises_dir=folder, instance_dir=tmp_path / f"instance-{students}-{exercises}")
    migrate.upgrade(config)
    with session_scope(config) as session:
        sync_exercises(session, config)
        for n in range(students):
            add_user(session, f"s{n}", email=f"s{n}@uni.example", section="A")
    for n in range(students):
        stored_graded(config, f"s{n}", f"x = {n}".encode(), toy_result(3.0 + n % 4))
    return config


def test_exports_and_the_passback_do_not_query_per_student_or_exercise(tmp_path):
    counts = {}
    for students, exercises in ((2, 1), (12, 5)):
        config = _course(tmp_path, students, exercises)
        for fmt in ("csv", "canvas"):
            with statements(config) as seen:
                built = export.build(config, fmt)
            assert built.students == students and built.exercises == exercises
            counts[(fmt, students)] = len(seen)
        with session_scope(config) as session:
            user_id = get_user(session, "s1").id
        with statements(config) as seen, session_scope(config) as session:
            assert counting(session, user_id, "toy").score == 4.0
        counts[("passback", students)] = len(seen)
        dispose_engines()
    for what in ("csv", "canvas", "passback"):
        assert counts[(what, 2)] == counts[(what, 12)], counts
