"""nflib.dequantization: the variational dequantiser q(u | k), the dequantisation bound and its
hand-written gradients, and the importance-weighted estimate of the discrete likelihood."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, special, stats

import nflib as nf
from nflib import checks
from nflib.dequantization import (VariationalDequantizer, dequantized_bound,
                                  dequantized_nll_and_grad, fit_dequantized, iw_log_prob)
from bijection_registry import perturbed

TOL = 1e-6


def _model(d, rng):
    """A small flow on the box (coupling, then an elementwise affine map), moved off the identity."""
    layers = [nf.Affine(d)] if d == 1 else [nf.AffineCoupling(np.arange(d) % 2, (8,), rng=rng),
                                             nf.Affine(d)]
    return perturbed(nf.Flow(nf.StandardNormal(d), nf.Compose(layers)), rng, 0.2)


def _dequantizer(d, levels, rng, scale=0.3):
    return perturbed(VariationalDequantizer(d, levels, n_layers=3, hidden=(8,), rng=rng), rng,
                     scale)


def _pixels(n, d, levels, rng):
    return rng.integers(0, levels, (n, d)).astype(float)


# ---- gradients ----------------------------------------------------------------------------------

@pytest.mark.parametrize("variational", [False, True], ids=["uniform", "variational"])
def test_gradients_match_central_differences(variational):
    rng = np.random.default_rng(0)
    d, levels = 3, 5
    flow = _model(d, rng)
    q = _dequantizer(d, levels, rng) if variational else None
    k = _pixels(7, d, levels, rng)

    def loss():      # the same noise at every evaluation: a deterministic function of the params
        return dequantized_nll_and_grad(flow, k, np.random.default_rng(5), q, levels)[0]

    _, model_grads, q_grads = dequantized_nll_and_grad(flow, k, np.random.default_rng(5), q, levels)
    errors = checks.check_gradients(loss, flow.parameters(), model_grads)
    if variational:
        assert set(q_grads) == set(q.parameters())
        errors.update({"q." + n: e for n, e in
                       checks.check_gradients(loss, q.parameters(), q_grads).items()})
    else:
        assert q_grads == {}
    worst = max(errors, key=errors.get)
    assert errors[worst] <= TOL, f"{worst}: {errors[worst]:.2e}"


def test_dequantizer_backward_for_any_upstream_gradient():
    """backward(cache, dL/du, dL/dlog_q) for L = sum(G u) + sum(g log_q), G and g fixed."""
    rng = np.random.default_rng(1)
    d, levels = 4, 3
    q = _dequantizer(d, levels, rng)
    k = _pixels(5, d, levels, rng)
    big_g, small_g = rng.standard_normal((5, d)), rng.standard_normal(5)

    def loss():
        u, log_q = q.sample(k, np.random.default_rng(9))
        return float(np.sum(big_g * u) + np.sum(small_g * log_q))

    _, _, cache = q.sample_cached(k, np.random.default_rng(9))
    grads = q.backward(cache, big_g, small_g)
    errors = checks.check_gradients(loss, q.parameters(), grads)
    assert max(errors.values()) <= TOL, errors


# ---- the density q(u | k) -----------------------------------------------------------------------

def test_log_q_against_the_numerical_jacobian():
    """log q(u|k) = log N(eps) - log|det du/deps|, du/deps by central differences (d = 3)."""
    rng = np.random.default_rng(2)
    d, levels = 3, 4
    q = _dequantizer(d, levels, rng)
    k = _pixels(6, d, levels, rng)
    u, log_q = q.sample(k, np.random.default_rng(11))
    eps = np.random.default_rng(11).standard_normal(k.shape)       # the draw sample() used
    c = q.context(k)

    def to_u(e):
        return special.expit(q.bijection.forward(e, c)[0])

    np.testing.assert_allclose(to_u(eps), u, rtol=0, atol=1e-14)
    expected = (np.sum(stats.norm.logpdf(eps), axis=1)
                - checks.numerical_log_det(to_u, eps))
    np.testing.assert_allclose(log_q, expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(q.log_prob(u, k), log_q, rtol=0, atol=1e-6)


@pytest.mark.parametrize("level", [0, 2])
def test_q_is_a_density_on_the_unit_interval(level):
    rng = np.random.default_rng(3)
    q = _dequantizer(1, 3, rng)
    total, _ = integrate.quad(
        lambda u: float(np.exp(q.log_prob([[u]], [[level]])[0])), 0, 1, limit=200)
    assert abs(total - 1) < 1e-6, total


def test_new_dequantizer_is_close_to_uniform():
    """sigmoid(1.7 eps) is near uniform: mean log q small, and the couplings start as identities."""
    q = VariationalDequantizer(64, 17, rng=np.random.default_rng(4))
    k = np.random.default_rng(5).integers(0, 17, (2000, 64))
    u, log_q = q.sample(k, np.random.default_rng(6))
    assert abs(np.mean(u) - 0.5) < 0.01 and abs(np.var(u) - 1 / 12) < 0.005
    assert 0.0 < np.mean(log_q) / 64 < 0.02        # KL(q || uniform) per dimension, in nats


def test_u_stays_strictly_inside_the_unit_box():
    """Even with wild parameters u is in (0, 1) and log q finite, so x = (k + u)/L < 1."""
    rng = np.random.default_rng(7)
    q = _dequantizer(5, 17, rng, scale=20.0)
    k = _pixels(400, 5, 17, rng)
    u, log_q = q.sample(k, rng)
    assert np.all(u > 0) and np.all(u < 1)
    assert np.all(np.isfinite(log_q))
    assert np.all((k + u) / 17 < 1)


# ---- the bound and the importance-weighted estimate --------------------------------------------

def _gaussian_case(rng):
    """A diagonal Gaussian on [0, 1)^2 (a flow of one Affine layer) whose bin probabilities are
    differences of normal CDFs, and integer data with 5 levels."""
    d, levels = 2, 5
    flow = nf.Flow(nf.StandardNormal(d), nf.Affine(d, log_scale=np.log([0.2, 0.35]),
                                                    shift=np.array([0.45, 0.6])))
    k = _pixels(300, d, levels, rng)
    mu, sd = np.array([0.45, 0.6]), np.array([0.2, 0.35])
    lo, hi = (k / levels - mu) / sd, ((k + 1) / levels - mu) / sd
    log_p = np.sum(np.log(stats.norm.cdf(hi) - stats.norm.cdf(lo)), axis=1)
    return flow, k, levels, log_p


def test_bound_and_iw_estimate_against_exact_bin_probabilities():
    rng = np.random.default_rng(8)
    flow, k, levels, exact = _gaussian_case(rng)
    q = _dequantizer(2, levels, rng, scale=0.1)
    for dequantizer in (None, q):
        bound = np.mean([dequantized_bound(flow, k, np.random.default_rng(s), dequantizer, levels)
                         for s in range(10)], axis=0)
        iw = [np.mean(iw_log_prob(flow, k, kk, np.random.default_rng(20), dequantizer, levels))
              for kk in (1, 8, 64, 512)]
        assert np.mean(bound) < np.mean(exact)                  # a lower bound on average
        assert iw[0] < iw[1] < iw[2] <= iw[3] + 1e-3            # rising with K ...
        assert iw[3] < np.mean(exact) + 0.005, (iw, np.mean(exact))
        if dequantizer is None:       # ... to log P(k); an untrained q, thin where p is large
            assert abs(iw[3] - np.mean(exact)) < 0.005, (iw, np.mean(exact))   # converges slower


@pytest.mark.parametrize("case", ["gaussian", "coupling"])
def test_the_bound_is_never_above_the_iw_estimate_on_average(case):
    """Averaged over images and over 5 noise seeds each, for uniform noise and for a q."""
    rng = np.random.default_rng(9)
    if case == "gaussian":
        flow, k, levels, _ = _gaussian_case(rng)
    else:
        levels = 5
        flow, k = _model(3, rng), _pixels(300, 3, levels, rng)
    q = _dequantizer(flow.dim, levels, rng)
    for dequantizer in (None, q):
        def mean_iw(kk, dequantizer=dequantizer):
            return np.mean([iw_log_prob(flow, k, kk, np.random.default_rng(s), dequantizer,
                                        levels) for s in range(5)])
        bound = np.mean([dequantized_bound(flow, k, np.random.default_rng(s), dequantizer, levels)
                         for s in range(10, 15)])
        assert bound <= mean_iw(8) <= mean_iw(64), case


def test_k_equal_one_is_the_bound_and_the_loss():
    rng = np.random.default_rng(10)
    d, levels = 3, 5
    flow, q, k = _model(d, rng), _dequantizer(d, levels, rng), _pixels(9, d, levels, rng)
    b = dequantized_bound(flow, k, np.random.default_rng(3), q, levels)
    u, log_q = q.sample(k, np.random.default_rng(3))
    np.testing.assert_allclose(b, flow.log_prob((k + u) / levels) - d * np.log(levels) - log_q,
                               rtol=0, atol=1e-12)
    loss = dequantized_nll_and_grad(flow, k, np.random.default_rng(3), q, levels)[0]
    assert loss == pytest.approx(-np.mean(b), abs=1e-12)


# ---- training -----------------------------------------------------------------------------------

def test_joint_training_lowers_the_loss_and_is_deterministic():
    rng = np.random.default_rng(11)
    d, levels = 4, 5
    k = np.clip(np.round(2 + rng.standard_normal((256, d)) * np.array([0.3, 1, 1.5, 0.7])),
                0, levels - 1)

    def run(variational):
        flow = _model(d, np.random.default_rng(0))
        q = VariationalDequantizer(d, levels, hidden=(8,), rng=np.random.default_rng(1)) \
            if variational else None
        return fit_dequantized(flow, k, rng=np.random.default_rng(2), n_steps=150,
                               dequantizer=q, batch_size=64, lr=5e-3, levels=levels)

    for variational in (False, True):
        losses = run(variational)
        assert np.mean(losses[-20:]) < np.mean(losses[:20]) - 0.1, variational
        assert losses == run(variational)


# ---- bad input ----------------------------------------------------------------------------------

def test_bad_input_raises_clear_errors():
    rng = np.random.default_rng(12)
    flow, q = _model(3, rng), _dequantizer(3, 5, rng)
    good = _pixels(4, 3, 5, rng)
    for bad, message in [(good[:, :2], "column|shape"), (good.reshape(-1), "shape|2-D|column"),
                         (good + 0.5, "integers"), (good + 5, r"0\.\.4"), (-good - 1, r"0\.\.4"),
                         (np.full((2, 3), np.nan), "non-finite"), (np.zeros((0, 3)), "empty|at least")]:
        with pytest.raises(ValueError, match=rf"(?i){message}"):
            dequantized_nll_and_grad(flow, bad, rng, q, 5)
        with pytest.raises(ValueError, match=rf"(?i){message}"):
            q.sample(bad, rng)
    with pytest.raises(ValueError, match="levels"):
        dequantized_nll_and_grad(flow, good, rng, q, levels=6)       # q made for 5 levels
    with pytest.raises(ValueError, match="d = 3"):
        dequantized_nll_and_grad(_model(2, rng), good[:, :2], rng, q, 5)
    with pytest.raises(ValueError, match="VariationalDequantizer"):
        dequantized_nll_and_grad(flow, good, rng, "uniform", 5)
    with pytest.raises(ValueError, match=r"strictly inside \(0, 1\)"):
        q.log_prob(np.ones((4, 3)), good)
    with pytest.raises(ValueError, match="rows"):
        q.log_prob(np.full((3, 3), 0.5), good)
    with pytest.raises(ValueError, match="k"):
        iw_log_prob(flow, good, 0, rng, q, 5)
    with pytest.raises(ValueError, match="levels"):
        VariationalDequantizer(3, 1, rng=rng)
