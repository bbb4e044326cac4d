"""Properties specific to the image bijections (the generic checks run on them through the registry:
round trips, log-det against central-difference Jacobians, gradients, validation)."""

from __future__ import annotations

import numpy as np
import pytest

import nflib as nf
from nflib import checks
from nflib.image import as_image_batch
from bijection_registry import perturbed


# ---- ActNorm ---------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(3, 4, 5), (3,)], ids=["images", "vectors"])
def test_actnorm_inverse_init_gives_zero_mean_unit_variance(shape):
    rng = np.random.default_rng(0)
    spread = np.arange(1.0, 4.0).reshape((1, 3) + (1,) * (len(shape) - 1))
    x = 3.0 + 2.5 * rng.standard_normal((40, *shape)) * spread
    layer = nf.ActNorm(3)
    params = layer.parameters()
    z, _ = layer.inverse(x)
    axes = (0, *range(2, z.ndim))
    np.testing.assert_allclose(z.mean(axis=axes), 0.0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=axes), 1.0, atol=1e-12)
    assert layer.initialized
    assert all(layer.parameters()[k] is params[k] for k in params), "init must work in place"


def test_actnorm_forward_init_normalises_its_output():
    rng = np.random.default_rng(1)
    z = -1.0 + 0.3 * rng.standard_normal((30, 2, 3, 3))
    x, _ = nf.ActNorm(2).forward(z)
    np.testing.assert_allclose(x.mean(axis=(0, 2, 3)), 0.0, atol=1e-12)
    np.testing.assert_allclose(x.std(axis=(0, 2, 3)), 1.0, atol=1e-12)


def test_actnorm_initialises_only_once():
    rng = np.random.default_rng(2)
    layer = nf.ActNorm(2)
    layer.inverse(rng.standard_normal((20, 2, 2, 2)))
    before = {k: v.copy() for k, v in layer.parameters().items()}
    z, _ = layer.inverse(5.0 + 10.0 * rng.standard_normal((20, 2, 2, 2)))
    for k, v in layer.parameters().items():
        np.testing.assert_array_equal(v, before[k])
    assert abs(z.mean()) > 1.0  # the second batch is not normalised


def test_actnorm_with_given_parameters_does_not_initialise():
    layer = nf.ActNorm(2, log_scale=[0.0, 0.0], bias=[0.0, 0.0])
    x = np.random.default_rng(3).standard_normal((5, 2)) * 4
    np.testing.assert_array_equal(layer.inverse(x)[0], x)


def test_actnorm_log_det_counts_pixels():
    layer = nf.ActNorm(2, log_scale=[0.3, -0.1], bias=[0.0, 1.0])
    _, log_det = layer.forward(np.zeros((4, 2, 3, 5)))
    np.testing.assert_allclose(log_det, 15 * 0.2, rtol=1e-14)


def test_actnorm_constant_channel_stays_finite():
    x = np.ones((10, 2, 2, 2))
    z, log_det = nf.ActNorm(2).inverse(x)
    assert np.all(np.isfinite(z)) and np.all(np.isfinite(log_det))


# ---- InvConv1x1 ------------------------------------------------------------------------------

def test_invconv_log_det_is_hw_times_slogdet_w():
    rng = np.random.default_rng(4)
    layer = perturbed(nf.InvConv1x1(4, rng=rng), rng)
    z = rng.standard_normal((3, 4, 3, 5))
    _, log_det = layer.forward(z)
    sign, logabs = np.linalg.slogdet(layer.weight())
    np.testing.assert_allclose(log_det, 15 * logabs, rtol=1e-12)
    np.testing.assert_allclose(layer.weight() @ layer.inverse_weight(), np.eye(4), atol=1e-12)


def test_invconv_starts_as_a_rotation_and_is_a_per_pixel_matrix():
    rng = np.random.default_rng(5)
    layer = nf.InvConv1x1(3, rng=rng)
    w = layer.weight()
    np.testing.assert_allclose(w @ w.T, np.eye(3), atol=1e-12)
    z = rng.standard_normal((2, 3, 2, 2))
    x, log_det = layer.forward(z)
    np.testing.assert_allclose(x[1, :, 0, 1], w @ z[1, :, 0, 1], rtol=1e-12)
    np.testing.assert_allclose(log_det, 0.0, atol=1e-12)


def test_invconv_from_an_explicit_weight():
    w = np.array([[0.0, 2.0, 1.0], [1.0, 1.0, 0.0], [3.0, 0.0, -1.0]])  # needs pivoting
    layer = nf.InvConv1x1(3, weight=w)
    np.testing.assert_allclose(layer.weight(), w, atol=1e-14)
    z = np.random.default_rng(6).standard_normal((4, 3, 2, 2))
    _, log_det = layer.forward(z)
    np.testing.assert_allclose(log_det, 4 * np.log(abs(np.linalg.det(w))), rtol=1e-12)


def test_invconv_stays_invertible_for_any_parameters():
    rng = np.random.default_rng(7)
    layer = perturbed(nf.InvConv1x1(5, rng=rng), rng, scale=3.0)
    assert np.linalg.matrix_rank(layer.weight()) == 5
    z = rng.standard_normal((3, 5, 2, 2))
    assert checks.check_round_trip(layer, z) < 1e-9


@pytest.mark.parametrize("weight, message", [
    ([[1.0, 2.0], [2.0, 4.0]], "singular"),
    ([[1.0, 0.0], [0.0, 1e-14]], "singular"),
    (np.zeros((2, 2)), "singular"),
    ([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], "shape"),
    ([[1.0, np.nan], [0.0, 1.0]], "non-finite"),
])
def test_invconv_rejects_bad_weights(weight, message):
    with pytest.raises(ValueError, match=message):
        nf.InvConv1x1(2, weight=weight)


def test_invconv_needs_exactly_one_initialisation():
    with pytest.raises(ValueError, match="exactly one"):
        nf.InvConv1x1(2)
    with pytest.raises(ValueError, match="exactly one"):
        nf.InvConv1x1(2, rng=np.random.default_rng(0), weight=np.eye(2))


def test_invconv_overflowing_log_s_raises():
    layer = nf.InvConv1x1(2, rng=np.random.default_rng(0))
    layer.log_s[0] = 800.0
    with pytest.raises(ValueError, match="singular"):
        layer.forward(np.zeros((1, 2, 1, 1)))


# ---- Squeeze, Split, Reshape -------------------------------------------------------------------

def test_squeeze_moves_2x2_blocks_to_channels():
    z = np.arange(2 * 4 * 6, dtype=float).reshape(1, 2, 4, 6)
    x, log_det = nf.Squeeze().forward(z)
    assert x.shape == (1, 8, 2, 3) and log_det[0] == 0.0
    # channel 4k + 2a + b holds pixel (2i + a, 2j + b) of input channel k
    for k in range(2):
        for a in range(2):
            for b in range(2):
                np.testing.assert_array_equal(x[0, 4 * k + 2 * a + b], z[0, k, a::2, b::2])


@pytest.mark.parametrize("shape", [(1, 3, 4), (1, 4, 5), (2, 1, 1)])
def test_squeeze_rejects_odd_sizes(shape):
    with pytest.raises(ValueError, match="even height and width"):
        nf.Squeeze().forward(np.zeros((2, *shape)))


def test_unsqueeze_needs_multiple_of_four_channels():
    with pytest.raises(ValueError, match="multiple of 4"):
        nf.Squeeze().inverse(np.zeros((1, 6, 2, 2)))


def test_split_passes_factored_channels_unchanged():
    rng = np.random.default_rng(8)
    inner = perturbed(nf.InvConv1x1(2, rng=rng), rng)
    split = nf.Split(inner, keep=2)
    z = rng.standard_normal((3, 5, 2, 2))
    x, log_det = split.forward(z)
    np.testing.assert_array_equal(x[:, 2:], z[:, 2:])
    inner_x, inner_ld = inner.forward(z[:, :2])
    np.testing.assert_array_equal(x[:, :2], inner_x)
    np.testing.assert_array_equal(log_det, inner_ld)
    assert set(split.parameters()) == {f"inner.{k}" for k in inner.parameters()}


def test_split_rejects_shape_changing_inner_and_too_few_channels():
    split = nf.Split(nf.Squeeze(), keep=1)
    with pytest.raises(ValueError, match="keep the shape"):
        split.forward(np.zeros((1, 2, 2, 2)))
    with pytest.raises(ValueError, match="more than 2"):
        nf.Split(nf.ActNorm(2), keep=2).forward(np.zeros((1, 2, 2, 2)))


def test_reshape_checks_sizes_and_shapes():
    with pytest.raises(ValueError, match="cannot reshape"):
        nf.Reshape((2, 3), (5,))
    flat = nf.Flatten((2, 3, 3))
    x, log_det = flat.forward(np.ones((4, 2, 3, 3)))
    assert x.shape == (4, 18) and flat.dim == 18 and np.all(log_det == 0)
    with pytest.raises(ValueError, match="shape"):
        flat.forward(np.ones((4, 3, 3, 2)))
    with pytest.raises(ValueError, match="shape"):
        nf.Unflatten((2, 3, 3)).forward(np.ones((4, 17)))


def test_image_batch_validator():
    for bad, message in [(np.zeros((2, 3, 4)), "4-D"),
                         (np.full((1, 1, 2, 2), np.inf), "non-finite")]:
        with pytest.raises(ValueError, match=message):
            as_image_batch(bad)
    with pytest.raises(ValueError, match="shape"):
        as_image_batch(np.zeros((1, 2, 2, 2)), shape=(1, 2, 2))
    assert as_image_batch([[[[1]]]]).dtype == np.float64


# ---- a Glow-like model -----------------------------------------------------------------------

def test_glow_shapes_and_structure():
    rng = np.random.default_rng(9)
    model = nf.glow((1, 8, 8), n_levels=3, depth=2, hidden=(8,), rng=rng)
    z = rng.standard_normal((5, 1, 8, 8))
    x, log_det = model.forward(z)
    assert x.shape == z.shape and log_det.shape == (5,)
    assert isinstance(model[0], nf.Squeeze) and isinstance(model[1], nf.Split)
    assert isinstance(model[-1], nf.Inverse)
    assert model[1].keep == 2                             # half of the 4 squeezed channels
    with pytest.raises(ValueError, match="divisible by 8"):
        nf.glow((1, 4, 4), n_levels=3, depth=1, rng=rng)


def test_glow_flow_likelihood_gradient_matches_central_differences():
    rng = np.random.default_rng(10)
    shape = (1, 4, 4)
    model = nf.glow(shape, n_levels=2, depth=1, hidden=(4,), rng=rng)
    flow = nf.Flow(nf.StandardNormal(16), nf.flat_view(model, shape))
    x = rng.uniform(size=(6, 16))
    flow.log_prob(x)  # the ActNorms initialise on this batch
    for p in flow.parameters().values():
        p += 0.2 * rng.standard_normal(p.shape)
    _, grads = nf.nll_and_grad(flow, x)
    # every array except the 8x8 triangles of the inner level's InvConv1x1 (120 of their 128
    # entries; the per-layer gradient checks cover them) to keep the test fast
    arrays = {k: p for k, p in flow.parameters().items()
              if not (k.count("inner") and k.endswith(("lower", "upper")))}
    errors = checks.check_gradients(lambda: -float(np.mean(flow.log_prob(x))), arrays, grads)
    assert max(errors.values()) < 1e-6, max(errors, key=errors.get)


def test_glow_trains_on_digits():
    pytest.importorskip("sklearn", reason="the digits ship with scikit-learn (nflib[digits])")
    rng = np.random.default_rng(11)
    x, _ = nf.datasets.digits(rng)
    x = x[:400]
    model = nf.glow((1, 8, 8), n_levels=2, depth=1, hidden=(16,), rng=rng)
    flow = nf.Flow(nf.StandardNormal(64), nf.flat_view(model, (1, 8, 8)))
    before = -float(np.mean(flow.log_prob(x)))   # also runs the ActNorm initialisation
    history = nf.fit(flow, x, rng=rng, n_steps=30, batch_size=100, lr=3e-3)
    after = -float(np.mean(flow.log_prob(x)))
    assert after < before - 10.0, (before, after)
    assert nf.datasets.bits_per_dim(after, 64) < nf.datasets.bits_per_dim(before, 64)
    assert history.steps == 30


# ---- input handling: empty and tiny batches, failed calls change nothing ----------------------

def _state(layer):
    return {k: v.copy() for k, v in layer.parameters().items()}, layer.initialized


@pytest.mark.parametrize("direction", ["forward", "inverse"])
@pytest.mark.parametrize("shape", [(0, 3, 2, 2), (0, 3)], ids=["images", "vectors"])
def test_actnorm_refuses_to_initialise_from_an_empty_batch(direction, shape):
    layer = nf.ActNorm(3)
    with pytest.raises(ValueError, match="empty batch"):
        getattr(layer, direction)(np.zeros(shape))
    params, initialized = _state(layer)
    assert not initialized
    for v in params.values():
        np.testing.assert_array_equal(v, 0.0)          # no NaN written
    # the next, real batch initialises it as if nothing had happened
    x = np.random.default_rng(0).standard_normal((10, *shape[1:])) * 2 + 1
    out, _ = getattr(layer, direction)(x)
    axes = (0, *range(2, out.ndim))
    np.testing.assert_allclose(out.mean(axis=axes), 0.0, atol=1e-12)


@pytest.mark.parametrize("direction", ["forward", "inverse"])
def test_actnorm_refuses_one_example_and_says_why(direction):
    layer = nf.ActNorm(3)
    for shape in [(1, 3), (1, 3, 4, 4)]:
        with pytest.raises(ValueError, match=r"1 example.*at least 2 examples"):
            getattr(layer, direction)(np.ones(shape))
    assert not layer.initialized
    assert np.all(layer.log_scale == 0) and np.all(layer.bias == 0)


def test_actnorm_initialised_accepts_an_empty_batch():
    layer = nf.ActNorm(3)
    layer.inverse(np.random.default_rng(1).standard_normal((5, 3, 2, 2)))
    before = _state(layer)[0]
    for direction in ("forward", "inverse"):
        out, log_det = getattr(layer, direction)(np.zeros((0, 3, 2, 2)))
        assert out.shape == (0, 3, 2, 2) and log_det.shape == (0,)
    for k, v in layer.parameters().items():
        np.testing.assert_array_equal(v, before[k])


def test_invconv_accepts_an_empty_batch():
    layer = nf.InvConv1x1(4, rng=np.random.default_rng(2))
    for a in (np.zeros((0, 4, 2, 2)), np.zeros((0, 4))):
        x, log_det = layer.forward(a)
        z, _ = layer.inverse(x)
        assert x.shape == a.shape == z.shape and log_det.shape == (0,)


def _fresh_glow_flow(seed=3):
    model = nf.glow((1, 4, 4), n_levels=2, depth=1, hidden=(4,), rng=np.random.default_rng(seed))
    return model, nf.Flow(nf.StandardNormal(16), nf.flat_view(model, (1, 4, 4)))


def test_empty_batch_does_not_poison_a_fresh_glow_flow():
    from nflib.image import _actnorms

    model, flow = _fresh_glow_flow()
    for bad in (np.zeros((0, 16)), np.full((1, 16), 0.5)):
        with pytest.raises(ValueError, match="ActNorm cannot initialise"):
            flow.log_prob(bad)
        assert not any(a.initialized for a in _actnorms(model))
    x = np.random.default_rng(4).uniform(size=(20, 16))
    got = flow.log_prob(x)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, _fresh_glow_flow()[1].log_prob(x), rtol=1e-12)
    # once initialised, an empty batch gives empty results
    assert flow.log_prob(np.zeros((0, 16))).shape == (0,)
    assert flow.sample(0, np.random.default_rng(5)).shape == (0, 16)


def test_failed_glow_call_leaves_every_actnorm_as_it_was():
    from nflib.image import _actnorms

    model, flow = _fresh_glow_flow()
    inner_conv = [b for b in model[1].inner.bijections if isinstance(b, nf.InvConv1x1)][0]
    inner_conv.log_s[0] = 800.0            # the inner level fails after the outer one ran
    x = np.random.default_rng(6).uniform(size=(8, 16))
    with pytest.raises(ValueError, match="singular"):
        flow.log_prob(x)
    for layer in _actnorms(model):
        assert not layer.initialized
        assert np.all(layer.log_scale == 0) and np.all(layer.bias == 0)
    with pytest.raises(ValueError, match="explicit"):
        nf.ActNorm(2, log_scale=[0, 0], bias=[0, 0]).reset()


def test_actnorm_initial_parameters_match_the_moments():
    rng = np.random.default_rng(7)
    x = 2.0 + 3.0 * rng.standard_normal((50, 2, 3, 3))
    layer = nf.ActNorm(2)
    log_scale, bias = layer.initial_parameters(x)
    np.testing.assert_allclose(bias, x.mean(axis=(0, 2, 3)))
    np.testing.assert_allclose(np.exp(log_scale), x.std(axis=(0, 2, 3)))
    assert not layer.initialized
    with pytest.raises(ValueError, match="direction"):
        layer.initial_parameters(x, "sideways")
