"""Checks for the exercises of chapter 7 (variational inference).

* ``kl_gaussian(m_q, s_q, m_p, s_p)``: KL(q || p) of diagonal Gaussians q = N(m_q, diag s_q^2),
  p = N(m_p, diag s_p^2), summed over the d coordinates:
  sum_j [log(s_p/s_q) + (s_q^2 + (m_q - m_p)^2) / (2 s_p^2) - 1/2].
* ``reverse_kl(flow, log_target, log_z, n, rng)``: the Monte Carlo reverse KL
  KL(q || p) = mean_i [log p_Z(z_i) - log|det df/dz|_i - log p~(f(z_i))] + log Z with
  z_i = flow.base.sample(n, rng).
* ``elbo(mean, log_scale, x, eps)``: the reparametrised ELBO of the chapter's latent-variable
  model for q = N(mean, diag exp(2 log_scale)): z_i = mean + exp(log_scale) eps_i and
  mean_i [log p(x, z_i) - log q(z_i)], log q(z_i) = log N(eps_i; 0, I) - sum_j log_scale_j
  (the closed-form entropy sum_j log_scale_j + d/2 (1 + log 2 pi) in place of -mean log q is
  accepted too).
* ``importance_summary(log_w)``: (log Z_hat, ESS) with Z_hat the mean importance weight and
  ESS = (sum w)^2 / sum w^2, computed without overflow for log-weights of any size (any sequence
  of the two values is accepted: tuple, list or array).
"""

from __future__ import annotations

import numpy as np

from nflib.affine import Affine
from nflib.core import Compose
from nflib.distributions import StandardNormal
from nflib.flow import Flow
from nflib.validation import LOG_2PI
from nflib.course.ch07_vi import log_joint
from nflib.course.demos import planar_layer
from ._feedback import close, fail, run_checks

__all__ = ["check_kl_gaussian", "check_reverse_kl", "check_elbo", "check_importance_summary",
           "example_flow", "gaussian_target", "log_joint"]


# ---- KL of diagonal Gaussians -----------------------------------------------------------------

def _kl_diag(m_q, s_q, m_p, s_p):
    return float(np.sum(np.log(s_p / s_q) + (s_q ** 2 + (m_q - m_p) ** 2) / (2 * s_p ** 2) - 0.5))


def check_kl_gaussian(kl_gaussian):
    """Zero for equal Gaussians, the closed form in 1 and 3 dimensions, and the direction."""
    m_q, s_q = np.array([0.5, -1.0, 2.0]), np.array([0.7, 1.5, 0.4])
    m_p, s_p = np.array([0.0, 0.3, 1.0]), np.array([1.2, 0.5, 0.9])

    def scalar(call):
        value = call(m_q, s_q, m_p, s_p)
        if np.ndim(value) != 0:
            fail(f"kl_gaussian returned shape {np.shape(value)}; the KL of a d-dimensional "
                 "Gaussian is one number: sum the terms of the d coordinates")

    def zero(call):
        value = float(call(m_q, s_q, m_q, s_q))
        if not close(value, 0.0, atol=1e-10):
            fail(f"KL(q || q) should be 0; got {value:.6g}")

    def values(call):
        for args in ((m_q[:1], s_q[:1], m_p[:1], s_p[:1]), (m_q, s_q, m_p, s_p)):
            got, want = float(call(*args)), _kl_diag(*args)
            if close(got, want):
                continue
            if close(got, _kl_diag(args[2], args[3], args[0], args[1])):
                fail("you computed KL(p || q), the other direction: the expectation must be "
                     "under q, so the variance of q sits in the numerator, s_q^2 / s_p^2")
            if close(got, _kl_diag(args[0], args[1] ** 2, args[2], args[3] ** 2)):
                fail("the arguments are standard deviations; you used them as variances")
            if close(got, -want):
                fail("the sign is flipped: a KL divergence is never negative")
            fail(f"in d = {args[0].size}: got {got:.6g}, expected {want:.6g}")

    return run_checks("kl_gaussian", kl_gaussian, [
        ("returns one number (summed over coordinates)", scalar),
        ("KL(q || q) = 0", zero),
        ("equals the closed form of KL(q || p), in the right direction", values)])


# ---- Monte Carlo reverse KL -------------------------------------------------------------------

def example_flow() -> Flow:
    """A 2-D flow whose log-determinant varies from sample to sample: affine, planar, affine."""
    layers = [Affine(2, log_scale=[0.3, -0.2], shift=[0.5, 0.0]),
              planar_layer(w=[1.0, 0.5], u_hat=[0.8, -0.4], b=0.2),
              Affine(2, log_scale=[-0.1, 0.4], shift=[0.0, -0.3])]
    return Flow(StandardNormal(2), Compose(layers))


def gaussian_target(x):
    """log p~(x) = -1/2 ||x - (0.5, -0.5)||^2 / 1.5^2, unnormalised; log Z = log(2 pi 1.5^2)."""
    x = np.asarray(x, dtype=np.float64)
    return -0.5 * np.sum((x - np.array([0.5, -0.5])) ** 2, axis=1) / 1.5 ** 2


_GAUSSIAN_LOG_Z = float(LOG_2PI + 2 * np.log(1.5))


def _reverse_kl_parts(flow, log_target, n, seed):
    rng = np.random.default_rng(seed)
    z = flow.base.sample(n, rng)
    x, log_det = flow.bijection.forward(z)
    return flow.base.log_prob(z), log_det, log_target(x), log_target(z)


def check_reverse_kl(reverse_kl):
    """The value with the same base samples, log Z added, the log-det's presence and sign."""
    flow = example_flow()
    n, seed = 5000, 3

    def scalar(call):
        value = call(flow, gaussian_target, _GAUSSIAN_LOG_Z, 50, np.random.default_rng(seed))
        if np.ndim(value) != 0:
            fail(f"reverse_kl returned shape {np.shape(value)}; expected one number (the mean "
                 "over the samples)")

    def value(call):
        got = float(call(flow, gaussian_target, _GAUSSIAN_LOG_Z, n, np.random.default_rng(seed)))
        log_base, log_det, log_t, log_t_z = _reverse_kl_parts(flow, gaussian_target, n, seed)
        want = float(np.mean(log_base - log_det - log_t)) + _GAUSSIAN_LOG_Z
        if close(got, want):
            return
        if close(got, want - _GAUSSIAN_LOG_Z):
            fail("log Z is missing: the mean of log q - log p~ is KL(q || p) - log Z")
        if close(got, float(np.mean(log_base - log_t)) + _GAUSSIAN_LOG_Z):
            fail("the log-determinant is missing: log q(x) = log p_Z(z) - log|det df/dz|")
        if close(got, float(np.mean(log_base + log_det - log_t)) + _GAUSSIAN_LOG_Z):
            fail("the log-determinant has the wrong sign: log q(f(z)) = log p_Z(z) "
                 "- log|det df/dz| (stretching thins the density)")
        if close(got, -want):
            fail("the sign is flipped: you computed E_q[log p - log q] = -KL(q || p)")
        if close(got, float(np.mean(log_base - log_det - log_t_z)) + _GAUSSIAN_LOG_Z):
            fail("log p~ must be evaluated at the flow's samples x = f(z), not at the base "
                 "samples z")
        fail(f"got {got:.6g}; with the same base samples (flow.base.sample(n, rng)) the "
             f"estimate is {want:.6g}")

    def nonnegative(call):
        # the exact KL of the (Gaussian-like) example flow is small but positive; a large
        # sample should not give a clearly negative value
        got = float(call(flow, gaussian_target, _GAUSSIAN_LOG_Z, 20000,
                         np.random.default_rng(seed + 1)))
        if got < -0.02:
            fail(f"a KL divergence is never negative; the estimate is {got:.4f}")

    return run_checks("reverse_kl", reverse_kl, [
        ("returns one number", scalar),
        ("matches the estimate with the same base samples", value),
        ("is non-negative on a large sample", nonnegative)])


# ---- the reparametrised ELBO ------------------------------------------------------------------

_X = np.array([2.39, 1.05])


def _elbo_parts(mean, log_scale, x, eps):
    z = mean + np.exp(log_scale) * eps
    log_base = -0.5 * np.sum(eps * eps, axis=1) - LOG_2PI
    return log_joint(z, x), log_base, float(np.sum(log_scale))


def check_elbo(elbo):
    """One number; the ELBO with the flow's log q or the closed-form entropy; common mistakes."""
    rng = np.random.default_rng(5)
    eps = rng.standard_normal((400, 2))
    mean, log_scale = np.array([0.4, 1.6]), np.array([-0.9, -0.6])

    def scalar(call):
        value = call(mean, log_scale, _X, eps)
        if np.ndim(value) != 0:
            fail(f"elbo returned shape {np.shape(value)}; expected one number (the mean over "
                 "the samples)")

    def value(call):
        got = float(call(mean, log_scale, _X, eps))
        lj, lb, sum_ls = _elbo_parts(mean, log_scale, _X, eps)
        with_log_q = float(np.mean(lj - (lb - sum_ls)))
        entropy = sum_ls + 0.5 * 2 * (1.0 + LOG_2PI)
        with_entropy = float(np.mean(lj)) + entropy
        if close(got, with_log_q) or close(got, with_entropy):
            return
        if close(got, float(np.mean(lj + (lb - sum_ls)))) or close(
                got, float(np.mean(lj)) - entropy):
            fail("the entropy term has the wrong sign: ELBO = E_q[log p(x, z)] - E_q[log q(z)], "
                 "and -E_q[log q] is the entropy, which is added")
        if close(got, float(np.mean(lj - lb))) or close(
                got, float(np.mean(lj)) + entropy - sum_ls):
            fail("the log-determinant of z = mean + exp(log_scale) eps is missing: "
                 "log q(z) = log N(eps; 0, I) - sum(log_scale)")
        if close(got, float(np.mean(lj - (lb + sum_ls)))):
            fail("the log-determinant has the wrong sign: log q(z) = log N(eps; 0, I) "
                 "- sum(log_scale)")
        if close(got, float(np.mean(log_joint(eps, _X) - (lb - sum_ls)))):
            fail("log p(x, z) must be evaluated at z = mean + exp(log_scale) eps, not at eps")
        for times, what in ((1.0, "log 2 pi"), (0.5, "(1/2) log 2 pi"), (2.0, "2 log 2 pi")):
            if (close(abs(got - with_log_q), times * LOG_2PI)
                    or close(abs(got - with_entropy), times * LOG_2PI)):
                fail(f"your value differs from the ELBO by exactly {what} = "
                     f"{times * LOG_2PI:.6f}: the Gaussian's normalising constant is missing, "
                     "counted for one coordinate only, or has the wrong sign. "
                     "log N(eps; 0, I) = -|eps|^2 / 2 - (d/2) log 2 pi with d = 2, that is "
                     "-log 2 pi (in the closed-form entropy: +(d/2)(1 + log 2 pi))")
        fail(f"got {got:.6g}; expected {with_log_q:.6g} (mean of log p(x, z) - log q(z))")

    def bound(call):
        # the ELBO never exceeds log p(x) on average; log p(x) by quadrature on a grid
        axis = np.linspace(-6, 6, 301)
        pts = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
        vals = np.exp(log_joint(pts, _X)).reshape(301, 301)
        log_px = float(np.log(np.trapezoid(np.trapezoid(vals, axis, axis=1), axis)))
        big = np.random.default_rng(6).standard_normal((20000, 2))
        got = float(call(mean, log_scale, _X, big))
        if got > log_px + 0.02:
            fail(f"the ELBO {got:.4f} exceeds log p(x) = {log_px:.4f}; it is a lower bound")

    return run_checks("elbo", elbo, [
        ("returns one number", scalar),
        ("equals mean(log p(x, z) - log q(z)) with z = mean + exp(log_scale) eps", value),
        ("stays below log p(x)", bound)])


# ---- importance-sampling summary --------------------------------------------------------------

def check_importance_summary(importance_summary):
    """A pair; log Z_hat and ESS on small weights, ESS bounds, and no overflow at large log w."""
    log_w = np.log(np.array([1.0, 2.0, 3.0, 10.0]))

    def pair(call):
        out = call(log_w)
        if np.ndim(out) == 0:
            fail("importance_summary returned one number; it should return the pair "
                 "(log_z_hat, ess), for example as a tuple")
        if len(out) != 2:
            fail(f"importance_summary returned {len(out)} values; it should return the two "
                 "values (log_z_hat, ess), in that order, for example as a tuple")

    def values(call):
        log_z, ess = (float(v) for v in call(log_w))
        if close(log_z, float(np.mean(log_w))):
            fail("log Z_hat is the log of the mean weight, log(mean(exp(log_w))); the mean of "
                 "the log-weights is the ELBO, a lower bound")
        if not close(log_z, np.log(4.0)):
            fail(f"log Z_hat for w = (1, 2, 3, 10) should be log 4 = {np.log(4.0):.6f}; got "
                 f"{log_z:.6g}")
        if close(ess, 256 / 114 / 4):
            fail("that is ESS / n; return the effective sample size itself, (sum w)^2 / sum w^2")
        if close(ess, float(np.sum(log_w) ** 2 / np.sum(log_w ** 2))):
            fail("the ESS is computed from the weights w = exp(log_w), not from the log-weights")
        if not close(ess, 256 / 114):
            fail(f"ESS for w = (1, 2, 3, 10) should be 256/114 = {256 / 114:.6f}; got {ess:.6g}")

    def bounds(call):
        equal = call(np.full(50, -3.0))
        if not close(float(equal[1]), 50.0):
            fail(f"50 equal weights have ESS 50; got {float(equal[1]):.6g}")
        if not close(float(equal[0]), -3.0):
            fail(f"50 weights all equal to exp(-3) have log Z_hat = -3; got {float(equal[0]):.6g}")

    def overflow(call):
        shifted = log_w + 1000.0
        with np.errstate(all="ignore"):
            log_z, ess = (float(v) for v in call(shifted))
        if not (np.isfinite(log_z) and np.isfinite(ess)):
            fail("log-weights near 1000 overflow exp(): subtract the largest log-weight before "
                 "exponentiating (log-sum-exp) and add it back to log Z_hat")
        if not (close(log_z, 1000.0 + np.log(4.0)) and close(ess, 256 / 114)):
            fail(f"with every log-weight shifted by +1000, log Z_hat should shift by 1000 and "
                 f"the ESS stay {256 / 114:.4f}; got {log_z:.6g} and {ess:.6g}")

    return run_checks("importance_summary", importance_summary, [
        ("returns the pair (log_z_hat, ess)", pair),
        ("log Z_hat = log(mean w) and ESS = (sum w)^2 / sum w^2", values),
        ("equal weights: ESS = n", bounds),
        ("stable for large log-weights", overflow)])
