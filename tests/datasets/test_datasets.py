"""The dataset loader against the real IDX files (the `data_dir` fixture finds them; read-only,
copies go to tmp)."""
import gzip
import hashlib
import os

import numpy as np
import pytest

from grader import datasets
from grader.config import Config
from grader.datasets import DatasetError, grading_split, load
from support import grader

MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]   # README
T10K = ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
FASHION = T10K + ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"]


@pytest.fixture
def data(data_dir):
    return data_dir


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def link(src_dir, names, dest, gz=True):
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        name += ".gz" if gz else ""
        (dest / name).symlink_to(src_dir / name)


def test_mnist_test_set(data, cache):
    images, labels = load("mnist", "test", data, cache)
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10_000,) and labels.dtype == np.uint8
    assert np.bincount(labels).tolist() == MNIST_TEST_COUNTS
    assert images.max() == 255 and images.min() == 0


def test_fashion_train_and_test(data, cache):
    images, labels = load("fashion-mnist", "train", data, cache)
    assert images.shape == (60_000, 28, 28) and labels.shape == (60_000,)
    assert np.bincount(labels).tolist() == [6000] * 10
    images, labels = load("fashion-mnist", "test", data, cache)
    assert images.shape == (10_000, 28, 28) and np.bincount(labels).tolist() == [1000] * 10


def test_torchvision_layout(data, tmp_path, cache):
    root = tmp_path / "tv"
    link(data / "mnist", T10K, root / "MNIST" / "raw")
    link(data / "fashion-mnist", FASHION, root / "FashionMNIST" / "raw")
    for name in ("mnist", "fashion-mnist"):
        got, want = load(name, "test", root, cache), load(name, "test", data, tmp_path / "cache2")
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert load("fashion-mnist", "train", root, cache)[0].shape == (60_000, 28, 28)


def test_flat_layout(data, tmp_path, cache):
    link(data / "mnist", T10K, tmp_path / "flat")
    images, labels = load("mnist", "test", tmp_path / "flat", cache)
    assert np.bincount(labels).tolist() == MNIST_TEST_COUNTS


def test_uncompressed_files(data, tmp_path, cache):
    for name in T10K:
        raw = gzip.decompress((data / "mnist" / f"{name}.gz").read_bytes())
        (tmp_path / "raw" / "mnist").mkdir(parents=True, exist_ok=True)
        (tmp_path / "raw" / "mnist" / name).write_bytes(raw)
    images, labels = load("mnist", "test", tmp_path / "raw", cache)
    want = load("mnist", "test", data, tmp_path / "cache2")
    assert np.array_equal(images, want[0]) and np.array_equal(labels, want[1])


def test_missing_file_names_file_folders_setting_and_fetch(data, tmp_path, cache):
    link(data / "mnist", ["t10k-labels-idx1-ubyte"], tmp_path / "d" / "mnist")
    with pytest.raises(DatasetError) as e:
        load("mnist", "test", tmp_path / "d", cache)
    message = str(e.value)
    assert "t10k-images-idx3-ubyte.gz" in message and "GRADER_DATA_DIR" in message
    assert str(tmp_path / "d" / "mnist") in message and str(tmp_path / "d" / "MNIST" / "raw") in message
    assert "grader datasets fetch" in message


def test_unset_and_absent_data_dir(tmp_path, cache):
    with pytest.raises(DatasetError, match=r"^no data directory is set: set GRADER_DATA_DIR \(or data_dir"):
        load("mnist", "test", None, cache)
    with pytest.raises(DatasetError, match="does not exist"):
        load("mnist", "test", tmp_path / "nowhere", cache)
    with pytest.raises(DatasetError, match="unknown dataset"):
        load("cifar", "test", tmp_path, cache)


def corrupt_copy(data, dest, name="t10k-images-idx3-ubyte.gz"):
    """A copy of MNIST t10k with one byte of `name` changed; returns that file's path."""
    link(data / "mnist", [n for n in T10K if f"{n}.gz" != name], dest / "mnist")
    content = bytearray((data / "mnist" / name).read_bytes())
    content[len(content) // 2] ^= 0xFF
    (dest / "mnist" / name).write_bytes(bytes(content))
    return dest / "mnist" / name


def test_corrupted_file_fails_the_checksum(data, tmp_path, cache):
    bad = corrupt_copy(data, tmp_path / "d")
    got = hashlib.md5(bad.read_bytes()).hexdigest()
    with pytest.raises(DatasetError) as e:
        load("mnist", "test", tmp_path / "d", cache)
    message = str(e.value)
    assert message.startswith(f"checksum mismatch for {bad}")
    assert "9fb629c4189551a2d022fa330f9573f3" in message and got in message


def test_file_of_the_other_dataset_is_named(data):
    lines = {(line.dataset, line.file): line for line in datasets.check(data / "mnist")}  # flat layout
    assert lines["mnist", "t10k-images-idx3-ubyte"].ok
    wrong = lines["fashion-mnist", "t10k-images-idx3-ubyte"]
    assert wrong.status == "failed" and "that is the md5 of MNIST t10k-images-idx3-ubyte.gz" in wrong.detail


def test_malformed_idx_is_reported():
    known = datasets.FILES["mnist", "test"][1]
    good = b"\0\0\x08\x01" + (10_000).to_bytes(4, "big") + bytes(10_000)
    assert datasets.parse_idx(good, known, "x").shape == (10_000,)
    for data, why in [(b"\x1f\x8b\x08\x01", "magic"), (b"\0\0\x0d\x01" + good[4:], "element type"),
                      (good[:-1], "data bytes"), (b"\0\0\x08\x03" + good[4:], "dimensions"),
                      (good[:4] + (9_999).to_bytes(4, "big") + good[8:], "shape"),
                      (good[:-1] + b"\x0a", "out of range")]:
        with pytest.raises(DatasetError, match=f"malformed IDX file x: .*{why}"):
            datasets.parse_idx(data, known, "x")


def test_cache_is_written_keyed_by_md5_and_read(data, cache):
    images, labels = load("mnist", "test", data, cache)
    files = sorted(p.name for p in (cache / "datasets").iterdir())
    assert files == ["mnist-t10k-images-idx3-ubyte-9fb629c4189551a2d022fa330f9573f3.npy",
                     "mnist-t10k-labels-idx1-ubyte-ec29112dd5afa0611ce80d1b7f02629c.npy"]
    # Replace the cached images with other content of the same shape: the next load returns it.
    np.save(cache / "datasets" / files[0], np.full_like(images, 7), allow_pickle=False)
    cached_images, cached_labels = load("mnist", "test", data, cache)
    assert (cached_images == 7).all() and np.array_equal(cached_labels, labels)
    # A cache entry that is not a valid array of the right shape is rebuilt from the file.
    (cache / "datasets" / files[0]).write_bytes(b"garbage")
    assert np.array_equal(load("mnist", "test", data, cache)[0], images)
    np.save(cache / "datasets" / files[0], images[:10], allow_pickle=False)
    assert np.array_equal(load("mnist", "test", data, cache)[0], images)


def test_changed_file_is_never_served_from_the_cache(data, tmp_path, cache):
    link(data / "mnist", T10K, tmp_path / "d" / "mnist")
    load("mnist", "test", tmp_path / "d", cache)
    replaced = corrupt_copy(data, tmp_path / "other").read_bytes()
    target = tmp_path / "d" / "mnist" / "t10k-images-idx3-ubyte.gz"
    os.unlink(target)                           # the symlink: never write through to shared/
    target.write_bytes(replaced)
    with pytest.raises(DatasetError, match="checksum mismatch"):
        load("mnist", "test", tmp_path / "d", cache)


def test_the_config_cache_dir_is_the_one_cache_and_an_unwritable_cache(data, tmp_path):
    config = Config.from_env({"GRADER_CACHE_DIR": str(tmp_path / "env-cache")})
    load("mnist", "test", data, config.cache_dir)
    assert len(list((tmp_path / "env-cache" / "datasets").glob("*.npy"))) == 2
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    images, _ = load("mnist", "test", data, blocker / "cache")       # cannot be created: still loads
    assert images.shape == (10_000, 28, 28)


def test_config_cache_dir_follows_instance_dir(tmp_path):
    assert Config.from_env({}).cache_dir == Config.instance_dir / "cache"
    config = Config.from_env({"GRADER_INSTANCE_DIR": str(tmp_path)})
    assert config.cache_dir == tmp_path.resolve() / "cache"
    assert config.cache_dir not in config.sandbox_hidden_paths    # covered by instance_dir
    config = Config.from_env({"GRADER_CACHE_DIR": str(tmp_path / "c")})
    assert config.cache_dir == (tmp_path / "c").resolve() and config.cache_dir in config.sandbox_hidden_paths


def test_mnist_grading_split(data, cache):
    split = grading_split("mnist", data, cache)
    assert [a.shape for a in split] == [(8000, 28, 28), (8000,), (2000, 28, 28), (2000,)]
    assert [a.dtype for a in split] == [np.float32, np.int64, np.float32, np.int64]
    assert split.x_train.min() == 0 and split.x_train.max() == 1 and split.x_eval.max() == 1
    images, labels = load("mnist", "test", data, cache)
    # Train is t10k[:8000] and eval t10k[8000:]: disjoint by construction, checked here.
    assert np.array_equal(split.x_train, images[:8000] / np.float32(255))
    assert np.array_equal(split.x_eval, images[8000:] / np.float32(255))
    assert np.array_equal(np.concatenate([split.y_train, split.y_eval]), labels)
    assert np.array_equal(split.x_eval, grading_split("mnist", data, cache).x_eval)


def test_fashion_grading_split(data, cache, tmp_path):
    split = grading_split("fashion-mnist", data, cache)
    assert [a.shape for a in split] == [(10_000, 28, 28), (10_000,), (2000, 28, 28), (2000,)]
    assert [a.dtype for a in split] == [np.float32, np.int64, np.float32, np.int64]
    assert 0 <= split.x_train.min() and split.x_train.max() == 1
    assert np.bincount(split.y_train).tolist() == [1000] * 10
    assert np.bincount(split.y_eval).tolist() == [200] * 10
    again = grading_split("fashion-mnist", data, tmp_path / "fresh-cache")
    assert all(np.array_equal(a, b) for a, b in zip(split, again))
    # The subsets are fixed for everyone (CONTRACT.md): pin them.
    x, y = load("fashion-mnist", "train", data, cache)
    train_idx = datasets.stratified_indices(y, 1000, datasets.FASHION_TRAIN_SEED)
    assert train_idx[:5].tolist() == [17, 18, 24, 28, 50]
    assert hashlib.md5(train_idx.astype("<i8").tobytes()).hexdigest() == "b471ca180b8c51678398069c29de72a9"
    assert np.array_equal(split.x_train, x[train_idx] / np.float32(255))
    _, y_test = load("fashion-mnist", "test", data, cache)
    eval_idx = datasets.stratified_indices(y_test, 200, datasets.FASHION_EVAL_SEED)
    assert hashlib.md5(eval_idx.astype("<i8").tobytes()).hexdigest() == "25ecea0e2b54adf745896a61f5e13095"
    assert np.array_equal(split.y_eval, y_test[eval_idx])


def test_cli_check_passes_on_the_shared_datasets(data):
    run = grader("datasets", "check", "--data-dir", str(data), timeout=120)
    assert run.code == 0, run.stderr
    lines = run.stdout.splitlines()
    assert sum(" verified " in line for line in lines) == 6
    assert sum("missing   (not needed for grading)" in line for line in lines) == 2   # MNIST train


def test_cli_check_fails_cleanly(tmp_path, data):
    run = grader("datasets", "check", "--data-dir", str(tmp_path / "nowhere"), timeout=120)
    assert run.code == 2 and "does not exist" in run.stderr and "Traceback" not in run.stderr
    run = grader("datasets", "check", env={"GRADER_DATA_DIR": "", "XDG_CACHE_HOME": str(tmp_path)}, timeout=120)
    assert run.code == 2 and "no data directory is set" in run.stderr
    run = grader("datasets", "check", env={"GRADER_DATA_DIR": str(data / "mnist")}, timeout=120)
    assert run.code == 2 and "train-images-idx3-ubyte.gz" in run.stderr and "checksum mismatch" in run.stderr


def test_cli_fetch_fails_cleanly_without_internet(tmp_path):
    run = grader("datasets", "fetch", str(tmp_path / "downloads"), timeout=120)
    assert run.code == 2 and run.seconds < 120, run.stdout + run.stderr
    assert "torchvision is not installed" in run.stderr or "could not download" in run.stderr
    assert "Traceback" not in run.stderr
