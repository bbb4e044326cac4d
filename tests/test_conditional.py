"""Conditional bijections and flows (nflib.conditional): the generic bijection properties with a
context (round trip, log-determinant against a central-difference Jacobian, hand-written
gradients for parameters, input and context against finite differences), the conditional
maximum-likelihood loss with an embedding network, and input validation of the context."""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import pytest

import nflib as nf
from nflib import checks
from bijection_registry import perturbed

N = 6
K = 2  # context dimension in the cases


class CCase(NamedTuple):
    name: str
    factory: Callable
    dim: int
    directions: tuple = ("forward", "inverse")


CASES = [
    CCase("cond_affine_coupling", lambda rng: perturbed(
        nf.ConditionalAffineCoupling([1, 0, 1], K, (8, 8), rng=rng), rng), 3),
    CCase("cond_affine_coupling_all_moved", lambda rng: perturbed(
        nf.ConditionalAffineCoupling([0, 0], K, (8,), rng=rng), rng), 2),
    CCase("cond_affine_coupling_1d", lambda rng: perturbed(
        nf.ConditionalAffineCoupling([0], K, (8,), rng=rng, activation="relu"), rng), 1),
    CCase("cond_spline_coupling", lambda rng: perturbed(
        nf.ConditionalSplineCoupling([0, 1, 0], K, (8,), rng=rng, bins=4, bound=2.0), rng), 3),
    CCase("cond_maf", lambda rng: perturbed(nf.ConditionalMAF(3, K, (8, 8), rng=rng), rng), 3,
          ("inverse",)),
    CCase("cond_compose", lambda rng: perturbed(nf.ConditionalCompose([
        nf.ConditionalAffineCoupling([1, 0], K, (8,), rng=rng), nf.Reverse(2), nf.Affine(2),
        nf.ConditionalSplineCoupling([1, 0], K, (8,), rng=rng, bins=3, bound=2.5)]), rng), 2),
]


@pytest.fixture(params=CASES, ids=[c.name for c in CASES])
def case(request):
    return request.param


def _inputs(case, seed=0):
    rng = np.random.default_rng(seed)
    b = case.factory(rng)
    return b, rng.standard_normal((N, case.dim)), rng.standard_normal((N, K)), rng


def test_round_trip_with_a_context(case):
    b, z, c, rng = _inputs(case)
    x, _ = b.forward(z, c)
    assert np.max(np.abs(b.inverse(x, c)[0] - z)) <= 1e-10
    x2 = 1.5 * rng.standard_normal((N, case.dim))
    assert np.max(np.abs(b.forward(b.inverse(x2, c)[0], c)[0] - x2)) <= 1e-10


def test_log_det_matches_central_difference_jacobian(case):
    b, z, c, _ = _inputs(case)
    x, ld_forward = b.forward(z, c)
    _, ld_inverse = b.inverse(x, c)
    num_f = checks.numerical_log_det(lambda v: b.forward(v, c)[0], z)
    num_i = checks.numerical_log_det(lambda v: b.inverse(v, c)[0], x)
    assert np.max(np.abs(ld_forward - num_f)) <= 1e-6
    assert np.max(np.abs(ld_inverse - num_i)) <= 1e-6
    assert np.max(np.abs(ld_inverse + ld_forward)) <= 1e-10


def test_the_context_changes_the_map(case):
    b, z, c, _ = _inputs(case)
    x1, ld1 = b.forward(z, c)
    x2, ld2 = b.forward(z, c + 1.0)
    assert np.max(np.abs(x1 - x2)) > 1e-3 and np.max(np.abs(ld1 - ld2)) > 1e-4


def test_batched_equals_per_sample(case):
    b, z, c, _ = _inputs(case)
    x, ld = b.forward(z, c)
    for i in range(N):
        xi, ldi = b.forward(z[i:i + 1], c[i])
        np.testing.assert_allclose(xi[0], x[i], atol=1e-12)
        np.testing.assert_allclose(ldi[0], ld[i], atol=1e-12)


@pytest.mark.parametrize("direction", ["forward", "inverse"])
def test_gradients_match_finite_differences(case, direction):
    """L = sum(G * out) + sum(g * log_det): parameters, input and context."""
    if direction not in case.directions:
        pytest.skip(f"{case.name} is not trained in the {direction} direction")
    b, z, c, rng = _inputs(case)
    v = z if direction == "forward" else b.forward(z, c)[0]
    v = v.copy()
    run = getattr(b, f"{direction}_cached")
    out, log_det, cache = run(v, c)
    G, g = rng.standard_normal(out.shape), rng.standard_normal(log_det.shape)

    def loss():
        o, ld, _ = run(v, c)
        return float(np.sum(G * o) + np.sum(g * ld))

    g_in, grads, g_c = getattr(b, f"{direction}_backward")(cache, G, g)
    errors = checks.check_gradients(loss, {**b.parameters(), "input": v, "context": c},
                                    {**grads, "input": g_in, "context": g_c})
    assert max(errors.values()) <= 1e-6, errors


def test_new_couplings_and_maf_start_as_the_identity():
    rng = np.random.default_rng(1)
    z, c = rng.standard_normal((4, 3)), rng.standard_normal((4, K))
    for b in (nf.ConditionalAffineCoupling([1, 0, 0], K, rng=rng), nf.ConditionalMAF(3, K, rng=rng),
              nf.ConditionalSplineCoupling([1, 0, 1], K, rng=rng)):
        x, ld = b.forward(z, c)
        np.testing.assert_allclose(x, z, atol=1e-12)
        np.testing.assert_allclose(ld, 0.0, atol=1e-12)


@pytest.mark.parametrize("direction", ["forward", "inverse"])
def test_bad_contexts_raise(case, direction):
    b, z, c, _ = _inputs(case)
    apply = getattr(b, direction)
    with pytest.raises(ValueError, match=r"(?i)columns|shape"):
        apply(z, c[:, :1])
    with pytest.raises(ValueError, match=r"(?i)one row per sample"):
        apply(z, c[:3])
    with pytest.raises(ValueError, match=r"(?i)shape"):
        apply(z, c[..., None])
    for bad in (np.nan, np.inf):
        c_bad = c.copy()
        c_bad[2, 1] = bad
        with pytest.raises(ValueError, match=r"(?i)non-finite"):
            apply(z, c_bad)
    with pytest.raises(ValueError, match=r"(?i)columns|shape"):
        apply(z[:, :0] if case.dim > 1 else np.zeros((N, 2)), c)


def _flow(rng, embedding=True):
    layers = nf.ConditionalCompose([
        nf.ConditionalAffineCoupling([1, 0], K, (8,), rng=rng), nf.Reverse(2),
        nf.ConditionalMAF(2, K, (8,), rng=rng)])
    emb = nf.MLP(3, K, (6,), rng=rng) if embedding else None
    return nf.ConditionalFlow(nf.StandardNormal(2), layers, emb)


@pytest.mark.parametrize("embedding", [True, False])
def test_conditional_nll_gradient_with_an_embedding(embedding):
    rng = np.random.default_rng(3)
    flow = _flow(rng, embedding)
    perturbed(flow, rng, 0.4)
    x = rng.standard_normal((7, 2))
    y = rng.standard_normal((7, flow.context_dim))
    loss, grads = nf.conditional_nll_and_grad(flow, x, y)
    assert set(grads) == set(flow.parameters())
    assert loss == pytest.approx(-np.mean(flow.log_prob(x, y)), abs=1e-12)
    errors = checks.check_gradients(lambda: nf.conditional_nll_and_grad(flow, x, y)[0],
                                    flow.parameters(), grads)
    assert max(errors.values()) <= 1e-6, errors
    if embedding:
        assert any(name.startswith("embedding.") for name in grads)


def test_log_prob_integrates_to_one_for_every_context():
    rng = np.random.default_rng(4)
    flow = _flow(rng)
    perturbed(flow, rng, 0.4)
    g = np.linspace(-9, 9, 361)
    grid = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    h = g[1] - g[0]
    for y in rng.standard_normal((3, 3)):
        mass = np.exp(flow.log_prob(grid, y)).sum() * h * h
        assert mass == pytest.approx(1.0, abs=2e-3)


def test_sample_follows_log_prob():
    """Samples for one context: their mean log q matches -entropy by an independent estimate."""
    rng = np.random.default_rng(5)
    flow = _flow(rng)
    perturbed(flow, rng, 0.4)
    y = np.array([0.3, -1.0, 0.5])
    x = flow.sample(4000, y, np.random.default_rng(6))
    assert x.shape == (4000, 2)
    # a single row and a repeated row give the same log-densities
    np.testing.assert_allclose(flow.log_prob(x[:5], y), flow.log_prob(x[:5], np.tile(y, (5, 1))))
    # samples through the forward pass are recovered by the inverse pass
    c = flow.embedding(y[None, :])
    z = flow.bijection.inverse(x[:50], c)[0]
    np.testing.assert_allclose(flow.bijection.forward(z, c)[0], x[:50], atol=1e-10)


def test_fit_conditional_learns_a_conditional_gaussian():
    """x | y ~ N(2 y, 0.5^2): a single conditional affine layer recovers mean and scale."""
    rng = np.random.default_rng(7)
    y = rng.uniform(-1, 1, (4000, 1))
    x = 2 * y + 0.5 * rng.standard_normal((4000, 1))
    flow = nf.ConditionalFlow(nf.StandardNormal(1),
                              nf.ConditionalAffineCoupling([0], 1, (16,), rng=rng))
    losses = nf.fit_conditional(flow, x, y, rng=rng, n_steps=800, batch_size=200, lr=1e-2)
    assert losses[-1] < losses[0]
    for y0 in (-0.5, 0.0, 0.5):
        s = flow.sample(4000, [y0], np.random.default_rng(8))
        assert s.mean() == pytest.approx(2 * y0, abs=0.06)
        assert s.std() == pytest.approx(0.5, abs=0.05)


def test_flow_and_compose_validation():
    rng = np.random.default_rng(9)
    with pytest.raises(ValueError, match="same context dimension"):
        nf.ConditionalCompose([nf.ConditionalAffineCoupling([1, 0], 2, rng=rng),
                               nf.ConditionalMAF(2, 3, rng=rng)])
    with pytest.raises(ValueError, match="ConditionalBijection"):
        nf.ConditionalFlow(nf.StandardNormal(2), nf.realnvp(2, 2, rng=rng))
    with pytest.raises(ValueError, match="embedding outputs"):
        nf.ConditionalFlow(nf.StandardNormal(2), nf.ConditionalMAF(2, 3, rng=rng),
                           nf.MLP(4, 2, (5,), rng=rng))
    with pytest.raises(ValueError, match="transform at least one"):
        nf.ConditionalAffineCoupling([1, 1], 2, rng=rng)
    flow = _flow(rng)
    with pytest.raises(ValueError, match="non-finite"):
        flow.log_prob(np.zeros((2, 2)), [0.0, np.nan, 1.0])
    with pytest.raises(ValueError, match="Generator"):
        flow.sample(3, [0.0, 0.0, 0.0], rng=0)


def test_trained_directions_come_from_the_backward_passes():
    rng = np.random.default_rng(10)
    coupling = nf.ConditionalAffineCoupling([1, 0], K, rng=rng)
    maf = nf.ConditionalMAF(2, K, rng=rng)
    assert coupling.trained_directions == ("forward", "inverse")
    assert maf.trained_directions == ("inverse",)
    assert nf.ConditionalCompose([coupling, nf.Reverse(2), maf]).trained_directions == ("inverse",)
