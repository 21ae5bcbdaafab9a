"""Content-addressed storage of submitted files: `<storage_dir>/<sha[:2]>/<sha>`.

The same bytes are stored once however often they are submitted; a file is written whole to a
temporary name and renamed into place, so a reader never sees half of one and two writers of the
same content cannot clash. Files are never changed or removed here. They are the students':
folders 0700 (also those made on the way to the root), files 0400.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from ..errors import StorageUnavailable
from ..private_paths import private_dir

_SHA256 = re.compile(r"[0-9a-f]{64}")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FileStore:
    def __init__(self, root: Path | str):
        self.root = Path(root)

    def path(self, sha: str) -> Path:
        if not _SHA256.fullmatch(sha):
            raise ValueError(f"{sha!r} is not a sha256 hex digest")
        return self.root / sha[:2] / sha

    def put(self, data: bytes) -> str:
        """Store `data` (once) and return its sha256."""
        digest = sha256(data)
        target = self.path(digest)
        if target.is_file() and target.stat().st_size == len(data):
            return digest
        try:
            private_dir(target.parent)          # students' files: the root and each folder on the way 0700
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{digest[:8]}.")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.chmod(tmp, 0o400)            # the owner's, read-only (mkstemp made it 0600)
                os.replace(tmp, target)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError as e:
            raise StorageUnavailable(f"cannot store a submission under GRADER_STORAGE_DIR={self.root}: "
                                     f"{e.strerror or e}") from None
        return digest

    def get(self, sha: str) -> bytes:
        """The stored bytes, checked against their sha256."""
        path = self.path(sha)
        try:
            data = path.read_bytes()
        except OSError as e:
            raise StorageUnavailable(f"stored submission {path} cannot be read ({e.strerror}): is "
                                     f"GRADER_STORAGE_DIR={self.root} the right folder?") from None
        if sha256(data) != sha:
            raise StorageUnavailable(f"stored submission {path} is damaged: its content does not match its name")
        return data

    def exists(self, sha: str) -> bool:
        return self.path(sha).is_file()
