"""MNIST and Fashion-MNIST for the hidden suites: find the IDX files, verify, decode, cache; split.

The files are read by this module alone (no torchvision), so grading works offline from a plain
folder of IDX files (see shared/datasets/README.md). `grading_split` is the course's fixed grading
data protocol (CONTRACT.md, "Grading data protocol"); change it only together with that text.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import socket
import struct
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

SETTING = "GRADER_DATA_DIR (or data_dir in the config)"
FETCH_HINT = "`grader datasets fetch DIR` downloads them where there is internet"
FETCH_TIMEOUT_S = 30          # per socket operation: without internet fetch fails instead of hanging
TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
TORCHVISION_DIRS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}   # <root>/<this>/raw


class DatasetError(Exception):
    """A dataset cannot be used; the message says which file, where we looked and what to do."""


@dataclass(frozen=True)
class KnownFile:
    """One IDX file we accept, identified by md5 (why: a different version would change the grades)."""
    dataset: str
    name: str                     # uncompressed name; the gzip form adds ".gz"
    count: int                    # number of images / labels
    gz_md5: tuple[str, ...]       # accepted md5s of the .gz (repacks compress differently)
    raw_md5: str                  # md5 of the uncompressed file (the same for every source)

    @property
    def is_images(self) -> bool:
        return "images" in self.name

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.count, 28, 28) if self.is_images else (self.count,)


def _files(dataset, prefix, count, images, labels):
    """The (images, labels) pair; `images`/`labels` are ((md5s of the .gz, ...), md5 uncompressed)."""
    return (KnownFile(dataset, f"{prefix}-images-idx3-ubyte", count, *images),
            KnownFile(dataset, f"{prefix}-labels-idx1-ubyte", count, *labels))


# (dataset, split) -> (images, labels). MNIST: the original files (torchvision checks the same .gz
# md5s). Fashion-MNIST: Debian's dataset-fashion-mnist repack (shared/datasets) first, then Zalando's
# originals (what torchvision downloads); the two decompress to identical bytes.
FILES: dict[tuple[str, str], tuple[KnownFile, KnownFile]] = {
    ("mnist", "train"): _files(
        "mnist", "train", 60_000,
        images=(("f68b3c2dcbeaaa9fbdd348bbdeb94873",), "6bbc9ace898e44ae57da46a324031adb"),
        labels=(("d53e105ee54ea40749a09fcbcd1e9432",), "a25bea736e30d166cdddb491f175f624")),
    ("mnist", "test"): _files(
        "mnist", "t10k", 10_000,
        images=(("9fb629c4189551a2d022fa330f9573f3",), "2646ac647ad5339dbf082846283269ea"),
        labels=(("ec29112dd5afa0611ce80d1b7f02629c",), "27ae3e4e09519cfbb04c329615203637")),
    ("fashion-mnist", "train"): _files(
        "fashion-mnist", "train", 60_000,
        images=(("cf8536b0aa1a6ac5fa3f23001093305c", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
                "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
        labels=(("10bea18fdb374794d4bb42e356e600c9", "25c81989df183df01b3e8a0aad5dffbe"),
                "9018921c3c673c538a1fc5bad174d6f9")),
    ("fashion-mnist", "test"): _files(
        "fashion-mnist", "t10k", 10_000,
        images=(("f78720b4224f21cce2f2ccf2d7a94c9a", "bef4ecab320f06d8554ea6380940ec79"),
                "8181f5470baa50b63fa0f6fddb340f0a"),
        labels=(("0d30e22e447f3c33dab9ed536400ac01", "bb300cfdad3c16e7a12a480ee83cd310"),
                "15d484375f8d13e6eb1aabb0c3f46965")),
}
# What grading_split reads: `grader datasets check` passes only when these verify.
NEEDED = {("mnist", "test"), ("fashion-mnist", "train"), ("fashion-mnist", "test")}


# ---------------------------------------------------------------- finding, verifying, decoding

def _data_root(data_dir) -> Path:
    if data_dir is None or str(data_dir) == "":
        raise DatasetError(
            "no data directory is set: set GRADER_DATA_DIR (or data_dir in the config) to a folder with "
            f"the MNIST/Fashion-MNIST IDX files; {FETCH_HINT}")
    root = Path(data_dir)
    if not root.is_dir():
        raise DatasetError(f"data directory {root} does not exist or is not a folder: point {SETTING} "
                           f"at the folder with the MNIST/Fashion-MNIST IDX files; {FETCH_HINT}")
    return root


def search_dirs(dataset: str, root: Path) -> list[Path]:
    """Where a file may be: <root>/<dataset>/, torchvision's <root>/<Name>/raw/, then <root>/ itself."""
    return [root / dataset, root / TORCHVISION_DIRS[dataset] / "raw", root]


def locate(known: KnownFile, root: Path) -> Path:
    """The first existing candidate; in each folder the .gz is preferred over the uncompressed file."""
    folders = search_dirs(known.dataset, root)
    for folder in folders:
        for name in (known.name + ".gz", known.name):
            if (folder / name).is_file():
                return folder / name
    split = "test" if known.name.startswith("t10k") else "train"
    raise DatasetError(
        f"{known.name}.gz (or uncompressed {known.name}) of the {TITLES[known.dataset]} {split} set not "
        f"found; searched {', '.join(str(f) + '/' for f in folders)}; put it there or point {SETTING} at "
        f"a folder that has it; {FETCH_HINT}")


def _md5_owner(md5: str) -> str | None:
    for pair in FILES.values():
        for other in pair:
            if md5 in other.gz_md5:
                return f"{TITLES[other.dataset]} {other.name}.gz"
            if md5 == other.raw_md5:
                return f"{TITLES[other.dataset]} {other.name}"
    return None


def _read_verified(known: KnownFile, path: Path) -> tuple[bytes, str]:
    """The file's bytes and md5, after checking the md5 against the table (of the form found)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DatasetError(f"cannot read {path}: {e.strerror or e}") from None
    md5 = hashlib.md5(data).hexdigest()
    expected = known.gz_md5 if path.name.endswith(".gz") else (known.raw_md5,)
    if md5 not in expected:
        owner = _md5_owner(md5)
        hint = f" (that is the md5 of {owner})" if owner else ""
        raise DatasetError(
            f"checksum mismatch for {path}: expected md5 {' or '.join(expected)}, got {md5}{hint}; the file "
            f"is damaged or a different version: replace it ({FETCH_HINT})")
    return data, md5


def parse_idx(data: bytes, known: KnownFile, path: Path) -> np.ndarray:
    """Decode an IDX file: 0x0000, type 0x08 (ubyte), ndim, big-endian uint32 dims, then the bytes."""
    def bad(why):
        return DatasetError(f"malformed IDX file {path}: {why}")
    ndim = 3 if known.is_images else 1
    if len(data) < 4 or data[:2] != b"\0\0":
        raise bad("bad magic number (not an IDX file)")
    if data[2] != 0x08:
        raise bad(f"element type 0x{data[2]:02x}, expected 0x08 (unsigned byte)")
    if data[3] != ndim:
        raise bad(f"{data[3]} dimensions, expected {ndim}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise bad("truncated header")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    if dims != known.shape:
        raise bad(f"shape {dims}, expected {known.shape}")
    if len(data) - header != int(np.prod(dims)):
        raise bad(f"{len(data) - header} data bytes, the header says {int(np.prod(dims))}")
    array = np.frombuffer(data, np.uint8, offset=header).reshape(dims).copy()
    if not known.is_images and array.max() > 9:
        raise bad(f"label {array.max()} out of range 0-9")
    return array


def default_cache_dir() -> Path:
    """<cache_dir>/datasets from the config (under instance_dir by default: data dirs may be read-only)."""
    from .config import Config
    return Config.from_env().cache_dir / "datasets"


def _load_file(known: KnownFile, root: Path, cache_dir: Path) -> np.ndarray:
    """Verified decoded array of one file, via a .npy cache keyed by the md5 of the file found.

    The file is hashed on every load (tens of ms) so a changed file is never served from the cache;
    the cache saves the decompression and decoding.
    """
    path = locate(known, root)
    data, md5 = _read_verified(known, path)
    cached = cache_dir / f"{known.dataset}-{known.name}-{md5}.npy"
    try:
        array = np.load(cached, allow_pickle=False)
        if array.shape == known.shape and array.dtype == np.uint8:
            return array
    except (OSError, ValueError):
        pass                                   # absent or unreadable: rebuild it
    if path.name.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise DatasetError(f"malformed IDX file {path}: cannot decompress: {e}") from None
    array = parse_idx(data, known, path)
    try:                                       # atomic, so concurrent graders never see half a file
        cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cache_dir, suffix=".tmp", delete=False) as tmp:
            np.save(tmp, array, allow_pickle=False)
        os.replace(tmp.name, cached)
    except OSError:
        pass                                   # an unwritable cache only makes loading slower
    return array


def _known(name: str, split: str) -> tuple[KnownFile, KnownFile]:
    if (name, split) not in FILES:
        raise DatasetError(f"unknown dataset/split {name!r}/{split!r}: datasets are {', '.join(TITLES)}; "
                           "splits are train, test")
    return FILES[name, split]


def load(name: str, split: str, data_dir, cache_dir=None) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28), labels uint8 (N,)) of "mnist"/"fashion-mnist", split "train"/"test"."""
    images_file, labels_file = _known(name, split)
    root = _data_root(data_dir)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return _load_file(images_file, root, cache), _load_file(labels_file, root, cache)


# ---------------------------------------------------------------- the grading data protocol

class Split(NamedTuple):
    """Pixels float32 in [0, 1], shape (N, 28, 28) (callers reshape); labels int64."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_eval: np.ndarray
    y_eval: np.ndarray


MNIST_TRAIN_COUNT = 8_000             # MNIST: train on t10k[:8000], evaluate on t10k[8000:]
FASHION_TRAIN_PER_CLASS = 1_000       # Fashion-MNIST: 10 x 1000 of the training file ...
FASHION_EVAL_PER_CLASS = 200          # ... and 10 x 200 of the test file
FASHION_TRAIN_SEED = 0
FASHION_EVAL_SEED = 1


def stratified_indices(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Sorted indices: the first `per_class` of each class in a seeded permutation.

    np.random.RandomState's stream is frozen by numpy (NEP 19), so the subset is the same everywhere.
    """
    order = np.random.RandomState(seed).permutation(len(labels))
    picks = [order[labels[order] == c][:per_class] for c in range(10)]
    if any(len(p) < per_class for p in picks):
        raise DatasetError(f"fewer than {per_class} examples of some class; cannot stratify")
    return np.sort(np.concatenate(picks))


def _pixels(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / np.float32(255)


def grading_split(name: str, data_dir, cache_dir=None) -> Split:
    """The fixed train/eval data of the hidden suites for "mnist" or "fashion-mnist" (CONTRACT.md)."""
    if name == "mnist":
        x, y = load("mnist", "test", data_dir, cache_dir)
        n = MNIST_TRAIN_COUNT
        return Split(_pixels(x[:n]), y[:n].astype(np.int64), _pixels(x[n:]), y[n:].astype(np.int64))
    if name == "fashion-mnist":
        x_tr, y_tr = load("fashion-mnist", "train", data_dir, cache_dir)
        x_te, y_te = load("fashion-mnist", "test", data_dir, cache_dir)
        tr = stratified_indices(y_tr, FASHION_TRAIN_PER_CLASS, FASHION_TRAIN_SEED)
        ev = stratified_indices(y_te, FASHION_EVAL_PER_CLASS, FASHION_EVAL_SEED)
        return Split(_pixels(x_tr[tr]), y_tr[tr].astype(np.int64),
                     _pixels(x_te[ev]), y_te[ev].astype(np.int64))
    raise DatasetError(f"unknown dataset {name!r}: datasets are {', '.join(TITLES)}")


# ---------------------------------------------------------------- check and fetch (the CLI's verbs)

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
    root = _data_root(data_dir)
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
                _read_verified(known, path)
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
