"""Base distributions: the ``Distribution`` contract, the two bases, and what flows ask of them."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import nflib as nf


class Logistic(nf.Distribution):
    """Independent standard logistic coordinates: a base written from the contract alone."""

    def __init__(self, d):
        self.dim = d

    def log_prob_unchecked(self, z):
        return np.sum(-z - 2.0 * np.logaddexp(0.0, -z), axis=1)

    def grad_log_prob_unchecked(self, z):
        return 2.0 / (1.0 + np.exp(z)) - 1.0    # d/dz [-z - 2 log(1 + e^{-z})] = -tanh(z/2)

    def sample_unchecked(self, n, rng):
        u = rng.uniform(size=(n, self.dim))
        return np.log(u) - np.log1p(-u)


class NoGradient(nf.Distribution):
    """A base with a density and samples but no gradient of its log-density."""

    def __init__(self, d):
        self.dim = d

    def log_prob_unchecked(self, z):
        return stats.norm.logpdf(z).sum(axis=1)

    def sample_unchecked(self, n, rng):
        return rng.standard_normal((n, self.dim))


def _realnvp(rng):
    bij = nf.realnvp(2, 2, (8,), rng=rng)
    for p in bij.parameters().values():
        p += 0.3 * rng.standard_normal(p.shape)
    return bij


def test_standard_normal_log_prob_gradient_and_samples():
    base, rng = nf.StandardNormal(3), np.random.default_rng(0)
    z = rng.standard_normal((7, 3))
    assert isinstance(base, nf.Distribution) and base.has_gradient
    np.testing.assert_allclose(base.log_prob(z), stats.multivariate_normal(np.zeros(3)).logpdf(z),
                               rtol=1e-13)
    np.testing.assert_array_equal(base.grad_log_prob(z), -z)
    assert base.sample(5, rng).shape == (5, 3) and base.sample(0, rng).shape == (0, 3)
    assert repr(base) == "StandardNormal(3)"


def test_uniform_log_prob_inside_and_outside():
    base = nf.Uniform(2, low=-1.0, high=3.0)
    log_p = base.log_prob([[0.0, 2.0], [-1.0, 3.0], [3.5, 0.0]])
    np.testing.assert_allclose(log_p[:2], -2 * np.log(4.0), rtol=1e-15)
    assert log_p[2] == -np.inf
    np.testing.assert_array_equal(base.grad_log_prob([[0.0, 2.0]]), [[0.0, 0.0]])
    s = base.sample(1000, np.random.default_rng(1))
    assert s.min() >= -1.0 and s.max() <= 3.0


@pytest.mark.parametrize("base", [nf.StandardNormal(2), nf.Uniform(2), Logistic(2)])
def test_public_methods_validate_their_input(base):
    for bad in ([1.0, 2.0], np.ones((3, 3)), [[np.nan, 0.0]], [[1j, 0.0]]):
        with pytest.raises(ValueError, match="z"):
            base.log_prob(bad)
        with pytest.raises(ValueError, match="z"):
            base.grad_log_prob(bad)
    with pytest.raises(ValueError, match="whole number"):
        base.sample(2.5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="Generator"):
        base.sample(3, 0)


def test_gradient_of_a_new_base_matches_finite_differences():
    base, z = Logistic(2), np.random.default_rng(2).normal(size=(5, 2)) * 3
    eps, fd = 1e-6, np.empty_like(z)
    for j in range(2):
        step = np.zeros(2)
        step[j] = eps
        fd[:, j] = (base.log_prob(z + step) - base.log_prob(z - step)) / (2 * eps)
    np.testing.assert_allclose(base.grad_log_prob(z), fd, rtol=1e-7, atol=1e-9)


def test_flow_uses_the_base_through_its_contract():
    rng = np.random.default_rng(3)
    flow = nf.Flow(Logistic(2), _realnvp(rng))
    x = rng.normal(size=(6, 2))
    z, log_det = flow.bijection.inverse(x)
    np.testing.assert_allclose(flow.log_prob(x), flow.base.log_prob(z) + log_det, rtol=1e-14)
    loss, grads = nf.nll_and_grad(flow, x)
    assert np.isclose(loss, -np.mean(flow.log_prob(x)), rtol=1e-14)
    name = "0.net.W0"
    p, g = flow.parameters()[name], grads[name]
    i = np.unravel_index(np.argmax(np.abs(g)), g.shape)
    old, eps, values = p[i], 1e-6, []
    for v in (old + eps, old - eps):
        p[i] = v
        values.append(-np.mean(flow.log_prob(x)))
    p[i] = old
    assert np.isclose(g[i], (values[0] - values[1]) / (2 * eps), rtol=1e-5)


def test_a_base_without_gradient_samples_and_scores_but_refuses_maximum_likelihood():
    rng = np.random.default_rng(4)
    base = NoGradient(2)
    flow = nf.Flow(base, _realnvp(rng))
    assert not base.has_gradient
    x = flow.sample(5, rng)
    assert np.all(np.isfinite(flow.log_prob(x)))
    with pytest.raises(ValueError, match="NoGradient cannot give one"):
        nf.nll_and_grad(flow, x)
    with pytest.raises(ValueError, match="gradient of the base's log-density"):
        base.grad_log_prob(x)
    with pytest.raises(ValueError, match="nll_and_grad"):
        nf.fit(flow, x, rng=rng, n_steps=1)
    cond = nf.ConditionalFlow(base, nf.ConditionalAffineCoupling([1, 0], 1, (8,), rng=rng))
    with pytest.raises(ValueError, match="NoGradient cannot give one"):
        nf.conditional_nll_and_grad(cond, x, np.zeros((5, 1)))


def test_reverse_kl_needs_no_base_gradient():
    rng = np.random.default_rng(5)
    flow = nf.Flow(NoGradient(2), _realnvp(rng))
    loss, grads = nf.reverse_kl_and_grad(flow, lambda x: -0.5 * np.sum(x * x, axis=1),
                                         lambda x: -x, 16, rng)
    assert np.isfinite(loss) and grads.keys() == flow.parameters().keys()


def test_a_base_must_be_a_distribution():
    class Duck:
        dim = 2

        def log_prob(self, z):
            return np.zeros(len(z))

    with pytest.raises(ValueError, match="Distribution"):
        nf.Flow(Duck(), nf.Affine(2))
    with pytest.raises(ValueError, match="Distribution"):
        nf.ConditionalFlow(Duck(), nf.ConditionalAffineCoupling([1, 0], 1, (8,),
                                                                rng=np.random.default_rng(0)))


def test_overriding_a_validating_method_is_refused_when_the_class_is_defined():
    with pytest.raises(TypeError, match="log_prob_unchecked"):
        class Bad(nf.Distribution):
            def log_prob(self, z):
                return np.zeros(len(z))
