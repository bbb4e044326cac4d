"""Checks for the exercises of chapter 8 (beyond affine layers).

* ``spline_bin(z, x0, w, y0, h, d0, d1)``: one rational-quadratic bin, with s = h/w,
  xi = (z - x0)/w, q = xi (1 - xi), den = s + (d0 + d1 - 2s) q:
  g = y0 + h (s xi^2 + d0 q) / den,  g' = s^2 (d1 xi^2 + 2 s q + d0 (1 - xi)^2) / den^2.
* ``spline_bin_inverse(y, x0, w, y0, h, d0, d1)``: z with g(z) = y, from the root in [0, 1] of
  a xi^2 + b xi + c = 0, a = h (s - d0) + (y - y0) c', b = h d0 - (y - y0) c', c = -s (y - y0),
  c' = d0 + d1 - 2s: xi = 2c / (-b - sqrt(b^2 - 4ac)).
* ``hutchinson(J, eps)``: the mean over the m probes eps (n, m, d) of eps^T J eps, per row.
* ``rk4_logp_step(field, t, z, logp, h)``: one classical Runge-Kutta step of the augmented ODE
  dz/dt = f(t, z), d log p/dt = -tr(df/dz).
"""

from __future__ import annotations

import numpy as np

from nflib import ode
from ._feedback import close, expect_shape, fail, first_mismatch, run_checks

__all__ = ["check_spline_bin", "check_spline_bin_inverse", "check_hutchinson",
           "check_rk4_logp_step", "example_bins", "example_field"]


# ---- one spline bin --------------------------------------------------------------------------

def example_bins(n: int = 40, seed: int = 1):
    """Random bins: ``(z, x0, w, y0, h, d0, d1)``, each of shape (n,), z inside its bin."""
    rng = np.random.default_rng(seed)
    x0, y0 = rng.uniform(-2, 2, n), rng.uniform(-2, 2, n)
    w, h = rng.uniform(0.2, 1.5, n), rng.uniform(0.2, 1.5, n)
    d0, d1 = np.exp(rng.uniform(-1.5, 1.5, n)), np.exp(rng.uniform(-1.5, 1.5, n))
    z = x0 + w * rng.uniform(0.02, 0.98, n)
    return z, x0, w, y0, h, d0, d1


def _bin(z, x0, w, y0, h, d0, d1):
    s = h / w
    xi = (z - x0) / w
    q = xi * (1 - xi)
    den = s + (d0 + d1 - 2 * s) * q
    g = y0 + h * (s * xi * xi + d0 * q) / den
    dg = s * s * (d1 * xi * xi + 2 * s * q + d0 * (1 - xi) ** 2) / den ** 2
    return g, dg


def check_spline_bin(spline_bin):
    """Pair and shapes, the knots at both ends, values, the derivative by central differences
    (with hints for log g', a missing s^2 and a missing 1/w), and the slopes at both ends."""
    args = example_bins()
    z, x0, w, y0, h, d0, d1 = args
    g_ref, dg_ref = _bin(*args)

    def pair(call):
        out = call(*args)
        if not (isinstance(out, tuple) and len(out) == 2):
            fail("return a pair (g, dg) of arrays")
        expect_shape(out[0], z.shape, "g")
        expect_shape(out[1], z.shape, "dg")

    def knots(call):
        g0 = np.asarray(call(x0, x0, w, y0, h, d0, d1)[0], dtype=np.float64)
        g1 = np.asarray(call(x0 + w, x0, w, y0, h, d0, d1)[0], dtype=np.float64)
        if close(g0, y0) and close(g1, y0 + h):
            return
        if close(g0, 0.0) and close(g1, h):
            fail("the bin must start at (x0, y0) and end at (x0 + w, y0 + h): g starts at 0, "
                 "so the offset y0 is missing (g = y0 + h (...) / den)")
        fail("the bin must start at (x0, y0) and end at (x0 + w, y0 + h): check g at "
             "xi = 0 and xi = 1")

    def values(call):
        g = np.asarray(call(*args)[0], dtype=np.float64)
        if close(g, g_ref):
            return
        if close(g, _bin(z, x0, w, y0, h, d1, d0)[0]):
            fail("d0 and d1 are swapped: d0 is the derivative at the left knot (x0, y0), d1 at "
                 "the right one, and the numerator of g has d0 q")
        i = first_mismatch(g, g_ref)[0]
        fail(f"bin {i}: g = {g[i]:.6g}, expected {g_ref[i]:.6g}")

    def derivative(call):
        dg = np.asarray(call(*args)[1], dtype=np.float64)
        eps = 1e-6
        numeric = (np.asarray(call(z + eps, *args[1:])[0], dtype=np.float64)
                   - np.asarray(call(z - eps, *args[1:])[0], dtype=np.float64)) / (2 * eps)
        tol = {"rtol": 1e-5, "atol": 1e-7}
        if close(dg, numeric, **tol):
            return
        if close(dg, np.log(numeric), **tol):
            fail("you returned log g'; return the derivative g' itself")
        if close(dg * (h / w) ** 2, numeric, **tol):
            fail("the factor s^2 = (h/w)^2 in front of the derivative is missing")
        if close(dg / w, numeric, **tol):
            fail("that is dg/dxi, the derivative with respect to the position in the bin; "
                 "the factor 1/w is missing: dg/dz = (dg/dxi) / w, because xi = (z - x0) / w")
        if close(dg, _bin(z, x0, w, y0, h, d1, d0)[1], **tol):
            fail("d0 and d1 are swapped in g': the slope at the left end (xi = 0) must be d0 "
                 "and at the right end d1, so d1 multiplies xi^2 and d0 (1 - xi)^2")
        i = first_mismatch(dg, numeric, **tol)[0]
        fail(f"bin {i}: g' = {dg[i]:.6g}, but central differences of your g give "
             f"{numeric[i]:.6g}")

    def end_slopes(call):
        dg0 = np.asarray(call(x0, x0, w, y0, h, d0, d1)[1], dtype=np.float64)
        dg1 = np.asarray(call(x0 + w, x0, w, y0, h, d0, d1)[1], dtype=np.float64)
        if not (close(dg0, d0) and close(dg1, d1)):
            fail("the slope at the left end must be d0 and at the right end d1 "
                 "(g' = s^2 (d1 xi^2 + 2 s q + d0 (1 - xi)^2) / den^2)")

    return run_checks("spline_bin", spline_bin, [
        ("returns (g, dg) of the right shapes", pair),
        ("passes through both knots", knots),
        ("gives the rational-quadratic values", values),
        ("gives the derivative of g (central differences)", derivative),
        ("has slopes d0 and d1 at the two ends", end_slopes)])


# ---- its inverse -----------------------------------------------------------------------------

def check_spline_bin_inverse(spline_bin_inverse):
    """Shape, the root lies in the bin, and the round trip g(z) = y."""
    z_true, x0, w, y0, h, d0, d1 = example_bins(seed=2)
    y, _ = _bin(z_true, x0, w, y0, h, d0, d1)
    rest = (x0, w, y0, h, d0, d1)

    def shape(call):
        expect_shape(call(y, *rest), y.shape, "spline_bin_inverse(y, ...)")

    def in_bin(call):
        z = np.asarray(call(y, *rest), dtype=np.float64)
        xi = (z - x0) / w
        xi_true = (z_true - x0) / w
        if not np.all(np.isfinite(z)):
            fail("some results are not finite")
        if close(z, xi_true):
            fail("you returned the position xi in [0, 1]; return the point z = x0 + w xi")
        if close(z, w * xi_true):
            fail("the left knot x0 is missing: z = x0 + w xi, not w xi")
        if close(z, x0 + xi_true):
            fail("the width is missing: z = x0 + w xi, not x0 + xi")
        if np.any((xi < -1e-9) | (xi > 1 + 1e-9)):
            fail("some results lie outside their bin: of the two roots of the quadratic take "
                 "xi = 2c / (-b - sqrt(b^2 - 4ac)), the one in [0, 1]")

    def round_trip(call):
        z = np.asarray(call(y, *rest), dtype=np.float64)
        back, _ = _bin(z, *rest)
        err = float(np.max(np.abs(back - y)))
        if err > 1e-9:
            hint = "solve a xi^2 + b xi + c = 0 with the coefficients of the docstring"
            if close(z, x0 + (y - y0) / h * w):
                hint = ("that is the inverse of the straight line through the knots; the bin "
                        "is curved, solve the quadratic")
            fail(f"g(z) differs from y by up to {err:.3g}: {hint}")

    return run_checks("spline_bin_inverse", spline_bin_inverse, [
        ("returns one value per bin (shape)", shape),
        ("returns the root inside the bin", in_bin),
        ("inverts the bin (g(z) = y)", round_trip)])


# ---- Hutchinson ------------------------------------------------------------------------------

def check_hutchinson(hutchinson):
    """Shape, exactness over all sign patterns, the mean over probes, and the symmetric part."""
    rng = np.random.default_rng(3)
    n, d = 6, 3
    J = rng.standard_normal((n, d, d))
    signs = np.array([[a, b, c] for a in (-1.0, 1.0) for b in (-1.0, 1.0) for c in (-1.0, 1.0)])
    all_signs = np.broadcast_to(signs, (n, 8, d)).copy()
    eps = rng.standard_normal((n, 5, d))
    want = np.mean(np.einsum("nmi,nij,nmj->nm", eps, J, eps), axis=1)

    def shape(call):
        expect_shape(call(J, eps), (n,), "hutchinson(J, eps) for J (6, 3, 3), eps (6, 5, 3)")

    def exact_over_all_signs(call):
        got = np.asarray(call(J, all_signs), dtype=np.float64)
        trace = np.trace(J, axis1=1, axis2=2)
        if close(got, trace):
            return
        if close(got, 8 * trace):
            fail("average over the probes (mean over axis 1), do not sum them")
        fail("over all 8 sign patterns the estimates must average to tr J exactly; "
             f"got {got[0]:.6g} for a trace of {trace[0]:.6g}")

    def values(call):
        got = np.asarray(call(J, eps), dtype=np.float64)
        if close(got, want):
            return
        if close(got, np.trace(J, axis1=1, axis2=2)):
            fail("you returned the exact trace tr J; the exercise asks for Hutchinson's "
                 "estimate from the given probes, the mean over them of eps^T J eps (which "
                 "equals tr J only on average)")
        if close(got, np.mean(np.sum(eps * eps, axis=2), axis=1)):
            fail("eps^T eps is missing J: compute eps^T (J eps)")
        if close(got, 5 * want):
            fail("average over the probes (mean over axis 1), do not sum them")
        if close(got, np.mean(np.einsum("nmi,nii,nmi->nm", eps, J, eps), axis=1)):
            fail("only the diagonal of J is used; eps^T J eps includes every entry J_ij")
        i = first_mismatch(got, want)[0]
        fail(f"row {i}: got {got[i]:.6g}, expected {want[i]:.6g}")

    return run_checks("hutchinson", hutchinson, [
        ("returns one estimate per row (shape)", shape),
        ("is exact on average over all sign patterns (unbiased)", exact_over_all_signs),
        ("averages eps^T J eps over the probes", values)])


# ---- one RK4 step of the log-density ---------------------------------------------------------

def example_field(seed: int = 4):
    """A small nonlinear velocity field (``nflib.ode.MLPField`` with moved weights)."""
    rng = np.random.default_rng(seed)
    field = ode.MLPField(2, (8,), rng=rng)
    for p in field.parameters().values():
        p[...] = 0.8 * rng.standard_normal(p.shape)
    return field


def _augmented(field):
    def fun(t, state):
        z = state[:, :-1]
        out = np.empty_like(state)
        out[:, :-1] = field(t, z)
        out[:, -1] = -np.trace(field.jacobian(t, z), axis1=1, axis2=2)
        return out
    return fun


def _step(fun, t, state, h, method):
    if method == "euler":
        return state + h * fun(t, state)
    half, full = (0.0, 0.0) if method == "rk4 at t" else (h / 2, h)
    k1 = fun(t, state)
    k2 = fun(t + half, state + h / 2 * k1)
    k3 = fun(t + half, state + h / 2 * k2)
    k4 = fun(t + full, state + h * k3)
    return state + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def check_rk4_logp_step(rk4_logp_step):
    """Pair and shapes, the linear case (exact trace), and the nonlinear step against RK4."""
    field = example_field()
    rng = np.random.default_rng(5)
    z = rng.standard_normal((7, 2))
    logp = rng.standard_normal(7)
    t, h = 0.2, 0.3
    state = np.concatenate([z, logp[:, None]], axis=1)
    want = _step(_augmented(field), t, state, h, "rk4")

    def pair(call):
        out = call(field, t, z, logp, h)
        if not (isinstance(out, tuple) and len(out) == 2):
            fail("return a pair (z_new, logp_new)")
        expect_shape(out[0], z.shape, "z_new")
        expect_shape(out[1], logp.shape, "logp_new")

    def linear(call):
        A = np.array([[0.4, 1.0], [-0.5, 0.2]])
        z_new, logp_new = call(ode.LinearField(A), 0.0, z, logp, h)
        logp_new = np.asarray(logp_new, dtype=np.float64)
        if close(logp_new, logp + h * np.trace(A)):
            fail("the sign of the trace is wrong: d log p / dt = -tr(df/dz) (the density "
                 "falls where the flow expands)")
        if not close(logp_new, logp - h * np.trace(A)):
            fail(f"for f(z) = Az, log p must change by exactly -h tr A = {-h * np.trace(A):.4g}")

    def nonlinear(call):
        z_new, logp_new = (np.asarray(a, dtype=np.float64) for a in call(field, t, z, logp, h))
        got = np.concatenate([z_new, logp_new[:, None]], axis=1)
        if close(got, want, atol=1e-10):
            return
        if close(got, _step(_augmented(field), t, state, h, "euler"), atol=1e-10):
            fail("that is an Euler step; RK4 combines four slopes, (k1 + 2 k2 + 2 k3 + k4) / 6")
        if close(got, _step(_augmented(field), t, state, h, "rk4 at t"), atol=1e-10):
            fail("every stage is evaluated at time t; the field depends on time, so the stages "
                 "have their own times: k1 at t, k2 and k3 at t + h/2, k4 at t + h")
        if close(got[:, :-1], want[:, :-1], atol=1e-10):
            fail("z is right but log p is not: evaluate -tr(df/dz) at each of the four stages, "
                 "at the stage's time and point")
        i = first_mismatch(got, want, atol=1e-10)[0]
        fail(f"point {i}: got {got[i]}, expected {want[i]}")

    return run_checks("rk4_logp_step", rk4_logp_step, [
        ("returns (z_new, logp_new) of the right shapes", pair),
        ("changes log p by -h tr A for a linear field", linear),
        ("takes one RK4 step of (z, log p) for a nonlinear field", nonlinear)])
