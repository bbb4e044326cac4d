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
  Pareto smoothed importance sampling, PSIS). The weights' tail decays like w^(-1/k): their
  variance is finite only for k < 1/2 and their mean only for k < 1. With the raw weights used
  here, the estimate of Z (and any expectation under p estimated with them) is unreliable above
  ``RAW_K_THRESHOLD`` = 1/2, whatever its standard error says, because the standard error itself
  is then meaningless. The threshold 0.7 (``PARETO_K_THRESHOLD``), or min(1 - 1/log10 n, 0.7) for
  n draws (``pareto_k_threshold``), belongs to PSIS, which replaces the largest weights by
  quantiles of the fitted Pareto distribution before averaging.
* ``psis(log_w)``: those Pareto-smoothed log-weights, and k.

All of them take log-weights of shape (n,) with any shift (a constant added to every log-weight
moves log Z_hat and the smoothed log-weights by that constant and changes nothing else), and
compute stably from the largest log-weight.
"""

from __future__ import annotations

import numpy as np

from .validation import check_finite

__all__ = ["PARETO_K_THRESHOLD", "RAW_K_THRESHOLD", "pareto_k_threshold", "log_weights",
           "log_normaliser", "effective_sample_size", "pareto_k", "psis", "tail_length"]

#: above this Pareto k, Pareto-smoothed importance-sampling estimates are unreliable whatever the
#: sample size (Vehtari et al.); see ``pareto_k_threshold`` for the size-dependent value
PARETO_K_THRESHOLD = 0.7
#: above this Pareto k the raw (unsmoothed) weights have infinite variance
RAW_K_THRESHOLD = 0.5
#: log of the smallest positive normal float: the lowest cutoff of the Pareto tail fit
LOG_TINY = float(np.log(np.finfo(float).tiny))


def pareto_k_threshold(n: int) -> float:
    """min(1 - 1/log10(n), 0.7): the largest k at which Pareto-smoothed estimates from n draws
    are still reliable (Vehtari et al.). Raw weights need k < ``RAW_K_THRESHOLD`` = 0.5."""
    if n < 2:
        raise ValueError(f"n must be at least 2; got {n}")
    return float(min(1.0 - 1.0 / np.log10(n), PARETO_K_THRESHOLD))


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


def _tail(log_w):
    """PSIS's split of the log-weights (shifted so the largest is 0): the log cutoff, floored at
    log(tiny), and the indices of the weights strictly above it, in increasing order."""
    n = log_w.size
    order = np.argsort(log_w, kind="stable")
    log_cut = max(log_w[order[-tail_length(n) - 1]], LOG_TINY)
    above = order[log_w[order] > log_cut]
    above = above[np.exp(log_w[above]) - np.exp(log_cut) > 0]
    return log_cut, above


def _gpd_fit(y):
    """(k, sigma) of a generalised Pareto fit to the sorted exceedances y > 0 (Zhang and
    Stephens 2009, with the weak prior on k of Vehtari et al.); k = inf when no fit exists."""
    m = y.size
    grid = 30 + int(np.sqrt(m))
    theta = 1.0 - np.sqrt(grid / (np.arange(1, grid + 1) - 0.5))
    theta = theta / (3.0 * y[int(m / 4 + 0.5) - 1]) + 1.0 / y[-1]
    theta = theta[theta != 0]
    k = np.log1p(-theta[:, None] * y[None, :]).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        profile = m * (np.log(-theta / k) - k - 1.0)
        post = 1.0 / np.exp(profile[None, :] - profile[:, None]).sum(axis=1)
    keep = np.isfinite(post) & (post >= 10 * np.finfo(float).eps)
    if not keep.any():
        return float("inf"), float("nan")
    post, theta = post[keep], theta[keep]
    theta_hat = float(np.sum(theta * post / post.sum()))
    k_hat = float(np.log1p(-theta_hat * y).mean())
    sigma = -k_hat / theta_hat
    return (m * k_hat + 10 * 0.5) / (m + 10), sigma


def pareto_k(log_w) -> float:
    """Shape k of a generalised Pareto distribution fitted to the largest importance weights.

    As in Pareto smoothed importance sampling (PSIS): with the weights scaled so that the
    largest is 1, the cutoff u is the (M+1)-th largest weight, M = ``tail_length(n)``, but never
    below the smallest positive float (log u >= log(tiny)), and the tail is the weights strictly
    above u. Their exceedances y_1 <= ... <= y_m, y = w - u > 0 (m <= M: ties at the cutoff and
    weights that underflow are left out) are fitted by the estimate of Zhang and Stephens (2009):
    with theta = -k / sigma, the profile estimate of k given theta is
    k(theta) = mean(log(1 - theta y)); these are averaged over a grid of theta, weighted by the
    profile likelihood m (log(-theta / k(theta)) - k(theta) - 1). The result is shrunk towards
    k = 0.5 by a weak prior worth 10 observations, k <- (m k + 5) / (m + 10).

    Returns ``inf`` (no fit possible, treat the weights as unreliable) when m <= 4, for example
    when a few weights exceed all others by more than the float range (log-weights spread over
    hundreds of nats) or all weights below the top few are equal, and when no point of the theta
    grid carries posterior weight. Needs n >= 25 weights.
    """
    return psis(log_w)[1]


def psis(log_w):
    """Pareto smoothed importance sampling: ``(smoothed log-weights, k)``.

    The m weights above the cutoff (see ``pareto_k``) are replaced, in their order, by the
    quantiles u + F^{-1}((j - 1/2) / m), j = 1..m, of the fitted generalised Pareto
    distribution F^{-1}(p) = sigma ((1 - p)^(-k) - 1) / k, and then truncated at the largest raw
    weight. The other weights are unchanged; the result carries the input's shift, so
    ``log_normaliser(psis(log_w)[0])`` is the PSIS estimate of log Z. When k is infinite the
    weights are returned unsmoothed. Trust the estimate only for k below
    ``pareto_k_threshold(n)``.
    """
    log_w = _log_w(log_w, minimum=25)
    top = log_w.max()
    shifted = log_w - top
    log_cut, above = _tail(shifted)
    m = above.size
    if m <= 4:
        return log_w.copy(), float("inf")
    k, sigma = _gpd_fit(np.exp(shifted[above]) - np.exp(log_cut))
    if not np.isfinite(k):
        return log_w.copy(), k
    p = (np.arange(1, m + 1) - 0.5) / m
    if abs(k) < 1e-12:
        quantiles = -sigma * np.log1p(-p)
    else:
        quantiles = sigma * np.expm1(-k * np.log1p(-p)) / k
    smoothed = log_w.copy()
    smoothed[above] = np.minimum(np.log(quantiles + np.exp(log_cut)), 0.0) + top
    return smoothed, float(k)
