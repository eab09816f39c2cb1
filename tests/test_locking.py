"""One writer per output: the lock of selfinstruct.locking, held by another real process."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from lock_holder import holder

from selfinstruct import locking
from selfinstruct.errors import UserError
from selfinstruct.locking import exclusive, exclusive_all, lock_path_for


def refusal(target: Path, pid: int) -> str:
    return (
        f"{target} is in use by another selfinstruct process (pid {pid}): "
        "wait for it to finish or choose another -o"
    )


def test_second_process_is_refused_with_holder_pid(tmp_path):
    target = tmp_path / "out.jsonl"
    with holder(target) as process:
        assert lock_path_for(target).read_text() == f"{process.pid}\n"
        with pytest.raises(UserError) as err, exclusive(target, "-o"):
            pytest.fail("the lock was taken twice")
        assert str(err.value) == refusal(target, process.pid)


def test_clean_release_frees_and_removes_the_lock_file(tmp_path):
    target = tmp_path / "out.jsonl"
    with holder(target) as process:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write("done\n")
        process.stdin.flush()
        assert process.stdout.readline() == "released\n"
        assert process.wait(timeout=30) == 0
    assert not lock_path_for(target).exists()
    with exclusive(target, "-o"):
        assert lock_path_for(target).read_text() == f"{os.getpid()}\n"
    assert sorted(os.listdir(tmp_path)) == []


def test_kill_9_of_the_holder_frees_the_lock(tmp_path):
    target = tmp_path / "out.jsonl"
    with holder(target) as process:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        # The stale lock file stays, naming the dead pid, and blocks nobody.
        assert lock_path_for(target).read_text() == f"{process.pid}\n"
        with exclusive(target, "-o"):
            assert lock_path_for(target).read_text() == f"{os.getpid()}\n"
    assert not lock_path_for(target).exists()


def test_named_lock_file_in_a_folder(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    with holder(run, run / ".lock") as process:
        with (
            pytest.raises(UserError) as err,
            exclusive(run, "--out folder", lock_file=run / ".lock"),
        ):
            pytest.fail("the lock was taken twice")
        assert str(err.value) == (
            f"{run} is in use by another selfinstruct process (pid {process.pid}): "
            "wait for it to finish or choose another --out folder"
        )


def test_same_process_twice_is_refused(tmp_path):
    target = tmp_path / "out.jsonl"
    with exclusive(target, "-o"):
        with pytest.raises(UserError) as err, exclusive(target, "-o"):
            pytest.fail("the lock was taken twice")
        assert str(err.value) == refusal(target, os.getpid())


def test_exclusive_all_locks_every_path_once_and_releases_all(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    with exclusive_all([(b, "-o"), (a, "--rejects"), (tmp_path / "." / "a.jsonl", "-o")]):
        assert lock_path_for(a).is_file() and lock_path_for(b).is_file()
        with pytest.raises(UserError) as err, exclusive(b, "-o"):
            pytest.fail("the lock was taken twice")
        assert str(err.value) == refusal(b, os.getpid())
    assert sorted(os.listdir(tmp_path)) == []


def test_exclusive_all_releases_what_it_took_when_one_is_busy(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    with holder(b) as process:
        with pytest.raises(UserError) as err, exclusive_all([(a, "-o"), (b, "-o")]):
            pytest.fail("the lock was taken twice")
        assert str(err.value) == refusal(b, process.pid)
        assert not lock_path_for(a).exists()
        with exclusive(a, "-o"):
            pass


def test_missing_folder_is_one_line(tmp_path):
    target = tmp_path / "nope" / "out.jsonl"
    with pytest.raises(UserError) as err, exclusive(target, "-o"):
        pytest.fail("locked a file in a missing folder")
    assert str(err.value) == f"cannot write {target}: No such file or directory"


def test_lock_file_removed_between_open_and_flock_is_retried(tmp_path, monkeypatch):
    """The previous holder unlinks its lock file just after we opened it: we must not keep a
    lock on a file nobody else can see."""
    target = tmp_path / "out.jsonl"
    lock = lock_path_for(target)
    lock.write_text("999\n")
    real_flock = locking.fcntl.flock
    calls = []

    def flock(fd: int, op: int) -> None:
        calls.append(os.fstat(fd).st_ino)
        if len(calls) == 1:
            os.unlink(lock)  # the old holder's clean exit
        real_flock(fd, op)

    monkeypatch.setattr(locking.fcntl, "flock", flock)
    with exclusive(target, "-o"):
        assert len(calls) == 2
        assert os.stat(lock).st_ino == calls[1]
        assert lock.read_text() == f"{os.getpid()}\n"
