"""Invertible residual blocks (nflib.residual): spectral normalisation by power iteration, the
Lipschitz bound it buys, the Banach fixed-point inverse and its rate, and the log-determinant
estimators against the exact value (the truncated power series is biased, Russian roulette is
not). The generic bijection tests run on the block through tests/bijection_registry.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nflib as nf
from nflib.residual import log_det_roulette, log_det_series, spectral_norm


def _block(seed=0, d=3, hidden=(8,), lipschitz=0.9, scale=0.5):
    rng = np.random.default_rng(seed)
    block = nf.ResidualBlock(d, hidden, rng=rng, lipschitz=lipschitz)
    for p in block.parameters().values():
        p += scale * rng.standard_normal(p.shape)
    return block


def _eig_log_det(J):
    """log det(I + J) from the eigenvalues of J (an independent route to the same number)."""
    return float(np.sum(np.log(np.abs(1.0 + np.linalg.eigvals(J)))))


def test_power_iteration_finds_the_largest_singular_value():
    rng = np.random.default_rng(1)
    for shape in [(3, 8), (8, 3), (5, 5)]:
        W = rng.standard_normal(shape)
        sigma, _, estimates = spectral_norm(W)
        true = np.linalg.svd(W, compute_uv=False)[0]
        assert sigma == pytest.approx(true, rel=1e-12)
        assert all(e <= true * (1 + 1e-12) for e in estimates)           # from below
        assert all(b >= a * (1 - 1e-12) for a, b in zip(estimates, estimates[1:]))
    assert spectral_norm(np.zeros((2, 3)))[0] == 0.0


@pytest.mark.parametrize("lipschitz", [0.5, 0.9, 0.99])
def test_spectral_normalisation_bounds_the_lipschitz_constant(lipschitz):
    block = _block(2, lipschitz=lipschitz, scale=2.0)
    norms = [np.linalg.norm(W, 2) for W in block.normalised_weights()]
    assert np.prod(norms) <= lipschitz * (1 + 1e-12)
    z = 3 * np.random.default_rng(3).standard_normal((200, 3))
    assert np.max(np.linalg.norm(block.jacobian(z), 2, axis=(1, 2))) <= lipschitz * (1 + 1e-12)
    # small weights are left alone: normalisation only ever shrinks
    small = nf.ResidualBlock(3, (4,), rng=np.random.default_rng(4), lipschitz=lipschitz)
    for W in small.weights:
        W *= 1e-3
    for W, V in zip(small.weights, small.normalised_weights()):
        np.testing.assert_array_equal(W, V)


def test_jacobian_and_jvp_agree_with_finite_differences():
    block = _block(5, d=4, hidden=(6, 5))
    z = np.random.default_rng(6).standard_normal((5, 4))
    numeric = nf.checks.numerical_jacobian(lambda v: block.g(v)[0], z)
    np.testing.assert_allclose(block.jacobian(z), numeric, atol=1e-8)
    v = np.random.default_rng(7).standard_normal((5, 3, 4))
    np.testing.assert_allclose(block.jvp(z, v), np.einsum("nab,nmb->nma", numeric, v), atol=1e-8)


def test_fixed_point_inverse_contracts_at_the_lipschitz_rate():
    block = _block(8, lipschitz=0.8)
    z = np.random.default_rng(9).standard_normal((20, 3))
    x = block.forward(z)[0]
    path, _ = block.fixed_point(x, 30)
    errors = np.array([np.max(np.abs(p - z), axis=1) for p in path])   # (31, n)
    k = np.arange(31)[:, None]
    assert np.all(errors <= 0.8 ** k * errors[0] * (1 + 1e-9) + 1e-14)
    z_back, steps = block.fixed_point(x)
    assert np.max(np.abs(z_back - z)) <= 1e-12 and steps < 2000


def test_exact_log_det_is_the_eigenvalue_sum():
    block = _block(10)
    z = np.random.default_rng(11).standard_normal((6, 3))
    _, log_det = block.forward(z)
    for i, J in enumerate(block.jacobian(z)):
        assert log_det[i] == pytest.approx(_eig_log_det(J), abs=1e-12)


def test_series_with_exact_traces_is_the_truncated_eigenvalue_series():
    block = _block(12)
    z = np.random.default_rng(13).standard_normal((4, 3))
    exact = block.forward(z)[1]
    lam = np.linalg.eigvals(block.jacobian(z))                            # (n, d)
    for n_terms in (1, 2, 5):
        k = np.arange(1, n_terms + 1)
        by_eig = np.real(np.sum((-1.0) ** (k + 1) * lam[..., None] ** k / k, axis=(1, 2)))
        np.testing.assert_allclose(log_det_series(block, z, n_terms), by_eig, atol=1e-12)
    np.testing.assert_allclose(log_det_series(block, z, 200), exact, atol=1e-10)


def test_hutchinson_series_is_unbiased_for_the_truncated_sum_only():
    block = nf.ResidualBlock(2, (8,), rng=np.random.default_rng(99), lipschitz=0.9)
    m = 40_000
    z = np.zeros((m, 2))
    probes = np.random.default_rng(14).choice([-1.0, 1.0], size=(m, 2))
    est = log_det_series(block, z, 3, probes)
    se = est.std(ddof=1) / math.sqrt(m)
    truncated = log_det_series(block, z[:1], 3)[0]
    exact = block.forward(z[:1])[1][0]
    assert abs(est.mean() - truncated) < 4 * se
    assert abs(est.mean() - exact) > 5 * se                               # the bias shows


@pytest.mark.parametrize("with_probes", [False, True])
def test_russian_roulette_is_unbiased(with_probes):
    block = nf.ResidualBlock(2, (8,), rng=np.random.default_rng(99), lipschitz=0.9)
    m = 40_000
    z = np.zeros((m, 2))
    probes = (np.random.default_rng(15).choice([-1.0, 1.0], size=(m, 2))
              if with_probes else None)
    est, N = log_det_roulette(block, z, np.random.default_rng(16), p=0.25, probes=probes)
    se = est.std(ddof=1) / math.sqrt(m)
    exact = block.forward(z[:1])[1][0]
    assert abs(est.mean() - exact) < 4 * se
    assert N.min() >= 1 and N.mean() == pytest.approx(4.0, rel=0.05)     # E N = 1 / p


def test_russian_roulette_formula_for_one_draw():
    """With N drawn, the estimate is sum_{k<=N} (-1)^(k+1) tr(J^k) / (k (1 - p)^(k-1))."""
    block = _block(17)
    z = np.random.default_rng(18).standard_normal((3, 3))
    p = 0.4
    est, N = log_det_roulette(block, z, np.random.default_rng(19), p=p)
    assert np.array_equal(N, np.random.default_rng(19).geometric(p, size=3))
    for i, J in enumerate(block.jacobian(z)):
        want = sum((-1) ** (k + 1) * np.trace(np.linalg.matrix_power(J, k)) / (k * (1 - p) ** (k - 1))
                   for k in range(1, N[i] + 1))
        assert est[i] == pytest.approx(want, abs=1e-12)


def test_block_has_no_gradient_and_bad_settings_raise():
    block = _block(20)
    assert block.trained_directions == ()
    rng = np.random.default_rng(0)
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="lipschitz"):
            nf.ResidualBlock(2, (4,), rng=rng, lipschitz=bad)
    with pytest.raises(ValueError, match="p must"):
        log_det_roulette(block, np.zeros((1, 3)), rng, p=1.0)
    with pytest.raises(ValueError, match="columns"):
        log_det_series(block, np.zeros((1, 2)), 3)
