"""Properties every bijection must have, plus the specific ones of planar flows and MADE.

The generic tests loop over ``bijection_registry.CASES``: round trips, log-determinants against
central-difference Jacobians, batch independence, input validation.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import nflib as nf
from nflib import checks
from bijection_registry import CASES, perturbed

N = 6  # samples per batch in the generic tests


def _inputs(case, seed=0):
    rng = np.random.default_rng(seed)
    bijection = case.factory(rng)
    z = rng.standard_normal((N, *case.shape))
    return bijection, z, rng


def _has_parameters(bijection):
    return bool(bijection.parameters())


@pytest.fixture(params=CASES, ids=[c.name for c in CASES])
def case(request):
    return request.param


# ---- generic properties ------------------------------------------------------------------------

def test_round_trip_both_ways(case):
    bijection, z, rng = _inputs(case)
    x_shape = bijection.forward(z)[0].shape
    x = 1.5 * rng.standard_normal(x_shape)
    assert checks.check_round_trip(bijection, z, x) <= 1e-10


def test_log_det_matches_central_difference_jacobian(case):
    bijection, z, _ = _inputs(case)
    errors = checks.check_log_det(bijection, z)
    assert errors["forward"] <= 1e-6, errors
    assert errors["inverse"] <= 1e-6, errors
    assert errors["consistency"] <= 1e-10, errors


def test_inverse_log_det_is_minus_forward_log_det(case):
    bijection, z, _ = _inputs(case)
    x, ld_forward = bijection.forward(z)
    _, ld_inverse = bijection.inverse(x)
    np.testing.assert_allclose(ld_inverse, -ld_forward, rtol=0, atol=1e-10)


def test_shapes_and_dtypes(case):
    bijection, z, _ = _inputs(case)
    x, log_det = bijection.forward(z)
    z_back, log_det_inv = bijection.inverse(x)
    assert log_det.shape == (N,) and log_det_inv.shape == (N,)
    assert x.shape[0] == N and z_back.shape == z.shape
    assert x.dtype == log_det.dtype == z_back.dtype == np.float64


def test_batched_equals_per_sample(case):
    bijection, z, _ = _inputs(case)
    x, log_det = bijection.forward(z)
    z_back, log_det_inv = bijection.inverse(x)
    for i in range(N):
        xi, ldi = bijection.forward(z[i:i + 1])
        zi, ldi_inv = bijection.inverse(x[i:i + 1])
        np.testing.assert_allclose(xi[0], x[i], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ldi[0], log_det[i], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(zi[0], z_back[i], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ldi_inv[0], log_det_inv[i], rtol=1e-12, atol=1e-12)


def test_parametrised_cases_are_not_the_identity(case):
    """The registry perturbs parameters: a check on an identity map would prove nothing."""
    bijection, z, _ = _inputs(case)
    if not _has_parameters(bijection):
        pytest.skip("no parameters")
    x, log_det = bijection.forward(z)
    if x.shape == z.shape:
        assert np.max(np.abs(x - z)) > 1e-2, f"{case.name}: the registered case is the identity"
    if not bijection.volume_preserving:
        assert np.max(np.abs(log_det)) > 1e-3, (
            f"{case.name} ({type(bijection).__name__}): log|det| is 0 on perturbed parameters; "
            "if it is 0 for every parameter value, declare volume_preserving = True on the class, "
            "else perturb the case's parameters further")


VOLUME_PRESERVING = [c for c in CASES if c.factory(np.random.default_rng(0)).volume_preserving]


@pytest.mark.parametrize("case", VOLUME_PRESERVING, ids=[c.name for c in VOLUME_PRESERVING])
def test_volume_preservation_is_as_declared(case):
    """A layer declaring ``volume_preserving`` has log|det| = 0 both ways (one that does not
    declare it is checked to change volume above, when it has parameters)."""
    bijection, z, _ = _inputs(case)
    x, ld_forward = bijection.forward(z)
    _, ld_inverse = bijection.inverse(x)
    assert np.all(ld_forward == 0) and np.all(ld_inverse == 0), (
        f"{case.name} ({type(bijection).__name__}) declares volume_preserving = True but its "
        f"log|det| is {ld_forward} forward and {ld_inverse} inverse")


def test_every_exported_bijection_has_a_case():
    """Each Bijection class that nflib exports is the top-level class of some registry case."""
    registered = {type(case.factory(np.random.default_rng(0))) for case in CASES}
    exported = {cls for cls in vars(nf).values()
                if isinstance(cls, type) and issubclass(cls, nf.Bijection) and cls is not nf.Bijection}
    missing = sorted(cls.__name__ for cls in exported - registered)
    assert not missing, (f"exported bijections without a case in tests/bijection_registry.py: "
                         f"{missing}")


def test_a_subclass_may_not_override_forward_or_inverse():
    """``Compose`` and ``Flow`` call the cached paths; an override of forward would be skipped."""
    with pytest.raises(TypeError, match="forward_cached"):
        class Doubling(nf.Bijection):
            def forward(self, z):
                return 2 * z, np.full(len(z), np.log(2.0))
    with pytest.raises(TypeError, match="inverse_cached"):
        class Halving(nf.Bijection):
            def inverse(self, x):
                return x / 2, np.full(len(x), -np.log(2.0))


def test_trained_directions_are_derived_from_the_backward_passes():
    rng = np.random.default_rng(0)
    assert nf.MAF(3, (4,), rng=rng).trained_directions == ("inverse",)
    assert nf.Inverse(nf.MAF(3, (4,), rng=rng)).trained_directions == ("forward",)
    assert nf.Compose([nf.Planar(3, rng=rng), nf.Reverse(3)]).trained_directions == ("forward",)
    assert nf.Compose([nf.Planar(3, rng=rng), nf.MAF(3, (4,), rng=rng)]).trained_directions == ()
    assert nf.Compose([nf.Reverse(3), nf.AdditiveCoupling([1, 0, 1], rng=rng)]).volume_preserving
    assert not nf.Compose([nf.Reverse(3), nf.Affine(3)]).volume_preserving


def test_parameters_are_live_and_stable(case):
    bijection, z, _ = _inputs(case)
    first, second = bijection.parameters(), bijection.parameters()
    assert list(first) == list(second)
    for name in first:
        assert first[name] is second[name], name
        assert first[name].dtype == np.float64
    if first:
        x_before = bijection.forward(z)[0]
        for p in first.values():
            p += 0.1
        assert not np.allclose(bijection.forward(z)[0], x_before)


@pytest.mark.parametrize("direction", ["forward", "inverse"])
def test_wrong_shapes_raise(case, direction):
    bijection, z, _ = _inputs(case)
    apply = getattr(bijection, direction)
    v = z if direction == "forward" else bijection.forward(z)[0]
    for bad in (v.reshape(-1), v[..., None]):
        with pytest.raises(ValueError, match=r"(?i)shape|dimension|column|width|channel"):
            apply(bad)
    if len(case.shape) == 1:
        with pytest.raises(ValueError, match=r"(?i)column|shape"):
            apply(np.concatenate([v, v[:, :1]], axis=1))


@pytest.mark.parametrize("direction", ["forward", "inverse"])
@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_non_finite_input_raises(case, direction, bad_value):
    bijection, z, _ = _inputs(case)
    v = (z if direction == "forward" else bijection.forward(z)[0]).copy()
    v.reshape(-1)[3] = bad_value
    with pytest.raises(ValueError, match=r"(?i)non-finite"):
        getattr(bijection, direction)(v)


# ---- identity at initialisation ----------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda rng: nf.AdditiveCoupling([1, 0, 1], rng=rng),
    lambda rng: nf.AffineCoupling([0, 1, 1], rng=rng),
    lambda rng: nf.MAF(3, (16,), rng=rng),
    lambda rng: nf.IAF(3, (16,), rng=rng),
    lambda rng: nf.Affine(3),
], ids=["additive", "affine_coupling", "maf", "iaf", "affine"])
def test_new_layers_start_as_the_identity(make):
    rng = np.random.default_rng(1)
    layer = make(rng)
    z = rng.standard_normal((5, 3))
    x, log_det = layer.forward(z)
    np.testing.assert_array_equal(x, z)
    np.testing.assert_array_equal(log_det, np.zeros(5))


def test_realnvp_alternates_masks():
    flow = nf.realnvp(3, 4, (8,), rng=np.random.default_rng(0))
    masks = [layer.mask.astype(int).tolist() for layer in flow]
    assert masks == [[1, 0, 1], [0, 1, 0], [1, 0, 1], [0, 1, 0]]
    assert all(isinstance(layer, nf.AffineCoupling) for layer in flow)


# ---- planar flow ---------------------------------------------------------------------------------

def test_planar_constraint_keeps_it_invertible():
    """w^T u_hat = -1 + softplus(w^T u) >= -1 for any u, even one pointing hard against w, and
    the log-determinant stays finite where tanh' = 1 (w^T z + b = 0), the worst point."""
    rng = np.random.default_rng(2)
    for scale in np.geomspace(0.1, 40.0, 12):
        layer = nf.Planar(4, rng=rng)
        layer.u[:] = -scale * layer.w / (layer.w @ layer.w)  # w^T u = -scale
        layer.b[:] = 0.7
        u_hat, m, sp, *_ = layer._constrained()
        assert m >= -1 and sp > 0
        assert layer.w @ u_hat == pytest.approx(m, abs=1e-12)
        z_flat = np.outer([-0.7], layer.w / (layer.w @ layer.w))  # w^T z + b = 0
        log_det = layer.forward(z_flat)[1]
        assert np.isfinite(log_det[0])
        assert log_det[0] == pytest.approx(np.log(sp), rel=1e-9)


def test_planar_inverse_near_the_non_invertible_edge():
    """With w^T u_hat = -0.999 the scalar equation is almost flat at w^T z + b = 0 (slope 1e-3);
    Newton steps overshoot there and the bisection safeguard must take over."""
    rng = np.random.default_rng(3)
    layer = nf.Planar(2, rng=rng)
    w2 = layer.w @ layer.w
    layer.u[:] = np.log(np.expm1(1e-3)) * layer.w / w2  # softplus(w^T u) = 1e-3
    layer.b[:] = 0.3
    _, m, *_ = layer._constrained()
    assert abs(m + 0.999) < 1e-12
    # half the points on the flat spot: w^T z + b within 0.05 of zero
    across = np.array([-layer.w[1], layer.w[0]])
    a = rng.uniform(-0.05, 0.05, 100)
    near = np.outer(a - 0.3, layer.w / w2) + np.outer(rng.standard_normal(100), across)
    z = np.concatenate([rng.standard_normal((100, 2)), near])
    assert checks.check_round_trip(layer, z) <= 1e-10


def test_planar_zero_w_raises():
    layer = nf.Planar(3, rng=np.random.default_rng(0))
    layer.w[:] = 0.0
    for apply in (layer.forward, layer.inverse):
        with pytest.raises(ValueError, match="w is zero"):
            apply(np.zeros((2, 3)))


# ---- MADE ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("d, hidden", [(4, (16, 16)), (6, (3, 7)), (2, (5,))])
def test_made_masks_are_autoregressive(d, hidden):
    made = nf.MADE(d, hidden, rng=np.random.default_rng(0))
    c = made.connectivity()  # C[j, i]: paths from input j to output i
    assert np.all(np.tril(c) == 0), "output i must not see inputs j >= i"
    assert np.all(np.triu(c, 1)[:, 1:].sum(axis=0) > 0), "output i >= 1 must see some input"
    for k, mask in enumerate(made.masks[:-1]):
        assert np.all(mask.sum(axis=0) > 0), f"a unit of hidden layer {k} has no input"
        assert np.all(made.masks[k + 1].sum(axis=1) > 0), f"hidden layer {k}: a unit has no output"


def test_made_output_i_ignores_inputs_from_i_on():
    rng = np.random.default_rng(4)
    d = 5
    made = nf.MADE(d, (16, 16), rng=rng)
    perturbed(made, rng, scale=0.5)  # including masked entries: the masks must still hold
    x = rng.standard_normal((8, d))
    mu, s = made(x)
    for i in range(d):
        moved = x.copy()
        moved[:, i:] += rng.standard_normal((8, d - i)) * 3
        mu2, s2 = made(moved)
        np.testing.assert_array_equal(mu2[:, :i + 1], mu[:, :i + 1])
        np.testing.assert_array_equal(s2[:, :i + 1], s[:, :i + 1])
        if i + 1 < d:  # ... and output i+1 does depend on input i
            assert np.max(np.abs(mu2[:, i + 1] - mu[:, i + 1])) > 1e-6


@pytest.mark.parametrize("cls, one_pass", [(nf.MAF, "inverse"), (nf.IAF, "forward")])
def test_autoregressive_pass_counts(cls, one_pass):
    """MAF: density (inverse) in one MADE pass, sampling in d; IAF the other way round."""
    d = 4
    layer = cls(d, (8,), rng=np.random.default_rng(13))
    calls = []
    original = layer.made.forward_cached
    layer.made.forward_cached = lambda x: calls.append(1) or original(x)
    z = np.random.default_rng(14).standard_normal((3, d))
    for direction in ("forward", "inverse"):
        calls.clear()
        getattr(layer, direction)(z)
        assert len(calls) == (1 if direction == one_pass else d), direction


def test_made_log_scale_is_soft_clamped():
    rng = np.random.default_rng(5)
    made = perturbed(nf.MADE(3, (8,), rng=rng, clamp=2.0), rng, scale=20.0)
    _, s = made(rng.standard_normal((50, 3)) * 10)
    assert np.all(np.abs(s) <= 2.0) and np.max(np.abs(s)) > 1.9


# ---- extreme inputs and bad parameters -----------------------------------------------------------

def _extreme_flows():
    rng = np.random.default_rng(6)
    mixed = nf.Compose([nf.Affine(2), nf.Planar(2, rng=rng), nf.MAF(2, (8,), rng=rng),
                        nf.AdditiveCoupling([1, 0], (8,), rng=rng), nf.Reverse(2),
                        nf.IAF(2, (8,), rng=rng), nf.Planar(2, rng=rng)])
    return {
        "realnvp_tanh": nf.Flow(nf.StandardNormal(2),
                                perturbed(nf.realnvp(2, 4, (16, 16), rng=rng), rng, 0.5)),
        "realnvp_relu": nf.Flow(nf.StandardNormal(2), perturbed(
            nf.realnvp(2, 4, (16, 16), rng=rng, activation="relu"), rng, 0.5)),
        "mixed": nf.Flow(nf.StandardNormal(2), perturbed(mixed, rng, 0.5)),
        "uniform_base": nf.Flow(nf.Uniform(2, -1, 1),
                                perturbed(nf.realnvp(2, 2, (8,), rng=rng), rng, 0.5)),
    }


@pytest.mark.parametrize("name", list(_extreme_flows()))
def test_extreme_inputs_give_finite_or_minus_inf_log_density(name):
    flow = _extreme_flows()[name]
    values = np.array([-1e6, -1e3, -1.0, 0.0, 1e-300, 1.0, 1e3, 1e6])
    x = np.stack(np.meshgrid(values, values), axis=-1).reshape(-1, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log_p = flow.log_prob(x)
        samples = flow.sample(100, np.random.default_rng(0))
    assert not np.any(np.isnan(log_p))
    assert np.all(np.isfinite(log_p) | (log_p == -np.inf))
    assert np.all(log_p < np.inf)
    assert np.all(np.isfinite(samples))
    if name == "uniform_base":
        assert np.any(log_p == -np.inf)


def test_bad_parameters_and_settings_raise():
    rng = np.random.default_rng(7)
    cases = [
        (lambda: nf.Affine(2, log_scale=[0.0, 800.0]).forward(np.zeros((1, 2))), "singular"),
        (lambda: nf.Affine(2, log_scale=[0.0, np.nan]).inverse(np.zeros((1, 2))), "non-finite"),
        (lambda: nf.Affine(2, shift=[1.0, 2.0, 3.0]), "shape"),
        (lambda: nf.Permute([0, 2, 2]), "permutation"),
        (lambda: nf.Permute([0.0, 1.0]), "integers"),
        (lambda: nf.Reverse(0), "positive integer"),
        (lambda: nf.AffineCoupling([1, 1, 1], rng=rng), "both"),
        (lambda: nf.AffineCoupling([0, 0], rng=rng), "both"),
        (lambda: nf.AffineCoupling([1, 2], rng=rng), "binary"),
        (lambda: nf.AffineCoupling([[1, 0]], rng=rng), "1-D"),
        (lambda: nf.AffineCoupling([1, 0], rng=rng, clamp=0.0), "clamp"),
        (lambda: nf.AdditiveCoupling([1, 0], (0,), rng=rng), "hidden width"),
        (lambda: nf.AdditiveCoupling([1, 0], rng=rng, activation="sigmoid"), "activation"),
        (lambda: nf.MADE(1, rng=rng), "d >= 2"),
        (lambda: nf.MAF(3, (), rng=rng), "hidden layer"),
        (lambda: nf.realnvp(1, 4, rng=rng), "d >= 2"),
        (lambda: nf.realnvp(2, 0, rng=rng), "n_layers"),
        (lambda: nf.Planar(0, rng=rng), "positive integer"),
    ]
    for make, message in cases:
        with pytest.raises(ValueError, match=message):
            make()


# ---- a flow's density ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def flow_2d():
    rng = np.random.default_rng(9)
    return nf.Flow(nf.StandardNormal(2), perturbed(nf.realnvp(2, 4, (16, 16), rng=rng), rng, 0.25))


@pytest.fixture(scope="module")
def density_on_grid(flow_2d):
    t = np.linspace(-10.0, 10.0, 601)
    xx, yy = np.meshgrid(t, t, indexing="ij")
    grid = np.stack([xx.ravel(), yy.ravel()], axis=1)
    p = np.exp(flow_2d.log_prob(grid)).reshape(xx.shape)
    return t, xx, yy, p


def _integrate(t, values):
    return np.trapezoid(np.trapezoid(values, t, axis=1), t)


def test_flow_density_integrates_to_one(density_on_grid):
    t, _, _, p = density_on_grid
    edges = np.concatenate([p[0], p[-1], p[:, 0], p[:, -1]])
    assert edges.max() < 1e-6  # the mass outside the grid is negligible
    assert abs(_integrate(t, p) - 1.0) < 1e-3


def test_sample_moments_agree_with_density(flow_2d, density_on_grid):
    t, xx, yy, p = density_on_grid
    mean = np.array([_integrate(t, xx * p), _integrate(t, yy * p)])
    cxx = _integrate(t, (xx - mean[0]) ** 2 * p)
    cyy = _integrate(t, (yy - mean[1]) ** 2 * p)
    cxy = _integrate(t, (xx - mean[0]) * (yy - mean[1]) * p)
    cov = np.array([[cxx, cxy], [cxy, cyy]])
    assert np.max(np.abs(cov - np.eye(2))) > 0.05  # the flow is not just the base distribution

    n = 200_000
    x = flow_2d.sample(n, np.random.default_rng(90))
    sample_mean = x.mean(axis=0)
    centred = x - sample_mean
    products = centred[:, :, None] * centred[:, None, :]
    sample_cov = products.mean(axis=0)
    # five standard errors of each estimate
    assert np.all(np.abs(sample_mean - mean) < 5 * x.std(axis=0) / np.sqrt(n))
    assert np.all(np.abs(sample_cov - cov) < 5 * products.std(axis=0) / np.sqrt(n))


def test_sample_and_log_prob_agree(flow_2d):
    x, log_q = flow_2d.sample_and_log_prob(50, np.random.default_rng(10))
    np.testing.assert_allclose(log_q, flow_2d.log_prob(x), rtol=0, atol=1e-10)


# ---- the checks themselves can fail --------------------------------------------------------------

def test_numerical_jacobian_of_a_linear_map():
    a = np.array([[2.0, 1.0], [-0.5, 3.0]])
    z = np.random.default_rng(11).standard_normal((4, 2))
    jac = checks.numerical_jacobian(lambda v: v @ a.T, z)
    np.testing.assert_allclose(jac, np.broadcast_to(a, (4, 2, 2)), atol=1e-9)
    np.testing.assert_allclose(checks.numerical_log_det(lambda v: v @ a.T, z),
                               np.log(abs(np.linalg.det(a))), atol=1e-9)


def test_checks_detect_a_wrong_log_det_and_a_wrong_gradient():
    class Broken(nf.Affine):
        def forward_cached(self, z):
            x, log_det, cache = super().forward_cached(z)
            return x, 2.0 * log_det, cache

        def forward_backward(self, cache, grad_x, grad_log_det):
            g_z, grads = super().forward_backward(cache, grad_x, grad_log_det)
            return g_z, {**grads, "shift": 1.01 * grads["shift"]}

    layer = Broken(2, log_scale=[0.3, -0.2], shift=[1.0, 2.0])
    z = np.random.default_rng(12).standard_normal((3, 2))
    assert checks.check_log_det(layer, z)["forward"] > 0.05
    errors = checks.check_backward(layer, z, rng=np.random.default_rng(0))
    assert errors["shift"] > 1e-3 and errors["log_scale"] > 1e-3 and errors["input"] < 1e-6


def test_planar_takes_initial_values():
    layer = nf.Planar(2, rng=None, w=[1.0, 0.0], u=[0.5, 0.5], b=0.25)
    assert layer.w.tolist() == [1.0, 0.0] and layer.u.tolist() == [0.5, 0.5]
    assert layer.b.tolist() == [0.25]
    x, _ = layer.forward(np.zeros((1, 2)))
    m = -1.0 + np.log1p(np.exp(0.5))                      # m(w.u), w.u = 0.5
    u_hat = np.array([0.5, 0.5]) + (m - 0.5) * np.array([1.0, 0.0])
    assert np.allclose(x, u_hat * np.tanh(0.25))          # x = z + u_hat h(w.z + b) at z = 0
    with pytest.raises(ValueError, match="shape"):
        nf.Planar(2, rng=None, w=[1.0], u=[0.5, 0.5])
    with pytest.raises(ValueError, match="rng"):
        nf.Planar(2, rng=None, w=[1.0, 0.0])
