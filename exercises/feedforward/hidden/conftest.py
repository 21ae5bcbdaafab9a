"""TEMPORARY development conftest (deleted when done): fixtures student, rng, suite_dir.

`student` simulates the grader's proxy: by-value types are copied across, everything else becomes
an opaque handle; handles passed back are unwrapped; own functions/lambdas are refused.
"""
import copy
import importlib.util
import os
import pathlib
import types

import numpy as np
import pytest

_BYVALUE_SCALARS = (type(None), bool, int, float, str, bytes)


class Handle:
    __slots__ = ("_obj",)

    def __init__(self, obj):
        object.__setattr__(self, "_obj", obj)

    def __getattr__(self, name):
        obj = object.__getattribute__(self, "_obj")
        if not hasattr(obj, name):
            raise AttributeError(f"the submission has no attribute {name!r}")
        return _out(getattr(obj, name))

    def __setattr__(self, name, value):
        setattr(object.__getattribute__(self, "_obj"), name, _in(value))

    def __call__(self, *args, **kwargs):
        obj = object.__getattribute__(self, "_obj")
        return _out(obj(*[_in(a) for a in args], **{k: _in(v) for k, v in kwargs.items()}))

    def __repr__(self):
        return f"<remote {type(object.__getattribute__(self, '_obj')).__name__}>"


def _out(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, _BYVALUE_SCALARS):
        return v
    if isinstance(v, np.ndarray):
        if v.dtype.kind not in "biufc":
            raise TypeError(f"array of dtype {v.dtype} cannot cross")
        return v.copy()
    if isinstance(v, list):
        return [_out(x) for x in v]
    if isinstance(v, tuple):
        return tuple(_out(x) for x in v)
    if isinstance(v, dict) and all(isinstance(k, str) for k in v):
        return {k: _out(x) for k, x in v.items()}
    return Handle(v)


def _in(v):
    if isinstance(v, Handle):
        return object.__getattribute__(v, "_obj")
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, _BYVALUE_SCALARS):
        return v
    if isinstance(v, np.ndarray):
        return v.copy()
    if isinstance(v, list):
        return [_in(x) for x in v]
    if isinstance(v, tuple):
        return tuple(_in(x) for x in v)
    if isinstance(v, dict):
        return {k: _in(x) for k, x in v.items()}
    raise TypeError(f"cannot send {type(v).__name__} to the student process")


def _load():
    here = pathlib.Path(__file__).resolve().parent
    ex_id = here.parent.name
    path = os.environ.get("STUDENT_FILE") or f"/work/main/reference/{ex_id}.py"
    spec = importlib.util.spec_from_file_location("student_module", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def student():
    return Handle(_load())


@pytest.fixture
def rng():
    return np.random.default_rng(int(os.environ.get("SEED", "12345")))


@pytest.fixture
def suite_dir():
    return pathlib.Path(__file__).resolve().parent
