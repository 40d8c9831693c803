"""Models and checkpoints as plain data: one NumPy .npz per file, written atomically.

Every file holds the model's arrays under their own names plus `meta`, a JSON string (kind,
element, encoding, scalars).  Loading uses allow_pickle=False; float64 arrays round-trip bit for
bit.  Writes go to a temporary file in the same directory and are renamed into place, so a
crash never leaves a half-written model.
"""

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .cascade import Cascade
from .mondeq import MonDEQ
from .network import ResistorDiodeNetwork

__all__ = ["save_model", "load_model", "atomic_write_bytes", "atomic_savez", "atomic_write_text"]

_KINDS = {"resistor_diode_network": ResistorDiodeNetwork, "mondeq": MonDEQ, "cascade": Cascade}


def atomic_write_bytes(path, data):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
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


def load_model(path, with_extra=False):
    """Read a model written by `save_model`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model file at {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except (ValueError, OSError) as exc:
        raise ValueError(f"{path} is not a diodenet model file (.npz): {exc}") from None
    if "meta" not in data:
        # A bare monDEQ written by another tool: arrays W, U, b.
        if {"W", "U", "b"} <= set(data):
            model = MonDEQ(data["W"], data["U"], data["b"])
            return (model, {}) if with_extra else model
        raise ValueError(f"{path} has neither diodenet metadata nor monDEQ arrays W, U, b")
    meta = json.loads(str(data.pop("meta")))
    kind = meta.get("kind")
    if kind not in _KINDS:
        raise ValueError(f"{path}: unknown model kind {kind!r}")
    model = _KINDS[kind].from_arrays(meta, data)
    if with_extra:
        _, own = model.to_arrays()
        return model, {k: v for k, v in data.items() if k not in own}
    return model
