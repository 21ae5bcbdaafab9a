"""Where student code runs: one interface (`base.Sandbox`), one backend per module.

`local` is a subprocess with namespaces and rlimits, for TAs without Docker; a Docker backend
plugs in behind the same interface.
"""
from __future__ import annotations

from .base import Limits, Running, Sandbox, SandboxUnavailable


def get_backend(name: str, config) -> Sandbox:
    if name == "local":
        from .local import LocalSandbox
        return LocalSandbox(config)
    raise SandboxUnavailable(f"unknown sandbox backend {name!r} (available: local)")


__all__ = ["Limits", "Running", "Sandbox", "SandboxUnavailable", "get_backend"]
