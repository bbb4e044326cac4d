"""Fixed examples of chapters 1 and 2, shared by the chapters, their exercises and the tests
(the ring target is ``nflib.targets.ring_log_prob``).

* ``Coupling2D(s, t)``: the first coupling layer, in two dimensions, with fixed functions
  ``s`` and ``t`` of the first coordinate (no parameters)::

      x1 = z1,                      x2 = z2 exp(s(z1)) + t(z1),     log|det df/dz|    =  s(z1)
      z1 = x1,                      z2 = (x2 - t(x1)) exp(-s(x1)),  log|det df^{-1}/dx| = -s(x1)

  The Jacobian [[1, 0], [dx2/dz1, exp(s(z1))]] is lower triangular, so its determinant is the
  product of the diagonal, exp(s(z1)), whatever dx2/dz1 is.

* ``planar_layer(w, u_hat, b)``: an ``nflib.Planar`` layer whose constrained vector equals
  ``u_hat`` (which needs w^T u_hat > -1). ``Planar`` stores an unconstrained ``u`` and uses
  u_hat = u + (m(w^T u) - w^T u) w / ||w||^2 with m(a) = -1 + softplus(a); since
  w^T u_hat = m(w^T u), the stored value is u = u_hat + (a - w^T u_hat) w / ||w||^2 with
  a = softplus^{-1}(1 + w^T u_hat) = log(expm1(1 + w^T u_hat)).
"""

from __future__ import annotations

import numpy as np

from ..core import Bijection
from ..planar import Planar
from ..validation import check_finite

__all__ = ["Coupling2D", "planar_layer"]


class Coupling2D(Bijection):
    """``Coupling2D(s=np.sin, t=np.cos)``: x1 = z1, x2 = z2 exp(s(z1)) + t(z1); log|det| = s(z1).

    ``s`` and ``t`` map an array of first coordinates, shape ``(n,)``, to an array of the same
    shape (a number is broadcast). Any functions work: the layer is invertible because the
    scale exp(s) is positive, and the inverse never needs to invert ``s`` or ``t``.
    """

    dim = 2

    def __init__(self, s=np.sin, t=np.cos):
        if not (callable(s) and callable(t)):
            raise ValueError("s and t must be callables mapping the first coordinate, shape (n,), "
                             "to an array of shape (n,)")
        self.s, self.t = s, t

    def _s_t(self, first):
        n = first.shape[0]
        s = np.broadcast_to(np.asarray(self.s(first), dtype=np.float64), (n,))
        t = np.broadcast_to(np.asarray(self.t(first), dtype=np.float64), (n,))
        check_finite(s, "s(z1)")
        check_finite(t, "t(z1)")
        return s, t

    def forward_cached(self, z):
        s, t = self._s_t(z[:, 0])
        x = np.column_stack([z[:, 0], z[:, 1] * np.exp(s) + t])
        return x, s.copy(), None

    def inverse_cached(self, x):
        s, t = self._s_t(x[:, 0])
        z = np.column_stack([x[:, 0], (x[:, 1] - t) * np.exp(-s)])
        return z, -s, None

    def __repr__(self):
        name = lambda f: getattr(f, "__name__", repr(f))  # noqa: E731
        return f"Coupling2D(s={name(self.s)}, t={name(self.t)})"


def planar_layer(w, u_hat, b: float = 0.0) -> Planar:
    """A ``Planar`` layer computing f(z) = z + u_hat tanh(w^T z + b) for the given vectors.

    Raises ``ValueError`` if ``w`` and ``u_hat`` differ in shape, ``w`` is zero, or
    w^T u_hat <= -1 (then f is not invertible and no stored ``u`` produces it).
    """
    w = np.array(w, dtype=np.float64).reshape(-1)
    u_hat = np.array(u_hat, dtype=np.float64).reshape(-1)
    if w.shape != u_hat.shape:
        raise ValueError(f"w and u_hat must have the same shape; got {w.shape} and {u_hat.shape}")
    check_finite(w, "w")
    check_finite(u_hat, "u_hat")
    w2 = float(w @ w)
    if w2 == 0.0:
        raise ValueError("w must be non-zero")
    m = float(w @ u_hat)
    if not m > -1.0:
        raise ValueError(f"w^T u_hat = {m:g} <= -1: the planar map is not invertible")
    a = np.log(np.expm1(1.0 + m))  # softplus(a) = 1 + m
    return Planar(w.size, rng=None, w=w, u=u_hat + (a - m) * w / w2, b=b)
