"""Exercises of chapter 3: the instructor notebook passes every check, the learner notebook
reports "not implemented", and every check rejects the typical wrong answers, naming the
property that failed."""

from __future__ import annotations


import numpy as np
import pytest

from nflib.course.exercises import ch03


# ---- right answers (written independently of the solutions) -----------------------------------

def _masks(d, hidden, into_hidden=np.greater_equal, into_output=np.greater, offset=1,
           hidden_offset=1):
    degrees = [np.arange(d) + offset] + [hidden_offset + np.arange(w) % (d - 1) for w in hidden]
    masks = [into_hidden(k_out[None, :], k_in[:, None]).astype(float)
             for k_in, k_out in zip(degrees[:-1], degrees[1:])]
    masks.append(into_output(np.arange(1, d + 1)[None, :], degrees[-1][:, None]).astype(float))
    return masks


def _dependency(fn, x, transpose=False, together=False, step=1.0, tolerance=0.0):
    x = np.array(x, dtype=float)
    d = x.shape[1]
    before = fn(x)
    D = np.zeros((d, d), dtype=bool)
    for j in range(d):
        moved = x.copy()
        if together:
            moved += step
        else:
            moved[:, j] += step
        D[:, j] = np.max(np.abs(fn(moved) - before), axis=0) > tolerance
    return D.T if transpose else D


def _sample(made, z, order=None, one_pass_on=None, inverse=False):
    z = np.asarray(z, dtype=float)
    if one_pass_on is not None:
        mu, s = made(one_pass_on(z))
        return z * np.exp(s) + mu
    x = np.zeros_like(z)
    for i in (range(z.shape[1]) if order is None else order):
        mu, s = made(x)
        x[:, i] = (z[:, i] - mu[:, i]) * np.exp(-s[:, i]) if inverse else (
            z[:, i] * np.exp(s[:, i]) + mu[:, i])
    return x


def _log_prob(made, x, ld_sign=-1.0, constant=True, scale_sign=-1.0):
    mu, s = made(x)
    z = (x - mu) * np.exp(scale_sign * s)
    out = -0.5 * np.sum(z ** 2, axis=1) + ld_sign * np.sum(s, axis=1)
    return out - 0.5 * x.shape[1] * np.log(2 * np.pi) if constant else out


RIGHT = {
    "made_masks": (ch03.check_made_masks, _masks),
    "dependency_matrix": (ch03.check_dependency_matrix, _dependency),
    "maf_sample": (ch03.check_maf_sample, _sample),
    "maf_log_prob": (ch03.check_maf_log_prob, _log_prob),
}


@pytest.mark.parametrize("name", sorted(RIGHT))
def test_right_answers_pass(name):
    check, func = RIGHT[name]
    feedback = check(func)
    assert feedback.ok, repr(feedback)


def _pending(*args):
    raise NotImplementedError


@pytest.mark.parametrize("name", sorted(RIGHT))
def test_stubs_are_reported_as_not_implemented(name):
    feedback = RIGHT[name][0](_pending)
    assert feedback.status == "not implemented", repr(feedback)
    assert "NOT IMPLEMENTED" in repr(feedback)


# (check, wrong answer, the property that must fail, a phrase the feedback must contain)
WRONG = {
    ">= into the outputs (a leak)": (
        "made_masks", lambda d, h: _masks(d, h, into_output=np.greater_equal), "no leak",
        "you used >="),
    "> into hidden units": (
        "made_masks", lambda d, h: _masks(d, h, into_hidden=np.greater), "complete",
        "you used >"),
    "0-based input degrees (off by one)": (
        "made_masks", lambda d, h: _masks(d, h, offset=0), "no leak", "degrees 1..d"),
    "0-based hidden degrees (off by one)": (
        "made_masks", lambda d, h: _masks(d, h, hidden_offset=0), "complete",
        "1 + (u mod (d-1))"),
    "one mask short": (
        "made_masks", lambda d, h: _masks(d, h)[:-1], "shapes", "one per weight matrix"),
    "transposed masks": (
        "made_masks", lambda d, h: [m.T for m in _masks(d, h)], "shapes", "has shape"),
    "dependency matrix transposed": (
        "dependency_matrix", lambda fn, x: _dependency(fn, x, transpose=True), "dependencies",
        "transposed"),
    "all inputs perturbed together": (
        "dependency_matrix", lambda fn, x: _dependency(fn, x, together=True), "dependencies",
        "one input at a time"),
    "dependency step below floating-point resolution": (
        "dependency_matrix", lambda fn, x: _dependency(fn, x, step=1e-18), "dependencies",
        "nothing changed: step too small or tolerance too large"),
    "dependency step and tolerance both 1e-3": (
        "dependency_matrix", lambda fn, x: _dependency(fn, x, step=1e-3, tolerance=1e-3),
        "dependencies", "nothing changed: step too small or tolerance too large"),
    "dependency matrix changes x": (
        "dependency_matrix",
        lambda fn, x: (x.__iadd__(1.0), _dependency(fn, x - 1.0))[1], "unchanged", "in place"),
    "dependency matrix as a vector": (
        "dependency_matrix", lambda fn, x: _dependency(fn, x).any(axis=0), "shape", "(4,)"),
    "sample with the MADE on z (IAF)": (
        "maf_sample", lambda made, z: _sample(made, z, one_pass_on=lambda v: v), "round trip",
        "that is an IAF"),
    "sample with a single pass": (
        "maf_sample", lambda made, z: _sample(made, z, one_pass_on=np.zeros_like),
        "round trip", "call the MADE again after each new coordinate"),
    "sample with the passes in the wrong order": (
        "maf_sample", lambda made, z: _sample(made, z, order=range(z.shape[1] - 1, -1, -1)),
        "round trip", "in order i = 1..d"),
    "sample with the inverse formula": (
        "maf_sample", lambda made, z: _sample(made, z, inverse=True), "x_1",
        "inverse (density) direction"),
    "sample as a flat vector": (
        "maf_sample", lambda made, z: _sample(made, z).ravel(), "shape", "expected (7, 5)"),
    "log-prob with +sum(s)": (
        "maf_log_prob", lambda made, x: _log_prob(made, x, ld_sign=1.0), "normalisation",
        "wrong sign"),
    "log-prob without the log-det": (
        "maf_log_prob", lambda made, x: _log_prob(made, x, ld_sign=0.0), "normalisation",
        "forgotten"),
    "log-prob without the constant": (
        "maf_log_prob", lambda made, x: _log_prob(made, x, constant=False), "normalisation",
        "log(2 pi)"),
    "log-prob multiplying by exp(s)": (
        "maf_log_prob", lambda made, x: _log_prob(made, x, scale_sign=1.0), "normalisation",
        "wrong scale"),
    "log-prob summed over the batch": (
        "maf_log_prob", lambda made, x: _log_prob(made, x).sum(), "shape", "expected (9,)"),
}


@pytest.mark.parametrize("case", sorted(WRONG))
def test_wrong_answer_is_rejected_with_the_right_property(case):
    name, func, prop, phrase = WRONG[case]
    feedback = RIGHT[name][0](func)
    assert feedback.status == "failed", f"{case}: {feedback!r}"
    assert prop in feedback.failed, f"{case}: failed {feedback.failed!r}, expected {prop!r}"
    assert phrase in feedback.message, f"{case}: message {feedback.message!r} lacks {phrase!r}"


def test_a_learner_exception_is_reported_not_raised():
    feedback = ch03.check_maf_sample(lambda made, z: z[:, 99])
    assert feedback.status == "failed" and "IndexError" in feedback.message


def test_reference_masks_are_nflib_made_masks():
    for d, hidden in [(4, (6, 6)), (5, (4,))]:
        got = ch03.reference_masks(d, hidden)
        assert all(np.array_equal(a, b) for a, b in zip(got, _masks(d, hidden)))
