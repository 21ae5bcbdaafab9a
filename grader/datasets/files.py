"""Finding, verifying, decoding and caching the MNIST / Fashion-MNIST IDX files.

The files are read by this module alone (no torchvision), so grading works offline from a plain
folder of IDX files (see shared/datasets/README.md).
"""
from __future__ import annotations

import gzip
import hashlib
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from ..private_paths import private_dir

SETTING = "GRADER_DATA_DIR (or data_dir in the config)"
FETCH_HINT = "`grader datasets fetch [DIR]` downloads them where there is internet (default DIR: the user's data cache)"
FETCH_TIMEOUT_S = 30          # per socket operation: without internet fetch fails instead of hanging
TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
TORCHVISION_DIRS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}   # <root>/<this>/raw


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

def data_root(data_dir) -> Path:
    if data_dir is None or str(data_dir) == "":
        raise DatasetError(
            "no data directory is set: set GRADER_DATA_DIR (or data_dir in the config) to a folder with "
            f"the MNIST/Fashion-MNIST IDX files, or fetch them into the user's data cache; {FETCH_HINT}")
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


def read_verified(known: KnownFile, path: Path) -> tuple[bytes, str]:
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


def _load_file(known: KnownFile, root: Path, cache_dir: Path) -> np.ndarray:
    """Verified decoded array of one file, via a .npy cache keyed by the md5 of the file found.

    The file is hashed on every load (tens of ms) so a changed file is never served from the cache;
    the cache saves the decompression and decoding.
    """
    path = locate(known, root)
    data, md5 = read_verified(known, path)
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
        private_dir(cache_dir)                 # decoded held-out labels: 0700 folders
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


def load(name: str, split: str, data_dir, cache_dir) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28), labels uint8 (N,)) of "mnist"/"fashion-mnist", split "train"/"test".

    `cache_dir` is the config's `cache_dir` (the one cache: decoded arrays go to its datasets/)."""
    images_file, labels_file = _known(name, split)
    root = data_root(data_dir)
    cache = Path(cache_dir) / "datasets"
    return _load_file(images_file, root, cache), _load_file(labels_file, root, cache)
