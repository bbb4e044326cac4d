"""Chapter 3 (autoregressive flows): every glued number against an independent computation
(adaptive quadrature, closed forms, brute-force path counts, numerical Jacobians), the claims the
chapter makes (the d-pass directions grow faster with d, depth lowers the KL over every seed, one
layer in the wrong order sits at its quadrature bound), the mapping from learning objectives to
the examples and quiz questions that exercise them, the quiz feedback for typical wrong answers,
and the fixed examples of ``nflib.course.ch03_autoregressive``.
"""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest
from scipy import integrate, optimize, stats

import nflib as nf
from nflib.checks import numerical_jacobian
from nflib.course import ch03_autoregressive as c3
from notebooks import ROOT
from section_checks import assert_one_report_per_section

CHAPTER = "chapters/03_autoregressive_flows.md"
A, SIGMA = 0.5, 0.3          # the sideways banana of the chapter


def banana_density(x1, x2):
    """p(x1, x2) = N(x2; 0, 1) N(x1; a (x2^2 - 1), sigma^2), written out."""
    r = (x1 - A * (x2 ** 2 - 1.0)) / SIGMA
    return np.exp(-0.5 * (x2 * x2 + r * r)) / (2 * math.pi * SIGMA)


def banana_marginal(x1):
    return integrate.quad(lambda t: banana_density(x1, t), -12, 12, points=[0.0], limit=200)[0]


# ---- the executed chapter ----------------------------------------------------------------------

@pytest.mark.slow
def test_every_glue_reference_in_the_text_is_glued(glued):
    text = (ROOT / CHAPTER).read_text()
    used = set(re.findall(r"\{glue:text\}`([A-Za-z0-9_]+)", text))
    assert used and not used - set(glued), sorted(used - set(glued))
    assert all(name.startswith("ch3_") for name in glued), sorted(glued)


@pytest.mark.slow
def test_knothe_rosenblatt_map_by_quadrature(glued):
    # F1(0) = P(x1 <= 0): adaptive 2-D quadrature of the density
    f1 = integrate.dblquad(lambda x2, x1: banana_density(x1, x2), -8.0, 0.0, -12.0, 12.0,
                           epsabs=1e-12)[0]
    assert glued["ch3_kr_F1_0"] == pytest.approx(f1, abs=1e-7)
    # F(0.5 | x1 = 1): the two arms of the conditional, by adaptive 1-D quadrature
    below = integrate.quad(lambda t: banana_density(1.0, t), -12.0, 0.5, limit=200)[0]
    assert glued["ch3_kr_F2_half_given_1"] == pytest.approx(below / banana_marginal(1.0),
                                                            abs=1e-7)
    # increasing in each coordinate (the change of variables, the triangular Jacobian and the
    # round trip are the page's own checks: see test_numerical_checks_are_reported_once_per_section)
    assert glued["ch3_kr_diag_min"] > 0.0
    # T(x) ~ N(0, I): mean and covariance within a few standard errors of 4000 samples
    n = glued["ch3_kr_n"]
    mean, cov = np.array(glued["ch3_kr_z_mean"]), np.array(glued["ch3_kr_z_cov"])
    assert n == 4000
    assert np.all(np.abs(mean) < 4.5 / math.sqrt(n))
    assert np.all(np.abs(cov - np.eye(2)) < 4.5 * math.sqrt(2.0 / n))
    assert glued["ch3_kr_mean_max"] == pytest.approx(np.max(np.abs(mean)))
    assert glued["ch3_kr_cov_err"] == pytest.approx(np.max(np.abs(cov - np.eye(2))))


@pytest.mark.slow
def test_modes_of_the_conditional(glued):
    """x2 | x1 has two modes exactly when x1 > sigma^2 / (2a) - a; found here by maximising the
    conditional density numerically and counting its local maxima on a fine grid."""
    threshold = glued["ch3_kr_two_modes_from"]
    assert threshold == pytest.approx(SIGMA ** 2 / (2 * A) - A, abs=1e-12)
    t = np.linspace(-4.0, 4.0, 8001)
    for x1, n_modes in [(threshold - 0.02, 1), (threshold + 0.02, 2), (0.0, 2), (2.0, 2)]:
        dens = banana_density(x1, t)
        peaks = np.sum((dens[1:-1] > dens[:-2]) & (dens[1:-1] > dens[2:]))
        assert peaks == n_modes, (x1, peaks)
    mode = optimize.minimize_scalar(lambda t: -banana_density(0.0, t), bounds=(0.1, 3.0),
                                    method="bounded", options={"xatol": 1e-10}).x
    assert glued["ch3_kr_mode_at_0"] == pytest.approx(mode, abs=1e-6)
    below = integrate.dblquad(lambda x2, x1: banana_density(x1, x2), -8.0, threshold,
                              -12.0, 12.0, epsabs=1e-12)[0]
    assert glued["ch3_kr_one_mode_share"] == pytest.approx(below, abs=1e-6)


@pytest.mark.slow
def test_numerical_checks_are_reported_once_per_section(nb):
    """Jacobians against finite differences, round trips and densities against scipy or
    quadrature are collected per section and shown once, folded, with a plain-text fallback; a
    failing check would have stopped the page. The prose no longer repeats them."""
    expected = {"The affine autoregressive layer": 6, "The Knothe-Rosenblatt map of the banana": 3,
                "MAF against IAF": 1, "Fitting by maximum likelihood": 3, "Worked example 2": 1}
    assert_one_report_per_section(nb, expected)
    text = (ROOT / CHAPTER).read_text()
    for name in ("maf_upper", "maf_diag_err", "maf_logdet_err", "maf_roundtrip",
                 "hand_logdet_numerical", "hand_inverse_err", "kr_logp_err", "kr_upper",
                 "kr_roundtrip", "iaf_self_err", "gaussian_made_err", "dual_mass", "dual_diff",
                 "784_degree_order_err"):
        assert f"ch3_{name}" not in text, name


@pytest.mark.slow
def test_affine_layer_jacobian(glued):
    d = 5
    assert glued["ch3_nonzero_maf"] == d * (d + 1) // 2            # lower triangle
    kept, moved = 2, 3                                             # mask [1, 1, 0, 0, 0]
    assert glued["ch3_nonzero_coupling"] == kept + moved * (kept + 1)
    assert glued["ch3_nonzero_planar"] == d * d


def _brute_force_paths(degrees):
    """paths[i, j] from input j to output i, by enumerating every path through the units."""
    d = len(degrees[0])
    paths = np.zeros((d, d), dtype=int)
    for j, i in itertools.product(range(d), range(d)):
        for units in itertools.product(*[range(len(k)) for k in degrees[1:]]):
            ks = [degrees[level + 1][u] for level, u in enumerate(units)]
            chain = [degrees[0][j]] + ks
            if all(b >= a for a, b in zip(chain, chain[1:])) and i + 1 > ks[-1]:
                paths[i, j] += 1
    return paths


@pytest.mark.slow
def test_made_degrees_masks_and_perturbation(glued):
    degrees = [list(range(1, 5)), [1, 2, 3, 1, 2, 3], [1, 2, 3, 1, 2, 3]]
    assert glued["ch3_made_degrees"] == degrees
    paths = _brute_force_paths(degrees)
    assert glued["ch3_made_paths_on_or_above"] == int(np.triu(paths).sum()) == 0
    assert glued["ch3_made_paths_below_min"] == int(paths[np.tril_indices(4, -1)].min())
    assert glued["ch3_made_dependencies"] == math.comb(4, 2)
    assert glued["ch3_made_violations"] == 0
    assert glued["ch3_order_mismatches"] == 0


@pytest.mark.slow
def test_maf_and_iaf_timings(glued):
    dims = glued["ch3_timing_dims"]
    assert dims == [2, 4, 8, 16, 32, 64, 128, 256]
    t = {key: np.array(glued[f"ch3_time_{key}"]) for key in
         ("maf_log_prob", "maf_sample", "iaf_log_prob", "iaf_sample")}
    assert all(len(v) == len(dims) and np.all(v > 0) for v in t.values())
    start = dims.index(16)
    slopes = {key: np.polyfit(np.log(dims[start:]), np.log(v[start:]), 1)[0]
              for key, v in t.items()}
    for key, slope in slopes.items():
        assert glued[f"ch3_slope_{key}"] == pytest.approx(slope)
    # loose on purpose (timings on a loaded machine): the d-pass directions grow clearly faster
    assert slopes["maf_sample"] > slopes["iaf_sample"] + 0.4, slopes
    assert slopes["iaf_log_prob"] > slopes["maf_log_prob"] + 0.4, slopes
    growth = {key: v[-1] / v[start] for key, v in t.items()}      # from d = 16 to d = 256
    assert growth["maf_sample"] > 2.5 * growth["iaf_sample"], growth
    assert growth["iaf_log_prob"] > 2.5 * growth["maf_log_prob"], growth
    ratio_maf = t["maf_sample"][-1] / t["maf_log_prob"][-1]
    ratio_iaf = t["iaf_log_prob"][-1] / t["iaf_sample"][-1]
    assert glued["ch3_maf_sample_over_logprob_256"] == pytest.approx(ratio_maf)
    assert glued["ch3_iaf_logprob_over_sample_256"] == pytest.approx(ratio_iaf)
    # 256 sequential passes against one: a wide margin on any machine
    assert ratio_maf > 10 and ratio_iaf > 10
    # the text: the one-pass slopes are below the 1 of O(ndH) (the fixed cost of a call) ...
    assert slopes["maf_log_prob"] < 1.0 and slopes["iaf_sample"] < 1.0, slopes
    # ... and the ratio of the two directions grows like d, one extra power (shape, not speed)
    for key, slow, fast in [("maf", "maf_sample", "maf_log_prob"),
                            ("iaf", "iaf_log_prob", "iaf_sample")]:
        ratio = t[slow] / t[fast]
        slope = np.polyfit(np.log(dims[start:]), np.log(ratio[start:]), 1)[0]
        assert glued[f"ch3_ratio_slope_{key}"] == pytest.approx(slope)
        assert 0.6 < slope < 1.4, (key, slope)


@pytest.mark.slow
def test_iaf_scores_its_own_samples_in_one_pass(glued):
    assert glued["ch3_iaf_self_speedup"] > 1.5


def _base_kl(entropy, second_moment):
    """KL(p || N(0, I)) in 2-d = -H(p) + log(2 pi) + E|x|^2 / 2."""
    return -entropy + math.log(2 * math.pi) + 0.5 * second_moment


@pytest.mark.slow
def test_depth_lowers_the_kl_in_every_seed(glued):
    # the untrained flow is N(0, I): closed-form second moments, entropies by quadrature
    moons = nf.datasets.toy("two_moons")
    # moons: |c|^2 + 1 + 2 c.E[u] + 2 noise^2, with c.E[u] = -0.25 * 2/pi for both moons
    moons_m2 = 0.5 ** 2 + 0.25 ** 2 + 1.0 - 1.0 / math.pi + 2 * moons.noise ** 2
    gauss = nf.datasets.toy("eight_gaussians")
    gauss_m2 = gauss.radius ** 2 + 2 * gauss.sigma ** 2
    for name, toy, m2 in [("two_moons", moons, moons_m2), ("eight_gaussians", gauss, gauss_m2)]:
        assert glued[f"ch3_base_kl_{name}"] == pytest.approx(_base_kl(toy.entropy(), m2),
                                                             abs=0.05), name
        kl = np.array(glued[f"ch3_depth_kl_{name}"])            # seeds x depths (1, 2, 4, 8)
        assert kl.shape == (3, 4)
        assert np.all(kl > -0.02) and np.all(kl < glued[f"ch3_base_kl_{name}"]), kl
        means = kl.mean(axis=0)
        assert np.all(np.diff(means) < 0), (name, means)
        assert np.all(kl[:, -1] < kl[:, 0] - 0.2), (name, kl)     # 8 layers beat 1, every seed
        for k, layers in enumerate((1, 2, 4, 8)):
            assert glued[f"ch3_kl_{name}_L{layers}"] == pytest.approx(means[k])


def _one_layer_bound():
    """Best KL of one natural-order affine layer: 1/2 log(Var x1 / sigma^2) + 1/2 E log v(x1).

    p1(x1) and E[x2^2 | x1] p1(x1) by adaptive quadrature over t = x2 (scipy's quad_vec, for all
    x1 nodes at once), the expectation over x1 by composite Gauss-Legendre."""
    nodes, weights = np.polynomial.legendre.leggauss(10)
    edges = np.linspace(-3.0, 12.0, 151)
    half = 0.5 * np.diff(edges)[:, None]
    x1 = (0.5 * (edges[:-1] + edges[1:])[:, None] + half * nodes).ravel()
    w = (half * weights).ravel()

    def integrand(t):
        p = banana_density(x1, t)
        return np.concatenate([p, t * t * p])

    both = integrate.quad_vec(integrand, -12.0, 12.0, points=[0.0], epsabs=1e-13,
                              epsrel=1e-10)[0]
    p1, m2 = both[:x1.size], both[x1.size:]
    expected = np.sum(w * p1 * np.log(m2 / p1))
    return 0.5 * math.log((2 * A ** 2 + SIGMA ** 2) / SIGMA ** 2) + 0.5 * expected


def _marginal_part():
    """KL(p1 || best Gaussian) = 1/2 log(2 pi e Var x1) - H(x1), p1 by adaptive quadrature."""
    nodes, weights = np.polynomial.legendre.leggauss(10)
    edges = np.linspace(-3.0, 12.0, 151)
    half = 0.5 * np.diff(edges)[:, None]
    x1 = (0.5 * (edges[:-1] + edges[1:])[:, None] + half * nodes).ravel()
    w = (half * weights).ravel()
    p1 = integrate.quad_vec(lambda t: banana_density(x1, t), -12.0, 12.0, points=[0.0],
                            epsabs=1e-13, epsrel=1e-10)[0]
    entropy = -np.sum(w * p1 * np.log(p1))
    return 0.5 * math.log(2 * math.pi * math.e * (2 * A ** 2 + SIGMA ** 2)) - entropy


@pytest.mark.slow
def test_one_layer_in_the_wrong_order_sits_at_its_bound(glued):
    bound = _one_layer_bound()
    assert glued["ch3_banana_kl_bound"] == pytest.approx(bound, abs=2e-4)
    marginal = _marginal_part()
    assert glued["ch3_banana_kl_marginal"] == pytest.approx(marginal, abs=2e-4)
    assert glued["ch3_banana_kl_conditional"] == pytest.approx(bound - marginal, abs=3e-4)
    assert 0.0 < marginal < bound - marginal           # both parts count, the conditional more
    natural, reversed_ = glued["ch3_banana_kl_natural"], glued["ch3_banana_kl_reversed"]
    assert len(natural) == len(reversed_) == 3
    for kl in natural:             # quadrature scores: at the bound, never below it
        assert bound - 1e-3 < kl < bound + 0.01, (kl, bound)
    assert glued["ch3_banana_gap_max"] == pytest.approx(max(abs(k - bound) for k in natural))
    assert glued["ch3_banana_gap_max"] < 0.01
    assert max(reversed_) < 0.1                # ... the reversed one gets close to 0
    assert np.mean(natural) - np.mean(reversed_) > 0.4
    assert glued["ch3_banana_kl_natural_mean"] == pytest.approx(np.mean(natural))
    assert glued["ch3_banana_kl_reversed_mean"] == pytest.approx(np.mean(reversed_))
    # untrained: KL(p || N(0, I)) with H = H(x2) + H(x1 | x2), E|x|^2 = 1 + 2a^2 + sigma^2
    entropy = 0.5 * math.log(2 * math.pi * math.e) * 2 + math.log(SIGMA)
    base = _base_kl(entropy, 1.0 + 2 * A ** 2 + SIGMA ** 2)
    assert glued["ch3_banana_base_kl"] == pytest.approx(base, abs=1e-6)


@pytest.mark.slow
def test_kl_in_x_equals_kl_in_z(glued):
    """The natural-order layer of seed 0 scored in x (quadrature around the banana) and in z
    (the data pushed through f^-1, on its own grid): the same KL, as the text derives."""
    assert glued["ch3_dual_kl_x"] == glued["ch3_banana_kl_natural"][0]
    assert glued["ch3_dual_kl_z"] == pytest.approx(glued["ch3_dual_kl_x"], abs=1e-4)


@pytest.mark.slow
def test_density_distillation(glued):
    to_teacher, to_banana = glued["ch3_distill_kl_teacher"], glued["ch3_distill_kl_banana"]
    assert len(to_teacher) == len(to_banana) == 3                       # three seeds
    assert glued["ch3_distill_kl_teacher_max"] == max(to_teacher)
    assert all(-0.005 < kl < 0.01 for kl in to_teacher), to_teacher     # Monte Carlo: near 0
    teacher = glued["ch3_distill_teacher_kl"]
    assert teacher == glued["ch3_banana_kl_reversed"][0]
    # the text: the students, fitted to the teacher only, stay above the teacher's KL to the data
    assert all(teacher < kl < 0.2 for kl in to_banana), (teacher, to_banana)
    assert glued["ch3_distill_kl_banana_min"] == min(to_banana)
    assert glued["ch3_distill_kl_banana_max"] == max(to_banana)


@pytest.mark.slow
def test_hand_worked_example(glued):
    x1 = 0.5 * math.exp(0.0) + 1.0
    x2 = -1.0 * math.exp(x1 - 1.0) + 2.0 * x1
    mu3 = x2 - x1
    x3 = 2.0 * math.exp(-0.5 * x1) + mu3
    assert glued["ch3_hand_x"] == pytest.approx([x1, x2, x3], abs=1e-12)
    assert glued["ch3_hand_x2"] == pytest.approx(3.0 - math.exp(0.5), abs=1e-12)
    assert glued["ch3_hand_mu3"] == pytest.approx(mu3, abs=1e-12)
    assert glued["ch3_hand_x3"] == pytest.approx(x3, abs=1e-12)
    assert glued["ch3_hand_logdet"] == pytest.approx(0.0 + 0.5 - 0.75, abs=1e-12)


@pytest.mark.slow
def test_cost_of_sampling_784_pixels(glued):
    d, h = 784, 1024
    per_pass = d * h + h * h + h * 2 * d
    assert glued["ch3_784_pass_madds"] == per_pass
    assert glued["ch3_784_sample_madds"] == pytest.approx(d * per_pass)
    assert glued["ch3_784_sample_passes"] == d
    assert glued["ch3_784_density_passes"] == 1
    assert glued["ch3_784_time_ratio"] > 20                 # 784 passes against 1
    # each hidden unit once, in degree order: the connections the masks keep. Degrees cycle
    # through 1..d-1; a unit of degree k sees k inputs, or the units of degree <= k before it;
    # output i sees the units of degree < i (for mu and for alpha)
    hidden = 1 + np.arange(h) % (d - 1)
    below_or_equal = np.array([np.sum(hidden <= k) for k in range(d + 1)])
    into_first = int(hidden.sum())
    into_second = int(below_or_equal[hidden].sum())
    into_outputs = 2 * int(sum(below_or_equal[i - 1] for i in range(1, d + 1)))
    masked = into_first + into_second + into_outputs
    assert glued["ch3_784_masked_madds"] == masked == 1_794_576
    assert glued["ch3_784_masked_fraction"] == pytest.approx(masked / per_pass)
    # the degree-order sampler: the same samples, and less work (a generous margin: on any
    # machine it skips most of 784 dense passes)
    assert glued["ch3_784_degree_order_speedup"] > 1.5
    # the small MAF (784 inputs, 64 hidden units): 784 dense passes against the masks' ones
    small_hidden = np.round(np.linspace(1, d - 1, 64)).astype(int)   # spread: 64 < d - 1
    small_dense = d * 64 + 64 * 2 * d
    small_masked = int(small_hidden.sum()) + 2 * int(sum(np.sum(small_hidden < i)
                                                         for i in range(1, d + 1)))
    assert glued["ch3_784_small_madds_ratio"] == pytest.approx(d * small_dense / small_masked)
    # the text: the speed-up is far below the saving in arithmetic (sequential steps dominate)
    assert glued["ch3_784_degree_order_speedup"] < glued["ch3_784_small_madds_ratio"] / 10


@pytest.mark.slow
def test_pitfalls(glued):
    assert glued["ch3_exp50"] == pytest.approx(math.exp(50.0))
    assert 2.9 < glued["ch3_clamp_max_alpha"] <= 3.0
    assert glued["ch3_clamp_max_raw"] > 10.0
    # with >= into the outputs, output i sees x_i whenever a hidden unit has degree >= i;
    # hidden degrees reach d - 1 = 3, so outputs 1, 2, 3 leak and output 4 cannot
    assert glued["ch3_leak_self"] == 3
    assert glued["ch3_leak_logdet_err"] > 0.01
    assert glued["ch3_direction_mass_right"] == pytest.approx(1.0, abs=1e-3)
    assert abs(glued["ch3_direction_mass_flipped"] - 1.0) > 0.05
    assert glued["ch3_direction_swapped_kl"] > 1.0          # a KL: positive, and here large


@pytest.mark.slow
def test_practice_answers(glued):
    assert glued["ch3_practice_const_logdet"] == pytest.approx(0.1 + 0.2 - 0.4, abs=1e-12)
    assert glued["ch3_practice_gauss_logdet"] == pytest.approx(-0.5 * math.log(1 - 0.64))
    assert glued["ch3_practice_chol22"] == pytest.approx(math.sqrt(1 - 0.64))
    assert glued["ch3_practice_mask_in"] == 1 + 2 + 3
    assert glued["ch3_practice_mask_out"] == 0 + 1 + 2 + 3


@pytest.mark.slow
def test_interactive_figure_works_without_a_kernel(nb, glued):
    from test_chapter01 import animation_frame_counts

    assert animation_frame_counts(nb) == [13]          # after 0, 1, ..., 12 passes
    assert glued["ch3_series_pass_err"] == 0.0
    assert "font-awesome" not in "\n".join(nb.html_outputs()).lower()


# ---- nflib.course.ch03_autoregressive -----------------------------------------------------------

def test_banana_density_is_normalised_and_matches_its_samples():
    banana = c3.SidewaysBanana(A, SIGMA)
    mass = integrate.dblquad(lambda x2, x1: math.exp(banana.log_prob([[x1, x2]])[0]),
                             -4.0, 20.0, -6.0, 6.0, epsabs=1e-10)[0]
    assert mass == pytest.approx(1.0, abs=1e-6)
    x = np.array([[0.3, -1.2], [2.0, 1.9]])
    np.testing.assert_allclose(np.exp(banana.log_prob(x)), banana_density(x[:, 0], x[:, 1]))
    s = banana.sample(50_000, np.random.default_rng(0))
    assert np.var(s[:, 0]) == pytest.approx(2 * A ** 2 + SIGMA ** 2, rel=0.05)
    assert np.mean(s[:, 1] ** 2) == pytest.approx(1.0, rel=0.03)


def test_banana_cdfs_and_knothe_rosenblatt_map():
    banana = c3.SidewaysBanana(A, SIGMA)
    for x1 in (-0.4, 0.7, 3.0):
        assert banana.marginal_x1([x1])[0] == pytest.approx(banana_marginal(x1), rel=1e-7)
    x = banana.sample(40, np.random.default_rng(1))
    z = banana.kr_forward(x)
    jac = numerical_jacobian(banana.kr_forward, x, eps=1e-5)
    assert np.all(jac[:, 0, 1] == 0) and np.all(jac[:, [0, 1], [0, 1]] > 0)
    log_det = np.linalg.slogdet(jac)[1]
    np.testing.assert_allclose(stats.norm.logpdf(z).sum(axis=1) + log_det, banana.log_prob(x),
                               atol=1e-5)
    np.testing.assert_allclose(banana.kr_inverse(z), x, atol=1e-9)
    with pytest.raises(ValueError, match="sigma"):
        c3.SidewaysBanana(sigma=0.0)
    with pytest.raises(ValueError, match="2 columns"):
        banana.kr_forward(np.zeros((3, 3)))


def test_hand_maf_computes_the_stated_conditioners():
    maf = c3.hand_maf()
    x = np.random.default_rng(2).standard_normal((20, 3)) * 2
    mu, alpha = maf.made(x)
    mu_want, alpha_want = c3.hand_mu_alpha(x)
    np.testing.assert_allclose(mu, mu_want, atol=1e-12)
    np.testing.assert_allclose(alpha, alpha_want, atol=1e-12)


def test_volatility_maf_is_the_stated_time_series():
    d = 8
    maf = c3.volatility_maf(d, phi=0.9, gain=0.8)
    x = np.random.default_rng(3).standard_normal((10, d))
    mu, alpha = maf.made(x)
    np.testing.assert_allclose(mu[:, 0], 0.0)
    np.testing.assert_allclose(mu[:, 1:], 0.9 * x[:, :-1], atol=1e-12)
    np.testing.assert_allclose(alpha[:, 1:], np.tanh(0.8 * x[:, :-1]), atol=1e-12)
    z = np.random.default_rng(4).standard_normal((5, d))
    series, _ = maf.forward(z)
    np.testing.assert_allclose(series[:, 1:], z[:, 1:] * np.exp(np.tanh(0.8 * series[:, :-1]))
                               + 0.9 * series[:, :-1], atol=1e-12)


def test_banana_kl_by_quadrature():
    banana = c3.SidewaysBanana(A, SIGMA)
    assert banana.kl_from(banana.log_prob) == 0.0
    entropy = 0.5 * math.log(2 * math.pi * math.e) * 2 + math.log(SIGMA)
    want = _base_kl(entropy, 1.0 + 2 * A ** 2 + SIGMA ** 2)
    assert banana.kl_from(nf.StandardNormal(2).log_prob) == pytest.approx(want, abs=1e-9)
    # a Gaussian with the banana's moments: KL = -H(p) + H(q) (moment matching, closed form)
    cov = np.diag([2 * A ** 2 + SIGMA ** 2, 1.0])
    gauss = stats.multivariate_normal(np.zeros(2), cov)
    want = -entropy + gauss.entropy()
    assert banana.kl_from(gauss.logpdf) == pytest.approx(want, abs=1e-8)


@pytest.mark.parametrize("hidden, activation", [((8,), "tanh"), ((6, 5), "relu"),
                                                ((12, 12, 7), "tanh")])
def test_degree_order_sample_is_the_maf_forward(hidden, activation):
    rng = np.random.default_rng(4)
    maf = nf.MAF(5, hidden, rng=rng, activation=activation)
    for p in maf.parameters().values():
        p += 0.5 * rng.standard_normal(p.shape)
    z = rng.standard_normal((7, 5))
    x, log_det = c3.degree_order_sample(maf, z)
    x_want, log_det_want = maf.forward(z)
    np.testing.assert_allclose(x, x_want, atol=1e-12)
    np.testing.assert_allclose(log_det, log_det_want, atol=1e-12)
    with pytest.raises(ValueError, match="natural order"):
        c3.degree_order_sample(nf.MAF(3, (4,), rng=rng, order=[2, 0, 1]), z[:, :3])


def test_made_multiply_adds_and_cpu_median():
    made = nf.MADE(6, (10, 7), rng=np.random.default_rng(0))
    assert c3.made_multiply_adds(made) == 6 * 10 + 10 * 7 + 7 * 12
    assert c3.made_masked_multiply_adds(made) == sum(int(m.sum()) for m in made.masks)
    assert c3.cpu_median(lambda: sum(range(1000)), repeat=3, number=2) >= 0.0


def test_quiz_states_the_quadrature_bound():
    """The quiz question on orderings quotes the bound ("about 0.65 nats"): recompute it."""
    import json

    from nflib.course.quiz import QUIZ_DIR

    questions = json.loads((QUIZ_DIR / "03_autoregressive_flows.json").read_text())
    text = next(q["question"] for q in questions if q["id"] == "03-wrong-order")
    assert "about $0.65$ nats" in text
    assert round(_one_layer_bound(), 2) == 0.65


# ---- learning objectives, quiz feedback -------------------------------------------------------

#: learning objective (its number in the list) -> the worked examples and practice (page labels)
#: and quiz questions (ids) that exercise it
OBJECTIVES = {
    1: {"labels": ["ch3-affine-def", "ch3-ex-hand"],
        "quiz": ["03-hand-logdet", "03-inverse-logdet", "03-soft-clamp"]},
    2: {"labels": ["ch3-kr", "ch3-practice"], "quiz": ["03-kr-diagonal"]},
    3: {"labels": ["ch3-degrees", "ex-03-masks", "ex-03-autoregressive"],
        "quiz": ["03-mask-output-rule", "03-hidden-degree"]},
    4: {"labels": ["ch3-directions", "ch3-ex-784", "ch3-distill"],
        "quiz": ["03-maf-one-pass", "03-iaf-own-samples", "03-passes-784", "03-which-job"]},
    5: {"labels": ["ch3-depth", "ch3-wrong-order", "ch3-duality", "ex-03-log-prob"],
        "quiz": ["03-wrong-order", "03-kl-duality"]},
}


def _quiz():
    import json

    from nflib.course.quiz import QUIZ_DIR

    return {q["id"]: q for q in
            json.loads((QUIZ_DIR / "03_autoregressive_flows.json").read_text())}


def test_every_learning_objective_is_exercised():
    text = (ROOT / CHAPTER).read_text()
    section = text.split("## Learning objectives", 1)[1].split("```{code-cell}", 1)[0]
    numbers = [int(n) for n in re.findall(r"^(\d+)\. ", section, re.MULTILINE)]
    assert numbers == sorted(OBJECTIVES), numbers
    exercises = (ROOT / "exercises" / "03_autoregressive_flows.md").read_text()
    labels = set(re.findall(r"^\(([\w-]+)\)=$", text, re.MULTILINE))
    labels |= set(re.findall(r"^:label: (ex-03-[\w-]+)$", exercises, re.MULTILINE))
    quiz = _quiz()
    for number, targets in OBJECTIVES.items():
        assert targets["quiz"], number                 # each objective has a quiz question
        assert set(targets["labels"]) <= labels, (number, set(targets["labels"]) - labels)
        assert set(targets["quiz"]) <= set(quiz), (number, set(targets["quiz"]) - set(quiz))
    # every quiz question serves some objective
    assert set(quiz) == {q for t in OBJECTIVES.values() for q in t["quiz"]}


def test_hand_logdet_quiz_names_the_mistake():
    """The worked example's MAF at z = 0: the right answer, and the hint for each typical slip,
    each computed by making the slip."""
    from nflib.course import quiz as quiz_module
    from nflib.course.ch03_autoregressive import hand_mu_alpha

    question = _quiz()["03-hand-logdet"]

    def log_det(x1):
        _, alpha = hand_mu_alpha(np.array([[x1, 0.0, 0.0]]))
        return float(alpha.sum())                     # alpha depends on x1 only

    mu1, alpha1, z1 = 1.0, 0.0, 0.0
    right = log_det(z1 * math.exp(alpha1) + mu1)      # x1 = 1
    inverse_formula = log_det((z1 - mu1) * math.exp(-alpha1))   # x1 = -1
    on_z = log_det(z1)                                # conditioners evaluated at z
    assert (right, inverse_formula, on_z) == (-0.5, -1.5, -1.0)
    correct, feedback = quiz_module.grade_numeric(question, right)
    assert correct
    correct, feedback = quiz_module.grade_numeric(question, inverse_formula)
    assert not correct and "density direction" in feedback and "= -1$" in feedback
    correct, feedback = quiz_module.grade_numeric(question, on_z)
    assert not correct and "at $x_1 = z_1 = 0$" in feedback
    correct, feedback = quiz_module.grade_numeric(question, 0.5)
    assert not correct and "inverse map" in feedback


def test_wrong_order_quiz_splits_the_bound():
    feedback = next(a["feedback"] for a in _quiz()["03-wrong-order"]["answers"] if a["correct"])
    marginal = _marginal_part()
    conditional = _one_layer_bound() - marginal
    assert f"${marginal:.2f}$ nats" in feedback and f"${conditional:.2f}$" in feedback, (
        feedback, marginal, conditional)
