"""Files written atomically and read defensively, and output folders locked (host/fileio.py)."""

import os
import stat
import subprocess
import sys

import numpy as np
import pytest

from diodenet.host import fileio
from diodenet.host.fileio import FolderBusyError, FolderLock, atomic_savez, atomic_write_bytes, read_npz


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    atomic_write_bytes(path, b"old")

    def chunks():
        yield b"new, half"
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(path, chunks())
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["f.bin"]


def test_written_files_get_the_umask_permissions_of_an_ordinary_file(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write_bytes(tmp_path / "a" / "f.bin", [b"x", b"y"])     # creates the folder too
        (tmp_path / "plain").write_bytes(b"")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "a" / "f.bin").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "plain").stat().st_mode) == 0o640
    assert (tmp_path / "a" / "f.bin").read_bytes() == b"xy"
    with pytest.raises(IsADirectoryError):
        atomic_write_bytes(tmp_path / "a", b"")


def test_read_npz_names_each_kind_of_damage(tmp_path):
    good = tmp_path / "g.npz"
    atomic_savez(good, a=np.arange(3.0), s=np.array("text"))
    data = read_npz(good)
    assert np.array_equal(data["a"], np.arange(3.0)) and str(data["s"]) == "text"
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[:40])
    cases = {
        tmp_path / "missing.npz": (FileNotFoundError, "no NumPy"),
        tmp_path: (ValueError, "is a folder"),
        cut: (ValueError, "truncated or corrupt"),
    }
    np.savez(tmp_path / "obj.npz", a=np.array([{"x": 1}], dtype=object))
    np.savez(tmp_path / "cplx.npz", a=np.ones(2, complex))
    np.savez(tmp_path / "empty.npz", a=np.zeros(0), U=np.zeros((2, 0)))
    np.save(tmp_path / "single.npy", np.ones(2))
    cases[tmp_path / "obj.npz"] = (ValueError, "unreadable")
    cases[tmp_path / "cplx.npz"] = (ValueError, "complex")
    cases[tmp_path / "empty.npz"] = (ValueError, "'a' is empty")
    cases[tmp_path / "single.npy"] = (ValueError, "single array")
    for path, (error, says) in cases.items():
        with pytest.raises(error, match=says):
            read_npz(path)
    np.savez(tmp_path / "u.npz", U=np.zeros((2, 0)))
    assert read_npz(tmp_path / "u.npz", allow_empty=("U",))["U"].shape == (2, 0)


def test_a_folder_lock_refuses_a_second_run_naming_the_first(tmp_path):
    with FolderLock(tmp_path / "run", "training run"):
        other = subprocess.run([sys.executable, "-c", (
            "import sys; from diodenet.host.fileio import FolderLock\n"
            f"FolderLock({str(tmp_path / 'run')!r}).acquire()")], capture_output=True, text=True)
        assert other.returncode != 0
        assert f"in use by another run (PID {os.getpid()})" in other.stderr
        with pytest.raises(FolderBusyError, match=str(os.getpid())):
            FolderLock(tmp_path / "run").acquire()              # a second open file, same process
    assert not (tmp_path / "run" / FolderLock.NAME).exists()
    with FolderLock(tmp_path / "run"):                          # free again
        pass
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="is a file"):
        FolderLock(tmp_path / "file").acquire()


def test_the_module_is_what_model_files_write_through(tmp_path, monkeypatch):
    """modelio writes through fileio (a failed rename there leaves the old model)."""
    from diodenet.host.modelio import save_model
    from diodenet.host.mondeq import MonDEQ
    calls = []
    real = fileio.os.replace
    monkeypatch.setattr(fileio.os, "replace", lambda a, b: (calls.append(b), real(a, b)))
    save_model(tmp_path / "m.npz", MonDEQ.random(3, 1, rng=np.random.default_rng(0)))
    assert calls == [tmp_path / "m.npz"]
