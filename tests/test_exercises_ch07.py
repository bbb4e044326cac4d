"""Exercises of chapter 7: the instructor notebook passes every check, the learner notebook reports
"not implemented", and every check accepts a right answer written independently of the notebook
and rejects the typical wrong ones (KL direction swapped, missing log-det, wrong sign of the
entropy, ...) naming the property that failed."""

from __future__ import annotations


import numpy as np
import pytest

from exercise_checks import check_table_tests
from scipy import stats
from scipy.special import logsumexp

from nflib.course.exercises import ch07


# ---- right answers, written differently from the notebook's solutions -------------------------

def _kl_gaussian(m_q, s_q, m_p, s_p):
    # scipy's entropy and cross-entropy of each coordinate: KL = H(q, p) - H(q)
    total = 0.0
    for mq, sq, mp, sp in zip(m_q, s_q, m_p, s_p):
        cross = 0.5 * np.log(2 * np.pi * sp ** 2) + (sq ** 2 + (mq - mp) ** 2) / (2 * sp ** 2)
        total += cross - stats.norm(mq, sq).entropy()
    return total


def _reverse_kl(flow, log_target, log_z, n, rng):
    x, log_q = flow.sample_and_log_prob(n, rng)
    return float(np.mean(log_q - log_target(x)) + log_z)


def _elbo_entropy(mean, log_scale, x, eps):
    # closed-form entropy of the diagonal Gaussian
    z = mean + np.exp(log_scale) * eps
    entropy = sum(stats.norm(0.0, s).entropy() for s in np.exp(log_scale))
    return float(np.mean(ch07.log_joint(z, x)) + entropy)


def _importance(log_w):
    log_w = np.asarray(log_w, dtype=float)
    return (float(logsumexp(log_w) - np.log(log_w.size)),
            float(np.exp(2 * logsumexp(log_w) - logsumexp(2 * log_w))))


RIGHT = {
    "kl_gaussian": (ch07.check_kl_gaussian, _kl_gaussian),
    "reverse_kl": (ch07.check_reverse_kl, _reverse_kl),
    "elbo": (ch07.check_elbo, _elbo_entropy),
    "importance_summary": (ch07.check_importance_summary, _importance),
}


def _log_q_eps(log_scale, eps, sign=-1.0):
    return -0.5 * np.sum(eps * eps, axis=1) - np.log(2 * np.pi) + sign * np.sum(log_scale)


def _elbo_variant(entropy_sign=1.0, log_det_sign=-1.0, at_eps=False):
    def elbo(mean, log_scale, x, eps):
        z = eps if at_eps else mean + np.exp(log_scale) * eps
        log_q = _log_q_eps(log_scale, eps, log_det_sign)
        return float(np.mean(ch07.log_joint(z, x) - entropy_sign * log_q))
    return elbo


def _elbo_no_log_det(mean, log_scale, x, eps):
    z = mean + np.exp(log_scale) * eps
    return float(np.mean(ch07.log_joint(z, x) + 0.5 * np.sum(eps * eps, axis=1)
                         + np.log(2 * np.pi)))


def _reverse_kl_variant(log_det_sign=-1.0, with_log_z=True, at_z=False, sign=1.0):
    def reverse_kl(flow, log_target, log_z, n, rng):
        z = flow.base.sample(n, rng)
        x, log_det = flow.bijection.forward(z)
        value = np.mean(flow.base.log_prob(z) + log_det_sign * log_det
                        - log_target(z if at_z else x))
        return float(sign * (value + (log_z if with_log_z else 0.0)))
    return reverse_kl


def _elbo_constant(times):
    """log q with the constant -times * log 2 pi in place of -log 2 pi."""
    def elbo(mean, log_scale, x, eps):
        z = mean + np.exp(log_scale) * eps
        log_q = (-0.5 * np.sum(eps * eps, axis=1) - times * np.log(2 * np.pi)
                 - np.sum(log_scale))
        return float(np.mean(ch07.log_joint(z, x) - log_q))
    return elbo


def _elbo_entropy_no_2pi(mean, log_scale, x, eps):
    # the closed-form entropy without its (d/2) log 2 pi
    z = mean + np.exp(log_scale) * eps
    return float(np.mean(ch07.log_joint(z, x)) + np.sum(log_scale) + 0.5 * eps.shape[1])


WRONG = {
    "kl-direction-swapped": ("kl_gaussian", lambda mq, sq, mp, sp: _kl_gaussian(mp, sp, mq, sq),
                             "right direction", "KL(p || q)"),
    "kl-variances": ("kl_gaussian", lambda mq, sq, mp, sp: _kl_gaussian(mq, sq ** 2, mp, sp ** 2),
                     "right direction", "variances"),
    "kl-not-summed": ("kl_gaussian",
                      lambda mq, sq, mp, sp: np.log(sp / sq) + (sq ** 2 + (mq - mp) ** 2)
                      / (2 * sp ** 2) - 0.5, "one number", "sum"),
    "reverse-kl-missing-log-det": ("reverse_kl", _reverse_kl_variant(log_det_sign=0.0),
                                   "same base samples", "log-determinant is missing"),
    "reverse-kl-log-det-sign": ("reverse_kl", _reverse_kl_variant(log_det_sign=1.0),
                                "same base samples", "wrong sign"),
    "reverse-kl-no-log-z": ("reverse_kl", _reverse_kl_variant(with_log_z=False),
                            "same base samples", "log Z is missing"),
    "reverse-kl-direction": ("reverse_kl", _reverse_kl_variant(sign=-1.0),
                             "same base samples", "-KL(q || p)"),
    "reverse-kl-target-at-z": ("reverse_kl", _reverse_kl_variant(at_z=True),
                               "same base samples", "not at the base samples"),
    "elbo-entropy-sign": ("elbo", _elbo_variant(entropy_sign=-1.0), "equals mean",
                          "entropy term has the wrong sign"),
    "elbo-missing-log-det": ("elbo", _elbo_no_log_det, "equals mean",
                             "log-determinant of z = mean"),
    "elbo-log-det-sign": ("elbo", _elbo_variant(log_det_sign=1.0), "equals mean",
                          "wrong sign"),
    "elbo-at-eps": ("elbo", _elbo_variant(at_eps=True), "equals mean", "not at eps"),
    "elbo-missing-log-2pi": ("elbo", _elbo_constant(0.0), "equals mean",
                             "differs from the ELBO by exactly log 2 pi"),
    "elbo-log-2pi-one-coordinate": ("elbo", _elbo_constant(0.5), "equals mean",
                                    "exactly (1/2) log 2 pi"),
    "elbo-log-2pi-sign": ("elbo", _elbo_constant(-1.0), "equals mean", "exactly 2 log 2 pi"),
    "elbo-entropy-missing-log-2pi": ("elbo", _elbo_entropy_no_2pi, "equals mean",
                                     "differs from the ELBO by exactly log 2 pi"),
    "importance-mean-log-w": ("importance_summary",
                              lambda lw: (float(np.mean(lw)), _importance(lw)[1]),
                              "log Z_hat = log(mean w)", "ELBO"),
    "importance-ess-fraction": ("importance_summary",
                                lambda lw: (_importance(lw)[0], _importance(lw)[1] / len(lw)),
                                "log Z_hat = log(mean w)", "ESS / n"),
    "importance-ess-of-logs": ("importance_summary",
                               lambda lw: (_importance(lw)[0],
                                           float(np.sum(lw) ** 2 / np.sum(np.square(lw)))),
                               "log Z_hat = log(mean w)", "not from the log-weights"),
    "importance-one-number": ("importance_summary", lambda lw: _importance(lw)[0],
                              "returns the pair", "returned one number"),
    "importance-three-values": ("importance_summary",
                                lambda lw: (*_importance(lw), len(lw)),
                                "returns the pair", "returned 3 values"),
    "importance-overflow": ("importance_summary",
                            lambda lw: (float(np.log(np.mean(np.exp(lw)))),
                                        float(np.sum(np.exp(lw)) ** 2
                                              / np.sum(np.exp(lw) ** 2))),
                            "stable for large log-weights", "overflow"),
}


(test_check_accepts_a_right_answer, test_check_reports_not_implemented,
 test_check_reports_a_crash_as_a_failure,
 test_check_rejects_a_typical_wrong_answer) = check_table_tests(RIGHT, WRONG)



def test_elbo_check_accepts_the_flow_form_too():
    def elbo(mean, log_scale, x, eps):
        z = mean + np.exp(log_scale) * eps
        log_q = stats.multivariate_normal(mean, np.diag(np.exp(2 * log_scale))).logpdf(z)
        return float(np.mean(ch07.log_joint(z, x) - log_q))

    assert ch07.check_elbo(elbo).status == "passed"


def test_reverse_kl_check_agrees_with_the_closed_form_kl():
    # the example flow is affine-planar-affine; with the affine layers only it is Gaussian, and
    # the estimator the check expects must then match the closed-form KL of two Gaussians
    import nflib as nf

    flow = nf.Flow(nf.StandardNormal(2), nf.Affine(2, log_scale=[0.3, -0.2], shift=[0.5, 0.0]))
    kl_mc = _reverse_kl(flow, ch07.gaussian_target, np.log(2 * np.pi * 1.5 ** 2), 400_000,
                        np.random.default_rng(0))
    kl_exact = _kl_gaussian(np.array([0.5, 0.0]), np.exp([0.3, -0.2]),
                            np.array([0.5, -0.5]), np.array([1.5, 1.5]))
    assert kl_mc == pytest.approx(kl_exact, abs=5e-3)


@pytest.mark.parametrize("container", [list, np.array, tuple])
def test_importance_check_accepts_any_pair(container):
    def importance(log_w):
        return container(_importance(log_w))

    assert ch07.check_importance_summary(importance).status == "passed"
