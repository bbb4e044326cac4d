"""Exercises of chapter 8: the instructor notebook passes every check, the learner notebook
reports "not implemented", and each check rejects typical wrong answers naming the property."""

from __future__ import annotations


import numpy as np
import pytest

from nflib.course.exercises import ch08


# ---- right answers, written independently of the instructor solutions ----------------------------

def _bin(z, x0, w, y0, h, d0, d1, swap=False, no_s2=False, log=False, no_offset=False):
    if swap:
        d0, d1 = d1, d0
    s = h / w
    xi = (z - x0) / w
    num = s * xi ** 2 + d0 * xi * (1 - xi)
    den = s + (d0 + d1 - 2 * s) * xi * (1 - xi)
    g = (0.0 if no_offset else y0) + h * num / den
    dg = (1.0 if no_s2 else s ** 2) * (d1 * xi ** 2 + 2 * s * xi * (1 - xi)
                                       + d0 * (1 - xi) ** 2) / den ** 2
    return g, (np.log(dg) if log else dg)


def _bin_inverse(y, x0, w, y0, h, d0, d1, other_root=False, linear=False):
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
    return x0 + w * xi


def _hutchinson(J, eps, how="right"):
    if how == "sum":
        return np.einsum("nmi,nij,nmj->nm", eps, J, eps).sum(axis=1)
    if how == "no_J":
        return np.mean(np.sum(eps * eps, axis=2), axis=1)
    if how == "diagonal":
        return np.mean(np.einsum("nmi,nii,nmi->nm", eps, J, eps), axis=1)
    return np.mean(np.einsum("nmi,nij,nmj->nm", eps, J, eps), axis=1)


def _rk4(field, t, z, logp, h, sign=-1.0, euler=False, trace_at_start=False):
    tr0 = np.trace(field.jacobian(t, z), axis1=1, axis2=2)

    def rhs(s, y):
        tr = tr0 if trace_at_start else np.trace(field.jacobian(s, y), axis1=1, axis2=2)
        return field(s, y), sign * tr

    k1 = rhs(t, z)
    if euler:
        return z + h * k1[0], logp + h * k1[1]
    k2 = rhs(t + h / 2, z + h / 2 * k1[0])
    k3 = rhs(t + h / 2, z + h / 2 * k2[0])
    k4 = rhs(t + h, z + h * k3[0])
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
    "slopes swapped": ("spline_bin", lambda *a: _bin(*a, swap=True), "slopes d0 and d1",
                       "swapped"),
    "no s^2 factor": ("spline_bin", lambda *a: _bin(*a, no_s2=True),
                      "slopes d0 and d1", "s^2"),
    "log of the derivative": ("spline_bin", lambda *a: _bin(*a, log=True),
                              "slopes d0 and d1", "slope"),
    "offset y0 missing": ("spline_bin", lambda *a: _bin(*a, no_offset=True), "both knots",
                          "start at (x0, y0)"),
    "the other root": ("spline_bin_inverse", lambda *a: _bin_inverse(*a, other_root=True),
                       "inside the bin", "the one in [0, 1]"),
    "straight line": ("spline_bin_inverse", lambda *a: _bin_inverse(*a, linear=True),
                      "g(z) = y", "straight line"),
    "sum over probes": ("hutchinson", lambda J, e: _hutchinson(J, e, "sum"), "unbiased",
                        "do not sum"),
    "no J": ("hutchinson", lambda J, e: _hutchinson(J, e, "no_J"), "unbiased", "tr J"),
    "diagonal only": ("hutchinson", lambda J, e: _hutchinson(J, e, "diagonal"),
                      "averages eps^T J eps", "diagonal"),
    "trace with + sign": ("rk4_logp_step", lambda *a: _rk4(*a, sign=1.0), "-h tr A",
                          "sign of the trace"),
    "an Euler step": ("rk4_logp_step", lambda *a: _rk4(*a, euler=True), "nonlinear field",
                      "Euler step"),
    "trace only at the start": ("rk4_logp_step", lambda *a: _rk4(*a, trace_at_start=True),
                                "nonlinear field", "each of the four stages"),
}


@pytest.mark.parametrize("name", list(RIGHT))
def test_right_answers_pass(name):
    check, answer = RIGHT[name]
    feedback = check(answer)
    assert feedback.ok, repr(feedback)


@pytest.mark.parametrize("name", list(RIGHT))
def test_stubs_are_reported_not_implemented(name):
    def pending(*args):
        raise NotImplementedError

    feedback = RIGHT[name][0](pending)
    assert feedback.status == "not implemented"
    assert "NOT IMPLEMENTED" in repr(feedback)


@pytest.mark.parametrize("name", list(WRONG))
def test_wrong_answers_are_rejected_with_the_property_named(name):
    check_name, answer, prop, phrase = WRONG[name]
    feedback = RIGHT[check_name][0](answer)
    assert feedback.status == "failed", repr(feedback)
    assert prop in feedback.failed, (feedback.failed, repr(feedback))
    assert phrase in feedback.message, repr(feedback)


def test_a_crashing_answer_is_reported_not_raised():
    def crashes(*args):
        raise ZeroDivisionError("oops")

    feedback = ch08.check_hutchinson(crashes)
    assert feedback.status == "failed" and "ZeroDivisionError" in feedback.message
