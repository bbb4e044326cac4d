"""The rational-quadratic spline coupling beyond the generic registry tests: the spline's defining
properties (it interpolates its knots with the given slopes, is monotone and C^1, identity in the
tails), its closed-form inverse, extreme inputs and bad settings.

Round trips, log-det against numerical Jacobians and hand-written gradients against finite
differences run on the registry cases ``rq_spline``, ``rq_spline_relu`` and ``spline_flow``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import nflib as nf
from nflib import spline
from bijection_registry import perturbed


def _random_knots(rng, k=6, bound=2.5, shape=(3,)):
    raw = rng.standard_normal(shape + (3 * k - 1,))
    return spline.knots(raw[..., :k], raw[..., k:2 * k], raw[..., 2 * k:], bound)[:3]


def test_new_spline_layer_is_the_identity():
    rng = np.random.default_rng(0)
    layer = nf.RationalQuadraticSpline([1, 0, 0], (8,), rng=rng, bins=5, bound=2.0)
    z = 2.0 * rng.standard_normal((50, 3))
    x, log_det = layer.forward(z)
    np.testing.assert_allclose(x, z, atol=1e-12)
    np.testing.assert_allclose(log_det, 0.0, atol=1e-12)


def test_knots_span_the_interval_and_are_increasing():
    xk, yk, dk = _random_knots(np.random.default_rng(1), k=7, bound=3.0, shape=(40,))
    for knots_ in (xk, yk):
        assert np.all(knots_[:, 0] == -3.0) and np.all(knots_[:, -1] == 3.0)
        assert np.all(np.diff(knots_, axis=1) >= 6.0 * 1e-3 * (1 - 1e-9))  # min bin size 2B m
    assert np.all(dk > 0) and np.all(dk[:, [0, -1]] == 1.0)


def test_spline_interpolates_knots_with_their_slopes():
    """g(x_k) = y_k and g'(x_k) = d_k at every knot: the defining property of the spline."""
    rng = np.random.default_rng(2)
    xk, yk, dk = _random_knots(rng, k=6, shape=(1,))
    x_in = xk[0, 1:-1]                                     # interior knots
    g, log_dg, _ = spline.rq_spline(x_in, xk[0], yk[0], dk[0])
    np.testing.assert_allclose(g, yk[0, 1:-1], atol=1e-12)
    np.testing.assert_allclose(np.exp(log_dg), dk[0, 1:-1], rtol=1e-9)
    h = 1e-8                                               # one-sided slopes agree: C^1
    for side in (-1, 1):
        slope = side * (spline.rq_spline(x_in + side * h, xk[0], yk[0], dk[0])[0] - g) / h
        np.testing.assert_allclose(slope, dk[0, 1:-1], rtol=1e-5)


def test_spline_is_monotone_and_its_log_derivative_matches_differences():
    rng = np.random.default_rng(3)
    xk, yk, dk = _random_knots(rng, k=8, bound=2.0, shape=(1,))
    z = np.linspace(-3.0, 3.0, 20001)
    g, log_dg, _ = spline.rq_spline(z, xk[0], yk[0], dk[0])
    assert np.all(np.diff(g) > 0)
    h = 1e-7
    central = (spline.rq_spline(z + h, xk[0], yk[0], dk[0])[0]
               - spline.rq_spline(z - h, xk[0], yk[0], dk[0])[0]) / (2 * h)
    away = np.min(np.abs(z[:, None] - xk[0][None, :]), axis=1) > 1e-5   # not across a knot
    np.testing.assert_allclose(np.exp(log_dg)[away], central[away], rtol=1e-5)
    tails = np.abs(z) >= 2.0
    np.testing.assert_array_equal(g[tails], z[tails])
    np.testing.assert_array_equal(log_dg[tails], 0.0)


def test_closed_form_inverse_against_bisection():
    rng = np.random.default_rng(4)
    xk, yk, dk = _random_knots(rng, k=5, bound=2.0, shape=(1,))
    y = np.linspace(-1.999, 1.999, 301)
    z, _, _ = spline.rq_spline_inverse(y, xk[0], yk[0], dk[0])
    lo, hi = np.full_like(y, -2.0), np.full_like(y, 2.0)   # bisection on the monotone g
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        below = spline.rq_spline(mid, xk[0], yk[0], dk[0])[0] < y
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    np.testing.assert_allclose(z, 0.5 * (lo + hi), atol=1e-12)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_extreme_inputs_are_finite_without_warnings(activation):
    rng = np.random.default_rng(5)
    flow = nf.Flow(nf.StandardNormal(2), perturbed(
        nf.spline_flow(2, 3, (16,), rng=rng, bins=6, bound=3.0, activation=activation), rng, 1.0))
    values = np.array([-1e6, -1e3, -3.0, -1.0, 0.0, 1e-300, 1.0, 3.0, 1e3, 1e6])
    x = np.stack(np.meshgrid(values, values), axis=-1).reshape(-1, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        z, ld_inv = flow.bijection.inverse(x)
        x_back, ld = flow.bijection.forward(z)
        log_p = flow.log_prob(x)
    assert np.all(np.isfinite(z)) and np.all(np.isfinite(ld_inv)) and np.all(np.isfinite(ld))
    assert np.all(np.isfinite(log_p)) and np.all(np.isfinite(x_back))
    big = np.all(np.abs(x) >= 1e3, axis=1)
    np.testing.assert_array_equal(z[big], x[big])        # both coordinates in the linear tails
    # the well-conditioned round trip: the inverse compresses where the forward map is steep
    np.testing.assert_allclose(flow.bijection.inverse(x_back)[0], z, rtol=1e-6, atol=1e-6)


def test_density_of_a_spline_flow_integrates_to_one():
    rng = np.random.default_rng(6)
    flow = nf.Flow(nf.StandardNormal(2), perturbed(
        nf.spline_flow(2, 2, (16,), rng=rng, bins=6, bound=3.0), rng, 0.3))
    t = np.linspace(-8, 8, 801)
    grid = np.stack(np.meshgrid(t, t, indexing="ij"), axis=-1).reshape(-1, 2)
    p = np.exp(flow.log_prob(grid)).reshape(t.size, t.size)
    assert abs(np.trapezoid(np.trapezoid(p, t, axis=1), t) - 1.0) < 1e-3


def test_bad_settings_raise():
    rng = np.random.default_rng(7)
    cases = [
        (lambda: nf.RationalQuadraticSpline([1, 0], rng=rng, bins=1), "bins"),
        (lambda: nf.RationalQuadraticSpline([1, 0], rng=rng, bins=2.5), "bins"),
        (lambda: nf.RationalQuadraticSpline([1, 0], rng=rng, bound=0.0), "bound"),
        (lambda: nf.RationalQuadraticSpline([1, 0], rng=rng, bound=np.inf), "bound"),
        (lambda: nf.RationalQuadraticSpline([1, 0], rng=rng, bins=4, min_width=0.3),
         "min_width"),
        (lambda: nf.RationalQuadraticSpline([1, 0], rng=rng, min_height=-1e-3), "min_height"),
        (lambda: nf.RationalQuadraticSpline([1, 0], rng=rng, min_derivative=1.0),
         "min_derivative"),
        (lambda: nf.RationalQuadraticSpline([1, 1], rng=rng), "both"),
        (lambda: nf.RationalQuadraticSpline([1, 0], (0,), rng=rng), "hidden width"),
        (lambda: nf.spline_flow(1, 2, rng=rng), "d >= 2"),
        (lambda: nf.spline_flow(2, 0, rng=rng), "n_layers"),
    ]
    for make, message in cases:
        with pytest.raises(ValueError, match=message):
            make()


def test_spline_flow_alternates_masks():
    flow = nf.spline_flow(3, 3, (8,), rng=np.random.default_rng(8), bins=4)
    assert [layer.mask.astype(int).tolist() for layer in flow] == [[1, 0, 1], [0, 1, 0],
                                                                     [1, 0, 1]]
    assert all(layer.net.widths[-1] == layer.n_move * (3 * 4 - 1) for layer in flow)
