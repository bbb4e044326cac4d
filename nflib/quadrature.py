"""Gauss-Hermite quadrature for expectations under a standard normal.

``gauss_hermite(n, d)`` returns nodes ``(n^d, d)`` and weights ``(n^d,)`` summing to one with

    E_{e ~ N(0, I_d)}[g(e)]  ~=  sum_i w_i g(e_i),

exact when g is a polynomial of degree at most 2n - 1 in each coordinate. The 1-D nodes are the
roots of the probabilists' Hermite polynomial He_n (symmetric about 0); the d-D rule is their
tensor product.
"""

from __future__ import annotations

import numpy as np

from .validation import positive_int

__all__ = ["gauss_hermite"]


def gauss_hermite(n: int, d: int = 1):
    """Tensor-product Gauss-Hermite rule for N(0, I_d): nodes ``(n**d, d)``, weights ``(n**d,)``."""
    n = positive_int(n, "the number of nodes per dimension")
    d = positive_int(d, "the dimension d")
    t, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / w.sum()
    grids = np.meshgrid(*([t] * d), indexing="ij")
    nodes = np.stack([g.ravel() for g in grids], axis=1)
    weights = np.ones(1)
    for _ in range(d):
        weights = np.outer(weights, w).ravel()
    return nodes, weights / weights.sum()
