"""monDEQ form: z = σ(W z + U x + b) (Winston & Kolter, NeurIPS 2020).

Well posed when I − W is strongly monotone, sym(I − W) ⪰ m·I with m > 0; the parameterization
W = (1 − m)·I − AᵀA + S − Sᵀ guarantees it for any A, S.  The fixed point is the equilibrium
0 ∈ (I − W) z − (U x + b) + F(z) with σ = (I + F)⁻¹ (ReLU for F = N₊), so the kit's solvers apply
with H = I − W and q = −(U x + b).
"""

from dataclasses import dataclass, field

import numpy as np

from .elements import IdealDiode, element_from_dict
from .solvers import PreparedKernel, solve_exact

__all__ = ["MonDEQ"]


@dataclass(eq=False)
class MonDEQ:
    W: np.ndarray
    U: np.ndarray
    b: np.ndarray
    element: object = field(default_factory=IdealDiode)

    def __post_init__(self):
        self.W = np.asarray(self.W, dtype=float)
        self.U = np.asarray(self.U, dtype=float)
        self.b = np.asarray(self.b, dtype=float).reshape(-1)
        n = self.b.size
        if self.W.shape != (n, n) or self.U.ndim != 2 or self.U.shape[0] != n:
            raise ValueError(
                f"monDEQ needs W (n×n), U (n×d), b (n); got W {self.W.shape}, U {self.U.shape}, b ({n},)"
            )
        for name, arr in (("W", self.W), ("U", self.U), ("b", self.b)):
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{name} contains NaN or infinite values")

    @property
    def n(self):
        return self.b.size

    @property
    def n_features(self):
        return self.U.shape[1]

    def kernel(self):
        return np.eye(self.n) - self.W

    def prepared_kernel(self):
        """I − W as a `solvers.PreparedKernel`, kept while W is the same array (the monotonicity
        check, colouring and resolvent inverse are computed once per weight change)."""
        cached = self.__dict__.get("_prepared")
        if cached is None or cached[0] is not self.W:
            cached = self.__dict__["_prepared"] = (self.W, PreparedKernel(self.kernel()))
        return cached[1]

    def monotonicity(self):
        """Strong monotonicity m = λ_min(sym(I − W)); raises if m ≤ 0 (not well posed)."""
        return self.prepared_kernel().monotonicity()[0]

    def drive(self, x):
        x = np.asarray(x, dtype=float)
        if x.ndim not in (1, 2) or x.shape[-1] != self.n_features:
            raise ValueError(f"inputs must have shape ({self.n_features},) or (batch, {self.n_features}); got {x.shape}")
        return -(np.atleast_2d(x) @ self.U.T + self.b)

    def solve(self, x, **kwargs):
        """Fixed point z* for every row of x, as an `Equilibrium`."""
        self.monotonicity()
        return solve_exact(self.prepared_kernel(), self.drive(x), self.element, **kwargs)

    def fixed_point_residual(self, x, z):
        """‖z − σ(W z + U x + b)‖∞ per sample (σ the unit-step resolvent)."""
        z = np.atleast_2d(z)
        pre = z @ self.W.T - self.drive(x)
        return np.max(np.abs(z - self.element.resolvent(pre, 1.0)), axis=1)

    @classmethod
    def winston_kolter(cls, A, S, m, U, b, element=None):
        """W = (1 − m)I − AᵀA + S − Sᵀ: strongly monotone with parameter ≥ m for any A, S."""
        A = np.asarray(A, dtype=float)
        S = np.asarray(S, dtype=float)
        n = S.shape[0]
        if not m > 0:
            raise ValueError(f"monotonicity parameter m must be > 0, got {m}")
        W = (1 - m) * np.eye(n) - A.T @ A + S - S.T
        return cls(W, U, b, element or IdealDiode())

    @classmethod
    def random(cls, n, d, m=0.1, rng=None, symmetric=False):
        rng = np.random.default_rng(rng)
        A = rng.normal(size=(n, n)) / np.sqrt(n)
        S = np.zeros((n, n)) if symmetric else rng.normal(size=(n, n)) / np.sqrt(n)
        return cls.winston_kolter(A, S, m, rng.normal(size=(n, d)), rng.normal(size=n))

    def to_arrays(self):
        meta = {"kind": "mondeq", "element": self.element.to_dict()}
        return meta, {"W": self.W, "U": self.U, "b": self.b}

    @classmethod
    def from_arrays(cls, meta, arrays):
        return cls(arrays["W"], arrays["U"], arrays["b"], element_from_dict(meta.get("element", {"kind": "ideal"})))
