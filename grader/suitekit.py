"""Helpers the hidden suites share (`from grader.suitekit import array, number, sigmoid, ...`).

Suites run in the trusted grader process (never in the sandbox), so they can import this module.
Everything here computes on the suite's side, in float64, and turns what the student's code
returned into plain numpy values, or into an AssertionError whose message a student can read.
The helpers that call into the student process with optional keywords (`accepts`,
`call_optional`) live in `grader.harness.client` and are re-exported here.
"""
from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .harness.client import (Remote, StudentCrashed, StudentError, StudentTimeout, accepts,  # noqa: F401
                             by_ref, call_optional, signature)

__all__ = ["array", "number", "shaped", "sigmoid", "softmax", "attention", "max_diff", "rel_err", "numgrad",
           "check_elementwise", "depends_on_input", "parameters_used", "plain_error", "signature_error",
           "accepts", "call_optional", "signature", "by_ref", "SeedPlan", "robust_threshold"]


# ---------------------------------------------------------------------------
# Reading what the student returned
# ---------------------------------------------------------------------------

def _torch_tensor(value) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def array(value, what: str, should: str = "be a numpy array of numbers") -> np.ndarray:
    """`value` as a float64 numpy array (a torch tensor too), or an AssertionError saying
    "`what` should `should`, got <type>"."""
    if _torch_tensor(value):
        return value.detach().cpu().double().numpy()
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError, RuntimeError):
        raise AssertionError(f"{what} should {should}, got {type(value).__name__}") from None


def number(value, what: str, should: str = "be a numpy array of numbers", finite: bool = False) -> float:
    """`value` as one float (a 1-element array or tensor is accepted), or an AssertionError."""
    arr = array(value, what, should)
    assert arr.size == 1, f"{what} should be a single number, got an array of shape {arr.shape}"
    result = float(arr.reshape(-1)[0])
    if finite:
        assert np.isfinite(result), f"{what} is {result}"
    return result


def shaped(value, shape, what: str) -> np.ndarray:
    """`value` as a float array of exactly `shape`, or an AssertionError naming both shapes."""
    arr = array(value, what)
    assert arr.shape == tuple(shape), f"{what} has shape {arr.shape}, expected {tuple(shape)}"
    return arr


# ---------------------------------------------------------------------------
# The suites' own maths
# ---------------------------------------------------------------------------

def sigmoid(z):
    """1 / (1 + e^-z), with z clipped to [-500, 500] so that it never overflows."""
    z = np.clip(np.asarray(z, dtype=float), -500.0, 500.0)
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z, axis: int = -1):
    """Probabilities along `axis`, stable for large z."""
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def attention(q, k, v, scale=None, heads: int = 1) -> np.ndarray:
    """Scaled dot-product attention softmax(q k^T / scale) v over the last two axes, in float64.

    `q`, `k`, `v` are the projected inputs: (batch, d) when the rows of a batch attend to each
    other, (N, seq, d) when the positions of each sample do. `scale` defaults to sqrt(d_k), d_k =
    the size of q's last axis (per head). With `heads` > 1 the last axis is split into that many
    heads, each attending on its own, and the heads' outputs are concatenated back.
    """
    q, k, v = (np.asarray(a, dtype=float) for a in (q, k, v))
    if heads > 1:
        def split(a):   # (..., n, d) -> (..., heads, n, d / heads)
            return np.moveaxis(a.reshape(*a.shape[:-1], heads, a.shape[-1] // heads), -2, -3)
        out = np.moveaxis(attention(split(q), split(k), split(v), scale), -3, -2)
        return out.reshape(*out.shape[:-2], -1)
    if scale is None:
        scale = np.sqrt(q.shape[-1])
    return softmax(q @ np.swapaxes(k, -1, -2) / scale, axis=-1) @ v


def max_diff(got, expected) -> float:
    """Largest absolute difference; inf when the shapes differ or `got` has nan/inf."""
    got, expected = np.asarray(got), np.asarray(expected)
    if got.shape != expected.shape or not np.all(np.isfinite(got)):
        return np.inf
    return float(np.max(np.abs(got - expected))) if got.size else 0.0


def rel_err(a, b) -> float:
    """||a - b|| / (||a|| + ||b||) (0 when both are zero), the gradient-check measure."""
    a, b = np.ravel(a), np.ravel(b)
    den = np.linalg.norm(a) + np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / den) if den > 0 else 0.0


def numgrad(f, x, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar function f at x (any shape)."""
    x = np.array(x, dtype=float)
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + eps
        plus = f(x)
        x[idx] = old - eps
        minus = f(x)
        x[idx] = old
        g[idx] = (plus - minus) / (2 * eps)
    return g


def check_elementwise(got, expected, z, name: str, atol: float = 1e-6) -> None:
    """`got` equals `expected` element-wise (same shape as the input z, finite, within atol); the
    failure names the first wrong input and how many values are wrong."""
    assert got.shape == expected.shape, (
        f"{name} returned shape {got.shape}, expected {expected.shape} (same shape as the input)")
    bad = ~np.isclose(got, expected, atol=atol, rtol=0) | ~np.isfinite(got)
    if bad.any():
        i = np.flatnonzero(bad.ravel())[0]
        raise AssertionError(
            f"{name}({z.ravel()[i]:.6g}) returned {got.ravel()[i]:.6g}, expected {expected.ravel()[i]:.6g} "
            f"({int(bad.sum())} of {bad.size} values wrong)")


# ---------------------------------------------------------------------------
# torch models (the suites' `remote` fixture; torch is imported only when these are used)
# ---------------------------------------------------------------------------

def depends_on_input(out, what: str) -> None:
    """A model's outputs (a tensor that came back by value, one row per sample) are not the same
    for every sample of a batch of different random inputs."""
    rows = array(out, what).reshape(len(out), -1)
    assert not np.allclose(rows, rows[:1], rtol=0, atol=1e-9), (
        f"{what} returned the same output for every input of the batch: its output must be computed "
        "from the input (through its layers)")


def parameters_used(remote, model, x, what: str) -> None:
    """A gradient of the model's output on `x` reaches its parameters (in eval mode, gradient
    tracking on): the layers model.parameters() lists are the ones forward computes with."""
    import torch

    remote("torch").set_grad_enabled(True)
    model.eval()
    out = by_ref(model, x)
    if isinstance(out, Remote) and object.__getattribute__(out, "_ref").kind in ("tuple", "list"):
        out = by_ref(remote("operator").getitem, out, 0)     # (output, extra): take the output
    by_ref(by_ref(by_ref(out.double).pow, 2).sum).backward()
    builtins = remote("builtins")
    grads = builtins.list(builtins.map(remote("operator").attrgetter("grad"), model.parameters()))
    assert any(isinstance(g, torch.Tensor) and bool(g.abs().sum() > 0) for g in grads), (
        f"no gradient of {what}'s output reaches its parameters: the layers it holds "
        "(model.parameters()) must be the ones forward computes with")


# ---------------------------------------------------------------------------
# Student exceptions
# ---------------------------------------------------------------------------

def plain_error(e: BaseException) -> bool:
    """An ordinary exception in the student's code (not a timeout or a crash, which callers re-raise)."""
    return isinstance(e, StudentError) and not isinstance(e, (StudentTimeout, StudentCrashed))


def signature_error(e: BaseException) -> bool:
    """A student exception saying the call had the wrong arguments (so another form may be tried)."""
    return type(e) is StudentError and "raised TypeError" in str(e)


# ---------------------------------------------------------------------------
# Thresholds that hold whatever the seed (the suites' `seeds` fixture)
# ---------------------------------------------------------------------------

@dataclass
class SeedPlan:
    """A threshold test's seeds as its manifest entry gives them (`seeds`, `margin`, `rule`;
    TestSpec has the same fields, so a bench script may pass a TestSpec), and the harness's hooks:
    `start(seed, extra)` before each seed's training (it seeds the student process), `record(seed,
    figure)` after it (the result keeps the figures), `note(text)` for a passing test's summary
    (None where the student may not see the figures: a hidden test)."""

    seeds: tuple[int, ...] = (0,)
    margin: float = 0.0
    rule: str = "median"
    start: Callable[[int, bool], None] | None = None
    record: Callable[[int, float], None] | None = None
    note: Callable[[str], None] | None = None


def robust_threshold(measure: Callable[[int], float], threshold: float, plan, what: str = "accuracy",
                     failure: str | Callable[[], str] = "", digits: int = 4) -> float:
    """Train and measure at the plan's first seed; when the figure is within the plan's margin of
    `threshold`, at its other seeds too, and let its rule (the median, or the mean) of all the
    figures decide. Passes when the deciding figure is at least `threshold` and returns it;
    otherwise an AssertionError: `failure` (or what it returns, when it is a function: a recipe
    whose description depends on the training), then the figures ("accuracy 0.8950 at seed 0; near the
    0.9000 threshold, also seeds 1, 2: 0.9100, 0.9300; median 0.9100 >= 0.9000"). A passing
    test's summary goes to the plan's `note`. `measure(seed)` is the suite's own recipe: it seeds
    what it builds on its side (initial weights, a loader's generator) from `seed`; the plan's
    `start` has seeded the student process already."""
    seeds = list(getattr(plan, "seeds", (0,)))
    margin = float(getattr(plan, "margin", 0.0))
    rule = getattr(plan, "rule", "median")
    start, record, note = (getattr(plan, hook, None) for hook in ("start", "record", "note"))
    figures: list[float] = []

    def run(seed: int, extra: bool) -> float:
        if start is not None:
            start(seed, extra)
        figure = measure(seed)
        try:
            figure = float(figure)
        except (TypeError, ValueError):
            raise AssertionError(f"{what} could not be measured (got {type(figure).__name__})") from None
        assert np.isfinite(figure), f"{what} is {figure}"
        if record is not None:
            record(seed, figure)
        figures.append(figure)
        return figure

    first = run(seeds[0], False)
    near = len(seeds) > 1 and abs(first - threshold) <= margin
    for seed in seeds[1:] if near else ():
        run(seed, True)
    decided = (statistics.median if rule == "median" else statistics.fmean)(figures)
    passed = decided >= threshold
    summary = _seed_summary(what, seeds, figures, threshold, rule, decided, passed, digits)
    if not passed:
        failure = failure() if callable(failure) else failure
        raise AssertionError(f"{failure}: {summary}" if failure else summary)
    if note is not None:
        note(summary)
    return decided


def _seed_summary(what, seeds, figures, threshold, rule, decided, passed, digits) -> str:
    def fmt(x):
        return f"{x:.{digits}f}"
    sign = ">=" if passed else "<"
    text = f"{what} {fmt(figures[0])} at seed {seeds[0]}"
    if len(figures) == 1:
        return f"{text} {sign} the {fmt(threshold)} threshold"
    others = seeds[1:len(figures)]
    return (f"{text}; near the {fmt(threshold)} threshold, also seed{'s' if len(others) > 1 else ''} "
            f"{', '.join(map(str, others))}: {', '.join(fmt(f) for f in figures[1:])}; "
            f"{rule} {fmt(decided)} {sign} {fmt(threshold)}")
