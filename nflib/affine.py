"""Elementwise (per-channel) affine bijection: the simplest flow with parameters.

    x = z * exp(log_scale) + shift,          log|det df/dz|    =  P * sum_c log_scale_c
    z = (x - shift) * exp(-log_scale),       log|det df^{-1}/dx| = -P * sum_c log_scale_c

applied along axis 1: to column c of ``(n, d)`` vectors (P = 1), or to channel c of
``(n, c, h, w)`` images, where each channel's parameters are shared by its P = h*w pixels
(``ActNorm`` in ``nflib.image`` is this map with a data-dependent initialisation). The scale is
parametrised by its logarithm, so it can never be zero or negative.

Gradients (g = dL/d(output), g_ld = dL/dlog_det, sums over samples and pixels):

* forward: dL/dz = g e^s, dL/dshift = sum g, dL/dlog_scale = sum g z e^s + P sum g_ld;
* inverse: dL/dx = g e^{-s}, dL/dshift = -sum g e^{-s}, dL/dlog_scale = -sum g z - P sum g_ld,
  with z = (x - shift) e^{-s}.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .core import Bijection
from .validation import check_finite, check_log_scale, positive_int

__all__ = ["Affine", "pixels_per_channel"]


class _AffineCache(NamedTuple):
    """What a pass keeps for its backward pass: the base-side values and the factor applied."""

    z: np.ndarray       # the input of forward or the output of inverse
    factor: np.ndarray  # exp(log_scale) forward, exp(-log_scale) inverse, broadcast along axis 1


def _per_channel(v: np.ndarray, ndim: int) -> np.ndarray:
    """Reshape a ``(c,)`` vector to broadcast along axis 1 of an ``ndim`` array."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def pixels_per_channel(a: np.ndarray) -> int:
    """Positions sharing each channel's parameters: h*w for images, 1 for vectors."""
    return int(np.prod(a.shape[2:], dtype=int))


def _channel_sum(a: np.ndarray) -> np.ndarray:
    """Sum over every axis except the channel axis 1."""
    return a.sum(axis=(0, *range(2, a.ndim)))


class Affine(Bijection):
    """``Affine(d, log_scale=None, shift=None)``; starts at the identity unless values are given.

    Parameters ``log_scale`` and ``shift``, both of shape ``(d,)``; ``forward(z)`` takes
    ``(n, d)`` batches.
    """

    #: the name of the shift among the parameters
    shift_name = "shift"

    def __init__(self, d: int, log_scale=None, shift=None):
        self.dim = self.channels = positive_int(d, "dimension d")
        self.log_scale = self._vector(log_scale, "log_scale")
        self.shift = self._vector(shift, self.shift_name)

    def _vector(self, v, name):
        if v is None:
            return np.zeros(self.channels)
        v = np.array(v, dtype=np.float64).reshape(-1)
        if v.shape != (self.channels,):
            raise ValueError(f"{type(self).__name__} {name} must have shape ({self.channels},); "
                             f"got {v.shape}")
        return v

    def parameters(self):
        return {"log_scale": self.log_scale, self.shift_name: self.shift}

    def _check_parameters(self):
        kind = type(self).__name__
        check_log_scale(self.log_scale, f"{kind} log_scale")
        check_finite(self.shift, f"{kind} {self.shift_name}")

    def forward_cached(self, z):
        self._check_parameters()
        scale = np.exp(_per_channel(self.log_scale, z.ndim))
        x = z * scale + _per_channel(self.shift, z.ndim)
        log_det = np.full(z.shape[0], pixels_per_channel(z) * self.log_scale.sum())
        return x, log_det, _AffineCache(z, scale)

    def inverse_cached(self, x):
        self._check_parameters()
        inv_scale = np.exp(-_per_channel(self.log_scale, x.ndim))
        z = (x - _per_channel(self.shift, x.ndim)) * inv_scale
        log_det = np.full(x.shape[0], -pixels_per_channel(x) * self.log_scale.sum())
        return z, log_det, _AffineCache(z, inv_scale)

    def forward_backward(self, cache, grad_x, grad_log_det):
        z, scale = cache
        g_z = grad_x * scale
        grads = {"log_scale": _channel_sum(g_z * z) + pixels_per_channel(z) * np.sum(grad_log_det),
                 self.shift_name: _channel_sum(grad_x)}
        return g_z, grads

    def inverse_backward(self, cache, grad_z, grad_log_det):
        z, inv_scale = cache
        g_x = grad_z * inv_scale
        grads = {"log_scale": -_channel_sum(grad_z * z) - pixels_per_channel(z) * np.sum(grad_log_det),
                 self.shift_name: -_channel_sum(g_x)}
        return g_x, grads

    def __repr__(self):
        return f"Affine({self.dim})"
