"""Second-order optimisers that maximise any smooth objective J(theta).

Each optimiser takes ``fun(theta, hessian) -> (J, grad J, Hess J or None)`` (the Hessian is asked
for only when ``hessian`` is True) and a starting vector, and records every iterate:

* :func:`newton`: the pure step theta - H^{-1} g, the stationary point of the local quadratic
  model (its maximum only where H is negative definite); no safeguard of any kind.
* :func:`damped_newton`: a direction from :func:`ascent_direction` (the Newton step made an
  ascent direction by adding tau I to -H until it is positive definite), then backtracking until
  the Armijo condition J(theta + alpha p) >= J(theta) + c1 alpha g.p holds.
* :func:`gradient_ascent`: theta + step * g with a fixed step.

All three stop when ||grad J|| <= tol, after ``max_iter`` steps, or when a step leaves the
region where J is finite ("diverged"). Adam, the first-order optimiser used for training flows,
is in :mod:`nflib.train`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .validation import check_finite

__all__ = ["OptimResult", "newton", "damped_newton", "gradient_ascent", "ascent_direction"]


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


def _check_run(fun, theta0, tol, max_iter) -> np.ndarray:
    if not callable(fun):
        raise ValueError("fun must be a callable fun(theta, hessian) -> (J, grad, Hessian or None)")
    theta = np.array(theta0, dtype=np.float64)
    if theta.ndim != 1 or theta.size == 0:
        raise ValueError(f"theta0 must be a non-empty vector; got shape {theta.shape}")
    check_finite(theta, "theta0")
    if not tol > 0:
        raise ValueError(f"tol must be positive; got {tol}")
    if isinstance(max_iter, bool) or int(max_iter) != max_iter or max_iter < 0:
        raise ValueError(f"max_iter must be a non-negative integer; got {max_iter}")
    return theta


def _evaluate(fun, theta, hessian: bool = True):
    """(J, grad, Hessian or None), or None if any is not finite (the objective overflowed)."""
    if not np.all(np.isfinite(theta)):
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        value, grad, hess = fun(theta, hessian)
        grad = np.asarray(grad, dtype=np.float64)
        ok = np.isfinite(value) and np.all(np.isfinite(grad))
        ok = ok and (hess is None or np.all(np.isfinite(hess)))
    if grad.shape != theta.shape:
        raise ValueError(f"fun returned a gradient of shape {grad.shape} for theta of shape "
                         f"{theta.shape}")
    return (float(value), grad, hess) if ok else None


def _iterate(fun, theta, tol, max_iter, advance, hessian: bool = True) -> OptimResult:
    """The loop every optimiser shares: record theta_k, stop when ||grad J|| <= tol or after
    max_iter steps, else ``advance(theta, (J, grad, H)) -> (theta_next, state_next, status)``,
    where a non-None ``status`` ends the run ("diverged", "singular", ...)."""
    current = _evaluate(fun, theta, hessian)
    if current is None:
        raise ValueError(f"J, its gradient or its Hessian is not finite at theta0 = {theta}; "
                         "start where the objective is finite")
    result = OptimResult()
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


def newton(fun, theta0, tol: float = 1e-8, max_iter: int = 50) -> OptimResult:
    """Pure Newton: theta_{k+1} = theta_k - H_k^{-1} g_k, no safeguard of any kind."""
    theta = _check_run(fun, theta0, tol, max_iter)

    def advance(theta, current):
        _, grad, hess = current
        try:
            step = np.linalg.solve(hess, -grad)
        except np.linalg.LinAlgError:
            return theta, current, "singular"
        theta = theta + step
        current = _evaluate(fun, theta)
        return theta, current, ("diverged" if current is None else None)

    return _iterate(fun, theta, tol, max_iter, advance)


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


def damped_newton(fun, theta0, tol: float = 1e-8, max_iter: int = 100,
                  c1: float = 1e-4, shrink: float = 0.5) -> OptimResult:
    """Line-search Newton: a modified Newton direction, then backtracking (Armijo).

    Step length alpha = 1, shrink, shrink^2, ... until
    J(theta + alpha p) >= J(theta) + c1 alpha g.p - 1e-14 (1 + |J|): the small slack lets the
    full step through when the predicted gain is below rounding error near the optimum.
    """
    theta = _check_run(fun, theta0, tol, max_iter)
    if not (0 < c1 < 1 and 0 < shrink < 1):
        raise ValueError(f"need 0 < c1 < 1 and 0 < shrink < 1; got c1={c1}, shrink={shrink}")

    def advance(theta, current):
        value, grad, hess = current
        step, _ = ascent_direction(grad, hess)
        slope, alpha = float(grad @ step), 1.0
        slack = 1e-14 * (1.0 + abs(value))
        while alpha > 1e-12:
            trial = _evaluate(fun, theta + alpha * step)
            if trial is not None and trial[0] >= value + c1 * alpha * slope - slack:
                return theta + alpha * step, trial, None
            alpha *= shrink
        return theta, current, "line_search_failed"

    return _iterate(fun, theta, tol, max_iter, advance)


def gradient_ascent(fun, theta0, step: float = 0.1, tol: float = 1e-8,
                    max_iter: int = 10_000) -> OptimResult:
    """theta_{k+1} = theta_k + step * grad J(theta_k), with a fixed step.

    Near the optimum the error shrinks by the factor max_i |1 - step * lambda_i| per step, with
    lambda_i the eigenvalues of -H there: linear convergence if step < 2 / max_i lambda_i.
    """
    theta = _check_run(fun, theta0, tol, max_iter)
    if not step > 0:
        raise ValueError(f"step must be positive; got {step}")

    def advance(theta, current):
        theta = theta + step * current[1]
        current = _evaluate(fun, theta, hessian=False)
        return theta, current, ("diverged" if current is None else None)

    return _iterate(fun, theta, tol, max_iter, advance, hessian=False)
