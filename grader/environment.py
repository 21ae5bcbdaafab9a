"""A grading's environment record: the student environment's Python, numpy, torch and torchvision
versions (reported by the sandbox's runner before any student code runs) and the kind of device
its code ran on, with a short hash of them. Two gradings with the same hash trained under the same
setup, so a regrade can show that a threshold test's figures are comparable with the first run's."""
from __future__ import annotations

import hashlib
import json

PACKAGES = ("python", "numpy", "torch", "torchvision")


def record(versions: dict, device: str | None) -> dict:
    """{python, numpy, torch, torchvision, device, hash} (a missing package: None). `device` is
    what the code ran on ("cpu", "cuda (NVIDIA H200)"): the kind, not a GPU slot's number."""
    found = {name: versions.get(name) for name in PACKAGES}
    found["device"] = device or "cpu"
    found["hash"] = hashlib.sha256(json.dumps(found, sort_keys=True).encode()).hexdigest()[:16]
    return found


def same(first: dict | None, second: dict | None) -> bool | None:
    """Whether two results' environments match (None when one of them has no record: an older
    result)."""
    if not first or not second or "hash" not in first or "hash" not in second:
        return None
    return first["hash"] == second["hash"]


def differences(first: dict | None, second: dict | None) -> list[str]:
    """What changed from one record to the other, in words ("torch 2.14.1 -> 2.15.0"); empty when
    they match or one of them is missing."""
    if same(first, second) is not False:
        return []
    return [f"{name} {first.get(name) or 'none'} -> {second.get(name) or 'none'}"
            for name in (*PACKAGES, "device") if first.get(name) != second.get(name)]
