"""The pytest plugin that runs a hidden suite against a `StudentProcess`, junitxml-style:
hooks collect each test's outcome into one dict, classified in words the student can read.

It provides the fixtures suites use (`student`, `rng`, `suite_dir`, `seeds` for threshold tests; for
the torch suites `remote`, `device` and `datasets`), enforces the per-test and
whole-suite time limits, and never lets pytest print (its tracebacks would show the suite's code).
"""
from __future__ import annotations

import os
import sys
import time
import zlib
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from ..errors import SuiteError
from ..manifest import Exercise, TestSpec
from ..results import STATUSES, Outcome, ProgressEvent, SuiteRun
from ..sandbox import SandboxUnavailable
from ..scoring import result_of
from ..suitekit import SeedPlan
from ..visibility import message_kept
from .client import StudentError, StudentProcess


# pytest's runner sets this variable while a test runs and deletes it afterwards: put back as it was
CURRENT_TEST = "PYTEST_CURRENT_TEST"


class SuiteTimeout(Exception):
    pass


# pytest's terminal reporter would print the suite's code in tracebacks; the rest only cost time.
UNUSED_PLUGINS = ("terminal", "cacheprovider", "stepwise", "doctest", "junitxml", "pastebin",
                  "legacypath", "debugging", "setuponly", "setupplan", "unraisableexception",
                  "threadexception", "faulthandler")


class GradingPlugin:
    def __init__(self, exercise: Exercise, process: StudentProcess, progress=None, data=None):
        self.exercise, self.process, self.progress = exercise, process, progress
        self.data = data or {}
        self.device_used: str | None = None
        self.notes: dict[str, list[str]] = {}
        self.outcomes: dict[str, Outcome] = {}
        self.collect_errors: list[str] = []
        self.started = time.monotonic()
        self.suite_time = 0.0
        self.infrastructure_error: SandboxUnavailable | None = None
        self.total = 0              # tests collected
        self.finished = 0           # tests finished so far
        self.quick_left: set[str] = set()   # node ids of the quick stage's tests still to finish
        self.seed_figures: dict[str, list[dict]] = {}
        self.extra_seeds_s = 0.0    # time the threshold tests' extra seeds took (not the suite's)
        self._extra_began: float | None = None

    # ---------------------------------------------------------------- fixtures
    @pytest.fixture
    def student(self, request):
        self.process.begin_test(self.exercise.test_timeout_s)
        try:
            self.process.ensure_started()
        except SandboxUnavailable as e:     # infrastructure: stop, and score nothing
            self.infrastructure_error = e
            request.session.shouldstop = str(e)
            raise
        return self.process.module

    @pytest.fixture
    def remote(self, student):
        """`remote("torch")`: a library module inside the student process, to build loaders,
        losses and optimizers there (`remote("torch").optim.SGD(model.parameters(), lr=0.1)`)."""
        return self.process.library

    @pytest.fixture
    def device(self, remote):
        """"cuda" when the sandbox gives the student's torch a GPU, else "cpu"; recorded in the result."""
        torch = remote("torch")
        if torch.cuda.is_available():
            self.device_used = f"cuda ({torch.cuda.get_device_name(0)})"
            return "cuda"
        self.device_used = self.device_used or "cpu"
        return "cpu"

    @pytest.fixture
    def datasets(self):
        """The grading splits the manifest names, loaded in this process (labels never leave it)."""
        return self.data

    @pytest.fixture
    def note(self, request):
        """`note("forward returns a bare A2 (accepted)")`: a line shown to the student with this
        test's result, passed or not (e.g. which accepted variant the suite found), as a note
        beside the failure message (`Outcome.note`), never inside it."""
        notes = self.notes.setdefault(_test_name(request.node), [])
        return lambda text: notes.append(str(text)[:300])

    @pytest.fixture
    def seeds(self, request, student, note):
        """The test's seed plan for `suitekit.robust_threshold` (the manifest's `seeds`, `margin`,
        `rule`): before each seed's training the student process is seeded (`StudentProcess.seed`)
        and, for an extra seed, given the test's whole time limit again; each figure is recorded
        in the result; a passing summary becomes a note where the test's level may show it."""
        name = _test_name(request.node)
        spec = self.exercise.test(name) or TestSpec(name, 0.0, "")
        figures = self.seed_figures.setdefault(name, [])

        def start(seed: int, extra: bool) -> None:
            if extra:
                self.process.renew_budget()
                self._extra_began = self._extra_began or time.monotonic()
            self.process.seed(seed)

        def record(seed: int, figure: float) -> None:
            figures.append({"seed": seed, "figure": figure})

        shown = message_kept(spec.visibility)     # a hidden test's figures never reach a student
        return SeedPlan(spec.seeds, spec.margin, spec.rule, start, record, note if shown else None)

    @pytest.fixture
    def rng(self, request):
        return np.random.default_rng(zlib.crc32(request.node.name.encode()))

    @pytest.fixture
    def suite_dir(self):
        return self.exercise.suite_dir

    # ---------------------------------------------------------------- hooks
    def pytest_collection_modifyitems(self, session, config, items):
        """The quick stage's tests first, in manifest order, then the training ones, in manifest
        order: the quick results can be shown while training runs. A suite without quick tests
        runs in its own order, as before stages."""
        quick = {t.name for t in self.exercise.quick_tests}
        if not quick:
            return
        order = {t.name: i for i, t in enumerate(self.exercise.tests)}
        items.sort(key=lambda item: (_test_name(item) not in quick, order.get(_test_name(item), len(order))))
        self.quick_left = {item.nodeid for item in items if _test_name(item) in quick}

    def pytest_collection_finish(self, session):
        self.total = len(session.items)
        if self.progress:
            self.progress(ProgressEvent("started", total=self.total))

    def pytest_collectreport(self, report):
        if report.failed:
            self.collect_errors.append(f"{report.nodeid}: {report.longreprtext[-2000:]}")

    def pytest_runtest_setup(self, item):
        if time.monotonic() - self.started - self.extra_seeds_s > self.exercise.suite_timeout_s:
            raise SuiteTimeout()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = (yield).get_result()
        if call.when == "call":
            self.suite_time += call.duration
            if self._extra_began is not None:       # extra seeds ran: their time is not the suite's
                self.extra_seeds_s += time.monotonic() - self._extra_began
                self._extra_began = None
        if call.when == "teardown" and report.passed:
            return
        name = _test_name(item)
        outcome = classify(report, call)
        if self.notes.get(name):      # beside the message, never in it: a failure says one thing
            outcome.note = "\n".join(dict.fromkeys(self.notes[name]))
            outcome.always_visible = outcome.always_visible or outcome.status == "passed"
        outcome.seeds = list(self.seed_figures[name]) if self.seed_figures.get(name) else None
        previous = self.outcomes.get(name)
        outcome.duration_s = call.duration + (previous.duration_s if previous else 0.0)
        if previous is None or STATUSES.index(outcome.status) >= STATUSES.index(previous.status):
            self.outcomes[name] = outcome
        else:
            previous.duration_s = outcome.duration_s

    def pytest_runtest_logstart(self, nodeid, location):
        if self.progress and not self.infrastructure_error:
            self.progress(ProgressEvent("running", self.total, self.finished + 1, _node_name(nodeid)))

    def pytest_runtest_logfinish(self, nodeid, location):
        self.finished += 1
        if self.progress and not self.infrastructure_error:   # no score comes: nothing to show
            name = _node_name(nodeid)
            outcome = self.outcomes.get(name)
            self.progress(ProgressEvent("test", self.total, self.finished, name,
                                        outcome.status if outcome else "error"))
        if nodeid in self.quick_left:
            self.quick_left.discard(nodeid)
            if not self.quick_left:
                self._quick_stage_done()

    def _quick_stage_done(self) -> None:
        """The "stage" event: the quick tests' results as the final result will show them."""
        if not self.progress or self.infrastructure_error:
            return
        tests = [asdict(result_of(spec, self.outcomes.get(spec.name))) for spec in self.exercise.quick_tests]
        self.progress(ProgressEvent("stage", self.total, self.finished, tests=tests))


def _node_name(nodeid: str) -> str:
    return nodeid.split("::")[-1].split("[")[0]


def _test_name(item) -> str:
    return getattr(item, "originalname", None) or item.name


def classify(report, call) -> Outcome:
    if report.passed:
        return Outcome("passed")
    if report.skipped:
        return Outcome("failed", "this test did not run", always_visible=True)
    exc = call.excinfo.value if call.excinfo else None
    if isinstance(exc, StudentError):
        return Outcome(exc.status, str(exc), always_visible=True)
    if isinstance(exc, SuiteTimeout):
        return Outcome("timeout", "not run: the exercise's total time limit ran out", always_visible=True)
    if call.when == "setup":
        return Outcome("error", "the grader could not set up this test", always_visible=True)
    if isinstance(exc, AssertionError):
        return Outcome("failed", assertion_message(exc))
    return Outcome("failed", f"the test could not use what your code returned ({type(exc).__name__})",
                   always_visible=True)


def assertion_message(exc: AssertionError) -> str | None:
    """The test author's message, without pytest's introspection (which shows expected values)."""
    text = str(exc)
    lines = []
    for line in text.splitlines():
        if line.startswith("assert ") or line.startswith("+") or line.startswith("where"):
            break
        lines.append(line)
    return "\n".join(lines).strip()[:1000] or None


def run_suite(exercise: Exercise, process: StudentProcess, progress=None, data=None) -> SuiteRun:
    """Run the hidden suite in this (trusted) process against the student process.

    A long-lived caller (a worker's pool child) runs many suites: each run imports its suite
    afresh (see `forget_suite`) and changes nothing process-wide (plugins are kept out with a
    flag, not with PYTEST_DISABLE_PLUGIN_AUTOLOAD; no assertion-rewriting import hook or bytecode
    cache survives it)."""
    plugin = GradingPlugin(exercise, process, progress, data)
    # --noconftest: no conftest.py of the folders around the exercises (a checkout's own tests)
    # reaches into a grading; a suite keeps its helpers in its own module
    args = [str(exercise.suite_dir), "-c", os.devnull, "--rootdir", str(exercise.suite_dir), "--noconftest",
            "--disable-plugin-autoload", *[arg for name in UNUSED_PLUGINS for arg in ("-p", f"no:{name}")],
            # the suite's messages are its own (`assertion_message` drops pytest's introspection),
            # so plain asserts lose nothing and leave no rewritten bytecode beside the suite
            "--import-mode=importlib", "--assert=plain", "-W", "ignore::DeprecationWarning"]
    started = time.monotonic()
    forget_suite(exercise.suite_dir)
    current_test = os.environ.get(CURRENT_TEST)
    try:
        code = pytest.main(args, plugins=[plugin])
    finally:
        forget_suite(exercise.suite_dir)
        _restore(CURRENT_TEST, current_test)
        output = process.output() or getattr(process, "last_output", "")
        process.stop(graceful=True)
    if plugin.infrastructure_error:
        raise plugin.infrastructure_error
    if plugin.collect_errors or code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        detail = "; ".join(plugin.collect_errors) or f"pytest exit code {int(code)}"
        raise SuiteError(f"the hidden suite for {exercise.id} could not run: {detail}")
    return SuiteRun(plugin.outcomes, process.load_errors, output, time.monotonic() - started,
                    plugin.suite_time, plugin.device_used, process.environment)


def _restore(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def forget_suite(suite_dir: Path) -> None:
    """Drop from sys.modules every module imported from `suite_dir` (the suite, its conftest,
    its helpers). pytest's importlib mode hands back a module already in sys.modules under its
    name, so without this a suite fixed on disk would keep running its old code in a worker for
    the rest of the process's life (a regrade after a suite change included), its module-level
    state would carry from one student's grading to the next, and another exercise whose suite
    file has the same name would run this one's tests."""
    folder = Path(suite_dir).resolve()
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None)
        if origin and Path(origin).resolve().is_relative_to(folder):
            del sys.modules[name]
