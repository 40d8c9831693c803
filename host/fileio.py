"""Files written atomically and read defensively, and output folders locked while a run writes.

A write goes to a temporary file in the same folder and is renamed into place (`os.replace` is
atomic on POSIX), so a crash never leaves a half-written file; `read_npz` turns every way an .npz
file can be damaged into a ValueError naming the file; `FolderLock` keeps two runs out of one
folder.
"""

import fcntl
import io
import os
import tempfile
import tokenize
import zipfile
import zlib
from pathlib import Path

import numpy as np

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_savez", "read_npz", "NPY_ERRORS",
           "FolderLock", "FolderBusyError"]


def _umask():
    """The process's umask (read without changing it where /proc allows)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path, data):
    """Write `data` (bytes, or an iterable of bytes chunks) to path through a temporary file in
    the same folder, renamed into place; the file gets the permissions of an ordinary file
    under the user's umask (mkstemp's 0600 would leak into results)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; name a file to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, (bytes, bytearray, memoryview)):
                f.write(data)
            else:
                for chunk in data:
                    f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode())


def atomic_savez(path, **arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


# what NumPy raises on a damaged .npy/.npz (a garbled header is parsed as a Python literal)
NPY_ERRORS = (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error, NotImplementedError,
              UnicodeDecodeError, SyntaxError, tokenize.TokenError, MemoryError, OverflowError)


def read_npz(path, what="NumPy .npz file", numeric=True, allow_empty=()):
    """All arrays of an .npz file as a dict, or a ValueError naming the file and the problem:
    missing, not a zip, truncated, corrupt, object arrays (never unpickled); with `numeric`, also
    complex arrays and zero-size arrays (except names in `allow_empty`).  String arrays pass."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a {what}")
    if not path.exists():
        raise FileNotFoundError(f"no {what} at {path}")
    try:
        f = np.load(path, allow_pickle=False)
        if not isinstance(f, np.lib.npyio.NpzFile):      # a bare .npy array (no context manager)
            raise ValueError("it holds a single array (.npy), not a set of named arrays (.npz)")
        with f:
            data = {k: f[k] for k in f.files}
    except NPY_ERRORS as exc:
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, (zipfile.BadZipFile, EOFError, zlib.error)):
            reason = f"truncated or corrupt ({reason})"
        raise ValueError(f"{path} is not a {what} (unreadable: {reason})") from None
    if numeric:
        for name, a in data.items():
            if a.dtype.kind in "US":
                continue
            if a.dtype.kind not in "biuf":
                raise ValueError(f"{path}: array {name!r} has dtype {a.dtype}; a {what} holds real numbers")
            if a.size == 0 and not any(name == e or name.endswith("_" + e) for e in allow_empty):
                raise ValueError(f"{path}: array {name!r} is empty (shape {a.shape})")
    return data


class FolderBusyError(ValueError):
    """Another process holds the folder's lock."""


class FolderLock:
    """An exclusive lock on an output folder while a run writes to it (``flock`` on
    ``FOLDER/.diodenet.lock``, which holds the owner's PID; the kernel drops the lock when the
    process dies, even by SIGKILL, so a stale file never blocks).  A second run is refused with a
    `FolderBusyError` naming the first one's PID."""

    NAME = ".diodenet.lock"

    def __init__(self, folder, what="run"):
        self.folder = Path(folder)
        self.what = what
        self.fd = None

    def acquire(self):
        if self.folder.exists() and not self.folder.is_dir():
            raise ValueError(f"{self.folder} is a file; name a folder to write into")
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / self.NAME
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                try:
                    owner = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
                finally:
                    os.close(fd)
                raise FolderBusyError(
                    f"{self.folder} is in use by another {self.what} (PID {owner}); wait for it to "
                    "finish or choose another output folder") from None
            try:                        # the file we locked must still be the one at `path`
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def release(self):
        if self.fd is None:
            return
        try:
            os.unlink(self.folder / self.NAME)
        except FileNotFoundError:
            pass
        os.close(self.fd)
        self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
