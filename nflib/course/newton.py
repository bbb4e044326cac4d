"""The Newton chapter's model: a two-dimensional affine coupling layer fitted to a banana.

The model (generative, ``f: z -> x``) has parameters ``theta = (a, b, c, d)`` or, with a
quadratic shift, ``theta = (a, b, c, d, e)``:

    x1 = z1
    x2 = z2 exp(s) + t,    s = a z1 + b,    t = c z1 + d (+ e z1^2)
    log|det df/dz| = s = a z1 + b

The target is the unnormalised banana, with ``u = x2 + k x1^2`` and ``k = 0.1``:

    log p~(x) = -1/2 (x1^2 + u^2),            normaliser Z = 2 pi
    grad      = (-x1 - 2k x1 u,  -u)
    Hessian   = [[-1 - 2k u - 4k^2 x1^2,  -2k x1],
                 [-2k x1,                 -1    ]]

The objective is an average over a FIXED set of base points ``z_i`` with weights ``w_i``
(summing to one; ``1/N`` for samples, quadrature weights for Gauss-Hermite nodes):

    J(theta) = sum_i w_i [ log p~(f_theta(z_i)) + a z1_i + b ]

and ``KL(q_theta || p) = sum_i w_i [log p_Z(z_i) - log|det|_i - log p~(x_i)] + log Z`` is the
matching estimate of the reverse KL, so maximising J minimises the reverse KL.

Because x1 = z1 does not depend on theta, only x2 does. With ``g2 = d log p~/dx2 = -u``,
``h22 = d^2 log p~/dx2^2 = -1`` and ``v = dx2/dtheta = (z1 z2 e^s, z2 e^s, z1, 1 [, z1^2])``:

    grad J = sum_i w_i [ g2_i v_i + (z1_i, 1, 0, 0 [, 0]) ]
    Hess J = sum_i w_i [ g2_i d2x2/dtheta2 + h22 v_i v_i^T ]

where ``d2x2/dtheta2`` is zero except its (a, b) block, ``z2 e^s [[z1^2, z1], [z1, 1]]``
(the log-determinant is linear in theta and adds no curvature).

The optimisers here maximise J: :func:`newton` (the pure step ``theta - H^{-1} g``),
:func:`damped_newton` (Hessian modified to be negative definite, then a backtracking line
search) and :func:`gradient_ascent` (fixed step). They record every iterate.
"""

from __future__ import annotations

import numpy as np

from .. import optim
from ..optim import OptimResult, ascent_direction
from ..quadrature import gauss_hermite
from ..targets import BANANA_K, BANANA_LOG_Z, banana_grad, banana_hessian, banana_log_prob
from ..validation import LOG_2PI, as_batch

__all__ = ["BANANA_K", "BANANA_LOG_Z", "EXACT_THETA", "banana_log_prob", "banana_grad",
           "banana_hessian", "coupling_forward", "objective", "gradient", "hessian",
           "reverse_kl", "population_objective", "population_kl", "gauss_hermite_nodes",
           "OptimResult", "newton", "ascent_direction", "damped_newton", "gradient_ascent"]

#: the map that pushes N(0, I) exactly onto the banana: x2 = z2 - k z1^2
EXACT_THETA = np.array([0.0, 0.0, 0.0, 0.0, -BANANA_K])


# ---- the model and the objective -------------------------------------------------------------

def _check_theta(theta) -> np.ndarray:
    theta = np.asarray(theta, dtype=np.float64)
    if theta.ndim != 1 or theta.size not in (4, 5):
        raise ValueError("theta must be a vector (a, b, c, d) or (a, b, c, d, e) of length 4 or 5; "
                         f"got shape {theta.shape}")
    if not np.all(np.isfinite(theta)):
        raise ValueError(f"theta contains non-finite values: {theta}")
    return theta


def _check_weights(weights, n: int) -> np.ndarray:
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"weights must have shape ({n},), one per base point; got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and non-negative")
    if abs(w.sum() - 1.0) > 1e-10:
        raise ValueError(f"weights must sum to 1; they sum to {w.sum():.15g}")
    return w


def _prepare(theta, z, weights):
    theta = _check_theta(theta)
    z = as_batch(z, 2, "z")
    if z.shape[0] < 1:
        raise ValueError("z must hold at least one base point")
    return theta, z, _check_weights(weights, z.shape[0])


def coupling_forward(theta, z):
    """x = f_theta(z) and log|det df/dz| = a z1 + b; shapes (n, 2) and (n,).

    x1 = z1,  x2 = z2 exp(a z1 + b) + c z1 + d (+ e z1^2).
    """
    theta = _check_theta(theta)
    z = as_batch(z, 2, "z")
    z1, z2 = z[:, 0], z[:, 1]
    s = theta[0] * z1 + theta[1]
    t = theta[2] * z1 + theta[3]
    if theta.size == 5:
        t = t + theta[4] * z1 ** 2
    x = np.stack([z1, z2 * np.exp(s) + t], axis=1)
    return x, s


def _pieces(theta, z):
    """x, log-det, g2 = -u and v = dx2/dtheta (n, p) for the objective's derivatives."""
    x, s = coupling_forward(theta, z)
    z1, z2 = z[:, 0], z[:, 1]
    scaled = z2 * np.exp(s)
    columns = [z1 * scaled, scaled, z1, np.ones_like(z1)]
    if theta.size == 5:
        columns.append(z1 ** 2)
    g2 = -(x[:, 1] + BANANA_K * x[:, 0] ** 2)
    return x, s, scaled, g2, np.stack(columns, axis=1)


def objective(theta, z, weights=None) -> float:
    """J(theta) = sum_i w_i [log p~(f_theta(z_i)) + a z1_i + b]; w_i = 1/N by default."""
    theta, z, w = _prepare(theta, z, weights)
    x, log_det = coupling_forward(theta, z)
    return float(w @ (banana_log_prob(x) + log_det))


def gradient(theta, z, weights=None) -> np.ndarray:
    """grad J = sum_i w_i [g2_i v_i + (z1_i, 1, 0, ...)],  g2 = -u,  v = dx2/dtheta."""
    theta, z, w = _prepare(theta, z, weights)
    return _value_grad_hess(theta, z, w, with_hessian=False)[1]


def hessian(theta, z, weights=None) -> np.ndarray:
    """Hess J = sum_i w_i [g2_i d2x2/dtheta2 + h22 v_i v_i^T] with h22 = -1.

    d2x2/dtheta2 is zero except the (a, b) block z2 e^s [[z1^2, z1], [z1, 1]].
    """
    theta, z, w = _prepare(theta, z, weights)
    return _value_grad_hess(theta, z, w)[2]


def _value_grad_hess(theta, z, w, with_hessian: bool = True):
    """J, grad J and (optionally) Hess J from one forward pass, for validated inputs."""
    x, s, scaled, g2, v = _pieces(theta, z)
    z1 = z[:, 0]
    value = float(w @ (-0.5 * (z1 ** 2 + g2 ** 2) + s))      # u = -g2
    grad = (w * g2) @ v
    grad[0] += w @ z1
    grad[1] += w.sum()
    if not with_hessian:
        return value, grad, None
    hess = -(v * w[:, None]).T @ v                      # h22 = -1 for every sample
    curv = w * g2 * scaled                              # g2 * z2 e^s
    hess[0, 0] += curv @ z1 ** 2
    hess[0, 1] += curv @ z1
    hess[1, 0] += curv @ z1
    hess[1, 1] += curv.sum()
    return value, grad, hess


def reverse_kl(theta, z, weights=None) -> float:
    """KL(q_theta || p) estimated on the fixed points: sum_i w_i [log p_Z(z_i) - s_i - log p~(x_i)] + log Z.

    Equal to -J(theta) + sum_i w_i log p_Z(z_i) + log Z; zero at the exact map for any points.
    """
    theta, z, w = _prepare(theta, z, weights)
    x, log_det = coupling_forward(theta, z)
    log_base = -0.5 * np.einsum("ij,ij->i", z, z) - LOG_2PI
    return float(w @ (log_base - log_det - banana_log_prob(x)) + BANANA_LOG_Z)


def population_objective(theta) -> float:
    """E_z[log p~(f_theta(z)) + a z1 + b] for z ~ N(0, I_2), in closed form.

    With m = c z1 + d + (e + k) z1^2 and z2 independent of z1, E[(z2 e^s + m)^2] = E[e^{2s}] + E[m^2]:

        J(theta) = -1/2 - 1/2 exp(2b + 2a^2) + b - 1/2 (c^2 + d^2 + 2 d (e + k) + 3 (e + k)^2)

    (e = 0 for the 4-parameter model). It is concave in theta.
    """
    theta = _check_theta(theta)
    a, b, c, d = theta[:4]
    q = (theta[4] if theta.size == 5 else 0.0) + BANANA_K
    return float(-0.5 - 0.5 * np.exp(2.0 * b + 2.0 * a ** 2) + b
                 - 0.5 * (c ** 2 + d ** 2 + 2.0 * d * q + 3.0 * q ** 2))


def population_kl(theta) -> float:
    """KL(q_theta || p) = -H(p_Z) - J(theta) + log Z = -1 - J(theta) (H = 1 + log 2 pi, Z = 2 pi)."""
    return -1.0 - population_objective(theta)


def gauss_hermite_nodes(n: int):
    """Tensor-product Gauss-Hermite rule for N(0, I_2): points (n^2, 2) and weights (n^2,).

    Exact for polynomials of degree up to 2n - 1 in each coordinate (:func:`nflib.quadrature.gauss_hermite`).
    """
    return gauss_hermite(n, 2)


# ---- optimisers on this model (all maximise J; the loops are nflib.optim's) ------------------

def _fun(z, w):
    """J, its gradient and (when asked) its Hessian at theta, for validated points and weights."""
    return lambda theta, hessian: _value_grad_hess(theta, z, w, with_hessian=hessian)


def newton(theta0, z, weights=None, tol: float = 1e-8, max_iter: int = 50) -> OptimResult:
    """Pure Newton on J: theta_{k+1} = theta_k - H_k^{-1} g_k (:func:`nflib.optim.newton`)."""
    theta, z, w = _prepare(theta0, z, weights)
    return optim.newton(_fun(z, w), theta, tol=tol, max_iter=max_iter)


def damped_newton(theta0, z, weights=None, tol: float = 1e-8, max_iter: int = 100,
                  c1: float = 1e-4, shrink: float = 0.5) -> OptimResult:
    """Modified Newton direction and Armijo backtracking on J (:func:`nflib.optim.damped_newton`)."""
    theta, z, w = _prepare(theta0, z, weights)
    return optim.damped_newton(_fun(z, w), theta, tol=tol, max_iter=max_iter, c1=c1,
                               shrink=shrink)


def gradient_ascent(theta0, z, weights=None, step: float = 0.1, tol: float = 1e-8,
                    max_iter: int = 10_000) -> OptimResult:
    """theta_{k+1} = theta_k + step * grad J(theta_k) (:func:`nflib.optim.gradient_ascent`)."""
    theta, z, w = _prepare(theta0, z, weights)
    return optim.gradient_ascent(_fun(z, w), theta, step=step, tol=tol, max_iter=max_iter)
