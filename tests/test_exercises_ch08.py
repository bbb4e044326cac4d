"""Exercises of chapter 8: every check accepts a right answer written independently of the
notebook, reports a stub as "not implemented" and a crash as a failure, and rejects the typical
wrong answers (log g', a missing s^2 or 1/w, the other root, xi instead of z, the exact trace,
every RK4 stage at time t, ...) naming the property that failed and giving the specific hint."""

from __future__ import annotations

import numpy as np

from exercise_checks import check_table_tests
from nflib.course.exercises import ch08


# ---- right answers, written independently of the instructor solutions ----------------------------

def _bin(z, x0, w, y0, h, d0, d1, swap=False, swap_slope=False, no_s2=False, log=False,
         no_offset=False, per_xi=False):
    if swap:
        d0, d1 = d1, d0
    e0, e1 = (d1, d0) if swap_slope else (d0, d1)
    s = h / w
    xi = (z - x0) / w
    num = s * xi ** 2 + d0 * xi * (1 - xi)
    den = s + (d0 + d1 - 2 * s) * xi * (1 - xi)
    g = (0.0 if no_offset else y0) + h * num / den
    dg = (1.0 if no_s2 else s ** 2) * (e1 * xi ** 2 + 2 * s * xi * (1 - xi)
                                       + e0 * (1 - xi) ** 2) / den ** 2
    if per_xi:                                                   # dg/dxi, the 1/w forgotten
        dg = dg * w
    return g, (np.log(dg) if log else dg)


def _bin_inverse(y, x0, w, y0, h, d0, d1, other_root=False, linear=False, returns="z"):
    if linear:
        return x0 + (y - y0) / h * w
    s = h / w
    delta = y - y0
    cp = d0 + d1 - 2 * s
    a, b, c = h * (s - d0) + delta * cp, h * d0 - delta * cp, -s * delta
    root = np.sqrt(b * b - 4 * a * c)
    if other_root:
        with np.errstate(divide="ignore", invalid="ignore"):
            xi = 2 * c / (-b + root)
    else:
        xi = 2 * c / (-b - root)
    return {"z": x0 + w * xi, "xi": xi, "no x0": w * xi, "no w": x0 + xi}[returns]


def _hutchinson(J, eps, how="right"):
    if how == "sum":
        return np.einsum("nmi,nij,nmj->nm", eps, J, eps).sum(axis=1)
    if how == "no_J":
        return np.mean(np.sum(eps * eps, axis=2), axis=1)
    if how == "diagonal":
        return np.mean(np.einsum("nmi,nii,nmi->nm", eps, J, eps), axis=1)
    if how == "exact":
        return np.trace(J, axis1=1, axis2=2)
    return np.mean(np.einsum("nmi,nij,nmj->nm", eps, J, eps), axis=1)


def _rk4(field, t, z, logp, h, sign=-1.0, euler=False, trace_at_start=False, stages_at_t=False):
    tr0 = np.trace(field.jacobian(t, z), axis1=1, axis2=2)

    def rhs(s, y):
        tr = tr0 if trace_at_start else np.trace(field.jacobian(s, y), axis1=1, axis2=2)
        return field(s, y), sign * tr

    k1 = rhs(t, z)
    if euler:
        return z + h * k1[0], logp + h * k1[1]
    t_half, t_full = (t, t) if stages_at_t else (t + h / 2, t + h)
    k2 = rhs(t_half, z + h / 2 * k1[0])
    k3 = rhs(t_half, z + h / 2 * k2[0])
    k4 = rhs(t_full, z + h * k3[0])
    return (z + h / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0]),
            logp + h / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1]))


RIGHT = {
    "spline_bin": (ch08.check_spline_bin, _bin),
    "spline_bin_inverse": (ch08.check_spline_bin_inverse, _bin_inverse),
    "hutchinson": (ch08.check_hutchinson, _hutchinson),
    "rk4_logp_step": (ch08.check_rk4_logp_step, _rk4),
}

# (check, wrong answer, the property that must fail, a phrase the feedback must contain)
WRONG = {
    "slopes swapped": ("spline_bin", lambda *a: _bin(*a, swap=True),
                       "rational-quadratic values", "swapped"),
    "slopes swapped in g' only": ("spline_bin", lambda *a: _bin(*a, swap_slope=True),
                                  "derivative of g", "swapped in g'"),
    "no s^2 factor": ("spline_bin", lambda *a: _bin(*a, no_s2=True), "derivative of g",
                      "s^2 = (h/w)^2"),
    "log of the derivative": ("spline_bin", lambda *a: _bin(*a, log=True), "derivative of g",
                              "you returned log g'"),
    "dg/dxi, 1/w missing": ("spline_bin", lambda *a: _bin(*a, per_xi=True), "derivative of g",
                            "the factor 1/w is missing"),
    "offset y0 missing": ("spline_bin", lambda *a: _bin(*a, no_offset=True), "both knots",
                          "the offset y0 is missing"),
    "the other root": ("spline_bin_inverse", lambda *a: _bin_inverse(*a, other_root=True),
                       "inside the bin", "the one in [0, 1]"),
    "xi returned": ("spline_bin_inverse", lambda *a: _bin_inverse(*a, returns="xi"),
                    "inside the bin", "you returned the position xi"),
    "x0 forgotten": ("spline_bin_inverse", lambda *a: _bin_inverse(*a, returns="no x0"),
                     "inside the bin", "the left knot x0 is missing"),
    "w forgotten": ("spline_bin_inverse", lambda *a: _bin_inverse(*a, returns="no w"),
                    "inside the bin", "the width is missing"),
    "straight line": ("spline_bin_inverse", lambda *a: _bin_inverse(*a, linear=True),
                      "g(z) = y", "straight line"),
    "sum over probes": ("hutchinson", lambda J, e: _hutchinson(J, e, "sum"), "unbiased",
                        "do not sum"),
    "no J": ("hutchinson", lambda J, e: _hutchinson(J, e, "no_J"), "unbiased", "tr J"),
    "diagonal only": ("hutchinson", lambda J, e: _hutchinson(J, e, "diagonal"),
                      "averages eps^T J eps", "diagonal"),
    "exact trace": ("hutchinson", lambda J, e: _hutchinson(J, e, "exact"),
                    "averages eps^T J eps", "you returned the exact trace"),
    "trace with + sign": ("rk4_logp_step", lambda *a: _rk4(*a, sign=1.0), "-h tr A",
                          "sign of the trace"),
    "an Euler step": ("rk4_logp_step", lambda *a: _rk4(*a, euler=True), "nonlinear field",
                      "Euler step"),
    "every stage at time t": ("rk4_logp_step", lambda *a: _rk4(*a, stages_at_t=True),
                              "nonlinear field", "k2 and k3 at t + h/2, k4 at t + h"),
    "trace only at the start": ("rk4_logp_step", lambda *a: _rk4(*a, trace_at_start=True),
                                "nonlinear field", "each of the four stages"),
}

(test_check_accepts_a_right_answer, test_check_reports_not_implemented,
 test_check_reports_a_crash_as_a_failure,
 test_check_rejects_a_typical_wrong_answer) = check_table_tests(RIGHT, WRONG)
