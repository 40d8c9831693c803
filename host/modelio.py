"""Models and checkpoints as plain data: one NumPy .npz per file, written atomically.

Every file holds the model's arrays under their own names plus `meta`, a JSON string (kind,
element, encoding, scalars).  Loading uses allow_pickle=False; float64 arrays round-trip bit for
bit.  Writes go to a temporary file in the same directory and are renamed into place, so a
crash never leaves a half-written model.
"""

import fcntl
import json
import os
import tempfile
import tokenize
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .cascade import Cascade
from .mondeq import MonDEQ
from .network import ResistorDiodeNetwork

__all__ = ["save_model", "load_model", "atomic_write_bytes", "atomic_savez", "atomic_write_text",
           "read_npz", "FolderLock", "FolderBusyError"]

_KINDS = {"resistor_diode_network": ResistorDiodeNetwork, "mondeq": MonDEQ, "cascade": Cascade}
# arrays a valid model may hold empty (a monDEQ without inputs)
_EMPTY_OK = ("U",)


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
    import io
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def save_model(path, model, extra=None):
    """Write a `ResistorDiodeNetwork`, `Cascade` or `MonDEQ` (plus optional extra arrays) to path (.npz)."""
    meta, arrays = model.to_arrays()
    extra = dict(extra or {})
    clash = set(extra) & (set(arrays) | {"meta"})
    if clash:
        raise ValueError(f"extra arrays clash with model fields: {sorted(clash)}")
    atomic_savez(path, meta=np.array(json.dumps(meta)), **arrays, **extra)


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
        with np.load(path, allow_pickle=False) as f:
            if not isinstance(f, np.lib.npyio.NpzFile):
                raise ValueError("it holds a single array (.npy), not a set of named arrays (.npz)")
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


def check_finite(model):
    """Every floating-point array of a model is finite (else a ValueError naming the array)."""
    _, arrays = model.to_arrays()
    for name, a in arrays.items():
        a = np.asarray(a)
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise ValueError(f"array {name!r} contains NaN or infinite values")


def load_model(path, with_extra=False):
    """Read a model written by `save_model` (or a bare monDEQ: arrays W, U, b).  A file that is
    missing, truncated, corrupt or not a model raises FileNotFoundError / ValueError naming it."""
    path = Path(path)
    data = read_npz(path, "diodenet model file (.npz)", allow_empty=_EMPTY_OK)
    try:
        if "meta" not in data:
            # A bare monDEQ written by another tool: arrays W, U, b.
            if {"W", "U", "b"} <= set(data):
                model = MonDEQ(data["W"], data["U"], data["b"])
                return (model, {}) if with_extra else model
            raise ValueError(f"{path} has neither diodenet metadata nor monDEQ arrays W, U, b")
        meta = json.loads(str(data.pop("meta")))
        kind = meta.get("kind") if isinstance(meta, dict) else None
        if kind not in _KINDS:
            raise ValueError(f"{path}: unknown model kind {kind!r}")
        model = _KINDS[kind].from_arrays(meta, data)
        check_finite(model)
    except ValueError as exc:
        msg = str(exc)
        raise ValueError(msg if str(path) in msg else f"{path}: {msg}") from None
    except (KeyError, TypeError, IndexError, AttributeError) as exc:
        raise ValueError(f"{path} is not a valid diodenet model file ({type(exc).__name__}: {exc}); "
                         "write it with diodenet train or save_model") from None
    if with_extra:
        _, own = model.to_arrays()
        return model, {k: v for k, v in data.items() if k not in own}
    return model


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
