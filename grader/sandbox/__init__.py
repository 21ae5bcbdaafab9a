"""Where student code runs: one interface (`base.Sandbox`), one backend per module.

`local` is a subprocess with namespaces and rlimits, for TAs without Docker; `docker` is a
locked-down container, what the service uses. Both serve the same protocol over stdin/stdout.
"""
from __future__ import annotations

from .base import Limits, Running, Sandbox, SandboxUnavailable


def get_backend(name: str, config) -> Sandbox:
    if name == "local":
        from .local import LocalSandbox
        return LocalSandbox(config)
    if name == "docker":
        from .container import DockerSandbox
        return DockerSandbox(config)
    raise SandboxUnavailable(f"unknown sandbox backend {name!r} (available: local, docker)")


__all__ = ["Limits", "Running", "Sandbox", "SandboxUnavailable", "get_backend"]
