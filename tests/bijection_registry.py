"""Every bijection the generic tests loop over.

Each ``Case`` is (name, factory, shape):

* ``factory(rng)`` returns a bijection whose parameters have been moved away from their initial
  values (a new coupling layer is the identity, which would test nothing);
* ``shape`` is the shape of one input sample, ``(d,)`` or ``(c, h, w)``.

What a layer is comes from the layer itself: the directions with a hand-written gradient
(``trained_directions``) and whether it preserves volume (``volume_preserving``). To register a
bijection, append a ``Case`` to ``CASES``; ``test_every_exported_bijection_has_a_case`` fails
for an exported class that has none.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

import nflib as nf


class Case(NamedTuple):
    name: str
    factory: Callable[[np.random.Generator], nf.Bijection]
    shape: tuple


def perturbed(bijection, rng: np.random.Generator, scale: float = 0.3):
    """Add N(0, scale^2) noise to every parameter of ``bijection`` in place and return it."""
    for p in bijection.parameters().values():
        p += scale * rng.standard_normal(p.shape)
    return bijection


def _compose_mixed(rng):
    return perturbed(nf.Compose([
        nf.Affine(3), nf.AffineCoupling([1, 0, 1], (8,), rng=rng), nf.Reverse(3),
        nf.AdditiveCoupling([0, 1, 0], (8,), rng=rng), nf.Permute([1, 2, 0])]), rng)


CASES = [
    Case("affine", lambda rng: perturbed(nf.Affine(3), rng), (3,)),
    Case("permute", lambda rng: nf.Permute([2, 0, 3, 1]), (4,)),
    Case("reverse", lambda rng: nf.Reverse(3), (3,)),
    Case("planar", lambda rng: perturbed(nf.Planar(3, rng=rng), rng), (3,)),
    Case("planar_1d", lambda rng: perturbed(nf.Planar(1, rng=rng), rng), (1,)),
    Case("additive_coupling",
         lambda rng: perturbed(nf.AdditiveCoupling([1, 0, 1, 0], (8, 8), rng=rng), rng), (4,)),
    Case("affine_coupling",
         lambda rng: perturbed(nf.AffineCoupling([1, 1, 0, 1, 0], (8, 8), rng=rng), rng), (5,)),
    Case("affine_coupling_relu",
         lambda rng: perturbed(nf.AffineCoupling([0, 1], (8,), rng=rng, activation="relu"), rng),
         (2,)),
    Case("maf", lambda rng: perturbed(nf.MAF(3, (8, 8), rng=rng), rng), (3,)),
    Case("maf_narrow", lambda rng: perturbed(nf.MAF(5, (3,), rng=rng), rng), (5,)),
    Case("iaf", lambda rng: perturbed(nf.IAF(3, (8, 8), rng=rng), rng), (3,)),
    Case("inverse_maf", lambda rng: nf.Inverse(perturbed(nf.MAF(3, (8,), rng=rng), rng)), (3,)),
    Case("realnvp", lambda rng: perturbed(nf.realnvp(3, 3, (8, 8), rng=rng), rng), (3,)),
    Case("compose_mixed", _compose_mixed, (3,)),
    Case("rq_spline", lambda rng: perturbed(nf.RationalQuadraticSpline(
        [1, 0, 1, 0], (8,), rng=rng, bins=5, bound=2.0), rng), (4,)),
    Case("rq_spline_relu", lambda rng: perturbed(nf.RationalQuadraticSpline(
        [0, 1, 1], (8, 8), rng=rng, bins=3, bound=1.5, activation="relu"), rng), (3,)),
    Case("spline_flow", lambda rng: perturbed(nf.spline_flow(2, 3, (8,), rng=rng, bins=4,
                                                             bound=2.5), rng), (2,)),
    Case("residual_block", lambda rng: perturbed(nf.ResidualBlock(3, (8,), rng=rng), rng), (3,)),
]


# ---- image bijections (nflib.image): images (c, h, w) and, for the channel maps, vectors ------

def _actnorm(c, rng):
    """An ActNorm with given (random) parameters, so no data-dependent initialisation runs."""
    return nf.ActNorm(c, log_scale=0.5 * rng.standard_normal(c), bias=rng.standard_normal(c))


def _small_glow(rng):
    """Two levels on 1x4x4 images; its ActNorms initialise themselves on the first batch."""
    return perturbed(nf.glow((1, 4, 4), n_levels=2, depth=1, hidden=(6,), rng=rng), rng, 0.2)


CASES += [
    Case("actnorm_image", lambda rng: _actnorm(3, rng), (3, 2, 2)),
    Case("actnorm_vectors", lambda rng: _actnorm(3, rng), (3,)),
    Case("invconv1x1", lambda rng: perturbed(nf.InvConv1x1(3, rng=rng), rng), (3, 2, 2)),
    Case("invconv1x1_vectors", lambda rng: perturbed(nf.InvConv1x1(4, rng=rng), rng), (4,)),
    Case("squeeze", lambda rng: nf.Squeeze(), (2, 2, 4)),
    Case("unsqueeze", lambda rng: nf.Inverse(nf.Squeeze()), (8, 1, 2)),
    Case("split", lambda rng: nf.Split(nf.Compose([
        _actnorm(2, rng), perturbed(nf.InvConv1x1(2, rng=rng), rng)]), keep=2), (4, 2, 2)),
    Case("glow", _small_glow, (1, 4, 4)),
    Case("glow_flat_view", lambda rng: nf.flat_view(_small_glow(rng), (1, 4, 4)), (16,)),
    Case("reshape", lambda rng: nf.Reshape((6,), (2, 3)), (6,)),
    Case("flatten", lambda rng: nf.Flatten((2, 1, 2)), (2, 1, 2)),
    Case("unflatten", lambda rng: nf.Unflatten((2, 2)), (4,)),
]


# ---- conditional layers (nflib.conditional) at a fixed context ------------------------------------

class AtContext(nf.Bijection):
    """A conditional bijection with its context fixed to one row: an ordinary bijection in x, so
    every generic test applies to it (the context gradient is dropped here; tests/
    test_conditional.py checks it)."""

    def __init__(self, conditional, context):
        self.conditional = conditional
        self.context = np.asarray(context, dtype=np.float64).reshape(1, -1)
        self.dim = conditional.dim

    @property
    def trained_directions(self) -> tuple:
        return self.conditional.trained_directions

    def parameters(self):
        return self.conditional.parameters()

    def _c(self, n):
        return np.repeat(self.context, n, axis=0)

    def forward_cached(self, z):
        return self.conditional.forward_cached(z, self._c(z.shape[0]))

    def inverse_cached(self, x):
        return self.conditional.inverse_cached(x, self._c(x.shape[0]))

    def forward_backward(self, cache, grad_x, grad_log_det):
        return self.conditional.forward_backward(cache, grad_x, grad_log_det)[:2]

    def inverse_backward(self, cache, grad_z, grad_log_det):
        return self.conditional.inverse_backward(cache, grad_z, grad_log_det)[:2]


CASES += [
    Case("conditional_affine_coupling", lambda rng: AtContext(perturbed(
        nf.ConditionalAffineCoupling([1, 0, 1], 2, (8,), rng=rng), rng), rng.standard_normal(2)),
        (3,)),
    Case("conditional_spline_coupling", lambda rng: AtContext(perturbed(
        nf.ConditionalSplineCoupling([0, 1], 2, (8,), rng=rng, bins=4, bound=2.0), rng),
        rng.standard_normal(2)), (2,)),
    Case("conditional_maf", lambda rng: AtContext(perturbed(
        nf.ConditionalMAF(3, 2, (8, 8), rng=rng), rng), rng.standard_normal(2)), (3,)),
]
