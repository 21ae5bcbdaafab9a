"""grader/private_paths.py: every folder made on the way is 0700, a file 0600 from its first byte,
an older readable file made private; under the usual umask (0022), not the test runner's."""
from __future__ import annotations

import os
import stat

import pytest

from grader.gpus import SlotPool, parse_slots
from grader.private_paths import make_private, private_dir, private_file
from grader.storage.files import FileStore


@pytest.fixture(autouse=True)
def usual_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_each_folder_made_on_the_way_is_private_and_an_existing_one_is_left(tmp_path):
    (tmp_path / "shared").mkdir(mode=0o755)
    assert private_dir(tmp_path / "shared" / "a" / "b") == tmp_path / "shared" / "a" / "b"
    assert [mode(tmp_path / p) for p in ("shared", "shared/a", "shared/a/b")] == [0o755, 0o700, 0o700]
    private_dir(tmp_path / "shared" / "a" / "b")                    # again: nothing to do
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError):
        private_dir(tmp_path / "file")
    with pytest.raises(OSError):
        private_dir(tmp_path / "file" / "below")


def test_a_file_is_private_from_the_start_or_made_private(tmp_path):
    assert mode(private_file(tmp_path / "new.db")) == 0o600
    old = tmp_path / "old.db"
    old.write_text("data")
    old.chmod(0o664)
    private_file(old)
    assert (mode(old), old.read_text()) == (0o600, "data")           # kept, not emptied
    run = tmp_path / "run.sh"
    run.write_text("")
    run.chmod(0o755)
    make_private(run)
    assert mode(run) == 0o700                                       # the owner's bits stay
    make_private(tmp_path / "missing")                              # nothing to do, no error


def test_stored_submissions_and_gpu_locks_are_private_below_a_new_root(tmp_path):
    store = FileStore(tmp_path / "srv" / "submissions")
    sha = store.put(b"print('hi')\n")
    path = store.path(sha)
    assert [mode(p) for p in (tmp_path / "srv", store.root, path.parent)] == [0o700, 0o700, 0o700]
    assert mode(path) == 0o400 and store.get(sha) == b"print('hi')\n"
    pool = SlotPool(parse_slots("0"), tmp_path / "instance" / "gpu-slots")
    pool.check()                                                   # a worker's start check makes the folder
    assert [mode(tmp_path / p) for p in ("instance", "instance/gpu-slots")] == [0o700, 0o700]


@pytest.mark.datasets
def test_the_decoded_dataset_cache_is_private(data_dir, tmp_path):
    """The cache holds decoded held-out labels: <instance>/cache/datasets, each folder 0700."""
    from grader.datasets import load
    load("mnist", "test", data_dir, tmp_path / "instance" / "cache")
    folders = [tmp_path / p for p in ("instance", "instance/cache", "instance/cache/datasets")]
    assert [mode(p) for p in folders] == [0o700, 0o700, 0o700]
    files = list((tmp_path / "instance" / "cache" / "datasets").iterdir())
    assert len(files) == 2 and {mode(p) for p in files} == {0o600}
