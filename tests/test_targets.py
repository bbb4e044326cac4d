"""The library's target densities: values, gradients against finite differences, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from nflib import targets


def test_ring_target_and_gradient():
    x = np.random.default_rng(2).standard_normal((30, 2)) * 2
    log_p = targets.ring_log_prob(x)
    np.testing.assert_allclose(log_p, -0.5 * ((np.linalg.norm(x, axis=1) - 2.0) / 0.4) ** 2)
    eps = 1e-6
    numerical = np.stack([(targets.ring_log_prob(x + eps * e) - targets.ring_log_prob(x - eps * e))
                          / (2 * eps) for e in np.eye(2)], axis=1)
    np.testing.assert_allclose(targets.ring_grad(x), numerical, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(targets.ring_grad(np.zeros((1, 2))), [[0.0, 0.0]])
    with pytest.raises(ValueError, match="positive"):
        targets.ring_log_prob(x, width=0.0)


# ---- the energies U1-U4 of Rezende and Mohamed (2015) -------------------------------------------

def _energy_reference(x, name):
    """-U(x) written out from the paper's table, plus the soft box for U2-U4."""
    x1, x2 = x[:, 0], x[:, 1]
    w1 = np.sin(2 * np.pi * x1 / 4)
    w2 = 3 * np.exp(-0.5 * ((x1 - 1) / 0.6) ** 2)
    w3 = 3 / (1 + np.exp(-(x1 - 1) / 0.3))
    box = 0.5 * (x1 / targets.ENERGY_BOX) ** 4
    if name == "U1":
        u = (0.5 * ((np.hypot(x1, x2) - 2) / 0.4) ** 2
             - np.log(np.exp(-0.5 * ((x1 - 2) / 0.6) ** 2) + np.exp(-0.5 * ((x1 + 2) / 0.6) ** 2)))
        return -u
    if name == "U2":
        return -0.5 * ((x2 - w1) / 0.4) ** 2 - box
    if name == "U3":
        return np.log(np.exp(-0.5 * ((x2 - w1) / 0.35) ** 2)
                      + np.exp(-0.5 * ((x2 - w1 + w2) / 0.35) ** 2)) - box
    return np.log(np.exp(-0.5 * ((x2 - w1) / 0.4) ** 2)
                  + np.exp(-0.5 * ((x2 - w1 + w3) / 0.35) ** 2)) - box


@pytest.mark.parametrize("name", targets.ENERGIES)
def test_energy_values_and_gradient(name):
    x = np.random.default_rng(3).uniform(-3.5, 3.5, size=(200, 2))
    log_p = targets.energy_log_prob(x, name)
    assert log_p.shape == (200,)
    np.testing.assert_allclose(log_p, _energy_reference(x, name), rtol=1e-10, atol=1e-10)
    eps = 1e-6
    numerical = np.stack([(targets.energy_log_prob(x + eps * e, name)
                           - targets.energy_log_prob(x - eps * e, name)) / (2 * eps)
                          for e in np.eye(2)], axis=1)
    grad = targets.energy_grad(x, name)
    assert grad.shape == (200, 2)
    np.testing.assert_allclose(grad, numerical, rtol=1e-6, atol=1e-6)
    log_p_fn, grad_fn = targets.energy(name)
    np.testing.assert_array_equal(log_p_fn(x), log_p)
    np.testing.assert_array_equal(grad_fn(x), grad)


def test_energy_u1_gradient_at_the_origin_is_finite():
    g = targets.energy_grad(np.zeros((1, 2)), "U1")
    assert np.all(np.isfinite(g))
    # only the mixture term acts at the origin, and by symmetry it is zero there
    np.testing.assert_allclose(g, [[0.0, 0.0]], atol=1e-12)


def test_energy_bad_input():
    with pytest.raises(ValueError, match="unknown energy"):
        targets.energy_log_prob(np.zeros((2, 2)), "U5")
    with pytest.raises(ValueError, match="unknown energy"):
        targets.energy("u1")
    with pytest.raises(ValueError, match="2 columns"):
        targets.energy_grad(np.zeros((2, 3)), "U2")
    with pytest.raises(ValueError, match="non-finite"):
        targets.energy_log_prob(np.array([[np.nan, 0.0]]), "U3")


@pytest.mark.parametrize("name", targets.ENERGIES)
def test_energy_normalisers_by_two_quadratures(name):
    """Z = integral of exp(-U): adaptive scipy quadrature against a fine trapezoid grid; the
    mass beyond the box [-7, 7]^2 is negligible (the soft box and the Gaussian factors)."""
    from scipy import integrate

    inner = lambda x2, x1: float(np.exp(targets.energy_log_prob([[x1, x2]], name))[0])  # noqa: E731
    z_adaptive = integrate.dblquad(inner, -7, 7, -7, 7, epsabs=1e-9, epsrel=1e-9)[0]
    axis = np.linspace(-7, 7, 1401)
    pts = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
    vals = np.exp(targets.energy_log_prob(pts, name)).reshape(axis.size, axis.size)
    z_grid = np.trapezoid(np.trapezoid(vals, axis, axis=1), axis)
    assert np.log(z_adaptive) == pytest.approx(np.log(z_grid), abs=1e-6)
    # nothing is left at the edge of the box
    edge = np.concatenate([vals[0], vals[-1], vals[:, 0], vals[:, -1]])
    assert edge.max() < 1e-12
