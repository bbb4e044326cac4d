"""Planar flow: a single hyperplane "ridge" added to the identity.

    f(z) = z + u_hat tanh(w^T z + b)

For invertibility ``u`` is reparametrised so that w^T u_hat >= -1:

    u_hat = u + (m(w^T u) - w^T u) w / ||w||^2,   m(a) = -1 + softplus(a),

so that w^T u_hat = m(w^T u) > -1.

Log-determinant by the matrix determinant lemma, det(I + u_hat psi^T) = 1 + psi^T u_hat with
psi = tanh'(w^T z + b) w:

    log|det df/dz| = log(1 + m(w^T u) sech^2(w^T z + b))   (positive because m > -1).

In floating point -1 + softplus(a) rounds to -1 for a < -37, so the determinant is evaluated as
1 + m sech^2 = tanh^2 + softplus(w^T u) sech^2, a sum of two non-negative terms that stays positive.

Inverse: with alpha = w^T z, projecting x = f(z) on w gives the scalar equation

    alpha + m tanh(alpha + b) = w^T x,

whose left side is strictly increasing (slope 1 + m sech^2 > 0). It is solved per sample by
Newton's method safeguarded by bisection on the bracket [w^T x - |m|, w^T x + |m|]; then
z = x - u_hat tanh(alpha + b).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .core import Bijection
from .functions import sech2, sigmoid, softplus
from .validation import check_finite, positive_int

__all__ = ["Planar"]

_MAX_ITER = 200


class _PlanarCache(NamedTuple):
    """What the forward pass keeps for the backward pass."""

    z: np.ndarray          # inputs (n, d)
    t: np.ndarray          # tanh(w^T z + b), (n,)
    h: np.ndarray          # sech^2(w^T z + b) = 1 - t^2, (n,)
    denom: np.ndarray      # 1 + m h = |det df/dz|, (n,)
    u_hat: np.ndarray      # the constrained vector (d,)
    m: float               # w^T u_hat
    wu: float              # w^T u
    w2: float              # ||w||^2
    c: float               # (m - w^T u) / ||w||^2


class Planar(Bijection):
    """``Planar(d, *, rng, w=None, u=None, b=None)``: parameters ``w`` (d,), ``u`` (d,), ``b`` (1,).

    Unless given, w and u start as N(0, 1/d) draws from ``rng`` and b at 0 (``rng`` may be None
    when both w and u are given).

    Trained by reverse KL: gradient of the forward direction. With a = w^T z + b, t = tanh(a),
    h = sech^2(a), m = m(w^T u), D = 1 + m h and c = (m - w^T u)/||w||^2 (so u_hat = u + c w):

        dL/da   = (g_x . u_hat) h - 2 t h m g_ld / D
        dL/dz   = g_x + dL/da w,     dL/db = sum dL/da,     dL/du_hat = sum t g_x,
        dL/dm   = sum g_ld h / D + (dL/du_hat . w) / ||w||^2,
        dL/du   = dL/du_hat + (dL/dm sigmoid(w^T u) - (dL/du_hat . w)/||w||^2) w,
        dL/dw   = sum dL/da z + c dL/du_hat + (same bracket) u - 2 c (dL/du_hat . w) w / ||w||^2.
    """

    def __init__(self, d: int, *, rng: np.random.Generator | None, w=None, u=None, b=None):
        self.dim = positive_int(d, "dimension d")
        if rng is None and (w is None or u is None):
            raise ValueError("Planar needs an rng to draw w and u, or both w and u given")
        self.w = self._initial(w, (self.dim,), "w", rng)
        self.u = self._initial(u, (self.dim,), "u", rng)
        self.b = np.zeros(1) if b is None else self._initial(b, (1,), "b", rng)

    def _initial(self, value, shape, name, rng):
        """A copy of a given initial value (checked), or an N(0, 1/d) draw."""
        if value is None:
            return rng.standard_normal(shape) / np.sqrt(self.dim)
        value = np.array(value, dtype=np.float64).reshape(-1)
        if value.shape != shape:
            raise ValueError(f"Planar {name} must have shape {shape}; got {value.shape}")
        check_finite(value, f"Planar {name}")
        return value

    def parameters(self):
        return {"w": self.w, "u": self.u, "b": self.b}

    def _constrained(self):
        """(u_hat, m = w^T u_hat, softplus(w^T u), w^T u, ||w||^2, c); ValueError when w = 0."""
        for name in ("w", "u", "b"):
            check_finite(getattr(self, name), f"Planar {name}")
        w2 = float(self.w @ self.w)
        if w2 == 0.0:
            raise ValueError("Planar w is zero: the hyperplane direction is undefined "
                             "(u_hat divides by ||w||^2) and the map cannot be inverted")
        wu = float(self.w @ self.u)
        sp = max(float(softplus(wu)), np.finfo(np.float64).tiny)
        m = sp - 1.0
        c = (m - wu) / w2
        return self.u + c * self.w, m, sp, wu, w2, c

    def forward_cached(self, z):
        u_hat, m, sp, wu, w2, c = self._constrained()
        a = z @ self.w + self.b[0]
        t = np.tanh(a)
        h = sech2(a)
        denom = t * t + sp * h  # = 1 + m h
        x = z + t[:, None] * u_hat
        return x, np.log(denom), _PlanarCache(z, t, h, denom, u_hat, m, wu, w2, c)

    def inverse_cached(self, x):
        u_hat, m, sp, *_ = self._constrained()
        alpha = _solve_alpha(x @ self.w, m, self.b[0])
        a = alpha + self.b[0]
        t = np.tanh(a)
        z = x - t[:, None] * u_hat
        return z, -np.log(t * t + sp * sech2(a)), None

    def forward_backward(self, cache: _PlanarCache, grad_x, grad_log_det):
        z, t, h, denom, u_hat, m, wu, w2, c = cache
        g_a = (grad_x @ u_hat) * h - 2.0 * t * h * m * grad_log_det / denom
        g_z = grad_x + g_a[:, None] * self.w
        g_u_hat = t @ grad_x
        g_c = float(g_u_hat @ self.w)
        g_m = float(np.sum(grad_log_det * h / denom)) + g_c / w2
        g_wu = g_m * float(sigmoid(wu)) - g_c / w2
        grads = {
            "w": g_a @ z + c * g_u_hat + g_wu * self.u - 2.0 * c * g_c / w2 * self.w,
            "u": g_u_hat + g_wu * self.w,
            "b": np.array([g_a.sum()]),
        }
        return g_z, grads

    def __repr__(self):
        return f"Planar({self.dim})"


def _solve_alpha(y, m, b, tol=1e-15):
    """Solve alpha + m tanh(alpha + b) = y for every entry of y (vectorised safeguarded Newton).

    The root lies in [y - |m|, y + |m|]; a Newton step that leaves the current bracket is replaced
    by bisection, and the bracket shrinks with the sign of the residual at each iterate.
    """
    if m == 0.0:
        return y.copy()
    lo, hi = y - abs(m), y + abs(m)
    alpha = np.clip(y - m * np.tanh(y + b), lo, hi)
    for _ in range(_MAX_ITER):
        g = alpha + m * np.tanh(alpha + b) - y
        above = g > 0
        hi = np.where(above, alpha, hi)
        lo = np.where(above, lo, alpha)
        new = alpha - g / (1.0 + m * sech2(alpha + b))
        outside = (new < lo) | (new > hi)
        new = np.where(outside, 0.5 * (lo + hi), new)
        step = np.abs(new - alpha)
        alpha = new
        if np.all(step <= tol * (1.0 + np.abs(alpha))):
            return alpha
    return alpha
