"""`grader datasets check|fetch`: verify a data folder, or download into one."""
from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import NamedTuple

from ..errors import DatasetError
from .files import FETCH_TIMEOUT_S, FILES, NEEDED, SETTING, TITLES, data_root, read_verified, locate


class CheckLine(NamedTuple):
    dataset: str
    file: str
    status: str          # "verified", "missing" or "failed"
    detail: str          # the path found, or the error message
    needed: bool         # grading_split reads this file

    @property
    def ok(self) -> bool:
        return self.status == "verified"


def check(data_dir) -> list[CheckLine]:
    """Locate and md5-verify every known file (no decoding, no cache): one line per file."""
    root = data_root(data_dir)
    lines = []
    for (dataset, split), pair in FILES.items():
        for known in pair:
            needed = (dataset, split) in NEEDED
            try:
                path = locate(known, root)
            except DatasetError as e:
                lines.append(CheckLine(dataset, known.name, "missing", str(e), needed))
                continue
            try:
                read_verified(known, path)
                lines.append(CheckLine(dataset, known.name, "verified", str(path), needed))
            except DatasetError as e:
                lines.append(CheckLine(dataset, known.name, "failed", str(e), needed))
    return lines


def fetch(target_dir) -> list[CheckLine]:
    """Download both datasets with torchvision's own downloader (<target>/MNIST/raw, ...), then check."""
    try:
        from torchvision import datasets as tv
    except ImportError:
        raise DatasetError(
            "`grader datasets fetch` uses torchvision's downloader, and torchvision is not installed: "
            f"install it with `{sys.executable} -m pip install torchvision`, or copy the IDX files into a "
            f"folder by hand and point {SETTING} at it") from None
    target = Path(target_dir)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DatasetError(f"cannot create {target}: {e.strerror or e}") from None
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(FETCH_TIMEOUT_S)
    try:
        for dataset, cls in (("mnist", tv.MNIST), ("fashion-mnist", tv.FashionMNIST)):
            try:
                cls(str(target), train=True, download=True)     # downloads train and test files
            except Exception as e:  # noqa: BLE001 - urllib, socket and torchvision errors alike
                reason = " ".join(str(e).split()) or type(e).__name__
                raise DatasetError(f"could not download {TITLES[dataset]} into {target}: {reason}; "
                                   "no internet?") from None
    finally:
        socket.setdefaulttimeout(previous)
    return check(target)
