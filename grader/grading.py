"""The pipeline, one stage after another: ingest -> sandbox -> harness -> scoring.

`grade()` is what the CLI, the Gradescope bundle and the service's worker call: the submission's
bytes and file name in, the one `GradeResult` out, with `ProgressEvent`s on the way. Errors are
those of `grader.errors`: SubmissionError (bad input), SetupError (retry, never a score),
GraderError (ours).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from .config import Config
from .gpus import GpuSlot
from .harness.client import StudentProcess
from .ingest import load_submission_bytes
from .manifest import load_exercise
from .results import GradeResult, ProgressEvent, where_missing
from .sandbox import Limits, Sandbox, SandboxUnavailable, get_backend
from .slicing import select

Progress = Callable[[ProgressEvent], None]


def limits_for(exercise, gpu: GpuSlot | None = None) -> Limits:
    """The sandbox's limits for a grading of `exercise` (on GPU slot `gpu`, if leased)."""
    on_slot = gpu is not None and exercise.gpu
    budgets = [mb for mb in (exercise.gpu_memory_mb, gpu.memory_mb if on_slot else None) if mb]
    return Limits(memory_mb=exercise.memory_mb, cpu_threads=exercise.cpu_threads, gpu=exercise.gpu,
                  gpu_memory_mb=min(budgets, default=0), gpu_device=gpu.device if on_slot else None,
                  cpu_s=exercise.sandbox_cpu_s, wall_s=exercise.sandbox_wall_s)


def preload_for(exercise) -> tuple[str, ...]:
    """What a warm sandbox imports before any code arrives: numpy, and for the torch (GPU)
    exercises torch and torchvision (CUDA is started too when the sandbox shows a GPU)."""
    return ("numpy", "torch", "torchvision") if exercise.gpu else ("numpy",)


def warm_pool(config: Config, sandbox: Sandbox, pool=None):
    """The pool a grading takes from: the caller's, else this process's when GRADER_WARM_POOL > 0
    (unset: 0 here; the worker sets its own default)."""
    if pool is not None:
        return pool
    from .harness.pool import process_pool
    return process_pool(sandbox, config.warm_pool or 0)


def grade(exercise_id: str, data: bytes, filename: str, config: Config, backend: str | Sandbox | None = None,
          progress: Progress | None = None, gpu: GpuSlot | None = None, pool=None) -> GradeResult:
    """Grade one submission (its bytes and original file name, which says .ipynb or .py).

    `backend`: a name, or a sandbox built once by a long-lived caller (the worker); `gpu`: the
    GPU slot leased for this grading (the worker's; None shows the sandbox's default devices);
    `pool`: warm sandboxes (`harness.pool.WarmPool`; None: this process's, by GRADER_WARM_POOL)."""
    started = time.monotonic()
    exercise = load_exercise(config.exercises_dir, exercise_id)
    submission = load_submission_bytes(data, filename, config.max_submission_bytes)
    kept, not_run = select(submission.chunks, exercise.names, exercise.execute)
    sandbox = backend if isinstance(backend, Sandbox) else get_backend(backend or config.backend, config)
    on_slot = gpu is not None and exercise.gpu
    limits, preload = limits_for(exercise, gpu), preload_for(exercise)
    pool = warm_pool(config, sandbox, pool)
    if pool is not None:
        pool.fill(limits, preload)        # nothing to do when one waits already (the worker's case)
    process = StudentProcess(sandbox, limits, [[c.cell, c.line, c.source] for c in kept],
                             load_timeout_s=exercise.test_timeout_s,
                             where_missing=where_missing(submission.skipped_cells))
    try:
        process.start(warm=pool.take(limits, preload) if pool is not None else None)
        # pytest, the suite's data and scoring load while the student's code does
        try:
            splits = _grading_data(exercise, config)
        except BaseException:
            process.stop()
            raise
        from .harness.plugin import run_suite
        from .scoring import score
        run = run_suite(exercise, process, progress, splits)
    except SandboxUnavailable:
        if pool is not None:
            pool.close()                  # a broken backend: nothing warm of it stays
        raise
    finally:
        process.stop()
    if pool is not None:
        pool.fill(limits, preload)        # the next one warms once this student's sandbox is gone
    described = sandbox.describe()
    if on_slot:
        described["device"] = gpu.describe()
    result = score(exercise, run, submission.skipped_cells, not_run, described, time.monotonic() - started)
    result.usage = process.usage            # every runner start of this grading, measured here
    if progress:
        progress(ProgressEvent("finished", total=len(result.tests), index=len(result.tests)))
    return result


def grade_file(exercise_id: str, path: Path, config: Config, backend: str | None = None,
               progress: Progress | None = None) -> GradeResult:
    """`grade` for a file on disk (the CLI); its size is checked before it is read."""
    from .ingest import read_submission_file
    data = read_submission_file(Path(path), config.max_submission_bytes)
    return grade(exercise_id, data, Path(path).name, config, backend, progress)


def _grading_data(exercise, config: Config) -> dict:
    """The grading splits the suite reads, loaded here (labels never enter the sandbox)."""
    if not exercise.datasets:
        return {}
    from .datasets import grading_split
    return {name: grading_split(name, config.data_dir, config.cache_dir) for name in exercise.datasets}
