"""Every hand-written gradient against central differences (relative error 1e-6).

Per layer (for every bijection in the registry and every direction it is trained in), through the
MLP conditioner, and through whole flows: ``nll_and_grad`` for layers trained by likelihood and
``reverse_kl_and_grad`` for layers trained by reverse KL, including dL/d(input).
"""

from __future__ import annotations

import numpy as np
import pytest

import nflib as nf
from nflib import checks
from bijection_registry import CASES, perturbed

TOL = 1e-6

#: each registered bijection in every direction it declares a gradient for
GRADIENT_CASES = [(case, direction) for case in CASES
                  for direction in case.factory(np.random.default_rng(0)).trained_directions]


def _assert_small(errors):
    worst = max(errors, key=errors.get)
    assert errors[worst] <= TOL, f"{worst}: relative error {errors[worst]:.2e} (all: {errors})"


@pytest.mark.parametrize("case, direction", GRADIENT_CASES,
                         ids=[f"{c.name}-{d}" for c, d in GRADIENT_CASES])
def test_layer_backward_matches_central_differences(case, direction):
    rng = np.random.default_rng(20)
    bijection = case.factory(rng)
    inputs = rng.standard_normal((5, *case.shape))
    if direction == "inverse":
        inputs = bijection.forward(inputs)[0]
    errors = checks.check_backward(bijection, inputs, direction, rng=rng)
    assert set(errors) == set(bijection.parameters()) | {"input"}
    _assert_small(errors)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_mlp_backward(activation):
    rng = np.random.default_rng(21)
    net = perturbed(nf.MLP(3, 4, (6, 5), rng=rng, activation=activation), rng)
    h = rng.standard_normal((7, 3))
    g_out = rng.standard_normal((7, 4))
    out, cache = net.forward_cached(h)
    g_h, grads = net.backward(cache, g_out)
    errors = checks.check_gradients(lambda: float(np.sum(g_out * net(h))),
                                    {**net.parameters(), "input": h}, {**grads, "input": g_h})
    _assert_small(errors)


# ---- whole flows -------------------------------------------------------------------------------

def _likelihood_flow(rng):
    """Layers trained by likelihood, composed: couplings, MAF, affine and permutations."""
    layers = [nf.Affine(3), nf.AffineCoupling([1, 0, 1], (8, 8), rng=rng), nf.Reverse(3),
              nf.AdditiveCoupling([0, 1, 1], (8,), rng=rng), nf.MAF(3, (8,), rng=rng),
              nf.Permute([2, 0, 1]), nf.AffineCoupling([0, 1, 0], (8,), rng=rng)]
    return nf.Flow(nf.StandardNormal(3), perturbed(nf.Compose(layers), rng))


def _reverse_kl_flow(rng):
    """Layers trained by reverse KL, composed: planar, IAF, couplings, affine."""
    layers = [nf.Planar(3, rng=rng), nf.IAF(3, (8,), rng=rng), nf.Reverse(3),
              nf.AffineCoupling([1, 1, 0], (8,), rng=rng), nf.Affine(3),
              nf.AdditiveCoupling([0, 1, 0], (8,), rng=rng), nf.Planar(3, rng=rng)]
    return nf.Flow(nf.StandardNormal(3), perturbed(nf.Compose(layers), rng))


_PRECISION = np.array([[2.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.5]])
_MEAN = np.array([1.0, -0.5, 0.25])


def _log_target(x):
    """An unnormalised non-Gaussian target: a quadratic plus a quartic term."""
    d = x - _MEAN
    return -0.5 * np.einsum("ni,ij,nj->n", d, _PRECISION, d) - 0.05 * np.sum(x ** 4, axis=1)


def _grad_log_target(x):
    return -(x - _MEAN) @ _PRECISION - 0.2 * x ** 3


def test_nll_and_grad_matches_central_differences():
    rng = np.random.default_rng(22)
    flow = _likelihood_flow(rng)
    x = 1.3 * rng.standard_normal((16, 3)) + 0.5
    loss, grads = nf.nll_and_grad(flow, x)
    nll = lambda: float(-np.mean(flow.log_prob(x)))  # noqa: E731
    assert loss == pytest.approx(nll(), rel=1e-14)
    assert set(grads) == set(flow.parameters())
    _assert_small(checks.check_gradients(nll, flow.parameters(), grads))


def test_nll_gradient_with_respect_to_data():
    rng = np.random.default_rng(23)
    flow = _likelihood_flow(rng)
    x = rng.standard_normal((16, 3))
    n = x.shape[0]
    z, _, cache = flow.bijection.inverse_cached(x)
    g_x, _ = flow.bijection.inverse_backward(cache, -flow.base.grad_log_prob(z) / n,
                                              np.full(n, -1.0 / n))
    nll = lambda: float(-np.mean(flow.log_prob(x)))  # noqa: E731
    _assert_small(checks.check_gradients(nll, {"x": x}, {"x": g_x}))


def _reverse_kl(flow, n, seed):
    """The reverse-KL loss at fixed base samples (the seed), as reverse_kl_and_grad computes it."""
    z = flow.base.sample(n, np.random.default_rng(seed))
    x, log_det = flow.bijection.forward(z)
    return float(np.mean(flow.base.log_prob(z) - log_det - _log_target(x)))


def test_reverse_kl_and_grad_matches_central_differences():
    rng = np.random.default_rng(24)
    flow = _reverse_kl_flow(rng)
    loss, grads = nf.reverse_kl_and_grad(flow, _log_target, _grad_log_target, 16,
                                         np.random.default_rng(0))
    kl = lambda: _reverse_kl(flow, 16, seed=0)  # noqa: E731
    assert loss == pytest.approx(kl(), rel=1e-14)
    assert set(grads) == set(flow.parameters())
    _assert_small(checks.check_gradients(kl, flow.parameters(), grads))


def test_reverse_kl_gradient_with_respect_to_base_samples():
    rng = np.random.default_rng(25)
    flow = _reverse_kl_flow(rng)
    z = rng.standard_normal((16, 3))
    n = z.shape[0]

    def kl():
        x, log_det = flow.bijection.forward(z)
        return float(np.mean(flow.base.log_prob(z) - log_det - _log_target(x)))

    x, _, cache = flow.bijection.forward_cached(z)
    g_z, _ = flow.bijection.forward_backward(cache, -_grad_log_target(x) / n, np.full(n, -1.0 / n))
    g_z += flow.base.grad_log_prob(z) / n  # the log p_Z(z) term
    _assert_small(checks.check_gradients(kl, {"z": z}, {"z": g_z}))


def test_gradients_are_fresh_arrays():
    """Gradients must not alias the parameters or each other (an optimiser updates in place)."""
    rng = np.random.default_rng(26)
    flow = _likelihood_flow(rng)
    _, grads = nf.nll_and_grad(flow, rng.standard_normal((8, 3)))
    params = flow.parameters()
    for name, g in grads.items():
        assert g.shape == params[name].shape
        assert not np.shares_memory(g, params[name]), name


def test_an_identically_zero_gradient_is_checked_as_zero():
    """A parameter the loss does not depend on has gradient 0; its central difference is
    round-off noise, which must not be reported as a relative error near 1."""
    rng = np.random.default_rng(27)
    a, unused = rng.standard_normal(5), rng.standard_normal(3)

    def loss():
        return float(np.sum(np.sin(a)) + 1e3)        # a large loss: large round-off

    errors = checks.check_gradients(loss, {"a": a, "unused": unused},
                                    {"a": np.cos(a), "unused": np.zeros(3)})
    assert errors["unused"] <= TOL and errors["a"] <= TOL, errors
    wrong = checks.check_gradients(loss, {"unused": unused}, {"unused": np.full(3, 0.1)})
    assert wrong["unused"] > 1e3 * TOL, wrong
