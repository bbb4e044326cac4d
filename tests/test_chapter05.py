"""Chapter 5 (Glow and multi-scale flows): every glued number against an independent computation,
the chapter's claims (over-fitting and its cures, Glow against a flat RealNVP over several seeds),
and the course module ``nflib.course.ch05_digits`` the chapter builds on.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from scipy import special, stats

import nflib as nf
from nflib import checks, datasets
from nflib.course import ch05_digits as c5
from notebooks import ROOT

CHAPTER = "chapters/05_glow.md"
LOG2_17 = math.log2(17)


def _bpd(nll, d=64):
    return nll / (d * math.log(2)) + LOG2_17


@pytest.fixture(scope="module")
def data():
    """The chapter's split and dequantised images, rebuilt from scikit-learn directly."""
    from sklearn.datasets import load_digits

    pixels = load_digits().images.reshape(-1, 64).astype(float)
    order = np.random.default_rng(0).permutation(len(pixels))
    train, test = pixels[order[:1437]], pixels[order[1437:]]
    x_train = (train + np.random.default_rng(1).random(train.shape)) / 17
    x_test = (test + np.random.default_rng(2).random(test.shape)) / 17
    return train, test, x_train, x_test


# ---- the executed chapter ----------------------------------------------------------------------

@pytest.mark.slow
def test_reports_its_own_cpu_time(nb, glued):
    # the page says how long it took; whether that is within the 45 s budget is a property of
    # the machine, printed by benchmarks/build_time.py rather than asserted here
    assert 0 < glued["ch5_cpu_seconds"] < float("inf"), glued["ch5_cpu_seconds"]


@pytest.mark.slow
def test_every_glue_reference_is_glued(glued):
    text = (ROOT / CHAPTER).read_text()
    used = set(re.findall(r"\{glue:text\}`([A-Za-z0-9_]+)", text))
    assert not used - set(glued), sorted(used - set(glued))
    assert all(name.startswith("ch5_") for name in glued)


@pytest.mark.slow
def test_numerical_checks_are_reported_once_per_section(nb):
    """Agreements to rounding error are collected per section (nflib.course.checks) and shown
    once, folded, with a plain-text fallback; a failing check would have stopped the page. The
    prose no longer repeats them."""
    from section_checks import assert_one_report_per_section

    expected = {"ActNorm": 3, "The invertible 1x1 convolution": 2, "The two models": 1,
                "Looking at the model": 2, "Worked examples": 4}
    assert_one_report_per_section(nb, expected)
    text = (ROOT / CHAPTER).read_text(encoding="utf-8")
    for name in ("act_mean", "act_std", "act_alone", "lu_log_det", "lu_numerical", "lu_big_err",
                 "start_logit", "interp_end_err", "step_log_det_numerical"):
        assert f"{{glue:text}}`ch5_{name}" not in text, name


@pytest.mark.slow
def test_split(glued):
    assert (glued["ch5_n_train"], glued["ch5_n_test"]) == (1437, 360)
    assert (glued["ch5_n_fit"], glued["ch5_n_val"]) == (1293, 144)
    assert glued["ch5_log2_levels"] == pytest.approx(LOG2_17, abs=1e-14)


@pytest.mark.slow
def test_raw_levels_give_unbounded_likelihood(glued, data):
    train = data[0] / 17
    sd0 = train.std(axis=0)
    assert glued["ch5_n_constant"] == int(np.sum(sd0 == 0)) > 0
    for eps, got in zip(glued["ch5_floors"], glued["ch5_raw_bpd"]):
        sd = np.maximum(sd0, eps)
        nll = np.mean(np.sum(0.5 * ((train - train.mean(0)) / sd) ** 2
                             + np.log(sd) + 0.5 * math.log(2 * math.pi), axis=1))
        assert got == pytest.approx(_bpd(nll), abs=1e-9)
    b = glued["ch5_raw_bpd"]
    assert b == sorted(b, reverse=True)
    # below every non-zero spread, each decade costs n_constant * log2(10) / 64 bits per pixel
    assert b[-2] - b[-1] == pytest.approx(2 * glued["ch5_n_constant"] * math.log2(10) / 64,
                                          rel=1e-6)
    assert glued["ch5_raw_flow_start"] < 0
    assert glued["ch5_raw_bpd_last"] == b[-1]


@pytest.mark.slow
def test_dequantisation_is_a_lower_bound(glued, data):
    train, test, x_train, _ = data
    x_fit = x_train[:-144]
    mu, sd = x_fit.mean(0), x_fit.std(0)
    lo, hi = (test / 17 - mu) / sd, ((test + 1) / 17 - mu) / sd
    # log(Phi(hi) - Phi(lo)) = log_ndtr(hi) + log(1 - exp(log_ndtr(lo) - log_ndtr(hi))), by symmetry
    # on the upper side
    flip = lo > 0
    a, b = np.where(flip, -hi, lo), np.where(flip, -lo, hi)
    la, lb = special.log_ndtr(a), special.log_ndtr(b)
    log_p = lb + np.log(-np.expm1(la - lb))
    exact_discrete = -log_p.sum(1).mean() / (64 * math.log(2))
    assert glued["ch5_discrete_bits"] == pytest.approx(exact_discrete, abs=1e-9)
    # E_u[-log N((k + u)/17)] in closed form: E(x - mu)^2 = (mid - mu)^2 + (1/17)^2 / 12
    mid = (test + 0.5) / 17
    e_sq = (mid - mu) ** 2 + (1 / 17) ** 2 / 12
    expected = np.mean(np.sum(0.5 * e_sq / sd ** 2 + np.log(sd) + 0.5 * math.log(2 * math.pi), 1))
    assert glued["ch5_dequant_bits"] == pytest.approx(_bpd(expected), abs=0.003)
    assert _bpd(expected) > exact_discrete                 # Jensen
    assert glued["ch5_jensen_gap"] == pytest.approx(
        glued["ch5_dequant_bits"] - glued["ch5_discrete_bits"], abs=1e-12)
    assert 0 < glued["ch5_jensen_gap"] < 0.1


@pytest.mark.slow
def test_baselines(glued, data):
    _, _, x_train, x_test = data
    assert glued["ch5_uniform_bpd"] == pytest.approx(LOG2_17, abs=1e-14)
    diag = -np.mean(stats.norm(x_train.mean(0), x_train.std(0)).logpdf(x_test).sum(1))
    full = -np.mean(stats.multivariate_normal(x_train.mean(0), np.cov(x_train.T, bias=True))
                    .logpdf(x_test))
    assert glued["ch5_diag_bpd"] == pytest.approx(_bpd(diag), abs=1e-9)
    assert glued["ch5_full_bpd"] == pytest.approx(_bpd(full), abs=1e-9)
    assert round(glued["ch5_diag_bpd"], 2) == 3.40 and round(glued["ch5_full_bpd"], 2) == 2.96
    assert glued["ch5_corr_gain"] == pytest.approx(_bpd(diag) - _bpd(full), abs=1e-9)
    assert glued["ch5_full_params"] == 64 + 64 * 65 // 2
    # the pixel-space Gaussians' mass outside [0, 1), pixel by pixel
    m, sd = x_train.mean(0), x_train.std(0)
    outside = np.mean(special.ndtr(-m / sd) + special.ndtr((m - 1) / sd))
    assert glued["ch5_outside_pct"] == pytest.approx(100 * outside, abs=1e-9)
    y = special.logit(0.05 + 0.9 * x_train)
    spill = np.mean(special.ndtr((special.logit(0.05) - y.mean(0)) / y.std(0))
                    + special.ndtr((y.mean(0) - special.logit(0.95)) / y.std(0)))
    assert glued["ch5_outside_logit_pct"] == pytest.approx(100 * spill, abs=1e-6)
    assert glued["ch5_outside_verdict"] == ("less" if spill < outside else "more") == "less"
    # a diagonal Gaussian of y = logit(0.05 + 0.9 x), with the Jacobian dy/dx counted
    y_train, y_test = special.logit(0.05 + 0.9 * x_train), special.logit(0.05 + 0.9 * x_test)
    s_test = 0.05 + 0.9 * x_test
    log_jac = np.sum(np.log(0.9) - np.log(s_test) - np.log1p(-s_test), axis=1)
    nll = -np.mean(stats.norm(y_train.mean(0), y_train.std(0)).logpdf(y_test).sum(1) + log_jac)
    assert glued["ch5_logit_bpd"] == pytest.approx(_bpd(nll), abs=1e-9)
    verdict = "below" if glued["ch5_logit_bpd"] < glued["ch5_full_bpd"] else "above"
    assert glued["ch5_logit_vs_full"] == verdict == "below"
    assert glued["ch5_goal_margin"] == pytest.approx(
        min(glued["ch5_full_bpd"], glued["ch5_logit_bpd"]) - 2.40)


@pytest.mark.slow
def test_actnorm_demo(glued):
    assert glued["ch5_act_mean"] < 1e-12 and glued["ch5_act_std"] < 1e-12
    assert glued["ch5_act_alone"] == 0.0 and glued["ch5_bn_alone"] == 0.0
    # per-channel batch normalisation of one image is defined, but differs from the batch's
    assert glued["ch5_bn_change"] > 0.1


def test_batch_norm_of_one_image_has_a_spread():
    """The text's claim: per-channel statistics of a single image average over its pixels, so
    its spread is not zero (only a single vector has none)."""
    images = np.random.default_rng(4).gamma(2.0, 1.5, size=(64, 4, 4, 4))
    assert np.all(images[:1].std(axis=(0, 2, 3)) > 0.5)
    assert np.all(images[:1, :, 0, 0].std(axis=0) == 0)


def _slope(channels, times, lo=64):
    """Least-squares slope of log time against log c over the sizes c >= lo."""
    c, t = np.array(channels, float), np.array(times, float)
    keep = c >= lo
    return float(np.polyfit(np.log(c[keep]), np.log(t[keep]), 1)[0])


@pytest.mark.slow
def test_lu_log_det_and_timing(glued):
    """Shapes of the timings only (growth, slopes, generous margins), and the glued verdicts
    against the glued measurements: no machine-dependent constant."""
    assert glued["ch5_lu_log_det"] == pytest.approx(glued["ch5_lu_numerical"], abs=1e-7)
    assert glued["ch5_lu_big_err"] < 1e-8
    channels, times = glued["ch5_channels"], glued["ch5_times"]
    assert channels == [4, 16, 64, 256, 512]
    slog, lu_sum = times["slogdet of W"], times["sum of log-scales"]
    form, lu_layer = times["forming W = PLU"], times["LU layer, forward"]
    dense = times["dense W + slogdet, forward"]
    # O(c^3) work (ideal slope 3; well above 1 once the call overhead no longer dominates)
    for name in ("slogdet of W", "forming W = PLU", "LU layer, forward",
                 "dense W + slogdet, forward"):
        assert _slope(channels, times[name]) > 1.5, (name, times[name])
    assert max(lu_sum) / min(lu_sum) < 20          # a sum of c numbers: call overhead here
    assert slog[-1] > 10 * lu_sum[-1]
    assert glued["ch5_lu_ratio_512"] == pytest.approx(slog[-1] / lu_sum[-1])
    # the whole LU layer still grows like c^3: forming W is part of it
    assert lu_layer[-1] > form[-1] and lu_layer[-1] / lu_layer[2] > 20
    assert glued["ch5_form_ms"] == pytest.approx(1e3 * form[-1])
    assert glued["ch5_slogdet_ms"] == pytest.approx(1e3 * slog[-1])
    assert glued["ch5_lu_layer_ms"] == pytest.approx(1e3 * lu_layer[-1])
    assert glued["ch5_dense_layer_ms"] == pytest.approx(1e3 * dense[-1])
    assert glued["ch5_layer_verdict"] == ("slower" if lu_layer[-1] > dense[-1] else "faster")
    assert glued["ch5_form_verdict"] == ("more" if form[-1] > slog[-1] else "less")


def test_forming_w_is_a_cubic_product():
    """What the prose says the layer still does: W is formed as a product of dense c x c
    matrices from its factors (so O(c^3)), equal to P L (U + diag(sign e^s))."""
    layer = nf.InvConv1x1(6, rng=np.random.default_rng(0))
    low = np.tril(layer.lower, -1) + np.eye(6)
    up = np.triu(layer.upper, 1) + np.diag(layer.sign * np.exp(layer.log_s))
    np.testing.assert_allclose(layer.weight(), layer.perm @ low @ up, atol=1e-12)
    assert layer.perm.shape == (6, 6)


@pytest.mark.slow
def test_multiscale_counts(glued):
    model = nf.glow((1, 8, 8), n_levels=2, depth=1, hidden=(4,), rng=np.random.default_rng(0))
    split = model[1]
    assert glued["ch5_squeeze_shape"] == [4, 2, 2]
    assert glued["ch5_level1_out"] == 64 - split.keep * 16 == 32
    assert glued["ch5_level2_out"] == split.keep * 16 == 32
    assert glued["ch5_practice_levels"] == 32 + 16


@pytest.mark.slow
def test_parameter_counts(glued):
    def mlp(n_in, hidden, n_out):
        return (n_in + 1) * hidden + (hidden + 1) * n_out

    step1 = 2 * 4 + (16 + 16 + 4) + mlp(32, 64, 64)          # ActNorm, InvConv (L, U, s), coupling
    step2 = 2 * 8 + (64 + 64 + 8) + mlp(16, 64, 32)
    assert glued["ch5_params_glow"] == 4 * step1 + 4 * step2 + 128
    assert glued["ch5_params_realnvp"] == 8 * (mlp(32, 48, 64) + 128) + 128
    assert glued["ch5_step_params"] == glued["ch5_step_params_formula"] == step1
    assert glued["ch5_step_log_det"] == pytest.approx(glued["ch5_step_log_det_numerical"],
                                                      abs=1e-6)


@pytest.mark.slow
def test_overfitting_and_cures(glued):
    assert glued["ch5_fixed_best_step"] <= 300
    assert glued["ch5_fixed_last"] - glued["ch5_fixed_best"] > 0.3
    # "while the training cost keeps falling"
    assert glued["ch5_fixed_train_last"] < glued["ch5_fixed_train_at_best"] - 0.1
    assert glued["ch5_buy_early"] == pytest.approx(glued["ch5_fixed_last"]
                                                   - glued["ch5_fixed_best"])
    assert glued["ch5_buy_fresh"] > 0.03
    assert 0 <= glued["ch5_fresh_rise"] < 0.05
    assert glued["ch5_buy_decay"] > 0
    assert glued["ch5_buy_narrow"] == pytest.approx(glued["ch5_val_decay"]
                                                    - glued["ch5_val_narrow"])
    assert glued["ch5_buy_narrow"] < 0.01           # "buys nothing more"


@pytest.mark.slow
def test_models_meet_the_goal(glued):
    glow, realnvp = glued["ch5_glow_bpd"], glued["ch5_realnvp_bpd"]
    assert glow <= 2.40 and glow <= glued["ch5_full_bpd"] - 0.55
    # the untrained RealNVP is the per-pixel logit-space Gaussian of its ActNorm batch
    assert glued["ch5_start_realnvp"] == pytest.approx(glued["ch5_start_logit"], abs=1e-8)
    assert glued["ch5_start_glow"] != pytest.approx(glued["ch5_start_logit"], abs=1e-3)
    assert glued["ch5_glow_gain"] == pytest.approx(glued["ch5_logit_bpd"] - glow)
    assert glow < glued["ch5_logit_bpd"] - 0.5
    assert glued["ch5_glow_minus_realnvp"] == pytest.approx(glow - realnvp)
    assert abs(glow - realnvp) < 0.05
    # the test bits/dim is the conversion of the NLL in nats (worked example 1)
    assert glow == pytest.approx(_bpd(glued["ch5_glow_nll"]), abs=1e-12)
    assert glued["ch5_by_hand_bpd"] == pytest.approx(glow, abs=1e-12)
    assert glued["ch5_64ln17"] == pytest.approx(64 * math.log(17))
    assert glued["ch5_steps"] == 1500
    assert 0 < glued["ch5_glow_seconds"] and 0 < glued["ch5_realnvp_seconds"]
    assert glued["ch5_time_ratio"] == pytest.approx(glued["ch5_glow_seconds"]
                                                    / glued["ch5_realnvp_seconds"])


@pytest.mark.slow
def test_glow_against_realnvp_over_seeds(glued, data):
    """The chapter's claim: the difference stays below 0.05 bits/dim and changes sign."""
    _, test, x_train, x_test = data
    x_fit, x_val = x_train[:-144], x_train[-144:]
    diffs, gaps = [glued["ch5_glow_minus_realnvp"]], []
    for seed in (5, 7):
        scores = []
        for build in (lambda r: c5.digits_glow(rng=r, hidden=(64,)),
                      lambda r: c5.digits_realnvp(rng=r, hidden=(48,))):
            flow = build(np.random.default_rng(seed))
            flow.log_prob(x_fit[:512])
            nf.fit(flow, x_fit, x_val=x_val, rng=np.random.default_rng(seed + 100),
                   n_steps=1500, batch_size=128, lr=2e-3, eval_every=50, weight_decay=0.5,
                   augment=c5.fresh_noise)
            scores.append(_bpd(-np.mean(flow.log_prob(x_test))))
            if len(scores) == 1:                       # the Glow: its dequantisation gap
                gaps.append(_iw_bits(flow.log_prob, test, 1, 10) - _iw_bits(flow.log_prob, test,
                                                                             64, 10))
        assert scores[0] <= 2.40, scores
        diffs.append(scores[0] - scores[1])
    assert all(abs(d) < 0.05 for d in diffs), diffs
    assert min(diffs) < 0 < max(diffs), diffs
    # "a gap of the same size for two more training seeds": several times the Gaussian's
    assert all(g > 2 * glued["ch5_jensen_gap"] for g in gaps), gaps
    assert all(abs(g - glued["ch5_iw_glow_drop"]) < 0.05 for g in gaps), gaps


@pytest.mark.slow
def test_mixing_ablation_and_learned_prior(glued, data):
    """The glued table reproduced for seed 0 of two variants by training them again, and every
    verdict of the prose recomputed from the glued table."""
    _, _, x_train, x_test = data
    x_fit, x_val = x_train[:-144], x_train[-144:]
    table, params = glued["ch5_abl_bpd"], glued["ch5_abl_params"]
    n = glued["ch5_abl_n_seeds"]
    assert n >= 3 and all(len(v) == n for v in table.values())
    assert glued["ch5_abl_steps"] == 300 and glued["ch5_abl_wide_hidden"] == 43
    for name, options in (("reverse", dict(mixing="reverse")),
                          ("1x1 conv, learned prior", dict(mixing="1x1 conv",
                                                           learned_prior=True))):
        flow = c5.digits_glow_variant(rng=np.random.default_rng(0), depth=2, hidden=(32,),
                                      **options)
        flow.log_prob(x_fit[:512])
        nf.fit(flow, x_fit, x_val=x_val, rng=np.random.default_rng(100), n_steps=300,
               batch_size=128, lr=2e-3, eval_every=50, weight_decay=0.5, augment=c5.fresh_noise)
        assert table[name][0] == pytest.approx(_bpd(-np.mean(flow.log_prob(x_test))), abs=1e-9)
        assert params[name] == c5.n_parameters(flow)
    # the same budget in parameters for the mixings, up to the convolutions' few hundred
    assert params["reverse"] == params["shuffle"] < params["1x1 conv"] < params["reverse"] + 400
    assert params["1x1 conv, wider"] >= params["1x1 conv, learned prior"]
    mixings = ["reverse", "shuffle", "1x1 conv"]
    means = {m: np.mean(table[m]) for m in mixings}
    best = min(means, key=means.get)
    wins = sum(table[best][s] < table[m][s] for m in mixings if m != best for s in range(n))
    assert glued["ch5_abl_best_mix"] == best
    assert glued["ch5_abl_best_mean"] == pytest.approx(means[best])
    assert glued["ch5_abl_mix_wins"] == wins and glued["ch5_abl_mix_pairs"] == 2 * n
    assert glued["ch5_abl_mix_verdict"] == ("reliably" if wins == 2 * n else "not reliably")
    assert glued["ch5_abl_mix_verdict"] == "not reliably"  # what the explanation after it assumes
    assert glued["ch5_abl_mix_range"] == pytest.approx(max(means.values()) - min(means.values()))
    assert glued["ch5_abl_seed_spread"] == pytest.approx(
        max(max(table[m]) - min(table[m]) for m in mixings))
    rank = sorted(mixings, key=means.get).index("1x1 conv")
    assert glued["ch5_abl_conv_rank"] == ["first", "second", "third"][rank]
    prior, plain, wide = (table["1x1 conv, learned prior"], table["1x1 conv"],
                          table["1x1 conv, wider"])
    assert glued["ch5_prior_wins"] == sum(p < q for p, q in zip(prior, plain))
    assert glued["ch5_prior_wins_wide"] == sum(p < q for p, q in zip(prior, wide))
    assert glued["ch5_prior_gain"] == pytest.approx(np.mean(plain) - np.mean(prior))
    assert glued["ch5_prior_gain_wide"] == pytest.approx(np.mean(wide) - np.mean(prior))
    assert glued["ch5_prior_gain_min"] == pytest.approx(min(q - p for p, q in zip(prior, plain)))
    assert glued["ch5_prior_extra_params"] == params["1x1 conv, learned prior"] - params["1x1 conv"]
    # the prose: "lowers the test cost", "does not explain it"
    assert glued["ch5_prior_gain"] > 0 and glued["ch5_prior_gain_wide"] > 0
    assert glued["ch5_prior_gain_min"] > 0                 # "at least": in every seed
    assert glued["ch5_prior_wins_wide"] >= n - 1


def _iw_bits(log_density, pixels, k, seed, levels=17):
    """Importance-weighted bits/dim, written again: k uniform draws per image, log-mean-exp."""
    rng = np.random.default_rng(seed)
    rep = np.repeat(pixels, k, axis=0)
    x = (rep + rng.random(rep.shape)) / levels
    log_p = np.concatenate([log_density(x[i:i + 2048]) for i in range(0, len(x), 2048)])
    log_p = log_p.reshape(-1, k)
    log_mean = special.logsumexp(log_p, axis=1) - math.log(k)
    d = pixels.shape[1]
    return float((-np.mean(log_mean) + d * math.log(levels)) / (d * math.log(2)))


@pytest.mark.slow
def test_importance_weighted_discrete_likelihood(glued, data):
    _, test, x_train, _ = data
    x_fit = x_train[:-144]
    assert glued["ch5_k_values"] == [1, 8, 64]
    gauss = stats.norm(x_fit.mean(0), x_fit.std(0))
    own = [_iw_bits(lambda x: gauss.logpdf(x).sum(1), test, k, 10) for k in (1, 8, 64)]
    np.testing.assert_allclose(glued["ch5_iw_gauss"], own, atol=1e-9)
    # the estimates fall with K towards the exact discrete cost, which they stay above
    g, w = glued["ch5_iw_gauss"], glued["ch5_iw_glow"]
    assert g[0] > g[1] > g[2] > glued["ch5_discrete_bits"]
    assert glued["ch5_iw_gauss_err"] == pytest.approx(g[2] - glued["ch5_discrete_bits"])
    assert 0 < glued["ch5_iw_gauss_err"] < 0.005
    assert w[0] > w[1] > w[2]
    assert (glued["ch5_iw_glow_1"], glued["ch5_iw_glow_8"], glued["ch5_iw_glow_64"]) == tuple(w)
    assert glued["ch5_iw_gaussian_64"] == g[2]
    assert glued["ch5_iw_glow_drop"] == pytest.approx(w[0] - w[2])
    assert glued["ch5_iw_gaussian_drop"] == pytest.approx(g[0] - g[2])
    # K = 1 is a fresh draw of the test bits/dim: equal up to the noise of one draw
    assert w[0] == pytest.approx(glued["ch5_glow_bpd"], abs=0.02)
    assert glued["ch5_iw_gap_ratio"] == pytest.approx((w[0] - w[2]) / glued["ch5_jensen_gap"])
    assert glued["ch5_iw_gap_ratio"] > 2                                  # "several times"
    assert glued["ch5_iw_glow_64"] < glued["ch5_glow_bpd"]


@pytest.mark.slow
def test_looking_at_the_model(glued):
    assert glued["ch5_n_copy_check"] >= 300
    assert glued["ch5_sample_near_min"] > glued["ch5_test_near_min"]
    assert glued["ch5_sample_near_median"] > glued["ch5_test_near_median"]
    assert glued["ch5_copy_verdict"] == "more"
    # "lowering the temperature changes them little", next to the change between samples
    assert 0 < glued["ch5_temperature_change"] < glued["ch5_between_samples"] / 2
    # test latents have a length near sqrt(64), far from the base's mode z = 0
    assert 7.0 < glued["ch5_test_z_norm"] < 10.0
    # the scale check: both levels' latents spread a little more than standard normals
    assert 32 < glued["ch5_level1_sq"] < 45 and 32 < glued["ch5_level2_sq"] < 45
    assert glued["ch5_interp_end_err"] < 1e-10
    parts = [glued["ch5_level1_bits"], glued["ch5_level2_bits"], glued["ch5_logdet_bits"]]
    assert glued["ch5_parts_sum"] == pytest.approx(sum(parts), abs=1e-12)
    assert glued["ch5_parts_sum"] == pytest.approx(glued["ch5_glow_bpd"], abs=1e-9)
    normal = 0.5 * 0.5 * math.log2(2 * math.pi * math.e)
    assert glued["ch5_normal_bits"] == pytest.approx(normal, abs=1e-12)
    assert all(0 < p - normal < 0.15 for p in parts[:2]), parts          # "a little more"
    # the base's cost of a level is a function of the latents' mean square length alone
    for level, sq in ((0, glued["ch5_level1_sq"]), (1, glued["ch5_level2_sq"])):
        assert parts[level] == pytest.approx((0.5 * sq + 16 * math.log(2 * math.pi))
                                             / (64 * math.log(2)), abs=1e-9)


def _ood_sets(test):
    """The chapter's foreign data sets, built again (all but the Glow's samples)."""
    from sklearn.datasets import load_sample_images

    img = test.reshape(-1, 8, 8)
    shifted = np.zeros_like(img)
    shifted[:, :, 1:] = img[:, :, :-1]
    pick = np.random.default_rng(13).integers(0, len(test), size=(len(test), 2))
    tiles = []
    for photo in load_sample_images().images:
        grey = photo.mean(axis=2)
        rows, cols = grey.shape[0] // 32, grey.shape[1] // 32       # 8 x 8 tiles of 4 x 4 means
        small = np.array([[grey[4 * a:4 * a + 4, 4 * b:4 * b + 4].mean()
                           for b in range(cols * 8)] for a in range(rows * 8)])
        tiles += [small[8 * i:8 * i + 8, 8 * j:8 * j + 8] for i in range(rows)
                  for j in range(cols)]
    return {"upside": img[:, ::-1].reshape(-1, 64), "shifted": shifted.reshape(-1, 64),
            "blend": np.round((test[pick[:, 0]] + test[pick[:, 1]]) / 2),
            "contrast": np.round(0.75 * test),
            "photo": np.floor(np.array(tiles) * 17 / 256).reshape(-1, 64)}


def _logit_gaussian_bits(x_fit, pixels, seed):
    """Per-image bits/dim of the logit-space diagonal Gaussian, one uniform draw per image."""
    x = (pixels + np.random.default_rng(seed).random(pixels.shape)) / 17
    y_fit, y = special.logit(0.05 + 0.9 * x_fit), special.logit(0.05 + 0.9 * x)
    s = 0.05 + 0.9 * x
    log_p = (stats.norm(y_fit.mean(0), y_fit.std(0)).logpdf(y).sum(1)
             + np.sum(np.log(0.9) - np.log(s) - np.log1p(-s), axis=1))
    return (-log_p / math.log(2) + 64 * LOG2_17) / 64


@pytest.mark.slow
def test_likelihood_is_not_sample_quality(glued, data):
    _, _, x_train, x_test = data
    bits = np.array(glued["ch5_ood_test_bits"])
    assert glued["ch5_glow_image_bits"] == pytest.approx(bits.mean(), abs=1e-12)
    # a fresh draw of the Glow's test bits/dim
    assert glued["ch5_glow_image_bits"] == pytest.approx(glued["ch5_glow_bpd"], abs=0.02)
    log_p = -(bits - LOG2_17) * 64 * math.log(2)
    mix = special.logsumexp(np.stack([log_p + math.log(0.01),
                                      np.full_like(log_p, math.log(0.99))]), axis=0)
    assert glued["ch5_mix_bits"] == pytest.approx(_bpd(-mix.mean()), abs=1e-9)
    bound = math.log2(100) / 64
    assert glued["ch5_mix_bound"] == pytest.approx(bound)
    assert 0 < glued["ch5_mix_cost"] <= bound + 1e-12
    assert glued["ch5_mix_cost"] == pytest.approx(bound, abs=1e-4)     # "pays the whole bound"
    assert glued["ch5_mix_bound_cifar"] == pytest.approx(math.log2(100) / 3072)
    # the kernel density on the fitted images, by scipy's multivariate normal mixture
    sigma, x_fit = glued["ch5_kde_sigma"], x_train[:-144]
    comp = np.stack([stats.multivariate_normal(np.zeros(64), sigma ** 2 * np.eye(64))
                     .logpdf(x_test - c) for c in x_fit])
    kde = special.logsumexp(comp, axis=0) - math.log(len(x_fit))
    assert glued["ch5_kde_bits"] == pytest.approx(_bpd(-kde.mean()), rel=1e-9)
    assert glued["ch5_kde_vs_uniform"] == "worse" and glued["ch5_kde_bits"] > LOG2_17


@pytest.mark.slow
def test_likelihood_is_not_an_ood_detector(glued, data):
    from sklearn.metrics import roc_auc_score

    train, test, x_train, _ = data
    x_fit = x_train[:-144]
    test_bits = np.array(glued["ch5_ood_test_bits"])
    sets = _ood_sets(test)
    assert glued["ch5_ood_n_tiles"] == len(sets["photo"])
    # the simpler model's scores, recomputed from the data sets built again
    test_gauss = _logit_gaussian_bits(x_fit, test, 12)
    np.testing.assert_allclose(glued["ch5_ood_test_gauss"], test_gauss, atol=1e-9)
    keys = ["upside", "shifted", "blend", "contrast", "photo", "samples"]
    auroc, ratio, typ = {}, {}, {}
    val = np.array(glued["ch5_ood_val_bits"])
    entropy, eps, m = glued["ch5_typ_entropy"], glued["ch5_typ_eps"], glued["ch5_typ_batch"]
    assert entropy == pytest.approx(val.mean(), abs=1e-12)
    # epsilon: the 99 % quantile of |batch mean - entropy|, close to its normal approximation
    assert eps == pytest.approx(stats.norm.ppf(0.995) * val.std() / math.sqrt(m), rel=0.15)

    def rejected(bits):
        means = bits[:len(bits) // m * m].reshape(-1, m).mean(1)
        return float(np.mean(np.abs(means - entropy) > eps))

    assert glued["ch5_typ_test_pct"] == pytest.approx(100 * rejected(test_bits))
    assert glued["ch5_typ_test_pct"] <= 10
    for k, key in enumerate(keys):
        bits = np.array(glued[f"ch5_ood_bits_{key}"])
        labels = np.r_[np.zeros(len(test_bits)), np.ones(len(bits))]
        auroc[key] = roc_auc_score(labels, np.r_[test_bits, bits])
        assert glued[f"ch5_ood_auroc_{key}"] == pytest.approx(auroc[key], abs=1e-12)
        assert glued[f"ch5_ood_likely_pct_{key}"] == pytest.approx(
            100 * np.mean(bits < np.median(test_bits)))
        if key != "samples":
            gauss = _logit_gaussian_bits(x_fit, sets[key], 20 + k)
            assert len(bits) == len(sets[key])
        else:
            gauss = np.array([])
        if len(gauss):
            ratio[key] = roc_auc_score(labels, np.r_[test_bits - test_gauss, bits - gauss])
            assert glued[f"ch5_ood_ratio_{key}"] == pytest.approx(ratio[key], abs=1e-12)
        typ[key] = rejected(bits)
        assert glued[f"ch5_ood_typ_pct_{key}"] == pytest.approx(100 * typ[key])
    foreign = keys[:-1]
    assert glued["ch5_ood_n_foreign"] == 5 and glued["ch5_ood_n_sets"] == 6
    assert glued["ch5_ood_n_easy"] == sum(auroc[k] > 0.9 for k in foreign)
    names = {"upside": "upside down", "shifted": "shifted 1 pixel right",
             "blend": "blend of two digits", "contrast": "contrast x 0.75",
             "photo": "photo tiles", "samples": "Glow samples, T = 0.5"}
    hardest = min(foreign, key=auroc.get)
    assert glued["ch5_ood_hardest"] == names[hardest]
    assert glued["ch5_ood_hardest_auroc"] == pytest.approx(auroc[hardest])
    assert glued["ch5_ood_hardest_auroc"] < 0.8             # "reach only"
    # the prose: the samples look more typical than the digits, the photo tiles are easy
    assert glued["ch5_ood_samples_verdict"] == "more" and auroc["samples"] < 0.5
    assert auroc["photo"] > 0.9 and auroc["shifted"] > 0.9
    # the likelihood ratio: a count of improvements and the set where it fell most
    gains = {k: glued[f"ch5_ood_ratio_{k}"] - auroc[k] for k in keys}
    assert glued["ch5_ratio_n_better"] == sum(g > 0 for g in gains.values())
    worst = min(gains, key=gains.get)
    assert glued["ch5_ratio_worst"] == names[worst]
    assert glued["ch5_ratio_worst_to"] < glued["ch5_ratio_worst_from"]
    assert worst in ("shifted", "photo")                    # "both models see the border"
    # the typicality test: every batch of all sets but one, the samples included
    assert glued["ch5_typ_n_all"] == sum(t == 1.0 for t in typ.values())
    assert typ["samples"] == 1.0
    lowest = min(keys, key=typ.get)
    assert glued["ch5_typ_lowest"] == names[lowest]
    assert glued["ch5_typ_lowest_pct"] == pytest.approx(100 * typ[lowest])


@pytest.mark.slow
def test_worked_examples_and_practice(glued):
    assert glued["ch5_conv32"] == pytest.approx(1024 * math.log(0.8), abs=1e-9)
    assert round(glued["ch5_conv32"], 1) == -228.5
    assert glued["ch5_practice_bpd"] == pytest.approx(_bpd(-100.0), abs=1e-12)
    assert glued["ch5_practice_cifar_offset"] == 8.0


@pytest.mark.slow
def test_interactive_figure_works_without_a_kernel(nb):
    from test_chapter01 import animation_frame_counts

    assert animation_frame_counts(nb) == [7]
    assert "font-awesome" not in "\n".join(nb.html_outputs()).lower()


# ---- nflib.course.ch05_digits ------------------------------------------------------------------

def test_split_is_disjoint_and_complete():
    train, test, y_train, y_test = c5.split_digits(0)
    assert train.shape == (1437, 64) and test.shape == (360, 64)
    assert len(y_train) == 1437 and len(y_test) == 360
    pixels, _ = datasets.load_digits(flatten=True)
    rows = {r.tobytes() for r in pixels}
    assert {r.tobytes() for r in np.vstack([train, test])} == rows


def test_logit_round_trip_log_det_and_gradients():
    rng = np.random.default_rng(0)
    layer = c5.Logit(5, alpha=0.05)
    x = rng.uniform(0, 1, size=(6, 5))
    y, ld_inv = layer.inverse(x)
    s = 0.05 + 0.9 * x
    np.testing.assert_allclose(y, special.logit(s), rtol=1e-12)
    np.testing.assert_allclose(layer.forward(y)[0], x, atol=1e-12)
    np.testing.assert_allclose(ld_inv, checks.numerical_log_det(lambda v: layer.inverse(v)[0], x),
                               atol=1e-6)
    np.testing.assert_allclose(layer.forward(y)[1], -ld_inv, atol=1e-12)
    for direction, inputs in (("forward", y), ("inverse", x)):
        errors = checks.check_backward(layer, inputs, direction, rng=rng)
        assert errors["input"] < 1e-6, (direction, errors)
    with pytest.raises(ValueError, match="strictly inside"):
        layer.inverse(np.full((1, 5), 1.2))
    with pytest.raises(ValueError, match="alpha"):
        c5.Logit(3, alpha=0.5)


@pytest.mark.parametrize("build", [c5.digits_glow, c5.digits_realnvp], ids=["glow", "realnvp"])
def test_models_log_prob_is_the_change_of_variables(build):
    rng = np.random.default_rng(1)
    flow = build(rng=rng, hidden=(8,))
    x = _initialised_and_moved(flow, rng)
    _assert_log_prob_is_the_change_of_variables(flow, x[:2])


def _initialised_and_moved(flow, rng):
    """40 uniform images that initialise the model's ActNorms, then every parameter moved by
    0.05 N(0, 1) away from its initial value; returns the images."""
    x = rng.uniform(size=(40, 64))
    flow.log_prob(x)                                  # ActNorm initialisation
    for p in flow.parameters().values():
        p += 0.05 * rng.standard_normal(p.shape)
    return x


def _assert_log_prob_is_the_change_of_variables(flow, point):
    z = flow.bijection.inverse(point)[0]
    log_det = checks.numerical_log_det(lambda v: flow.bijection.inverse(v)[0], point)
    expected = stats.multivariate_normal(np.zeros(64), np.eye(64)).logpdf(z) + log_det
    np.testing.assert_allclose(flow.log_prob(point), expected, atol=1e-5)
    return z


def test_models_gradient_matches_central_differences():
    rng = np.random.default_rng(2)
    flow = c5.digits_glow(rng=rng, hidden=(4,), depth=1)
    x = rng.uniform(size=(6, 64))
    flow.log_prob(x)
    for p in flow.parameters().values():
        p += 0.1 * rng.standard_normal(p.shape)
    _, grads = nf.nll_and_grad(flow, x)
    arrays = {k: p for k, p in flow.parameters().items() if p.size <= 64}
    errors = checks.check_gradients(lambda: -float(np.mean(flow.log_prob(x))), arrays, grads)
    assert max(errors.values()) < 1e-6, max(errors, key=errors.get)


def test_fresh_noise_keeps_every_pixel_in_its_bin():
    pixels = np.random.default_rng(3).integers(0, 17, size=(20, 64)).astype(float)
    x = datasets.dequantize(pixels, np.random.default_rng(4))
    y = c5.fresh_noise(x, np.random.default_rng(5))
    np.testing.assert_array_equal(np.floor(y * 17), pixels)
    assert np.all(y != x)


def test_gaussian_bpd_and_nearest():
    rng = np.random.default_rng(6)
    a = rng.standard_normal((200, 3)) @ np.array([[1.0, 0.5, 0], [0, 1, 0.3], [0, 0, 0.2]])
    b = rng.standard_normal((50, 3))
    full = -stats.multivariate_normal(a.mean(0), np.cov(a.T, bias=True)).logpdf(b).mean()
    assert c5.gaussian_bpd(a, b, diagonal=False) == pytest.approx(_bpd(full, 3), abs=1e-10)
    diag = -stats.norm(a.mean(0), a.std(0)).logpdf(b).sum(1).mean()
    assert c5.gaussian_bpd(a, b, diagonal=True) == pytest.approx(_bpd(diag, 3), abs=1e-10)
    idx, dist = c5.nearest(b, a)
    brute = np.linalg.norm(b[:, None] - a[None], axis=2)
    np.testing.assert_array_equal(idx, brute.argmin(1))
    np.testing.assert_allclose(dist, brute.min(1), atol=1e-9)


def test_level_bits_add_up_to_the_bpd():
    rng = np.random.default_rng(7)
    flow = c5.digits_glow(rng=rng, hidden=(4,), depth=1)
    x = rng.uniform(size=(30, 64))
    parts = c5.level_bits(flow, x)
    assert sum(parts.values()) == pytest.approx(c5.bpd(flow, x), abs=1e-10)
    # level 1 holds channels 2, 3 of the squeezed latent: check with an independent squeeze
    z = flow.bijection.inverse(x)[0].reshape(-1, 1, 8, 8)
    level1 = np.stack([z[:, 0, a::2, b::2] for a in range(2) for b in range(2)], 1)[:, 2:]
    nll1 = np.mean(0.5 * np.sum(level1.reshape(30, -1) ** 2, 1) + 16 * math.log(2 * math.pi))
    assert parts["level 1"] == pytest.approx(nll1 / (64 * math.log(2)), abs=1e-10)


def test_logit_gaussian_bpd_is_a_change_of_variables():
    """Its density integrates to 1 over the image of the real line, (-1/18, 19/18) for
    alpha = 0.05, of which [0, 1) holds less than all; and bits/dim follow from it."""
    from scipy import integrate

    rng = np.random.default_rng(8)
    x_train = rng.beta(0.5, 0.7, size=(400, 1))
    y = special.logit(0.05 + 0.9 * x_train)
    m, sd = y.mean(), y.std()

    def density(x):
        s = 0.05 + 0.9 * x
        return stats.norm.pdf(special.logit(s), m, sd) * 0.9 / (s * (1 - s))

    ends = (-0.05 / 0.9, 0.95 / 0.9)
    assert integrate.quad(density, *ends, limit=400)[0] == pytest.approx(1.0, abs=1e-7)
    inside = integrate.quad(density, 0, 1, limit=400)[0]
    spill = stats.norm.cdf(special.logit(0.05), m, sd) + stats.norm.sf(special.logit(0.95), m, sd)
    assert inside == pytest.approx(1 - spill, abs=1e-7) and inside < 0.99
    x_test = rng.uniform(size=(50, 1))
    nll = -np.mean(np.log(density(x_test[:, 0])))
    assert c5.logit_gaussian_bpd(x_train, x_test) == pytest.approx(_bpd(nll, 1), abs=1e-10)


def test_iw_bits_approaches_the_exact_discrete_likelihood():
    """For a diagonal Gaussian the discrete probability of a bin is a difference of CDFs:
    k = 1 is the dequantised bound, and many draws reach the exact value."""
    rng = np.random.default_rng(9)
    mu, sd = np.array([0.3, 0.5, 0.7]), np.array([0.1, 0.06, 0.3])
    pixels = np.clip(np.floor(17 * rng.normal(mu, sd, size=(40, 3))), 0, 16)
    gauss = stats.norm(mu, sd)
    exact = -np.mean(np.sum(np.log(gauss.cdf((pixels + 1) / 17) - gauss.cdf(pixels / 17)), 1))
    exact_bits = exact / (3 * math.log(2))
    one = c5.iw_bits(lambda x: gauss.logpdf(x).sum(1), pixels, 1, np.random.default_rng(3))
    x = (pixels + np.random.default_rng(3).random(pixels.shape)) / 17
    assert one == pytest.approx(_bpd(-np.mean(gauss.logpdf(x).sum(1)), 3), abs=1e-12)
    many = c5.iw_bits(lambda x: gauss.logpdf(x).sum(1), pixels, 4000, np.random.default_rng(4),
                      batch=7000)
    assert many == pytest.approx(exact_bits, abs=2e-3)
    assert one > many
    assert c5.iw_bits(lambda x: gauss.logpdf(x).sum(1), pixels, 5, np.random.default_rng(5)) == \
        pytest.approx(_iw_bits(lambda x: gauss.logpdf(x).sum(1), pixels, 5, 5), abs=1e-12)


def test_level_latents_are_the_inverse_map_squeezed_and_split():
    rng = np.random.default_rng(10)
    flow = c5.digits_glow(rng=rng, hidden=(4,), depth=1)
    x = rng.uniform(size=(12, 64))
    latents = c5.level_latents(flow, x)
    z = flow.bijection.inverse(x)[0].reshape(-1, 1, 8, 8)
    squeezed = nf.Squeeze().forward(z)[0]
    np.testing.assert_array_equal(latents["level 1"], squeezed[:, 2:].reshape(12, -1))
    np.testing.assert_array_equal(latents["level 2"], squeezed[:, :2].reshape(12, -1))


# ---- the learning objectives are exercised -----------------------------------------------------

#: each learning objective -> what on the page exercises it: a worked example or section
#: (label), a practice problem (its number and a phrase of it), a quiz question (id) or an
#: exercise (label in exercises/05_glow.md)
OBJECTIVES = {
    1: [("label", "ch5-ex-bpd"), ("practice", 1, "What are its\n   bits/dim?"),
        ("practice", 2, "bits/dim of the uniform"), ("quiz", "05-why-dequantise"),
        ("quiz", "05-jensen"), ("quiz", "05-bpd-convert"), ("quiz", "05-compare-bpd"),
        ("label", "ch5-iw"), ("quiz", "05-iw-gap"), ("exercise", "ex-05-bpd")],
    2: [("label", "ch5-baselines"), ("quiz", "05-baseline-order")],
    3: [("practice", 5, "ActNorm in the data direction"), ("quiz", "05-actnorm-vs-bn"),
        ("quiz", "05-actnorm-one"), ("exercise", "ex-05-actnorm")],
    4: [("label", "ch5-ex-count"), ("label", "ch5-ex-conv"), ("quiz", "05-conv-logdet"),
        ("quiz", "05-lu"), ("exercise", "ex-05-lu")],
    5: [("practice", 3, "squeeze"), ("practice", 4, "How many variables leave"),
        ("quiz", "05-squeeze"), ("quiz", "05-multiscale-count"), ("exercise", "ex-05-squeeze")],
    6: [("label", "ch5-overfitting"), ("quiz", "05-fresh-noise"), ("label", "ch5-ablation"),
        ("quiz", "05-learned-prior")],
    7: [("practice", 6, "near-copy"), ("practice", 7, "latent interpolation"),
        ("quiz", "05-temperature")],
    8: [("label", "ch5-not-quality"), ("label", "ch5-ood"), ("quiz", "05-ood")],
}


def _practice_problems(text):
    """The numbered practice problems of the page, by number."""
    section = text.split("(ch5-practice)=", 1)[1].split("(ch5-quiz)=", 1)[0]
    items = re.split(r"^(\d+)\. ", section, flags=re.MULTILINE)
    return {int(n): body for n, body in zip(items[1::2], items[2::2])}


def test_every_learning_objective_is_exercised():
    import json

    text = (ROOT / CHAPTER).read_text(encoding="utf-8")
    objectives = text.split("(ch5-objectives)=", 1)[1].split("```", 1)[0]
    numbered = [int(n) for n in re.findall(r"^(\d+)\. ", objectives, flags=re.MULTILINE)]
    assert numbered == sorted(OBJECTIVES), numbered
    quiz = {q["id"] for q in json.loads(
        (ROOT / "nflib" / "course" / "quizzes" / "05_glow.json").read_text(encoding="utf-8"))}
    exercises = (ROOT / "exercises" / "05_glow.md").read_text(encoding="utf-8")
    practice = _practice_problems(text)
    for objective, targets in OBJECTIVES.items():
        kinds = {t[0] for t in targets}
        assert kinds & {"label", "practice", "quiz"}, objective
        for target in targets:
            kind = target[0]
            if kind == "label":
                assert f"({target[1]})=" in text, target
            elif kind == "practice":
                assert target[2] in practice.get(target[1], ""), target
            elif kind == "quiz":
                assert target[1] in quiz, target
            else:
                assert f":label: {target[1]}" in exercises, target


def test_flat_realnvp_masks_are_alternate_columns_and_couplings_start_as_identity():
    """The page's words on the two models' ingredients: the flat RealNVP's masks select
    alternate columns of the 8 x 8 image (not a checkerboard), and a new coupling is the
    identity (zero-initialised last layer)."""
    from nflib.coupling import AffineCoupling

    flow = c5.digits_realnvp(rng=np.random.default_rng(0), hidden=(8,))
    core = flow.bijection.bijections[0]
    masks = [b.mask.reshape(8, 8) for b in core.bijections if isinstance(b, AffineCoupling)]
    assert len(masks) == 8
    for mask in masks:
        assert np.all(mask == mask[:1]) and not np.all(mask[:, 0] == mask[:, 1])
    z = np.random.default_rng(1).standard_normal((5, 64))
    for b in core.bijections:
        if isinstance(b, AffineCoupling):
            x, log_det = b.forward(z)
            np.testing.assert_array_equal(x, z)
            np.testing.assert_array_equal(log_det, 0.0)


def test_image_bits_auroc_and_typicality_helpers():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(11)
    pixels = rng.integers(0, 17, size=(30, 4)).astype(float)
    gauss = stats.norm(0.5, 0.3)
    bits = c5.image_bits(lambda x: gauss.logpdf(x).sum(1), pixels, np.random.default_rng(1))
    x = (pixels + np.random.default_rng(1).random(pixels.shape)) / 17
    np.testing.assert_allclose(bits, -gauss.logpdf(x).sum(1) / (4 * math.log(2)) + LOG2_17,
                               atol=1e-12)
    a = rng.normal(size=50)
    b = np.r_[rng.normal(1.0, size=40), a[:5]]                      # with ties
    assert c5.auroc(a, b) == pytest.approx(roc_auc_score(np.r_[np.zeros(50), np.ones(45)],
                                                         np.r_[a, b]), abs=1e-12)
    ref = rng.normal(2.0, 0.3, size=500)
    same, eps = c5.typicality_rejects(ref, 2.0, rng.normal(2.0, 0.3, size=2000), 20,
                                      np.random.default_rng(2))
    assert eps == pytest.approx(stats.norm.ppf(0.995) * 0.3 / math.sqrt(20), rel=0.15)
    assert same < 0.05
    for shift in (-0.6, 0.6):                  # too likely is rejected as well as too unlikely
        far, _ = c5.typicality_rejects(ref, 2.0, rng.normal(2.0 + shift, 0.3, size=400), 20,
                                       np.random.default_rng(2))
        assert far == 1.0


@pytest.mark.parametrize("mixing", c5.MIXINGS)
@pytest.mark.parametrize("learned_prior", [False, True])
def test_glow_variants_log_prob_is_the_change_of_variables(mixing, learned_prior):
    rng = np.random.default_rng(12)
    flow = c5.digits_glow_variant(rng=rng, mixing=mixing, learned_prior=learned_prior,
                                  depth=2, hidden=(6,))
    x = _initialised_and_moved(flow, rng)
    point = x[:2]
    z = _assert_log_prob_is_the_change_of_variables(flow, point)
    np.testing.assert_allclose(flow.bijection.forward(z)[0], point, atol=1e-10)
    _, grads = nf.nll_and_grad(flow, x[:6])
    arrays = {k: p for k, p in flow.parameters().items() if p.size <= 16}
    errors = checks.check_gradients(lambda: -float(np.mean(flow.log_prob(x[:6]))), arrays, grads)
    assert max(errors.values()) < 1e-6, max(errors, key=errors.get)


def test_glow_variant_mixing_layers_and_prior():
    """The fixed mixings move whole channels; the learned prior is one more conditioner, of the
    factored-out channels given the kept ones."""
    perm = c5.channel_permutation([2, 0, 3, 1], (4, 2, 2))
    z = np.random.default_rng(0).standard_normal((3, 4, 2, 2))
    np.testing.assert_array_equal(perm.forward(z)[0], z[:, [2, 0, 3, 1]])
    with pytest.raises(ValueError, match="permutation"):
        c5.channel_permutation([0, 0, 1, 2], (4, 2, 2))
    with pytest.raises(ValueError, match="mixing"):
        c5.digits_glow_variant(rng=np.random.default_rng(0), mixing="swap")
    kinds = {}
    for lp in (False, True):
        flow = c5.digits_glow_variant(rng=np.random.default_rng(1), learned_prior=lp, depth=1,
                                      hidden=(4,))
        kinds[lp] = c5.n_parameters(flow)
    # the prior adds one conditioner, 32 kept numbers -> hidden -> (mu, log sigma) of 32
    assert kinds[True] - kinds[False] == (32 + 1) * 4 + (4 + 1) * 64
