"""Checks for the exercises of chapter 1 (change of variables).

* ``density_exp(x)``: the density of X = exp(Z), Z ~ N(0, 1):
  p_X(x) = p_Z(log x) |d log x / dx| = phi(log x) / x  for x > 0.
* ``log_prob_linear(x, A)``: log-density of X = A Z, Z ~ N(0, I_2):
  log p_X(x) = log p_Z(A^{-1} x) - log|det A|.
* ``sample_exponential(n, rate, rng)``: inverse-CDF sampling, F(x) = 1 - exp(-rate x),
  x = F^{-1}(u) = -log(1 - u) / rate with u ~ U(0, 1).
* ``log_abs_det_composition(z, layers)``: for f = f_K o ... o f_1 acting elementwise,
  log|f'(z)| = sum_k log|f_k'(z_{k-1})| with z_0 = z and z_k = f_k(z_{k-1}) (chain rule).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ._feedback import close, expect_shape, fail, first_mismatch, run_checks

__all__ = ["check_density_exp", "check_log_prob_linear", "check_sample_exponential",
           "check_log_abs_det_composition"]

_LOG_2PI = np.log(2.0 * np.pi)


def _phi(z):
    return np.exp(-0.5 * z ** 2 - 0.5 * _LOG_2PI)


# ---- density of exp(Z) -----------------------------------------------------------------------

def _density_exp(x):
    return _phi(np.log(x)) / x


def check_density_exp(density_exp):
    """Shape, positivity, normalisation (quadrature in y = log x) and the values phi(log x)/x."""
    x = np.array([0.2, 0.5, 1.0, 2.0, 5.0])

    def shape(call):
        expect_shape(call(x), x.shape, f"density_exp(x) for x of shape {x.shape}")

    def positive(call):
        p = np.asarray(call(x), dtype=np.float64)
        if not np.all(np.isfinite(p)) or np.any(p <= 0):
            fail(f"got {p}; a density of X = exp(Z) is finite and positive for every x > 0")

    def normalised(call):
        y = np.linspace(-14.0, 14.0, 8001)            # x = e^y, dx = e^y dy
        total = float(np.trapezoid(np.asarray(call(np.exp(y)), dtype=np.float64) * np.exp(y), y))
        if abs(total - 1.0) > 1e-6:
            hint = "a density of X must include the factor |d f^{-1}/dx| = 1/x"
            if abs(total - np.exp(0.5)) < 1e-3:
                hint = ("this is p_Z(log x) alone: the factor |d log x/dx| = 1/x (the "
                        "log-det term) is forgotten")
            elif abs(total - np.exp(2.0)) < 1e-2:
                hint = "you multiplied by |dx/dz| = x; divide by it instead (the log-det sign)"
            fail(f"the integral over (0, inf) is {total:.4f}, not 1: {hint}")

    def values(call):
        got = np.asarray(call(x), dtype=np.float64)
        bad = first_mismatch(got, _density_exp(x), rtol=1e-7)
        if bad is not None:
            fail(f"at x = {x[bad]:g} got {got[bad]:.6g}, expected phi(log x)/x = "
                 f"{_density_exp(x)[bad]:.6g}")

    return run_checks("density_exp", density_exp, [
        ("returns one value per point (shape)", shape), ("is positive", positive),
        ("integrates to 1 (normalisation)", normalised), ("equals phi(log x)/x", values)])


# ---- pushforward by a linear map -------------------------------------------------------------

_A = np.array([[2.0, 0.5], [0.0, 1.0]])               # det 2
_A_FLIP = np.array([[0.0, 1.5], [1.0, 0.3]])          # det -1.5: needs log|det A|


def _log_prob_linear(x, A):
    z = np.linalg.solve(A, x.T).T
    return -0.5 * np.sum(z ** 2, axis=1) - _LOG_2PI - np.log(abs(np.linalg.det(A)))


def check_log_prob_linear(log_prob_linear):
    """Shape, normalisation on a grid, log|det A| for det A < 0, and the values."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 2)) * 2.0

    def shape(call):
        expect_shape(call(x, _A), (6,), "log_prob_linear(x, A) for x of shape (6, 2)")

    def normalised(call):
        g = np.linspace(-16.0, 16.0, 641)
        xx, yy = np.meshgrid(g, g, indexing="ij")
        grid = np.stack([xx.ravel(), yy.ravel()], axis=1)
        logp = np.asarray(call(grid, _A), dtype=np.float64).reshape(xx.shape)
        total = float(np.trapezoid(np.trapezoid(np.exp(logp), g, axis=1), g))
        if abs(total - 1.0) > 1e-4:
            det = abs(np.linalg.det(_A))
            hint = "log p_X(x) = log p_Z(A^{-1} x) - log|det A|"
            if abs(total - det) < 1e-3:
                hint = f"it is off by a factor |det A| = {det:g}: the -log|det A| term is missing"
            elif abs(total - det ** 2) < 1e-3:
                hint = (f"it is off by |det A|^2 = {det ** 2:g}: you added log|det A| where it "
                        "must be subtracted (the log-det sign)")
            fail(f"exp(log p) integrates to {total:.4f} over the plane, not 1: {hint}")

    def absolute(call):
        got = np.asarray(call(x, _A_FLIP), dtype=np.float64)
        if not np.all(np.isfinite(got)):
            fail("for A with det A = -1.5 the result is not finite: use log|det A| (the "
                 "absolute value), for example np.linalg.slogdet(A)[1]")
        want = _log_prob_linear(x, _A_FLIP)
        if not close(got, want):
            fail(f"for A with det A = -1.5 got {got[0]:.6g} at x = {x[0]}, expected "
                 f"{want[0]:.6g}")

    def values(call):
        got = np.asarray(call(x, _A), dtype=np.float64)
        want = _log_prob_linear(x, _A)
        bad = first_mismatch(got, want)
        if bad is not None:
            i = bad[0]
            hint = ""
            z_wrong = x @ _A.T
            if np.isclose(got[i], -0.5 * z_wrong[i] @ z_wrong[i] - _LOG_2PI - np.log(2.0)):
                hint = ": you mapped x with A; the density needs z = A^{-1} x"
            fail(f"at x = {x[i]} got {got[i]:.6g}, expected {want[i]:.6g}{hint}")

    return run_checks("log_prob_linear", log_prob_linear, [
        ("returns one value per point (shape)", shape),
        ("integrates to 1 (normalisation)", normalised),
        ("uses log|det A| when det A < 0", absolute),
        ("equals the N(0, A A^T) log-density", values)])


# ---- inverse-CDF sampling --------------------------------------------------------------------

def check_sample_exponential(sample_exponential):
    """Shape, use of the generator passed in, support, mean 1/rate and a Kolmogorov-Smirnov test."""
    rate, n = 2.0, 200_000

    def shape(call):
        expect_shape(call(1000, rate, np.random.default_rng(0)), (1000,),
                     "sample_exponential(1000, rate, rng)")

    def uses_rng(call):
        a = np.asarray(call(50, rate, np.random.default_rng(7)))
        b = np.asarray(call(50, rate, np.random.default_rng(7)))
        c = np.asarray(call(50, rate, np.random.default_rng(8)))
        if not np.array_equal(a, b):
            fail("two generators with the same seed gave different samples: draw the uniforms "
                 "from the rng argument (rng.uniform), not from np.random")
        if np.array_equal(a, c):
            fail("generators with different seeds gave the same samples: use the rng argument")

    def support(call):
        x = np.asarray(call(n, rate, np.random.default_rng(1)), dtype=np.float64)
        if not np.all(np.isfinite(x)) or np.any(x < 0):
            fail("some samples are negative or not finite; F^{-1}(u) = -log(1 - u)/rate is "
                 "non-negative for u in [0, 1): check the sign")

    def mean(call):
        x = np.asarray(call(n, rate, np.random.default_rng(1)), dtype=np.float64)
        m, se = x.mean(), 1.0 / rate / np.sqrt(n)
        if abs(m - 1.0 / rate) > 5 * se:
            hint = ""
            if abs(m - rate) < 5 * rate * np.sqrt(1.0 / n):
                hint = ": it equals the rate; divide by the rate instead of multiplying"
            fail(f"the sample mean is {m:.4f}; an Exponential({rate:g}) has mean "
                 f"{1 / rate:g}{hint}")

    def distribution(call):
        x = np.asarray(call(n, rate, np.random.default_rng(2)), dtype=np.float64)
        ks = stats.kstest(x, "expon", args=(0.0, 1.0 / rate)).statistic
        if ks > 1.95 / np.sqrt(n):
            fail(f"the Kolmogorov-Smirnov distance to Exponential({rate:g}) is {ks:.4f} "
                 f"(at most {1.95 / np.sqrt(n):.4f} expected): the samples have the right mean "
                 "but the wrong shape")

    return run_checks("sample_exponential", sample_exponential, [
        ("returns n samples (shape)", shape), ("draws from the generator passed in", uses_rng),
        ("samples are non-negative", support), ("has mean 1/rate", mean),
        ("follows the exponential CDF (KS test)", distribution)])


# ---- log-det of a composition ----------------------------------------------------------------

#: elementwise layers (f, f'); the third has a negative slope, so |f'| matters
LAYERS = [
    (np.exp, np.exp),
    (lambda y: y ** 3 + y, lambda y: 3.0 * y ** 2 + 1.0),
    (lambda y: 1.0 - 2.0 * y, lambda y: np.full_like(y, -2.0)),
]


def _log_abs_det_composition(z, layers):
    total, y = np.zeros_like(z), z
    for f, df in layers:
        total = total + np.log(np.abs(df(y)))
        y = f(y)
    return total


def check_log_abs_det_composition(log_abs_det_composition):
    """Shape, one layer, |f'| for negative slopes, and the chain rule at intermediate points."""
    z = np.array([-1.0, -0.3, 0.0, 0.4, 1.2])

    def shape(call):
        expect_shape(call(z, LAYERS), z.shape, "log_abs_det_composition(z, layers)")

    def one_layer(call):
        got = np.asarray(call(z, LAYERS[1:2]), dtype=np.float64)
        if not close(got, np.log(3.0 * z ** 2 + 1.0)):
            fail("with the single layer f(y) = y^3 + y the result should be log|3 z^2 + 1|; "
                 f"got {got}")

    def absolute(call):
        got = np.asarray(call(z, LAYERS[2:]), dtype=np.float64)
        if not close(got, np.full_like(z, np.log(2.0))):
            fail("with the single layer f(y) = 1 - 2y the result should be log|-2| = log 2 at "
                 f"every point; got {got}: take the absolute value of f'")

    def chain(call):
        got = np.asarray(call(z, LAYERS), dtype=np.float64)
        want = _log_abs_det_composition(z, LAYERS)
        if close(got, want):
            return
        at_z = sum(np.log(np.abs(df(z))) for _, df in LAYERS)
        if close(got, at_z):
            fail("every derivative was evaluated at z; layer k must be differentiated at the "
                 "point it receives, z_{k-1} = f_{k-1}(...f_1(z))")
        bad = first_mismatch(got, want)[0]
        fail(f"at z = {z[bad]:g} got {got[bad]:.6g}, expected {want[bad]:.6g} "
             "(the sum of log|f_k'(z_{k-1})| over the layers)")

    return run_checks("log_abs_det_composition", log_abs_det_composition, [
        ("returns one value per point (shape)", shape), ("is log|f'| for one layer", one_layer),
        ("takes |f'| for a decreasing layer", absolute),
        ("sums the layers' log|f_k'| at the intermediate points (chain rule)", chain)])
