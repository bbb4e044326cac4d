"""Importance-sampling checks of a fitted density q against an unnormalised target p~ = Z p.

Draw x_i ~ q and form the log importance weights log w_i = log p~(x_i) - log q(x_i). Then

* ``log_normaliser(log_w)``: Z_hat = 1/n sum_i w_i is unbiased for Z. Returned as
  (log Z_hat, standard error of log Z_hat), the error by the delta method,
  se(log Z_hat) = sd(w) / (sqrt(n) mean(w)).
  Since E_q[log w] = log Z - KL(q || p) (the ELBO) and Jensen gives E[log Z_hat] <= log Z,
  both are lower estimates; log Z_hat is much the tighter one when q is good.
* ``effective_sample_size(log_w)``: ESS = (sum_i w_i)^2 / sum_i w_i^2, between 1 (one weight
  dominates) and n (all weights equal, q = p). ESS / n ~ 1 / (1 + var_q(w / Z)) = 1 / E_p[p / q].
* ``pareto_k(log_w)``: the shape k of a generalised Pareto distribution fitted to the largest
  weights (Zhang and Stephens' 2009 posterior-mean estimate with the weak prior of Vehtari et al.,
  Pareto smoothed importance sampling). The weights' tail decays like w^(-1/k): their variance is
  finite only for k < 1/2 and their mean only for k < 1. Above ``PARETO_K_THRESHOLD`` = 0.7 the
  estimate of Z (and any expectation under p estimated with these weights) is not reliable,
  whatever its standard error says, because the standard error itself is then meaningless.

All three take log-weights (any shift: they are invariant to adding a constant) of shape (n,),
computed stably from the largest log-weight.
"""

from __future__ import annotations

import numpy as np

from .validation import check_finite

__all__ = ["PARETO_K_THRESHOLD", "log_weights", "log_normaliser", "effective_sample_size",
           "pareto_k", "tail_length"]

#: above this Pareto k the importance-sampling estimates are unreliable (Vehtari et al.)
PARETO_K_THRESHOLD = 0.7


def _log_w(log_w, minimum: int = 2) -> np.ndarray:
    log_w = np.asarray(log_w, dtype=np.float64)
    if log_w.ndim != 1:
        raise ValueError(f"log_w must be a 1-D array of log importance weights; got shape "
                         f"{log_w.shape}")
    if log_w.size < minimum:
        raise ValueError(f"log_w needs at least {minimum} weights; got {log_w.size}")
    check_finite(log_w, "log_w")
    return log_w


def log_weights(log_target, log_q) -> np.ndarray:
    """log w = log p~(x) - log q(x) for the values at the same samples x ~ q, shape (n,)."""
    lt = np.asarray(log_target, dtype=np.float64)
    lq = np.asarray(log_q, dtype=np.float64)
    if lt.shape != lq.shape or lt.ndim != 1:
        raise ValueError(f"log_target and log_q must be 1-D of the same shape; got {lt.shape} "
                         f"and {lq.shape}")
    return _log_w(lt - lq)


def log_normaliser(log_w):
    """``(log Z_hat, se)``: log of the mean importance weight, its delta-method standard error."""
    log_w = _log_w(log_w)
    top = log_w.max()
    w = np.exp(log_w - top)
    mean = w.mean()
    se = w.std(ddof=1) / (np.sqrt(w.size) * mean)
    return float(top + np.log(mean)), float(se)


def effective_sample_size(log_w) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2 of the importance weights."""
    log_w = _log_w(log_w, minimum=1)
    w = np.exp(log_w - log_w.max())
    return float(w.sum() ** 2 / np.sum(w * w))


def tail_length(n: int) -> int:
    """Number of largest weights the Pareto fit uses: min(n / 5, 3 sqrt(n)), as in PSIS."""
    return int(np.ceil(min(0.2 * n, 3.0 * np.sqrt(n))))


def pareto_k(log_w) -> float:
    """Shape k of a generalised Pareto distribution fitted to the largest importance weights.

    The M = ``tail_length(n)`` largest weights, minus the (M+1)-th largest, are the exceedances
    y_1 <= ... <= y_M. The estimate of Zhang and Stephens (2009) averages, over a grid of values
    of theta = -k / sigma, the profile estimate k(theta) = -mean(log(1 - theta y)), weighted by
    the profile likelihood; the result is shrunk towards k = 0.5 by a weak prior worth 10
    observations, k <- (M k + 5) / (M + 10). Needs n >= 25 weights.
    """
    log_w = _log_w(log_w, minimum=25)
    n = log_w.size
    m = tail_length(n)
    order = np.sort(log_w)
    w = np.exp(order - order[-1])
    y = w[-m:] - w[-m - 1]
    if y[-1] <= 0:
        return 0.0  # the largest weights are all equal: no tail
    y = np.sort(y)
    grid = 30 + int(np.sqrt(m))
    theta = 1.0 - np.sqrt(grid / (np.arange(1, grid + 1) - 0.5))
    theta = theta / (3.0 * y[int(m / 4 + 0.5) - 1]) + 1.0 / y[-1]
    k = np.log1p(-theta[:, None] * y[None, :]).mean(axis=1)
    profile = m * (np.log(-theta / k) - k - 1.0)
    post = 1.0 / np.exp(profile[None, :] - profile[:, None]).sum(axis=1)
    keep = post >= 10 * np.finfo(float).eps
    post, theta = post[keep], theta[keep]
    theta_hat = float(np.sum(theta * post / post.sum()))
    k_hat = float(np.log1p(-theta_hat * y).mean())
    return (m * k_hat + 10 * 0.5) / (m + 10)
