"""The offline sandbox image: no registry, for CI and air-gapped sites (`grader sandbox build`).

1. A Debian base from Debian's own packages: `debootstrap --variant=minbase` + `docker import`
   (built once, kept as BASE_IMAGE).
2. A thin layer on top with the student runner and the label that tells the docker backend to
   bind-mount this interpreter's site-packages (numpy, torch, ...) read-only.
The production image (docker/sandbox.Dockerfile) bakes the packages in instead.
"""
from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import tempfile
import time

from .base import RUNNER_DIR, RUNNER_FILES, SandboxUnavailable, runner_digest
from .container import RUNNER_LABEL, RUNNER_PATH, RUNTIME_LABEL, engine

BASE_IMAGE = "grader-sandbox-base:bookworm"
SUITE = "bookworm"            # Debian 12: python3 is 3.11, the ABI of the mounted site-packages
PACKAGES = ["python3", "libgomp1", "libstdc++6", "coreutils"]


def build_offline(tag: str, rebuild_base: bool = False, log=print) -> float:
    """Build `tag`; returns the seconds it took. Raises SandboxUnavailable with what to do."""
    started = time.monotonic()
    client = engine(timeout=600)
    if rebuild_base or not _exists(client, BASE_IMAGE):
        _build_base(client, log)
    log(f"adding the student runner ({runner_digest()}) on {BASE_IMAGE} ...")
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        dockerfile = (f"FROM {BASE_IMAGE}\n"
                      f"COPY {' '.join(RUNNER_FILES)} {RUNNER_PATH}/\n"
                      f'LABEL {RUNTIME_LABEL}="mounted" {RUNNER_LABEL}="{runner_digest()}"\n'
                      "USER 65534:65534\n")
        _add(tar, "Dockerfile", dockerfile.encode())
        for name in RUNNER_FILES:
            _add(tar, name, (RUNNER_DIR / name).read_bytes())
    context.seek(0)
    try:
        client.images.build(fileobj=context, custom_context=True, tag=tag, pull=False, rm=True, forcerm=True)
    except Exception as e:  # noqa: BLE001 - BuildError, APIError
        raise SandboxUnavailable(f"building {tag} failed: {e}") from None
    return time.monotonic() - started


def _build_base(client, log) -> None:
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise SandboxUnavailable("building the offline base image needs debootstrap (as root): "
                                 "apt-get install debootstrap")
    with tempfile.TemporaryDirectory(prefix="grader-rootfs-") as root:
        log(f"debootstrap {SUITE} into {root} (about 1-2 minutes) ...")
        run = subprocess.run([debootstrap, "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, root],
                             capture_output=True, text=True)
        if run.returncode != 0:
            raise SandboxUnavailable(f"debootstrap failed: {(run.stderr or run.stdout).strip()[-1000:]}")
        log(f"docker import -> {BASE_IMAGE} ...")
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        repository, _, image_tag = BASE_IMAGE.partition(":")
        try:
            client.api.import_image(src=tar.stdout, repository=repository, tag=image_tag, stream_src=True)
        finally:
            tar.stdout.close()
            tar.wait()
    if not _exists(client, BASE_IMAGE):
        raise SandboxUnavailable(f"docker import did not produce {BASE_IMAGE}")


def _exists(client, name: str) -> bool:
    try:
        client.images.get(name)
        return True
    except Exception:  # noqa: BLE001 - ImageNotFound
        return False


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


