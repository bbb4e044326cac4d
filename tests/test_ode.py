"""Continuous flows (nflib.ode) and flow matching (nflib.flow_matching) against independent
computations: closed forms (matrix exponential, t tr A), scipy's adaptive ODE solver with a
finite-difference trace, exact enumeration of Rademacher probes, central differences."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.linalg import expm

import nflib as nf
from nflib import checks, flow_matching as fm, ode
from bijection_registry import perturbed


def _field(rng, d=2, hidden=(12, 12), scale=0.6):
    return perturbed(ode.MLPField(d, hidden, rng=rng), rng, scale)


def test_rk4_is_fourth_order_and_euler_first_order():
    def fun(t, y):
        return -2.0 * t * y                   # y = exp(-t^2)

    exact = np.exp(-1.0)
    rk = [abs(ode.rk4(fun, np.array([1.0]), 0.0, 1.0, n)[0] - exact) for n in (10, 20)]
    eu = [abs(ode.euler(fun, np.array([1.0]), 0.0, 1.0, n)[0] - exact) for n in (100, 200)]
    assert 14 < rk[0] / rk[1] < 18            # halving h divides the error by 2^4
    assert 1.8 < eu[0] / eu[1] < 2.2          # ... and by 2 for Euler
    back = ode.rk4(fun, ode.rk4(fun, np.array([1.0]), 0.0, 1.0, 50), 1.0, 0.0, 50)
    assert abs(back[0] - 1.0) < 1e-7          # integrating backwards undoes it


def test_linear_field_flow_map_matches_matrix_exponential():
    A = np.array([[-0.5, 1.0], [-1.0, 0.3]])
    rng = np.random.default_rng(0)
    z = rng.standard_normal((6, 2))
    x, log_det = ode.flow_map(ode.LinearField(A), z, 0.0, 1.0, 40)
    np.testing.assert_allclose(x, z @ expm(A).T, atol=1e-8)
    np.testing.assert_allclose(log_det, np.trace(A), atol=1e-12)   # log det e^A = tr A


def test_mlp_field_jacobian_and_jvp_against_central_differences():
    rng = np.random.default_rng(1)
    for activation in ("tanh", "relu"):
        field = perturbed(ode.MLPField(3, (10, 8), rng=rng, activation=activation), rng, 0.5)
        z = rng.standard_normal((5, 3))
        jac = field.jacobian(0.4, z)
        numerical = checks.numerical_jacobian(lambda v, f=field: f(0.4, v), z)
        np.testing.assert_allclose(jac, numerical, atol=1e-7)
        v = rng.standard_normal((5, 4, 3))
        np.testing.assert_allclose(field.jvp(0.4, z, v), np.einsum("nab,nmb->nma", jac, v),
                                   atol=1e-12)
        np.testing.assert_allclose(ode.exact_trace(field, 0.4, z), np.trace(jac, axis1=1, axis2=2))


def test_hutchinson_mean_and_variance_by_enumerating_every_probe():
    """Over all 2^d sign vectors the estimator's mean is tr J and its variance the closed form."""
    rng = np.random.default_rng(2)
    d = 4
    J = rng.standard_normal((d, d))
    field = ode.LinearField(J)
    signs = np.array(list(itertools.product([-1.0, 1.0], repeat=d)))
    z = np.zeros((signs.shape[0], d))
    estimates = ode.hutchinson_trace(field, 0.0, z, signs)
    assert estimates.mean() == pytest.approx(np.trace(J), abs=1e-12)
    assert estimates.var() == pytest.approx(ode.hutchinson_variance(J), rel=1e-12)
    # Gaussian probes: E[(e^T S e)^2] - tr(S)^2 = 2 ||S||_F^2, by Monte Carlo
    eps = rng.standard_normal((200_000, 1, d))
    gauss = ode.hutchinson_trace(field, 0.0, np.zeros((200_000, d)), eps)
    assert gauss.var() == pytest.approx(ode.hutchinson_variance(J, "gaussian"), rel=0.02)


def test_flow_map_against_scipy_with_finite_difference_trace():
    rng = np.random.default_rng(3)
    field = _field(rng)
    z = rng.standard_normal((3, 2))
    x, log_det = ode.flow_map(field, z, 0.0, 1.0, 40)

    def rhs(t, y):
        point = y[:2][None]
        jac = checks.numerical_jacobian(lambda v: field(t, v), point)[0]
        return np.concatenate([field(t, point)[0], [np.trace(jac)]])

    for i in range(3):
        sol = solve_ivp(rhs, (0.0, 1.0), np.concatenate([z[i], [0.0]]), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(x[i], sol.y[:2, -1], atol=1e-6)
        assert log_det[i] == pytest.approx(sol.y[2, -1], abs=1e-6)
    # and the log-det is log|det| of the map's own Jacobian
    numerical = checks.numerical_log_det(lambda v: ode.flow_map(field, v, 0.0, 1.0, 40)[0], z)
    np.testing.assert_allclose(log_det, numerical, atol=1e-6)


def test_cnf_density_integrates_to_one_and_hutchinson_is_unbiased_along_the_path():
    rng = np.random.default_rng(4)
    field = _field(rng, scale=0.4)
    base = nf.StandardNormal(2)
    t = np.linspace(-7, 7, 141)
    grid = np.stack(np.meshgrid(t, t, indexing="ij"), axis=-1).reshape(-1, 2)
    p = np.exp(ode.cnf_log_prob(field, grid, base, 16)).reshape(t.size, t.size)
    assert abs(np.trapezoid(np.trapezoid(p, t, axis=1), t) - 1.0) < 2e-3
    x = rng.standard_normal((4, 2))
    exact = ode.cnf_log_prob(field, x, base, 16)
    eps = ode.probes(4, 2, rng, m=4000)
    np.testing.assert_allclose(ode.cnf_log_prob(field, x, base, 16, eps=eps), exact, atol=0.05)
    samples, log_q = ode.cnf_sample(field, base, 5, rng, 16)
    np.testing.assert_allclose(log_q, ode.cnf_log_prob(field, samples, base, 16), atol=1e-5)


def test_flow_matching_gradient_against_central_differences():
    rng = np.random.default_rng(5)
    field = _field(rng, hidden=(7, 6), scale=0.5)
    x1, x0, t = rng.standard_normal((9, 2)), rng.standard_normal((9, 2)), rng.uniform(0, 1, 9)
    loss, grads = fm.flow_matching_loss_and_grad(field, x1, rng, x0=x0, t=t)
    xt = (1 - t)[:, None] * x0 + t[:, None] * x1
    direct = lambda: float(np.mean(np.sum((field(t, xt) - (x1 - x0)) ** 2, axis=1)))  # noqa
    assert loss == pytest.approx(direct(), rel=1e-14)
    errors = checks.check_gradients(direct, field.parameters(), grads)
    assert max(errors.values()) < 1e-6, errors


def test_flow_matching_learns_a_gaussian_shift():
    """Data N(m, I): the marginal velocity of straight paths is exactly m (a constant field),
    so a trained field must carry N(0, I) to N(m, I)."""
    rng = np.random.default_rng(6)
    m = np.array([1.5, -1.0])
    field = ode.MLPField(2, (16,), rng=rng)
    losses = fm.fit_flow_matching(field, m + rng.standard_normal((5000, 2)), rng=rng,
                                  n_steps=600, batch_size=256, lr=1e-2)
    assert np.mean(losses[-50:]) < np.mean(losses[:50])
    x, _ = ode.cnf_sample(field, nf.StandardNormal(2), 4000, rng, 10)
    np.testing.assert_allclose(x.mean(axis=0), m, atol=0.1)
    np.testing.assert_allclose(np.cov(x.T), np.eye(2), atol=0.15)


def test_flow_matching_on_fixed_pairs_regresses_each_pair_on_its_own_chord():
    """With ``x0`` (reflow), a batch takes the same rows of x0 and x: the loss of each step is
    the regression on those pairs' chords, exactly as written out here."""
    x0 = np.random.default_rng(8).standard_normal((40, 2))
    x1 = x0 @ np.array([[0.5, 0.2], [-0.3, 1.1]]) + 2.0
    field = ode.MLPField(2, (4,), rng=np.random.default_rng(9))
    twin = ode.MLPField(2, (4,), rng=np.random.default_rng(9))
    losses = fm.fit_flow_matching(field, x1, x0=x0, rng=np.random.default_rng(10), n_steps=5,
                                  batch_size=8)
    rng, opt, expected = np.random.default_rng(10), nf.Adam(twin.parameters(), lr=2e-3), []
    for step in range(5):
        opt.lr = nf.train.cosine_lr(2e-3, step / 5)
        rows = rng.integers(0, 40, 8)
        loss, grads = fm.flow_matching_loss_and_grad(twin, x1[rows], rng, x0=x0[rows])
        opt.step(grads)
        expected.append(loss)
    assert losses == expected
    with pytest.raises(ValueError, match="row by row"):
        fm.fit_flow_matching(field, x1, x0=x0[:10], rng=rng, n_steps=1)


def test_bad_inputs_raise():
    rng = np.random.default_rng(7)
    field = ode.MLPField(2, (4,), rng=rng)
    z = np.zeros((3, 2))
    cases = [
        (lambda: ode.LinearField(np.ones((2, 3))), "square"),
        (lambda: ode.LinearField(np.eye(2), b=[1.0]), "shape"),
        (lambda: ode.LinearField([[np.nan, 0], [0, 1]]), "non-finite"),
        (lambda: ode.rk4(lambda t, y: y, np.ones(2), 0.0, 1.0, 0), "n_steps"),
        (lambda: ode.rk4(lambda t, y: y, np.ones(2), np.nan, 1.0, 5), "t0"),
        (lambda: ode.euler(lambda t, y: y, [np.inf], 0.0, 1.0, 5), "non-finite"),
        (lambda: ode.flow_map(field, np.zeros((3, 3)), 0.0, 1.0, 4), "columns"),
        (lambda: ode.flow_map(field, [[np.nan, 0.0]], 0.0, 1.0, 4), "non-finite"),
        (lambda: ode.hutchinson_trace(field, 0.0, z, np.ones((2, 2))), "eps"),
        (lambda: ode.probes(3, 2, rng, kind="uniform"), "probe kind"),
        (lambda: ode.hutchinson_variance(np.eye(2), "uniform"), "probe kind"),
        (lambda: ode.MLPField(0, rng=rng), "positive integer"),
        (lambda: fm.flow_matching_loss_and_grad(field, np.zeros((0, 2)), rng), "empty"),
        (lambda: fm.fit_flow_matching(field, z, rng=rng, n_steps=0), "n_steps"),
        (lambda: fm.fit_flow_matching(field, z, rng=rng, n_steps=2, schedule="linear"),
         "schedule"),
    ]
    for make, message in cases:
        with pytest.raises(ValueError, match=message):
            make()
