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

* The four energies U1-U4 of Rezende and Mohamed (2015), log p~(x) = -U(x), with
  s(a) = 1 / (1 + e^-a) and::

      w1 = sin(2 pi x1 / 4),   w2 = 3 exp(-1/2 ((x1 - 1) / 0.6)^2),   w3 = 3 s((x1 - 1) / 0.3)

      U1 = 1/2 ((||x|| - 2) / 0.4)^2
           - log(exp(-1/2 ((x1 - 2) / 0.6)^2) + exp(-1/2 ((x1 + 2) / 0.6)^2))
      U2 = 1/2 ((x2 - w1) / 0.4)^2                                                      + E(x1)
      U3 = -log(exp(-1/2 ((x2 - w1) / 0.35)^2) + exp(-1/2 ((x2 - w1 + w2) / 0.35)^2))   + E(x1)
      U4 = -log(exp(-1/2 ((x2 - w1) / 0.4)^2)  + exp(-1/2 ((x2 - w1 + w3) / 0.35)^2))   + E(x1)

  U2-U4 as published do not depend on x1 away from the wiggles, so exp(-U) has infinite mass
  along x1 (the paper only drew them on a box). The soft box E(x1) = 1/2 (x1 / ENERGY_BOX)^4,
  ENERGY_BOX = 2.5, makes them normalisable while leaving the shapes inside [-3, 3] almost as
  drawn. With a = x2 - w1, c = x2 - w1 + w2 (U3) or c = x2 - w1 + w3 (U4), widths s_a, s_c and
  the mixture responsibilities r_a = 1 - r_c = 1 / (1 + exp(A_c - A_a)), A = -1/2 (./s)^2, the
  gradients are

      U1:  d/dx  = -(||x|| - 2) / 0.4^2 * x / ||x||
                   - (r_+ (x1 - 2) + r_- (x1 + 2)) / 0.6^2 * e1    (r_+- of the two x1 terms)
      U2:  d/dx2 = -a / 0.4^2,     d/dx1 = a / 0.4^2 * w1' - E'
      U3, U4:
           d/dx2 = -r_a a / s_a^2 - r_c c / s_c^2
           d/dx1 =  r_a a / s_a^2 * w1' - r_c c / s_c^2 * (w' - w1') - E'     (w = w2 or w3)

  with w1' = (pi / 2) cos(pi x1 / 2), w2' = -w2 (x1 - 1) / 0.6^2, w3' = w3 (1 - s) / 0.3 (s at
  (x1 - 1) / 0.3), E' = 2 x1^3 / ENERGY_BOX^4. ``energy(name)`` returns the pair
  ``(log_prob, grad)`` for ``name`` in ``ENERGIES``.

Every function takes ``(n, 2)`` points and returns ``(n,)`` values, ``(n, 2)`` gradients or
``(n, 2, 2)`` Hessians.
"""

from __future__ import annotations

import numpy as np

from .validation import as_batch

__all__ = ["BANANA_K", "BANANA_LOG_Z", "banana_log_prob", "banana_grad", "banana_hessian",
           "ring_log_prob", "ring_grad", "ENERGIES", "ENERGY_BOX", "energy_log_prob",
           "energy_grad", "energy"]

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


# ---- the energies U1-U4 of Rezende and Mohamed (2015) ---------------------------------------

#: names of the four energies, log p~ = -U
ENERGIES = ("U1", "U2", "U3", "U4")
#: half-width of the soft box E(x1) = 1/2 (x1 / ENERGY_BOX)^4 that makes U2-U4 normalisable
ENERGY_BOX = 2.5


def _check_energy(name):
    if name not in ENERGIES:
        raise ValueError(f"unknown energy {name!r}; expected one of {ENERGIES}")


def _log_mix(a, sa, c, sc):
    """log(exp(-a^2/2sa^2) + exp(-c^2/2sc^2)) and the responsibility of the first term."""
    la, lc = -0.5 * (a / sa) ** 2, -0.5 * (c / sc) ** 2
    total = np.logaddexp(la, lc)
    return total, np.exp(la - total)


def _energy_parts(x, name):
    """(log p~, d/dx1, d/dx2) of the energy ``name`` at validated points x."""
    x1, x2 = x[:, 0], x[:, 1]
    if name == "U1":
        r = np.hypot(x1, x2)
        mix, resp = _log_mix(x1 - 2.0, 0.6, x1 + 2.0, 0.6)
        log_p = -0.5 * ((r - 2.0) / 0.4) ** 2 + mix
        safe = np.where(r > 0, r, 1.0)
        radial = np.where(r > 0, -(r - 2.0) / (0.4 ** 2 * safe), 0.0)
        g1 = radial * x1 - (resp * (x1 - 2.0) + (1.0 - resp) * (x1 + 2.0)) / 0.6 ** 2
        return log_p, g1, radial * x2
    w1 = np.sin(0.5 * np.pi * x1)
    dw1 = 0.5 * np.pi * np.cos(0.5 * np.pi * x1)
    box = 0.5 * (x1 / ENERGY_BOX) ** 4
    dbox = 2.0 * x1 ** 3 / ENERGY_BOX ** 4
    a = x2 - w1
    if name == "U2":
        return -0.5 * (a / 0.4) ** 2 - box, a / 0.4 ** 2 * dw1 - dbox, -a / 0.4 ** 2
    if name == "U3":
        w = 3.0 * np.exp(-0.5 * ((x1 - 1.0) / 0.6) ** 2)
        dw = -w * (x1 - 1.0) / 0.6 ** 2
        sa, sc = 0.35, 0.35
    else:
        sig = 0.5 * (1.0 + np.tanh(0.5 * (x1 - 1.0) / 0.3))
        w = 3.0 * sig
        dw = w * (1.0 - sig) / 0.3
        sa, sc = 0.4, 0.35
    c = a + w
    mix, resp = _log_mix(a, sa, c, sc)
    ga, gc = resp * a / sa ** 2, (1.0 - resp) * c / sc ** 2
    return mix - box, ga * dw1 - gc * (dw - dw1) - dbox, -ga - gc


def energy_log_prob(x, name: str) -> np.ndarray:
    """log p~(x) = -U(x) for the energy ``name`` in ``ENERGIES`` (module docstring), shape (n,)."""
    _check_energy(name)
    return _energy_parts(as_batch(x, 2, "x"), name)[0]


def energy_grad(x, name: str) -> np.ndarray:
    """d log p~/dx = -dU/dx for the energy ``name`` (formulas in the module docstring), (n, 2)."""
    _check_energy(name)
    _, g1, g2 = _energy_parts(as_batch(x, 2, "x"), name)
    return np.stack([g1, g2], axis=1)


def energy(name: str):
    """``(log_prob, grad)`` of the energy ``name``: functions of ``(n, 2)`` points, as taken by
    ``fit_reverse_kl``."""
    _check_energy(name)
    return (lambda x: energy_log_prob(x, name)), (lambda x: energy_grad(x, name))
