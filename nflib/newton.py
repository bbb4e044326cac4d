"""A two-dimensional affine coupling layer fitted to a banana by Newton's method.

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

from dataclasses import dataclass, field

import numpy as np

from .core import as_batch

__all__ = ["BANANA_K", "BANANA_LOG_Z", "EXACT_THETA", "banana_log_prob", "banana_grad",
           "banana_hessian", "coupling_forward", "objective", "gradient", "hessian",
           "reverse_kl", "population_objective", "population_kl", "gauss_hermite_nodes", "OptimResult", "newton", "ascent_direction",
           "damped_newton", "gradient_ascent"]

#: curvature of the banana, log p~(x) = -1/2 (x1^2 + (x2 + k x1^2)^2)
BANANA_K = 0.1
#: log of the banana's normaliser, Z = 2 pi (substitute u = x2 + k x1^2)
BANANA_LOG_Z = float(np.log(2.0 * np.pi))
#: the map that pushes N(0, I) exactly onto the banana: x2 = z2 - k z1^2
EXACT_THETA = np.array([0.0, 0.0, 0.0, 0.0, -BANANA_K])

_LOG_2PI = float(np.log(2.0 * np.pi))


# ---- the target ------------------------------------------------------------------------------

def banana_log_prob(x) -> np.ndarray:
    """log p~(x) = -1/2 (x1^2 + (x2 + k x1^2)^2), shape (n,). Unnormalised; Z = 2 pi."""
    x = as_batch(x, 2, "x")
    u = x[:, 1] + BANANA_K * x[:, 0] ** 2
    return -0.5 * (x[:, 0] ** 2 + u ** 2)


def banana_grad(x) -> np.ndarray:
    """d log p~/dx = (-x1 - 2k x1 u, -u) with u = x2 + k x1^2, shape (n, 2)."""
    x = as_batch(x, 2, "x")
    u = x[:, 1] + BANANA_K * x[:, 0] ** 2
    return np.stack([-x[:, 0] - 2.0 * BANANA_K * x[:, 0] * u, -u], axis=1)


def banana_hessian(x) -> np.ndarray:
    """d^2 log p~/dx^2 = [[-1 - 2k u - 4k^2 x1^2, -2k x1], [-2k x1, -1]], shape (n, 2, 2)."""
    x = as_batch(x, 2, "x")
    x1 = x[:, 0]
    u = x[:, 1] + BANANA_K * x1 ** 2
    h = np.empty((x.shape[0], 2, 2))
    h[:, 0, 0] = -1.0 - 2.0 * BANANA_K * u - 4.0 * BANANA_K ** 2 * x1 ** 2
    h[:, 0, 1] = h[:, 1, 0] = -2.0 * BANANA_K * x1
    h[:, 1, 1] = -1.0
    return h


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
    log_base = -0.5 * np.einsum("ij,ij->i", z, z) - _LOG_2PI
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

    The 1-D nodes are the roots of the probabilists' Hermite polynomial He_n, symmetric about 0;
    the rule integrates polynomials of degree up to 2n - 1 in each coordinate exactly against
    N(0, 1). The weights are normalised to sum to one.
    """
    if int(n) != n or n < 1:
        raise ValueError(f"the number of nodes per dimension must be a positive integer; got {n!r}")
    nodes, w = np.polynomial.hermite_e.hermegauss(int(n))
    w = w / w.sum()
    z1, z2 = np.meshgrid(nodes, nodes, indexing="ij")
    weights = np.outer(w, w).ravel()
    return np.stack([z1.ravel(), z2.ravel()], axis=1), weights / weights.sum()


# ---- optimisers (all maximise J) -------------------------------------------------------------

@dataclass
class OptimResult:
    """Iterates theta_0, theta_1, ... of an optimiser, with J and ||grad J|| at each.

    ``status`` is ``"converged"`` (||grad J|| <= tol), ``"max_iter"``, ``"diverged"`` (a
    non-finite value), ``"singular"`` (the Newton system could not be solved) or
    ``"line_search_failed"`` (no step length down to 1e-12 increased J enough).
    """

    iterates: list = field(default_factory=list)
    values: list = field(default_factory=list)
    grad_norms: list = field(default_factory=list)
    status: str = "max_iter"

    @property
    def theta(self) -> np.ndarray:
        return self.iterates[-1]

    @property
    def n_iter(self) -> int:
        return len(self.iterates) - 1

    @property
    def converged(self) -> bool:
        return self.status == "converged"

    def record(self, theta, value, grad) -> None:
        self.iterates.append(np.array(theta, dtype=np.float64))
        self.values.append(float(value))
        self.grad_norms.append(_norm(grad))


def _norm(v) -> float:
    """||v||, scaled so that it does not overflow for entries near the largest double."""
    scale = float(np.max(np.abs(v), initial=0.0))
    return 0.0 if scale == 0.0 else scale * float(np.linalg.norm(np.asarray(v) / scale))


def _check_run(tol, max_iter):
    if not tol > 0:
        raise ValueError(f"tol must be positive; got {tol}")
    if int(max_iter) != max_iter or max_iter < 0:
        raise ValueError(f"max_iter must be a non-negative integer; got {max_iter}")


def _evaluate(theta, z, w, hess: bool = True):
    """(J, grad, Hessian or None), or None if any is not finite (the map overflowed)."""
    if not np.all(np.isfinite(theta)):
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        value, grad, h = _value_grad_hess(theta, z, w, with_hessian=hess)
        ok = np.isfinite(value) and np.all(np.isfinite(grad))
        ok = ok and (h is None or np.all(np.isfinite(h)))
    return (value, grad, h) if ok else None


def _start(theta, z, w, hess: bool = True):
    """Evaluate at the starting point; a start where J is not finite is bad input."""
    current = _evaluate(theta, z, w, hess)
    if current is None:
        raise ValueError(f"J, its gradient or its Hessian is not finite at theta0 = {theta} "
                         "(exp(a z1 + b) overflows); start nearer the identity theta = 0")
    return current


def _iterate(theta, z, w, tol, max_iter, advance, hess: bool = True) -> OptimResult:
    """The loop every optimiser here shares: record theta_k, stop when ||grad J|| <= tol or after
    max_iter steps, else ``advance(theta, (J, grad, H)) -> (theta_next, state_next, status)``,
    where a non-None ``status`` ends the run ("diverged", "singular", ...)."""
    result = OptimResult()
    current = _start(theta, z, w, hess)
    for _ in range(int(max_iter) + 1):
        value, grad, _ = current
        result.record(theta, value, grad)
        if result.grad_norms[-1] <= tol:
            result.status = "converged"
            return result
        if len(result.iterates) > max_iter:
            break
        theta, current, status = advance(theta, current)
        if status is not None:
            result.status = status
            return result
    return result


def newton(theta0, z, weights=None, tol: float = 1e-8, max_iter: int = 50) -> OptimResult:
    """Pure Newton: theta_{k+1} = theta_k - H_k^{-1} g_k, no safeguard of any kind.

    The step is the stationary point of the local quadratic model: its maximum if H_k is
    negative definite, a saddle or minimum of the model otherwise.
    """
    theta, z, w = _prepare(theta0, z, weights)
    _check_run(tol, max_iter)

    def advance(theta, current):
        _, grad, hess = current
        try:
            step = np.linalg.solve(hess, -grad)
        except np.linalg.LinAlgError:
            return theta, current, "singular"
        theta = theta + step
        current = _evaluate(theta, z, w)
        return theta, current, ("diverged" if current is None else None)

    return _iterate(theta, z, w, tol, max_iter, advance)


def ascent_direction(grad, hess, beta: float = 1e-3):
    """p solving (-H + tau I) p = g with the smallest tau in {0, beta, 2 beta, 4 beta, ...}
    that makes -H + tau I positive definite (Cholesky succeeds): an ascent direction.

    Returns ``(p, tau)``; tau = 0 means the pure Newton step was kept.
    """
    m = -np.asarray(hess, dtype=np.float64)
    if not np.all(np.isfinite(m)) or not beta > 0:
        raise ValueError("the Hessian must be finite and beta positive")
    tau = 0.0
    while True:
        try:
            chol = np.linalg.cholesky(m + tau * np.eye(m.shape[0]))
            break
        except np.linalg.LinAlgError:
            tau = max(2.0 * tau, beta)
    y = np.linalg.solve(chol, grad)
    return np.linalg.solve(chol.T, y), tau


def damped_newton(theta0, z, weights=None, tol: float = 1e-8, max_iter: int = 100,
                  c1: float = 1e-4, shrink: float = 0.5) -> OptimResult:
    """Line-search Newton: a modified Newton direction, then backtracking (Armijo).

    Direction p from :func:`ascent_direction` (the Newton step where -H is positive definite).
    Step length alpha = 1, shrink, shrink^2, ... until
    J(theta + alpha p) >= J(theta) + c1 alpha g.p - 1e-14 (1 + |J|): the small slack lets the
    full step through when the predicted gain is below rounding error near the optimum.
    """
    theta, z, w = _prepare(theta0, z, weights)
    _check_run(tol, max_iter)
    if not (0 < c1 < 1 and 0 < shrink < 1):
        raise ValueError(f"need 0 < c1 < 1 and 0 < shrink < 1; got c1={c1}, shrink={shrink}")

    def advance(theta, current):
        value, grad, hess = current
        step, _ = ascent_direction(grad, hess)
        slope, alpha = float(grad @ step), 1.0
        slack = 1e-14 * (1.0 + abs(value))
        while alpha > 1e-12:
            trial = _evaluate(theta + alpha * step, z, w)
            if trial is not None and trial[0] >= value + c1 * alpha * slope - slack:
                return theta + alpha * step, trial, None
            alpha *= shrink
        return theta, current, "line_search_failed"

    return _iterate(theta, z, w, tol, max_iter, advance)


def gradient_ascent(theta0, z, weights=None, step: float = 0.1, tol: float = 1e-8,
                    max_iter: int = 10_000) -> OptimResult:
    """theta_{k+1} = theta_k + step * grad J(theta_k), with a fixed step.

    Near the optimum the error shrinks by the factor max_i |1 - step * lambda_i| per step, with
    lambda_i the eigenvalues of -H there: linear convergence if step < 2 / max_i lambda_i.
    """
    theta, z, w = _prepare(theta0, z, weights)
    _check_run(tol, max_iter)
    if not step > 0:
        raise ValueError(f"step must be positive; got {step}")

    def advance(theta, current):
        theta = theta + step * current[1]
        current = _evaluate(theta, z, w, hess=False)
        return theta, current, ("diverged" if current is None else None)

    return _iterate(theta, z, w, tol, max_iter, advance, hess=False)
