"""Fixed permutations of the coordinates: volume preserving, no parameters.

    x_j = z_{perm[j]},   z = x[:, perm^{-1}],   log|det| = 0

Placed between coupling or autoregressive layers so every coordinate gets transformed.
Gradients pass through by the inverse permutation: dL/dz = (dL/dx)[:, perm^{-1}].
"""

from __future__ import annotations

import numpy as np

from .core import Bijection
from .validation import positive_int

__all__ = ["Permute", "Reverse"]


class Permute(Bijection):
    """``Permute(perm)``: ``x = z[:, perm]`` for a permutation ``perm`` of ``0 .. d-1``."""

    volume_preserving = True

    def __init__(self, perm):
        perm = np.asarray(perm)
        if perm.ndim != 1 or perm.size == 0:
            raise ValueError(
                f"perm must be a non-empty 1-D sequence of indices; got shape {perm.shape}")
        if not np.issubdtype(perm.dtype, np.integer):
            raise ValueError(f"perm must hold integers; got dtype {perm.dtype}")
        d = perm.size
        if not np.array_equal(np.sort(perm), np.arange(d)):
            raise ValueError(f"perm must be a permutation of 0..{d - 1}; got {perm.tolist()}")
        self.dim = d
        self.perm = perm.astype(np.intp)
        self.inv_perm = np.argsort(self.perm)

    def forward_cached(self, z):
        return z[:, self.perm], np.zeros(z.shape[0]), None

    def inverse_cached(self, x):
        return x[:, self.inv_perm], np.zeros(x.shape[0]), None

    def forward_backward(self, cache, grad_x, grad_log_det):
        return grad_x[:, self.inv_perm], {}

    def inverse_backward(self, cache, grad_z, grad_log_det):
        return grad_z[:, self.perm], {}

    def __repr__(self):
        return f"Permute({self.perm.tolist()})"


class Reverse(Permute):
    """``Reverse(d)``: ``x_j = z_{d-1-j}``, the permutation that reverses the order."""

    def __init__(self, d: int):
        super().__init__(np.arange(positive_int(d, "dimension d"))[::-1])

    def __repr__(self):
        return f"Reverse({self.dim})"
