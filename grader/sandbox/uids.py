"""Throwaway uids for the local sandbox, leased: as root, each sandbox runs as a uid of its own,
and its kill kills every process of that uid. Drawn at random, two concurrent gradings could get
the same one, and one's kill would take the other's processes; so a uid is leased like a GPU slot
(grader/gpus.py): an exclusive `flock` on one file per uid in a folder only root can write,
shared by every grader on the host and freed by the kernel when its holder dies. A uid taken from
a holder that died may still have processes: they are killed before the uid is used again."""
from __future__ import annotations

import fcntl
import os
import random
import stat
import tempfile
from pathlib import Path

from ..errors import SandboxUnavailable
from . import procs

FIRST_UID = 200_000
COUNT = 4096                         # far more than gradings run at once on one host


def default_lock_dir() -> Path:
    """/run/lock/nn-grader-uids where /run/lock exists (tmpfs: empty after a reboot, as it should
    be), else a folder in the temp dir."""
    run = Path("/run/lock")
    return run / "nn-grader-uids" if run.is_dir() else Path(tempfile.gettempdir()) / "nn-grader-uids"


class UidLease:
    """A leased uid, held until `release()` (after its processes were killed)."""

    def __init__(self, uid: int, fd: int):
        self.uid, self._fd = uid, fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class UidPool:
    def __init__(self, lock_dir: Path | None = None, first: int = FIRST_UID, count: int = COUNT):
        self.lock_dir = Path(lock_dir) if lock_dir is not None else default_lock_dir()
        self.first, self.count = first, count

    def _folder(self) -> Path:
        """The lock folder, made if need be, and refused unless it is root's and nobody else may
        write in it (another user could otherwise hold every uid, or swap the files)."""
        try:
            self.lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = os.lstat(self.lock_dir)
        except OSError as e:
            raise SandboxUnavailable(f"cannot use the throwaway uids' lock folder {self.lock_dir} "
                                     f"({e.strerror})") from None
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
            raise SandboxUnavailable(f"the throwaway uids' lock folder {self.lock_dir} must be a folder of root's "
                                     "that no other user can write to: remove it (it is made again)")
        return self.lock_dir

    def lease(self) -> UidLease:
        """A uid nobody else on the host holds, from a random start in the range, its leftover
        processes (of a holder that died) killed; SandboxUnavailable when every uid is held."""
        folder = self._folder()
        start = random.randrange(self.count)
        for k in range(self.count):
            uid = self.first + (start + k) % self.count
            fd = os.open(folder / str(uid), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            if procs.kill_uid(uid):
                return UidLease(uid, fd)
            os.close(fd)            # a process of it would not die: leave that uid alone
        raise SandboxUnavailable(f"all {self.count} throwaway uids from {self.first} are in use on this host "
                                 f"(locks in {folder})")
