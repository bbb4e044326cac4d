"""The toy data sets' exact densities and entropies, and the digits with dequantisation and bpd."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import integrate
from scipy.special import i0e

from nflib import datasets
from nflib.datasets import log_arc_integral

TOYS = list(datasets.TOYS)
#: one instance per toy for the whole module, so each entropy is computed once
_INSTANCES = {name: datasets.toy(name) for name in TOYS}


@pytest.fixture(params=TOYS)
def toy(request):
    return _INSTANCES[request.param]


def _midpoint_grid(lo, hi, h):
    """Cell centres of a square grid on [lo, hi]^2 with spacing h (never on a checkerboard edge)."""
    t = np.arange(lo + h / 2, hi, h)
    xx, yy = np.meshgrid(t, t, indexing="ij")
    return t, np.stack([xx.ravel(), yy.ravel()], axis=1)


# ---- densities -------------------------------------------------------------------------------

def test_density_integrates_to_one(toy):
    h = 0.02
    _, grid = _midpoint_grid(-4.0, 4.0, h)
    total = np.exp(toy.log_prob(grid)).sum() * h * h
    assert abs(total - 1.0) < 1e-3, total


def test_sample_histogram_agrees_with_density(toy):
    rng = np.random.default_rng(0)
    n, edges = 200_000, np.linspace(-3.0, 3.0, 31)
    counts, _, _ = np.histogram2d(*toy.sample(n, rng).T, bins=[edges, edges])
    # expected counts: the density integrated over each bin by a 6 x 6 midpoint rule
    sub = 6
    width = edges[1] - edges[0]
    t = (edges[:-1, None] + (np.arange(sub) + 0.5) * width / sub).ravel()
    xx, yy = np.meshgrid(t, t, indexing="ij")
    p = np.exp(toy.log_prob(np.stack([xx.ravel(), yy.ravel()], axis=1))).reshape(xx.shape)
    k = edges.size - 1
    expected = n * p.reshape(k, sub, k, sub).sum(axis=(1, 3)) * (width / sub) ** 2
    assert abs(counts.sum() - expected.sum()) < 5 * np.sqrt(n) + 1e-3 * n
    z = (counts - expected) / np.sqrt(np.maximum(expected, 1.0))
    assert np.max(np.abs(z[expected > 25])) < 6.0
    assert counts[expected == 0].sum() == 0   # nothing where the density is zero


def test_entropy_matches_monte_carlo(toy):
    rng = np.random.default_rng(1)
    logp = toy.log_prob(toy.sample(200_000, rng))
    se = logp.std() / np.sqrt(logp.size)
    assert abs(-logp.mean() - toy.entropy()) < 5 * se + 1e-12


def test_entropy_matches_grid_integral():
    """An independent check of the quadrature entropies: -sum p log p on a fine grid."""
    h = 0.02  # the midpoint rule converges exponentially fast for these smooth integrands
    _, grid = _midpoint_grid(-3.5, 3.5, h)
    for name in ("two_moons", "eight_gaussians", "rings"):
        t = _INSTANCES[name]
        logp = t.log_prob(grid)
        grid_entropy = -np.sum(np.exp(logp) * logp) * h * h
        assert abs(grid_entropy - t.entropy()) < 2e-5, (name, grid_entropy, t.entropy())
    assert datasets.Checkerboard().entropy() == pytest.approx(np.log(8.0), abs=1e-15)
    assert datasets.Checkerboard(size=0.5).entropy() == pytest.approx(np.log(2.0), abs=1e-15)


def test_checkerboard_is_piecewise_uniform():
    board = datasets.Checkerboard()
    inside = np.array([[-1.5, -1.5], [-0.5, -0.5], [0.5, -1.5], [1.5, 1.5], [-2.0, -2.0]])
    outside = np.array([[-0.5, -1.5], [0.5, -0.5], [2.5, 0.0], [0.0, 3.0], [1e6, -1e6]])
    np.testing.assert_array_equal(board.log_prob(inside), -np.log(8.0))
    np.testing.assert_array_equal(board.log_prob(outside), -np.inf)


def _reference_log_arc(kappa, a, length):
    """log int_a^{a+length} exp(kappa (cos u - 1)) du by adaptive quadrature (scipy.quad)."""
    multiples = [k * np.pi for k in range(-3, 6) if a < k * np.pi < a + length]
    peaks = [k * 2 * np.pi for k in range(-2, 3) if a <= k * 2 * np.pi <= a + length]
    top = 1.0 if peaks else max(np.cos(a), np.cos(a + length))
    value, _ = integrate.quad(lambda u: np.exp(kappa * (np.cos(u) - top)), a, a + length,
                              points=multiples or None, epsabs=0, epsrel=1e-12, limit=400)
    return np.log(value) + kappa * (top - 1.0)


def test_arc_quadrature_against_adaptive_quadrature():
    rng = np.random.default_rng(2)
    kappa = 10.0 ** rng.uniform(-3, 4.5, 150)
    a = rng.uniform(-np.pi, np.pi, 150)
    for length in (np.pi, 2 * np.pi, 1.0):
        got = log_arc_integral(kappa, a, length)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # quad may warn that 1e-12 is beyond reach
            ref = np.array([_reference_log_arc(k, s, length) for k, s in zip(kappa, a)])
        # relative error of the integral (not of its log) below 1e-8
        assert np.max(np.abs(np.expm1(got - ref))) < 1e-8


def test_full_circle_quadrature_equals_bessel_closed_form():
    kappa = np.array([0.0, 1e-3, 0.5, 3.0, 40.0, 700.0, 1e5, 1e8])
    a = np.linspace(-3.0, 3.0, kappa.size)
    error = np.abs(log_arc_integral(kappa, a, 2 * np.pi) - np.log(2 * np.pi * i0e(kappa)))
    assert np.all(error[:-1] < 1e-10) and error[-1] < 1e-7, error   # rounding ~ kappa * 1e-16


def test_moon_density_is_the_average_of_two_arc_densities():
    """Compare with direct adaptive quadrature of the defining integral, at points near the
    tips of the moons, on them, between them and far away."""
    moons = datasets.TwoMoons(noise=0.1)
    x = np.array([[0.5, -0.25], [1.45, -0.2], [-1.1, 0.1], [0.0, 0.9], [2.0, 1.0]])

    def direct(p):
        total = 0.0
        for c, t0 in zip(moons.centers, moons.starts):
            def f(t, c=c):
                sq = (p[0] - c[0] - np.cos(t)) ** 2 + (p[1] - c[1] - np.sin(t)) ** 2
                return np.exp(-sq / (2 * 0.01)) / (2 * np.pi * 0.01) / np.pi

            total += 0.5 * integrate.quad(f, t0, t0 + np.pi, epsabs=0, epsrel=1e-12, limit=200)[0]
        return np.log(total)

    np.testing.assert_allclose(moons.log_prob(x), [direct(p) for p in x], rtol=1e-9)


def test_extreme_inputs_give_finite_or_minus_inf(toy):
    values = np.array([-1e6, -1e3, -1.0, 0.0, 1e-300, 1.0, 1e3, 1e6])
    x = np.stack(np.meshgrid(values, values), axis=-1).reshape(-1, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        logp = toy.log_prob(x)
    assert not np.any(np.isnan(logp)) and np.all(logp < np.inf)
    assert np.all(np.isfinite(logp) | (logp == -np.inf))


def test_bad_inputs_raise(toy):
    with pytest.raises(ValueError, match="shape"):
        toy.log_prob(np.zeros(2))
    with pytest.raises(ValueError, match="columns"):
        toy.log_prob(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        toy.log_prob(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match=">= 0"):
        toy.sample(-1, np.random.default_rng(0))


def test_bad_settings_raise():
    for make, message in [(lambda: datasets.toy("spirals"), "unknown toy"),
                          (lambda: datasets.TwoMoons(noise=0.0), "noise"),
                          (lambda: datasets.EightGaussians(sigma=-1.0), "sigma"),
                          (lambda: datasets.Rings(radii=(1.0, -2.0)), "radii"),
                          (lambda: datasets.Checkerboard(size=np.inf), "size"),
                          (lambda: log_arc_integral(1.0, 0.0, 7.0), "arc length")]:
        with pytest.raises(ValueError, match=message):
            make()


def test_kl_helpers():
    moons = _INSTANCES["two_moons"]
    kl, se = moons.kl_divergence(moons.log_prob, 1000, np.random.default_rng(3))
    assert kl == 0.0 and se == 0.0
    assert moons.kl_from_nll(moons.entropy() + 0.25) == pytest.approx(0.25, abs=1e-12)


def test_samplers_are_seeded(toy):
    a = toy.sample(5, np.random.default_rng(4))
    b = toy.sample(5, np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (5, 2) and a.dtype == np.float64


# ---- digits ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pixels():
    pytest.importorskip("sklearn", reason="the digits ship with scikit-learn (nflib[digits])")
    return datasets.load_digits()


def test_digits_shapes_and_levels(pixels):
    images, labels = pixels
    assert images.shape == (1797, 1, 8, 8) and labels.shape == (1797,)
    assert images.dtype == np.float64
    assert set(np.unique(images)) <= set(range(datasets.LEVELS))
    assert images.max() == datasets.LEVELS - 1
    flat, _ = datasets.load_digits(flatten=True)
    np.testing.assert_array_equal(flat, images.reshape(1797, 64))


def test_dequantisation_stays_in_the_pixel_bin(pixels):
    images, _ = pixels
    x = datasets.dequantize(images, np.random.default_rng(5))
    assert x.shape == images.shape and np.all((x >= 0) & (x < 1))
    np.testing.assert_array_equal(np.floor(datasets.LEVELS * x), images)
    x_flat, _ = datasets.digits(np.random.default_rng(5))
    np.testing.assert_array_equal(x_flat, x.reshape(1797, 64))


def test_dequantize_rejects_non_pixels():
    rng = np.random.default_rng(0)
    for bad in (np.array([0.5]), np.array([17.0]), np.array([-1.0]), np.array([np.nan])):
        with pytest.raises(ValueError, match="pixels"):
            datasets.dequantize(bad, rng)


def test_uniform_model_has_the_offset_as_bpd():
    assert datasets.bpd_offset() == np.log2(17)
    assert datasets.bits_per_dim(0.0, 64) == np.log2(17)
    with pytest.raises(ValueError, match="d must"):
        datasets.bits_per_dim(1.0, 0)


def test_bpd_of_a_binned_model_equals_its_discrete_bits(pixels):
    """A density that is constant on each pixel bin, p_X(x) = prod_j 17 P_j(floor(17 x_j)),
    makes the dequantisation bound tight: its bpd equals the discrete code length of the
    pixels under P, -mean sum_j log2 P_j(pixel_j) / 64, exactly."""
    images, _ = pixels
    k = images.reshape(-1, 64).astype(int)
    counts = np.stack([np.bincount(k[:, j], minlength=17) for j in range(64)]) + 0.5
    prob = counts / counts.sum(axis=1, keepdims=True)                     # P_j(level), (64, 17)
    discrete_bits = -np.mean(np.log2(prob[np.arange(64), k]).sum(axis=1)) / 64

    x = datasets.dequantize(k, np.random.default_rng(6))
    bins = np.floor(17 * x).astype(int)
    log_px = np.log(17 * prob[np.arange(64), bins]).sum(axis=1)
    bpd = datasets.bits_per_dim(-log_px.mean(), 64)
    assert bpd == pytest.approx(discrete_bits, abs=1e-12)
    assert bpd < datasets.bpd_offset()


def test_bits_per_dim_is_a_python_float():
    # a numpy scalar prints as np.float64(...), which breaks text that formats the value
    value = datasets.bits_per_dim(np.float64(-80.0), 64)
    assert type(value) is float
    assert value == pytest.approx(-80.0 / (64 * np.log(2)) + np.log2(17), abs=1e-12)
