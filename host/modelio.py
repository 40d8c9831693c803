"""Models and checkpoints as plain data: one NumPy .npz per file, written atomically (`fileio`).

Every file holds the model's arrays under their own names plus `meta`, a JSON string (kind,
element, encoding, scalars).  Loading uses allow_pickle=False; float64 arrays round-trip bit for
bit.
"""

import json
from pathlib import Path

import numpy as np

from .cascade import Cascade
from .fileio import atomic_savez, read_npz
from .mondeq import MonDEQ
from .network import ResistorDiodeNetwork

__all__ = ["save_model", "load_model", "check_finite"]

_KINDS = {"resistor_diode_network": ResistorDiodeNetwork, "mondeq": MonDEQ, "cascade": Cascade}
# arrays a valid model may hold empty (a monDEQ without inputs)
_EMPTY_OK = ("U",)


def save_model(path, model, extra=None):
    """Write a `ResistorDiodeNetwork`, `Cascade` or `MonDEQ` (plus optional extra arrays) to path (.npz)."""
    meta, arrays = model.to_arrays()
    extra = dict(extra or {})
    clash = set(extra) & (set(arrays) | {"meta"})
    if clash:
        raise ValueError(f"extra arrays clash with model fields: {sorted(clash)}")
    atomic_savez(path, meta=np.array(json.dumps(meta)), **arrays, **extra)


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
