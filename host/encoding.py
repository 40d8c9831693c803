"""Input encoding: features → source voltages.

A resistor network only couples nodes with positive conductances, so a signed weight from a
feature needs a signed source.  The differential encoding drives every feature twice, as
+s·x and −s·x, and adds two bias rails (+V_b and −V_b); a neuron then realizes the signed
weight w through g⁺ − g⁻ ∝ w (docs/science.md §1.2, "differential inputs").  The single-ended
encoding drives +s·x only and one +V_b rail.

The map is affine, u = E x + e0, so the monDEQ input matrix of a network is U ∝ G_in E and its
bias b ∝ G_in e0 (see `conversions.mondeq_from_network`).
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class InputEncoding:
    """Affine map u = E x + e0 from `n_features` features to source voltages (volts)."""

    n_features: int
    differential: bool = True
    scale: float = 1.0  # volts per unit feature
    bias: float = 1.0  # volts on the bias rail(s)
    line_range: tuple | None = None  # (lo, hi) volts a source line can take; encode() clips to it

    def __post_init__(self):
        if self.line_range is not None:
            lo, hi = (float(v) for v in self.line_range)
            if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
                raise ValueError(f"line_range must be (lo, hi) volts with lo < hi, got {self.line_range!r}")
            object.__setattr__(self, "line_range", (lo, hi))
        self._validate()

    def _validate(self):
        if int(self.n_features) != self.n_features or self.n_features < 0:
            raise ValueError(f"n_features must be a non-negative integer, got {self.n_features!r}")
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"input scale must be a positive number of volts, got {self.scale!r}")
        if not (np.isfinite(self.bias) and self.bias > 0):
            raise ValueError(f"bias voltage must be a positive number of volts, got {self.bias!r}")

    @property
    def n_sources(self):
        return 2 * self.n_features + 2 if self.differential else self.n_features + 1

    @property
    def source_names(self):
        d = self.n_features
        if self.differential:
            return [f"x{i}+" for i in range(d)] + [f"x{i}-" for i in range(d)] + ["bias+", "bias-"]
        return [f"x{i}" for i in range(d)] + ["bias"]

    @property
    def matrix(self):
        """E (n_sources × n_features)."""
        d = self.n_features
        eye = np.eye(d) * self.scale
        if self.differential:
            return np.vstack([eye, -eye, np.zeros((2, d))])
        return np.vstack([eye, np.zeros((1, d))])

    @property
    def offset(self):
        """e0 (n_sources,): the bias rails."""
        e0 = np.zeros(self.n_sources)
        if self.differential:
            e0[-2:] = [self.bias, -self.bias]
        else:
            e0[-1] = self.bias
        return e0

    def encode(self, x):
        """Source voltages for features x of shape (n_features,) or (batch, n_features)."""
        x = np.asarray(x, dtype=float)
        if x.ndim not in (1, 2) or x.shape[-1] != self.n_features:
            raise ValueError(
                f"inputs must have shape ({self.n_features},) or (batch, {self.n_features}); "
                f"got {x.shape}"
            )
        if not np.all(np.isfinite(x)):
            raise ValueError("inputs contain NaN or infinite values")
        u = self._lines(x)
        if self.line_range is not None:
            u = np.clip(u, *self.line_range)
        return u

    def is_affine_on(self, x):
        """True when u = E x + e0 holds exactly for these features (no line clipped)."""
        return self.line_range is None or self.n_clipped(x) == 0

    def pull_back(self, B):
        """B E for a matrix B acting on source voltages (k × n_sources → k × n_features), written
        out: s·(B₊ − B₋) for the differential encoding, s·B₊ single-ended."""
        d = self.n_features
        return self.scale * (B[:, :d] - B[:, d:2 * d]) if self.differential else self.scale * B[:, :d]

    def push_forward(self, Z, out=None):
        """Z Eᵀ for per-feature rows Z (k × n_features → k × n_sources; zero on the rails), into
        `out` when given (e.g. a strided view of a gradient)."""
        d = self.n_features
        out = np.empty(Z.shape[:-1] + (self.n_sources,)) if out is None else out
        np.multiply(Z, self.scale, out=out[..., :d])
        if self.differential:
            np.multiply(Z, -self.scale, out=out[..., d:2 * d])
        out[..., (2 * d if self.differential else d):] = 0.0
        return out

    def _lines(self, x):
        """E x + e0 written out (no product with the mostly-zero E): [s·x, −s·x, rails]."""
        batch = x.shape[:-1]
        rails = np.broadcast_to(self.offset[-(2 if self.differential else 1):], batch + (2 if self.differential else 1,))
        parts = [self.scale * x, -self.scale * x, rails] if self.differential else [self.scale * x, rails]
        return np.concatenate(parts, axis=-1)

    def n_clipped(self, x):
        """How many line voltages of features x fall outside `line_range` (encode clips them)."""
        if self.line_range is None:
            return 0
        x = np.asarray(x, dtype=float)
        u = self._lines(x)
        lo, hi = self.line_range
        return int(np.sum((u < lo) | (u > hi)))

    def to_dict(self):
        d = {
            "n_features": int(self.n_features),
            "differential": bool(self.differential),
            "scale": float(self.scale),
            "bias": float(self.bias),
        }
        if self.line_range is not None:
            d["line_range"] = list(self.line_range)
        return d

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        if d.get("line_range") is not None:
            d["line_range"] = tuple(d["line_range"])
        return cls(**d)
