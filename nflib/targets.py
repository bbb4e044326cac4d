"""Unnormalised target densities log p~(x) for fitting flows by reverse KL, with their gradients.

* The banana, with ``u = x2 + k x1^2`` and ``k = BANANA_K = 0.1``::

      log p~(x) = -1/2 (x1^2 + u^2),            Z = 2 pi (substitute u for x2)
      grad      = (-x1 - 2k x1 u,  -u)
      Hessian   = [[-1 - 2k u - 4k^2 x1^2,  -2k x1],
                   [-2k x1,                 -1    ]]

  The map x1 = z1, x2 = z2 - k z1^2 pushes N(0, I) exactly onto it.

* The ring of radius r and width w::

      log p~(x) = -1/2 ((||x|| - r) / w)^2,     grad = -(||x|| - r) / w^2 * x / ||x||

  (at the origin, where ||x|| has no gradient, the direction x / ||x|| is taken as 0).

Every function takes ``(n, 2)`` points and returns ``(n,)`` values, ``(n, 2)`` gradients or
``(n, 2, 2)`` Hessians.
"""

from __future__ import annotations

import numpy as np

from .validation import as_batch

__all__ = ["BANANA_K", "BANANA_LOG_Z", "banana_log_prob", "banana_grad", "banana_hessian",
           "ring_log_prob", "ring_grad"]

#: curvature of the banana, log p~(x) = -1/2 (x1^2 + (x2 + k x1^2)^2)
BANANA_K = 0.1
#: log of the banana's normaliser, Z = 2 pi
BANANA_LOG_Z = float(np.log(2.0 * np.pi))


def _banana_u(x):
    return x[:, 1] + BANANA_K * x[:, 0] ** 2


def banana_log_prob(x) -> np.ndarray:
    """log p~(x) = -1/2 (x1^2 + (x2 + k x1^2)^2), shape (n,). Unnormalised; Z = 2 pi."""
    x = as_batch(x, 2, "x")
    return -0.5 * (x[:, 0] ** 2 + _banana_u(x) ** 2)


def banana_grad(x) -> np.ndarray:
    """d log p~/dx = (-x1 - 2k x1 u, -u) with u = x2 + k x1^2, shape (n, 2)."""
    x = as_batch(x, 2, "x")
    u = _banana_u(x)
    return np.stack([-x[:, 0] - 2.0 * BANANA_K * x[:, 0] * u, -u], axis=1)


def banana_hessian(x) -> np.ndarray:
    """d^2 log p~/dx^2 = [[-1 - 2k u - 4k^2 x1^2, -2k x1], [-2k x1, -1]], shape (n, 2, 2)."""
    x = as_batch(x, 2, "x")
    x1, u = x[:, 0], _banana_u(x)
    h = np.empty((x.shape[0], 2, 2))
    h[:, 0, 0] = -1.0 - 2.0 * BANANA_K * u - 4.0 * BANANA_K ** 2 * x1 ** 2
    h[:, 0, 1] = h[:, 1, 0] = -2.0 * BANANA_K * x1
    h[:, 1, 1] = -1.0
    return h


def _check_ring(radius, width):
    if not (np.isfinite(radius) and radius > 0 and np.isfinite(width) and width > 0):
        raise ValueError(f"radius and width must be positive numbers; got {radius!r}, {width!r}")


def ring_log_prob(x, radius: float = 2.0, width: float = 0.4) -> np.ndarray:
    """Unnormalised log-density of a ring: -1/2 ((||x|| - radius) / width)^2, shape (n,)."""
    _check_ring(radius, width)
    x = as_batch(x, 2, "x")
    r = np.hypot(x[:, 0], x[:, 1])
    return -0.5 * ((r - radius) / width) ** 2


def ring_grad(x, radius: float = 2.0, width: float = 0.4) -> np.ndarray:
    """Gradient of ``ring_log_prob``: -(||x|| - radius) / width^2 * x / ||x||, shape (n, 2)."""
    _check_ring(radius, width)
    x = as_batch(x, 2, "x")
    r = np.hypot(x[:, 0], x[:, 1])
    safe = np.where(r > 0, r, 1.0)
    factor = np.where(r > 0, -(r - radius) / (width ** 2 * safe), 0.0)
    return factor[:, None] * x
