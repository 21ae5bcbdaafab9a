"""The pipeline, one stage after another: ingest -> sandbox -> harness -> scoring."""
from __future__ import annotations

import time
from pathlib import Path

from .config import Config
from .harness.client import StudentProcess
from .ingest import load_submission
from .manifest import load_exercise
from .results import GradeResult
from .sandbox import Limits, get_backend
from .slicing import select


def grade(exercise_id: str, path: Path, config: Config, backend: str | None = None,
          progress=None) -> GradeResult:
    """Grade one submission file. Raises IngestError / UnknownExercise for bad input."""
    started = time.monotonic()
    exercise = load_exercise(config.exercises_dir, exercise_id)
    submission = load_submission(Path(path), config.max_submission_bytes)
    kept, not_run = select(submission.chunks, exercise.names, exercise.execute)
    sandbox = get_backend(backend or config.backend, config)
    limits = Limits(memory_mb=exercise.memory_mb, cpu_threads=exercise.cpu_threads, gpu=exercise.gpu,
                    cpu_s=int(exercise.suite_timeout_s) + 60, wall_s=int(exercise.suite_timeout_s) + 120)
    process = StudentProcess(sandbox, limits, [[c.cell, c.line, c.source] for c in kept],
                             load_timeout_s=exercise.test_timeout_s)
    process.start()
    # pytest, the suite's data and scoring load while the student's code does
    try:
        data = _grading_data(exercise, config)
    except BaseException:
        process.stop()
        raise
    from .harness.plugin import run_suite
    from .scoring import score
    run = run_suite(exercise, process, progress, data)
    return score(exercise, run, submission.skipped_cells, not_run, sandbox.describe(),
                 time.monotonic() - started)


def _grading_data(exercise, config: Config) -> dict:
    """The grading splits the suite reads, loaded here (labels never enter the sandbox)."""
    if not exercise.datasets:
        return {}
    from .datasets import grading_split
    return {name: grading_split(name, config.data_dir, config.cache_dir) for name in exercise.datasets}
