"""Folders and files that only the service's user may read: the instance folder holds password
hashes, grades, the web's signing key, students' files and decoded held-out labels.

`mkdir(parents=True, mode=0o700)` gives the mode to the last folder only, and a file opened by a
library (SQLite, kombu) gets 0644 under the usual umask; changing the process's umask instead
would reach every thread and every file the process writes. So each folder this creates is 0700,
each file 0600 from its first byte, and `make_private` takes group and other bits off a file an
older version left readable.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path | str) -> Path:
    """`path` as a folder; every folder made on the way is 0700 (one that exists is left as it is).
    OSError as mkdir raises it (FileExistsError when a file is in the way)."""
    path = Path(path)
    missing = []
    folder = path
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            if not folder.is_dir():          # made by another process meanwhile: fine if a folder
                raise
    if not path.is_dir():
        raise FileExistsError(f"{path} is not a folder")
    return path


def private_file(path: Path | str) -> Path:
    """`path` created empty with mode 0600 unless it exists (then it is made private)."""
    path = Path(path)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    except FileExistsError:
        make_private(path)
    return path


def make_private(path: Path | str) -> None:
    """No group or other bits on `path`, if it exists and is ours (a file we cannot change, on a
    read-only mount say, is left alone: its folder is private)."""
    try:
        st = os.stat(path)
        if st.st_mode & 0o077 and st.st_uid == os.geteuid():
            os.chmod(path, stat.S_IMODE(st.st_mode) & 0o700)      # the owner's bits only
    except OSError:
        pass
