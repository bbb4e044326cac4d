"""Importance-sampling diagnostics: log Z and its standard error, effective sample size and the
Pareto k of the weight tail, against closed forms, scipy and simulated heavy tails."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from nflib import diagnostics


def test_log_normaliser_and_ess_on_known_weights():
    w = np.array([1.0, 2.0, 3.0, 10.0])
    log_z, se = diagnostics.log_normaliser(np.log(w))
    assert log_z == pytest.approx(np.log(4.0), abs=1e-14)
    assert se == pytest.approx(np.std(w, ddof=1) / (2.0 * 4.0), rel=1e-12)
    assert diagnostics.effective_sample_size(np.log(w)) == pytest.approx(256 / 114, rel=1e-14)
    # a constant shift of every log-weight (an unknown normaliser) changes log Z only
    shifted = np.log(w) + 800.0
    assert diagnostics.log_normaliser(shifted)[0] == pytest.approx(800.0 + np.log(4.0))
    assert diagnostics.log_normaliser(shifted)[1] == pytest.approx(se)
    assert diagnostics.effective_sample_size(shifted) == pytest.approx(256 / 114)
    assert diagnostics.effective_sample_size(np.zeros(30)) == pytest.approx(30.0)


def test_log_normaliser_is_consistent_and_its_error_is_calibrated():
    # p~ = exp(-x^2/2) (Z = sqrt(2 pi)), q = N(0, 1.3^2): the weights have finite variance
    sd_q, n = 1.3, 2000
    estimates, errors = [], []
    for seed in range(40):
        x = sd_q * np.random.default_rng(seed).standard_normal(n)
        log_w = -0.5 * x ** 2 - stats.norm(0, sd_q).logpdf(x)
        est, se = diagnostics.log_normaliser(log_w)
        estimates.append(est)
        errors.append(se)
    truth = 0.5 * np.log(2 * np.pi)
    assert np.mean(estimates) == pytest.approx(truth, abs=3 * np.std(estimates) / np.sqrt(40))
    # the reported standard error matches the spread over repetitions within 30 %
    assert np.mean(errors) == pytest.approx(np.std(estimates, ddof=1), rel=0.3)
    # and the ESS fraction tends to 1 / E_q[(p/q)^2] = sqrt(2 s^2 - 1) / s^2 (1-D)
    x = sd_q * np.random.default_rng(99).standard_normal(200_000)
    log_w = -0.5 * x ** 2 - stats.norm(0, sd_q).logpdf(x)
    expected = np.sqrt(2 * sd_q ** 2 - 1) / sd_q ** 2
    assert diagnostics.effective_sample_size(log_w) / x.size == pytest.approx(expected, abs=0.01)


def test_log_weights_helper():
    lw = diagnostics.log_weights([1.0, 2.0], [0.5, 0.5])
    np.testing.assert_allclose(lw, [0.5, 1.5])
    with pytest.raises(ValueError, match="same shape"):
        diagnostics.log_weights([1.0, 2.0], [0.5])


def _exceedances(log_w):
    m = diagnostics.tail_length(log_w.size)
    w = np.sort(np.exp(log_w - log_w.max()))
    return w[-m:] - w[-m - 1]


@pytest.mark.parametrize("k", [0.2, 0.5, 0.8])
def test_pareto_k_recovers_the_tail_index(k):
    # weights 1 + GPD(k): the exceedances over any threshold are GPD with the same k
    estimates = []
    for seed in range(8):
        w = 1.0 + stats.genpareto(c=k).rvs(size=20_000, random_state=seed)
        log_w = np.log(w)
        k_hat = diagnostics.pareto_k(log_w)
        # the Zhang-Stephens estimate agrees with scipy's maximum likelihood fit of the same tail
        mle = stats.genpareto.fit(_exceedances(log_w), floc=0.0)[0]
        assert k_hat == pytest.approx(mle, abs=0.06), (seed, k_hat, mle)
        estimates.append(k_hat)
    assert np.mean(estimates) == pytest.approx(k, abs=0.1)


def test_pareto_k_of_gaussian_proposals_follows_one_minus_sigma_squared():
    # p~ = exp(-|x|^2/2), q = N(0, s^2 I) in 2-D: P(w > t) ~ t^(-1/(1 - s^2)) exactly
    for sigma in (0.95, 0.7, 0.5):
        ks = []
        for seed in range(5):
            x = sigma * np.random.default_rng(seed).standard_normal((8000, 2))
            log_w = -0.5 * np.sum(x * x, axis=1) * (1 - 1 / sigma ** 2)
            ks.append(diagnostics.pareto_k(log_w))
        assert np.mean(ks) == pytest.approx(1 - sigma ** 2, abs=0.1), (sigma, ks)
    # a light tail (q wider than p) gives a negative k, well below the warning threshold
    x = 1.5 * np.random.default_rng(0).standard_normal((8000, 2))
    assert diagnostics.pareto_k(-0.5 * np.sum(x * x, axis=1) * (1 - 1 / 1.5 ** 2)) < 0


def test_bad_input():
    with pytest.raises(ValueError, match="1-D"):
        diagnostics.log_normaliser(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="at least 2"):
        diagnostics.log_normaliser([0.0])
    with pytest.raises(ValueError, match="at least 25"):
        diagnostics.pareto_k(np.zeros(10))
    with pytest.raises(ValueError, match="non-finite"):
        diagnostics.effective_sample_size([0.0, np.inf])
    # equal weights: no weight exceeds the cutoff, nothing to fit (PSIS reports inf)
    assert diagnostics.pareto_k(np.zeros(100)) == np.inf
    # ties among the largest weights are allowed
    tied = np.log(np.concatenate([np.ones(50), np.full(20, 3.0), np.arange(4.0, 34.0)]))
    assert np.isfinite(diagnostics.pareto_k(tied))


# ---- degenerate weights, as PSIS treats them ----------------------------------------------------

def test_pareto_k_is_infinite_when_the_weights_spread_beyond_the_float_range():
    # log-weights with sd 1000: below the top few, every weight underflows to 0 relative to the
    # largest; the cutoff is floored at log(tiny) and at most 4 weights lie above it
    log_w = np.random.default_rng(1).normal(scale=1000, size=2000)
    top = np.sort(log_w - log_w.max())
    assert np.sum(top > np.log(np.finfo(float).tiny)) <= 4
    assert diagnostics.pareto_k(log_w) == np.inf


def test_pareto_k_is_infinite_with_four_weights_above_a_tied_cutoff():
    # n = 100, M = 20: the 21st largest weight is one of the 96 equal ones, 4 weights exceed it
    assert diagnostics.tail_length(100) == 20
    assert diagnostics.pareto_k(np.r_[np.zeros(96), [1.0, 2.0, 3.0, 4.0]]) == np.inf
    # with 5 above the ties there is a tail to fit
    assert np.isfinite(diagnostics.pareto_k(np.r_[np.zeros(95), [1.0, 2.0, 3.0, 4.0, 5.0]]))


def test_pareto_k_fits_only_the_weights_above_a_floored_cutoff():
    # 1000 weights far below the float range and 60 with a Pareto tail of k = 1/2 on top: the
    # cutoff is floored at log(tiny), and the 60 weights are fitted on their own
    rng = np.random.default_rng(3)
    tail = np.log(rng.pareto(2.0, size=60) + 1.0)
    log_w = np.r_[np.full(1000, -5000.0) + rng.normal(size=1000), tail]
    assert diagnostics.tail_length(log_w.size) > 60
    k_hat = diagnostics.pareto_k(log_w)
    # the same estimate as for the 60 exceedances over a zero cutoff: weights w / max(w)
    assert np.isfinite(k_hat)
    w = np.sort(np.exp(tail - tail.max()))
    mle = stats.genpareto.fit(w, floc=0.0)[0]
    assert k_hat == pytest.approx(mle, abs=0.2), (k_hat, mle)


def test_pareto_k_is_unchanged_by_a_shift_of_the_log_weights():
    log_w = np.log(1.0 + stats.genpareto(c=0.4).rvs(size=3000, random_state=4))
    assert diagnostics.pareto_k(log_w + 500.0) == pytest.approx(diagnostics.pareto_k(log_w),
                                                                 abs=1e-12)


@pytest.mark.parametrize("alpha", [4.0, 2.0, 1.25])
def test_pareto_k_of_pareto_weights(alpha):
    # classical Pareto weights, P(w > t) = t^(-alpha) for t >= 1: the tail index is k = 1/alpha
    ks = [diagnostics.pareto_k(np.log(np.random.default_rng(seed).pareto(alpha, 20_000) + 1.0))
          for seed in range(6)]
    assert np.all(np.isfinite(ks))
    assert np.mean(ks) == pytest.approx(1.0 / alpha, abs=0.08), (alpha, ks)


@pytest.mark.parametrize("nu", [5.0, 3.0, 1.5])
def test_pareto_k_of_student_t_weights(nu):
    # |T| for T ~ Student t with nu degrees of freedom: P(|T| > t) ~ c t^(-nu), so k = 1/nu
    # (the tail is Pareto only asymptotically: a looser tolerance for the lighter tails)
    ks = [diagnostics.pareto_k(np.log(np.abs(stats.t(nu).rvs(20_000, random_state=seed))))
          for seed in range(6)]
    assert np.mean(ks) == pytest.approx(1.0 / nu, abs=0.1), (nu, ks)


def test_size_dependent_threshold():
    # min(1 - 1/log10 n, 0.7): 0.5 at n = 100, 0.7 from n = 10^(10/3) ~ 2154 on
    assert diagnostics.pareto_k_threshold(100) == pytest.approx(0.5)
    assert diagnostics.pareto_k_threshold(1000) == pytest.approx(1 - 1 / 3)
    assert diagnostics.pareto_k_threshold(4000) == diagnostics.PARETO_K_THRESHOLD == 0.7
    assert diagnostics.RAW_K_THRESHOLD == 0.5
    with pytest.raises(ValueError, match="at least 2"):
        diagnostics.pareto_k_threshold(1)


# ---- Pareto smoothed importance sampling ------------------------------------------------------

def test_psis_replaces_the_tail_by_pareto_quantiles():
    log_w = np.log(1.0 + stats.genpareto(c=0.6).rvs(size=4000, random_state=5)) + 3.0
    smoothed, k = diagnostics.psis(log_w)
    assert k == diagnostics.pareto_k(log_w)
    m = diagnostics.tail_length(log_w.size)
    order = np.argsort(log_w)
    body, tail = order[:-m], order[-m:]
    # the body is unchanged; the tail keeps its order and is truncated at the largest raw weight
    np.testing.assert_array_equal(smoothed[body], log_w[body])
    assert np.all(np.diff(smoothed[tail]) >= 0)
    assert smoothed.max() <= log_w.max()
    # below the truncation, the exceedances over the cutoff are generalised Pareto quantiles at
    # (j - 1/2)/m: their ratios do not depend on the scale, so scipy's quantile function with the
    # same k must give the same ratios
    cut = np.exp(log_w[order[-m - 1]])
    exceed = np.exp(smoothed[tail]) - cut
    p = (np.arange(1, m + 1) - 0.5) / m
    ppf = stats.genpareto(c=k).ppf(p)
    below = smoothed[tail] < log_w.max()
    np.testing.assert_allclose((exceed / exceed[0])[below], (ppf / ppf[0])[below], rtol=1e-9)
    # a shift of the log-weights shifts the smoothed ones
    np.testing.assert_allclose(diagnostics.psis(log_w - 50.0)[0], smoothed - 50.0, atol=1e-12)


@pytest.mark.parametrize("k", [0.6, 0.8])
def test_psis_estimates_the_mean_weight_better_than_raw_weights(k):
    # w = 1 + GPD(k), E[w] = 1 + 1/(1 - k); infinite variance: raw averages are erratic
    truth = np.log(1 + 1 / (1 - k))
    raw, smooth = [], []
    for seed in range(100):
        log_w = np.log(1.0 + stats.genpareto(c=k).rvs(size=4000, random_state=seed))
        raw.append(diagnostics.log_normaliser(log_w)[0] - truth)
        smooth.append(diagnostics.log_normaliser(diagnostics.psis(log_w)[0])[0] - truth)
    assert np.sqrt(np.mean(np.square(smooth))) < 0.8 * np.sqrt(np.mean(np.square(raw)))


def test_psis_leaves_degenerate_weights_alone():
    log_w = np.r_[np.zeros(96), [1.0, 2.0, 3.0, 4.0]]
    smoothed, k = diagnostics.psis(log_w)
    assert k == np.inf
    np.testing.assert_array_equal(smoothed, log_w)
