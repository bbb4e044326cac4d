"""Elementwise affine bijection: the simplest flow with parameters.

    x = z * exp(log_scale) + shift,          log|det df/dz|    =  sum_j log_scale_j
    z = (x - shift) * exp(-log_scale),       log|det df^{-1}/dx| = -sum_j log_scale_j

The scale is parametrised by its logarithm, so it can never be zero or negative.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .core import Bijection
from .validation import check_finite, check_log_scale, positive_int

__all__ = ["Affine"]



class _AffineCache(NamedTuple):
    """What a pass keeps for its backward pass: the base-side values and the factor applied."""

    z: np.ndarray       # (n, d), the input of forward or the output of inverse
    factor: np.ndarray  # (d,), exp(log_scale) forward, exp(-log_scale) inverse


class Affine(Bijection):
    """``Affine(d, log_scale=None, shift=None)``; starts at the identity unless values are given.

    Parameters ``log_scale`` and ``shift``, both of shape ``(d,)``. Gradients in both directions:

    * forward: dL/dz = g_x e^s, dL/dshift = sum_n g_x, dL/dlog_scale = sum_n (g_x z e^s + g_ld);
    * inverse: dL/dx = g_z e^{-s}, dL/dshift = -sum_n g_z e^{-s},
      dL/dlog_scale = -sum_n (g_z z + g_ld).
    """

    def __init__(self, d: int, log_scale=None, shift=None):
        self.dim = positive_int(d, "dimension d")
        self.log_scale = self._vector(log_scale, "log_scale")
        self.shift = self._vector(shift, "shift")

    def _vector(self, v, name):
        if v is None:
            return np.zeros(self.dim)
        v = np.array(v, dtype=np.float64).reshape(-1)
        if v.shape != (self.dim,):
            raise ValueError(f"{name} must have shape ({self.dim},); got {v.shape}")
        return v

    def parameters(self):
        return {"log_scale": self.log_scale, "shift": self.shift}

    def _check_parameters(self):
        check_log_scale(self.log_scale, "Affine log_scale")
        check_finite(self.shift, "Affine shift")

    def forward_cached(self, z):
        self._check_parameters()
        scale = np.exp(self.log_scale)
        x = z * scale + self.shift
        log_det = np.full(z.shape[0], self.log_scale.sum())
        return x, log_det, _AffineCache(z, scale)

    def inverse_cached(self, x):
        self._check_parameters()
        inv_scale = np.exp(-self.log_scale)
        z = (x - self.shift) * inv_scale
        log_det = np.full(x.shape[0], -self.log_scale.sum())
        return z, log_det, _AffineCache(z, inv_scale)

    def forward_backward(self, cache, grad_x, grad_log_det):
        z, scale = cache
        g_z = grad_x * scale
        grads = {"log_scale": np.einsum("ij,ij->j", g_z, z) + np.sum(grad_log_det),
                 "shift": grad_x.sum(axis=0)}
        return g_z, grads

    def inverse_backward(self, cache, grad_z, grad_log_det):
        z, inv_scale = cache
        g_x = grad_z * inv_scale
        grads = {"log_scale": -np.einsum("ij,ij->j", grad_z, z) - np.sum(grad_log_det),
                 "shift": -g_x.sum(axis=0)}
        return g_x, grads

    def __repr__(self):
        return f"Affine({self.dim})"
