"""nflib.coupling: the mask helpers and the unclamped affine coupling (``clamp=None``).

Each mask is compared with an explicit loop over its definition; the unclamped layer with a
direct computation of s = raw, finite-difference log-determinants and gradients.
"""

from __future__ import annotations

import numpy as np
import pytest

import nflib as nf
from nflib import checks
from nflib.coupling import alternating_mask, channel_mask, checkerboard_mask


# ---- masks ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("d", [2, 3, 6, 7])
def test_alternating_mask_keeps_every_other_coordinate(d):
    for parity in (0, 1):
        mask = alternating_mask(d, parity)
        assert mask.dtype == bool and mask.shape == (d,)
        assert mask.tolist() == [(j + parity) % 2 == 0 for j in range(d)]
    assert np.array_equal(alternating_mask(d, 0), ~alternating_mask(d, 1))


def test_realnvp_uses_the_alternating_masks():
    flow = nf.realnvp(5, 4, (4,), rng=np.random.default_rng(0))
    for k, layer in enumerate(flow):
        assert np.array_equal(layer.mask, alternating_mask(5, k % 2))


@pytest.mark.parametrize("shape", [(1, 4, 4), (3, 2, 5), (2, 3, 3)])
def test_checkerboard_mask_matches_its_definition(shape):
    c, h, w = shape
    for parity in (0, 1):
        mask = checkerboard_mask(shape, parity)
        assert mask.dtype == bool and mask.shape == (c * h * w,)
        image = mask.reshape(c, h, w)          # channel-major, as image.reshape(n, -1)
        for ch in range(c):
            for i in range(h):
                for j in range(w):
                    assert image[ch, i, j] == ((i + j + parity) % 2 == 0)
    assert np.array_equal(checkerboard_mask(shape, 0), ~checkerboard_mask(shape, 1))


def test_checkerboard_mask_on_flattened_images_keeps_the_right_pixels():
    rng = np.random.default_rng(1)
    images = rng.standard_normal((3, 2, 4, 4))
    layer = nf.AffineCoupling(checkerboard_mask((2, 4, 4)), (8,), rng=rng)
    for p in layer.parameters().values():
        p += 0.3 * rng.standard_normal(p.shape)
    out = layer.forward(images.reshape(3, -1))[0].reshape(images.shape)
    i, j = np.meshgrid(np.arange(4), np.arange(4), indexing="ij")
    kept = (i + j) % 2 == 0
    np.testing.assert_array_equal(out[:, :, kept], images[:, :, kept])
    assert np.all(out[:, :, ~kept] != images[:, :, ~kept])


@pytest.mark.parametrize("shape", [(2, 2, 2), (4, 3, 1), (5, 2, 2)])
def test_channel_mask_keeps_half_of_the_channels(shape):
    c, h, w = shape
    for parity in (0, 1):
        mask = channel_mask(shape, parity).reshape(c, h * w)
        for ch in range(c):
            assert np.all(mask[ch] == ((ch < c // 2) == (parity == 0)))


@pytest.mark.parametrize("call, match", [
    (lambda: alternating_mask(1), "d >= 2"),
    (lambda: alternating_mask(2.5), "d >= 2"),
    (lambda: alternating_mask(4, 2), "parity"),
    (lambda: checkerboard_mask((1, 1, 1)), "two pixels"),
    (lambda: checkerboard_mask((1, 4)), r"\(c, h, w\)"),
    (lambda: checkerboard_mask((1, 0, 4)), "positive"),
    (lambda: checkerboard_mask((1, 2.5, 4)), "positive"),
    (lambda: checkerboard_mask((1, 4, 4), -1), "parity"),
    (lambda: channel_mask((1, 4, 4)), "two channels"),
    (lambda: channel_mask("abc"), r"\(c, h, w\)"),
])
def test_mask_helpers_reject_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---- the unclamped affine coupling ---------------------------------------------------------------

def _unclamped(rng, mask=(1, 0, 1, 0, 0), hidden=(6,)):
    layer = nf.AffineCoupling(list(mask), hidden, rng=rng, clamp=None)
    for p in layer.parameters().values():
        p += 0.7 * rng.standard_normal(p.shape)
    return layer


def test_unclamped_log_scale_is_the_raw_network_output():
    rng = np.random.default_rng(2)
    layer = _unclamped(rng)
    z = 2.0 * rng.standard_normal((10, 5))
    keep, move = [0, 2], [1, 3, 4]
    w0, b0, w1, b1 = (layer.net.parameters()[k] for k in ("W0", "b0", "W1", "b1"))
    out = np.tanh(z[:, keep] @ w0 + b0) @ w1 + b1
    s, t = out[:, :3], out[:, 3:]
    x, log_det = layer.forward(z)
    np.testing.assert_allclose(x[:, keep], z[:, keep])
    np.testing.assert_allclose(x[:, move], z[:, move] * np.exp(s) + t, rtol=1e-12)
    np.testing.assert_allclose(log_det, s.sum(axis=1), rtol=1e-12)


def test_unclamped_scale_can_exceed_the_clamp():
    rng = np.random.default_rng(3)
    layer = nf.AffineCoupling([1, 0], (4,), rng=rng, clamp=None)
    layer.net.biases[-1][0] = 10.0                     # raw log-scale 10, beyond any c = 3
    assert layer.forward(np.ones((1, 2)))[1][0] == pytest.approx(10.0, abs=1e-12)
    clamped = nf.AffineCoupling([1, 0], (4,), rng=rng, clamp=3.0)
    clamped.net.biases[-1][0] = 10.0
    assert clamped.forward(np.ones((1, 2)))[1][0] == pytest.approx(3 * np.tanh(10 / 3), abs=1e-12)


def test_unclamped_round_trip_and_log_det():
    rng = np.random.default_rng(4)
    layer = _unclamped(rng)
    z = rng.standard_normal((6, 5))
    assert checks.check_round_trip(layer, z) < 1e-10
    errors = checks.check_log_det(layer, z)
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("direction", ["forward", "inverse"])
def test_unclamped_gradients_match_central_differences(direction):
    rng = np.random.default_rng(5)
    layer = _unclamped(rng)
    inputs = rng.standard_normal((5, 5))
    if direction == "inverse":
        inputs = layer.forward(inputs)[0]
    errors = checks.check_backward(layer, inputs, direction, rng=rng)
    assert max(errors.values()) < 1e-6, errors


def test_unclamped_realnvp_trains_by_likelihood_with_exact_gradients():
    rng = np.random.default_rng(6)
    flow = nf.Flow(nf.StandardNormal(3), nf.realnvp(3, 2, (5,), rng=rng, clamp=None))
    for layer in flow.bijection:
        assert layer.clamp is None
        for p in layer.parameters().values():
            p += 0.5 * rng.standard_normal(p.shape)
    x = rng.standard_normal((8, 3))
    loss, grads = nf.nll_and_grad(flow, x)
    params = flow.parameters()
    errors = checks.check_gradients(lambda: nf.nll_and_grad(flow, x)[0], params, grads)
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("clamp", [0.0, -1.0, np.inf, np.nan, True, "3"])
def test_invalid_clamp_is_refused(clamp):
    with pytest.raises(ValueError, match="clamp"):
        nf.AffineCoupling([1, 0], (4,), rng=np.random.default_rng(0), clamp=clamp)
