"""Checks for the exercises of chapter 6 (fitting a coupling layer by Newton's method).

The model and objective are those of :mod:`nflib.course.newton`: theta = (a, b, c, d, e),

    x1 = z1,  x2 = z2 exp(a z1 + b) + c z1 + d + e z1^2,  log|det df/dz| = a z1 + b,
    J(theta) = mean_i [ log p~(x_i) + a z1_i + b ],   log p~(x) = -1/2 (x1^2 + (x2 + 0.1 x1^2)^2),

and the learner's ``objective``, ``gradient`` and ``hessian`` are compared with
``nflib.course.newton``'s. ``newton_step(theta, grad, hess)`` must return theta - H^{-1} g.
"""

from __future__ import annotations

import numpy as np

from .. import newton as nt
from ._feedback import close, expect_shape, fail, first_mismatch, run_checks

__all__ = ["check_objective", "check_gradient", "check_hessian", "check_newton_step",
           "base_points"]

NAMES = ("a", "b", "c", "d", "e")


def base_points(n: int = 400, seed: int = 0) -> np.ndarray:
    """The fixed base points z_i ~ N(0, I_2) the objective averages over, shape (n, 2)."""
    return np.random.default_rng(seed).standard_normal((n, 2))


def _thetas():
    rng = np.random.default_rng(11)
    return [np.zeros(5), nt.EXACT_THETA.copy(), 0.3 * rng.standard_normal(5),
            0.3 * rng.standard_normal(5)]


def check_objective(objective):
    """A float, equal to nflib.course.newton.objective at several theta (log-det term and its sign)."""
    z = base_points()

    def scalar(call):
        value = call(np.zeros(5), z)
        if np.ndim(value) != 0:
            fail(f"return one number (the average over the points); got shape {np.shape(value)}")

    def values(call):
        for theta in _thetas():
            got = float(call(theta, z))
            want = nt.objective(theta, z)
            if np.isclose(got, want, rtol=1e-10, atol=1e-12):
                continue
            _, log_det = nt.coupling_forward(theta, z)
            where = f"at theta = {np.round(theta, 3)}"
            if np.isclose(got, want - log_det.mean(), rtol=1e-10, atol=1e-12):
                fail(f"{where} the log-det term mean(a z1 + b) is forgotten")
            if np.isclose(got, want - 2 * log_det.mean(), rtol=1e-10, atol=1e-12):
                fail(f"{where} the log-det enters with the wrong sign: J adds +(a z1 + b)")
            fail(f"{where} got {got:.10g}, expected {want:.10g}")

    return run_checks("objective", objective, [("returns a number", scalar),
                                               ("equals J(theta) at several theta", values)])


def check_gradient(gradient):
    """Shape (5,) and agreement with nflib.course.newton.gradient, naming the first wrong component."""
    z = base_points()

    def shape(call):
        expect_shape(call(np.zeros(5), z), (5,), "gradient(theta, z)")

    def values(call):
        for theta in _thetas():
            got = np.asarray(call(theta, z), dtype=np.float64)
            want = nt.gradient(theta, z)
            if close(got, want, atol=1e-10, rtol=1e-8):
                continue
            if close(got, -want, atol=1e-10, rtol=1e-8):
                fail("the sign is flipped: that is the gradient of -J")
            log_det_grad = np.array([z[:, 0].mean(), 1.0, 0.0, 0.0, 0.0])
            if close(got, want - log_det_grad, atol=1e-10, rtol=1e-8):
                fail("the log-det's gradient d(a z1 + b)/d(a, b) = (mean z1, 1) is missing")
            j = first_mismatch(got, want, atol=1e-10, rtol=1e-8)[0]
            fail(f"at theta = {np.round(theta, 3)}: dJ/d{NAMES[j]} is {got[j]:.8g}, "
                 f"expected {want[j]:.8g}")

    return run_checks("gradient", gradient, [("returns a vector of 5 (shape)", shape),
                                             ("equals grad J at several theta", values)])


def check_hessian(hessian):
    """Shape (5, 5), symmetry, and agreement with nflib.course.newton.hessian."""
    z = base_points()

    def shape(call):
        expect_shape(call(np.zeros(5), z), (5, 5), "hessian(theta, z)")

    def symmetric(call):
        h = np.asarray(call(_thetas()[2], z), dtype=np.float64)
        if not close(h, h.T, atol=1e-10, rtol=1e-8):
            i, j = first_mismatch(h, h.T, atol=1e-10, rtol=1e-8)
            fail(f"H[{i}, {j}] = {h[i, j]:.6g} but H[{j}, {i}] = {h[j, i]:.6g}: second "
                 "derivatives commute")

    def values(call):
        for theta in _thetas():
            got = np.asarray(call(theta, z), dtype=np.float64)
            want = nt.hessian(theta, z)
            if close(got, want, atol=1e-10, rtol=1e-8):
                continue
            if close(got, -want, atol=1e-10, rtol=1e-8):
                fail("the sign is flipped: that is the Hessian of -J")
            _, _, _, _, v = nt._pieces(np.asarray(theta, dtype=np.float64), z)
            if close(got, -(v.T @ v) / len(z), atol=1e-10, rtol=1e-8):
                fail("only -mean(v v^T) is there; add the term mean(g2 d2x2/dtheta2), "
                     "nonzero in the (a, b) block")
            i, j = first_mismatch(got, want, atol=1e-10, rtol=1e-8)
            fail(f"at theta = {np.round(theta, 3)}: d2J/d{NAMES[i]}d{NAMES[j]} is {got[i, j]:.8g}, "
                 f"expected {want[i, j]:.8g}")

    return run_checks("hessian", hessian, [("returns a 5 x 5 matrix (shape)", shape),
                                           ("is symmetric", symmetric),
                                           ("equals the Hessian of J at several theta", values)])


def check_newton_step(newton_step):
    """Shape, exact on a quadratic (sign and solve), and convergence on the banana objective."""
    rng = np.random.default_rng(12)
    q = rng.standard_normal((5, 5))
    q = q @ q.T + 5 * np.eye(5)                           # -Hessian of a concave quadratic
    peak, theta = rng.standard_normal(5), rng.standard_normal(5)
    grad, hess = -q @ (theta - peak), -q

    def shape(call):
        expect_shape(call(theta, grad, hess), (5,), "newton_step(theta, grad, hess)")

    def quadratic(call):
        got = np.asarray(call(theta, grad, hess), dtype=np.float64)
        if close(got, peak):
            return
        step = np.linalg.solve(hess, grad)
        if close(got, theta + step):
            fail("the step has the wrong sign: theta + H^{-1} g moves away from the stationary "
                 "point; the Newton step is theta - H^{-1} g")
        if close(got, theta + grad) or close(got, theta - grad):
            fail("that is a gradient step; Newton's step solves H delta = g and returns "
                 "theta - delta")
        if close(got, theta - hess @ grad):
            fail("multiply by the inverse of H (solve H delta = g), not by H")
        fail(f"on a quadratic J the step should land on its maximiser {peak.round(4)}; "
             f"got {got.round(4)}")

    def banana(call):
        z, t = base_points(), np.zeros(5)
        for _ in range(20):
            g = nt.gradient(t, z)
            if np.linalg.norm(g) < 1e-9:
                return
            t = np.asarray(call(t, g, nt.hessian(t, z)), dtype=np.float64)
        fail("20 steps from theta = 0 with nflib's gradient and Hessian did not converge")

    def notes(call):
        z, t, norms = base_points(), np.zeros(5), []
        for _ in range(8):
            g = nt.gradient(t, z)
            norms.append(np.linalg.norm(g))
            if norms[-1] < 1e-12:
                break
            t = np.asarray(call(t, g, nt.hessian(t, z)), dtype=np.float64)
        return ["||grad J|| along the Newton iterates from theta = 0: "
                + ", ".join(f"{v:.1e}" for v in norms)]

    return run_checks("newton_step", newton_step, [
        ("returns a vector of 5 (shape)", shape),
        ("lands on the maximiser of a quadratic in one step", quadratic),
        ("converges on the banana objective", banana)], notes=notes)
