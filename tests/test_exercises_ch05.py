"""Exercises of chapter 5: the instructor notebook passes every check, the learner notebook
reports "not implemented", and each check rejects typical wrong answers with the right property
named."""

from __future__ import annotations


import numpy as np

from exercise_checks import check_table_tests
from scipy import linalg

from nflib.course.exercises import ch05


# ---- right answers, written independently of the instructor notebook --------------------------

def _squeeze(x, reverse=False):
    x = np.asarray(x, dtype=float)
    if not reverse:
        n, c, h, w = x.shape
        out = np.empty((n, 4 * c, h // 2, w // 2))
        for k in range(c):
            for a in range(2):
                for b in range(2):
                    out[:, 4 * k + 2 * a + b] = x[:, k, a::2, b::2]
        return out
    n, c4, h, w = x.shape
    out = np.empty((n, c4 // 4, 2 * h, 2 * w))
    for k in range(c4 // 4):
        for a in range(2):
            for b in range(2):
                out[:, k, a::2, b::2] = x[:, 4 * k + 2 * a + b]
    return out


def _conv_log_det(w, h, wd):
    return h * wd * np.linalg.slogdet(w)[1]


def _bpd(nll, d, levels):
    return nll / (d * np.log(2)) + np.log2(levels)


def _actnorm(x):
    return np.log(x.std(axis=(0, 2, 3))), x.mean(axis=(0, 2, 3))


def _iw(log_p, log_q, d, levels):
    """Written with scipy's logsumexp, independently of the check's own formula."""
    from scipy.special import logsumexp

    return logsumexp(log_p - d * np.log(levels) - log_q, axis=1) - np.log(log_p.shape[1])


RIGHT = {
    "squeeze": (ch05.check_squeeze, _squeeze),
    "conv1x1_log_det": (ch05.check_conv1x1_log_det, _conv_log_det),
    "bits_per_dim": (ch05.check_bits_per_dim, _bpd),
    "actnorm_init": (ch05.check_actnorm_init, _actnorm),
    "iw_log_prob": (ch05.check_iw_log_prob, _iw),
}


def _iw_naive(log_p, log_q, d, levels):
    """Right formula, but exp without taking out the largest log-weight."""
    with np.errstate(over="ignore", divide="ignore"):
        return np.log(np.mean(np.exp(log_p - d * np.log(levels) - log_q), axis=1))


def _plain_reshape(x, reverse=False):
    x = np.asarray(x, dtype=float)
    n, c, h, w = x.shape
    return x.reshape(n, 4 * c, h // 2, w // 2) if not reverse else x.reshape(n, c // 4, 2 * h,
                                                                             2 * w)


def _swapped_blocks(x, reverse=False):
    """Channel order 4k + a + 2b (columns first): a common slip."""
    x = np.asarray(x, dtype=float)
    n, c, h, w = x.shape
    y = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 5, 3, 2, 4)
    return y.reshape(n, 4 * c, h // 2, w // 2)


def _lu_no_abs(w, h, wd):
    with np.errstate(invalid="ignore"):
        return h * wd * np.sum(np.log(np.diag(linalg.lu(w)[2])))


WRONG = {
    "squeeze as a plain reshape": ("squeeze", _plain_reshape, "2x2 block", "plain reshape"),
    "squeeze with columns first": ("squeeze", _swapped_blocks, "2x2 block", "4k + 2a + b"),
    "squeeze that cannot reverse": (
        "squeeze", lambda x, reverse=False: _squeeze(x), "round trip", "shape"),
    "log-det of W without h w": (
        "conv1x1_log_det", lambda w, h, wd: np.linalg.slogdet(w)[1], "h * w", "one copy of W"),
    "log-det without absolute value": (
        "conv1x1_log_det", _lu_no_abs, "h * w", "log|U_ii|"),
    "log-det per pixel array": (
        "conv1x1_log_det", lambda w, h, wd: np.full((h, wd), np.linalg.slogdet(w)[1]),
        "one number", "shape"),
    "bpd without the offset": (
        "bits_per_dim", lambda nll, d, lv: nll / (d * np.log(2)), "slips", "offset log2(levels)"),
    "bpd in nats": (
        "bits_per_dim", lambda nll, d, lv: (nll + d * np.log(lv)) / d, "slips",
        "nats per dimension"),
    "bpd per image": (
        "bits_per_dim", lambda nll, d, lv: (nll + d * np.log(lv)) / np.log(2), "slips",
        "bits per image"),
    "bpd with the offset subtracted": (
        "bits_per_dim", lambda nll, d, lv: (nll - d * np.log(lv)) / (d * np.log(2)), "slips",
        "offset has the wrong sign"),
    "bpd with the sign flipped": (
        "bits_per_dim", lambda nll, d, lv: -_bpd(nll, d, lv), "slips", "the sign is flipped"),
    "bpd with the offset in nats": (
        "bits_per_dim", lambda nll, d, lv: nll / (d * np.log(2)) + np.log(lv), "slips",
        "ln(levels), in nats"),
    "bpd as an array": (
        "bits_per_dim", lambda nll, d, lv: np.full(d, _bpd(nll, d, lv)), "slips", "one number"),
    "bpd with a wrong constant": (
        "bits_per_dim", lambda nll, d, lv: _bpd(nll, d, lv) + 0.5, "uniform", "log2(17)"),
    "bpd with an untypical slip": (
        "bits_per_dim", lambda nll, d, lv: _bpd(nll, d, lv) * (1 + 0.01 * (nll != 0)), "converts",
        "expected (nll + d ln(levels)) / (d ln 2)"),
    "actnorm per pixel": (
        "actnorm_init", lambda x: (np.log(x.std(axis=0)), x.mean(axis=0)), "one value per channel",
        "average over the pixels"),
    "actnorm bias sign": (
        "actnorm_init", lambda x: (_actnorm(x)[0], -_actnorm(x)[1]), "zero mean", "wrong sign"),
    "actnorm log variance": (
        "actnorm_init", lambda x: (np.log(x.var(axis=(0, 2, 3))), _actnorm(x)[1]), "zero mean",
        "variance"),
    "actnorm whole tensor": (
        "actnorm_init", lambda x: (np.log(x.std()), x.mean()), "one value per channel",
        "one value per channel"),
    "iw as the mean of the log-weights": (
        "iw_log_prob", lambda lp, lq, d, lv: np.mean(lp - d * np.log(lv) - lq, axis=1), "slips",
        "mean of the log-weights"),
    "iw without 1/K": (
        "iw_log_prob", lambda lp, lq, d, lv: _iw(lp, lq, d, lv) + np.log(lp.shape[1]), "slips",
        "subtract log K"),
    "iw with log q added": (
        "iw_log_prob", lambda lp, lq, d, lv: _iw(lp, -lq, d, lv), "slips",
        "log q has the wrong sign"),
    "iw without the rescaling": (
        "iw_log_prob", lambda lp, lq, d, lv: _iw(lp, lq, 0, lv), "slips",
        "rescaling constant is missing"),
    "iw with the rescaling added": (
        "iw_log_prob", lambda lp, lq, d, lv: _iw(lp, lq, -d, lv), "slips",
        "do not add it"),
    "iw with the rescaling twice": (
        "iw_log_prob", lambda lp, lq, d, lv: _iw(lp, lq, 2 * d, lv), "slips",
        "subtracted twice"),
    "iw by naive exponentials": ("iw_log_prob", _iw_naive, "stable", "log-sum-exp"),
    "iw averaged over the images": (
        "iw_log_prob", lambda lp, lq, d, lv: _iw(lp.T, lq.T, d, lv), "one value per image",
        "shape"),
    "iw with a wrong constant": (
        "iw_log_prob", lambda lp, lq, d, lv: _iw(lp, lq, d, lv) + 0.1, "K = 1", "bound itself"),
    "iw with an untypical slip": (
        "iw_log_prob", lambda lp, lq, d, lv: _iw(lp, lq, d, lv) * (1 + 1e-3 * (lp.shape[1] > 5)),
        "computes the importance-weighted estimate", "expected log (1/K)"),
}


def test_actnorm_accepts_the_sample_standard_deviation_with_a_note():
    feedback = ch05.check_actnorm_init(
        lambda x: (np.log(x.std(axis=(0, 2, 3), ddof=1)), x.mean(axis=(0, 2, 3))))
    assert feedback.status == "passed", repr(feedback)
    assert "ddof=1" in repr(feedback) and "nflib uses ddof=0" in repr(feedback)
    assert "ddof=0" in repr(ch05.check_actnorm_init(_actnorm))


def test_actnorm_rejects_other_scale_factors():
    feedback = ch05.check_actnorm_init(
        lambda x: (np.log(1.1 * x.std(axis=(0, 2, 3))), x.mean(axis=(0, 2, 3))))
    assert feedback.status == "failed" and "unit variance" in feedback.failed, repr(feedback)


(test_check_accepts_a_right_answer, test_check_reports_not_implemented,
 test_check_reports_a_crash_as_a_failure,
 test_check_rejects_a_typical_wrong_answer) = check_table_tests(RIGHT, WRONG)
