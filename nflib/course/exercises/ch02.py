"""Checks for the exercises of chapter 2 (normalizing flows).

* ``planar_log_det(z, w, u, b)``: for f(z) = z + u tanh(w^T z + b), the matrix determinant lemma
  gives log|det df/dz| = log|1 + (1 - tanh^2(w^T z + b)) w^T u|.
* ``coupling_inverse(x, mask, s, t)``: the inverse of the affine coupling
  x = m z + (1 - m) (z exp(s(m z)) + t(m z)) is z = m x + (1 - m) (x - t(m x)) exp(-s(m x)),
  with log|det df^{-1}/dx| = -sum_{j: m_j = 0} s_j(m x).
* ``flow_log_prob(x, base, bijections)``: log p_X(x) = log p_Z(z) + sum_k log|det df_k^{-1}|,
  inverting the layers last to first.
* ``numerical_log_det(f, z)``: log|det J_f(z)| from a central-difference Jacobian; an additive
  coupling layer has log|det| = 0 (it preserves volume).
"""

from __future__ import annotations

import numpy as np

from nflib.core import Compose
from nflib.coupling import AdditiveCoupling, AffineCoupling
from nflib.affine import Affine
from nflib.distributions import StandardNormal
from nflib.flow import Flow
from ._feedback import close, expect_shape, fail, first_mismatch, run_checks

__all__ = ["check_planar_log_det", "check_coupling_inverse", "check_flow_log_prob",
           "check_numerical_log_det", "coupling_forward", "example_flow"]


# ---- planar log-det --------------------------------------------------------------------------

def _planar(z, w, u, b):
    return z + np.tanh(z @ w + b)[:, None] * u


def _planar_jacobian_log_det(z, w, u, b):
    """log|det| of the full Jacobian I + h'(a) u w^T, by slogdet (no determinant lemma)."""
    h = 1.0 - np.tanh(z @ w + b) ** 2
    jac = np.eye(z.shape[1])[None] + h[:, None, None] * u[None, :, None] * w[None, None, :]
    return np.linalg.slogdet(jac)[1]


def check_planar_log_det(planar_log_det):
    """Shape and the values against slogdet of the full Jacobian, in 2 and 5 dimensions."""
    rng = np.random.default_rng(3)
    cases = []
    for d in (2, 5):
        w = rng.standard_normal(d)
        u = rng.standard_normal(d)
        u = u + (0.9 - w @ u) * w / (w @ w)            # w^T u = 0.9 > -1: invertible
        cases.append((rng.standard_normal((7, d)), w, u, 0.3))

    def shape(call):
        z, w, u, b = cases[0]
        expect_shape(call(z, w, u, b), (7,), "planar_log_det(z, w, u, b) for z of shape (7, 2)")

    def values(call):
        for z, w, u, b in cases:
            got = np.asarray(call(z, w, u, b), dtype=np.float64)
            want = _planar_jacobian_log_det(z, w, u, b)
            if close(got, want):
                continue
            a = z @ w + b
            if close(got, -want):
                fail("the sign is flipped: that is log|det df^{-1}/dx|; the forward map's "
                     "log-det is log|1 + h'(a) w^T u|")
            if close(got, np.exp(want)):
                fail("you returned det df/dz itself; take its logarithm")
            if close(got, np.log(np.abs(1.0 + np.tanh(a) * (w @ u)))):
                fail("you used tanh(a) where its derivative h'(a) = 1 - tanh(a)^2 belongs")
            if close(got, np.full_like(want, np.log(abs(1.0 + w @ u)))):
                fail("the factor h'(w^T z + b) = 1 - tanh^2(w^T z + b) is missing")
            i = first_mismatch(got, want)[0]
            fail(f"in d = {z.shape[1]}, sample {i}: got {got[i]:.6g}, expected {want[i]:.6g} "
                 "(slogdet of the Jacobian I + h'(a) u w^T)")

    return run_checks("planar_log_det", planar_log_det, [
        ("returns one value per sample (shape)", shape),
        ("equals log|det| of the Jacobian (determinant lemma)", values)])


# ---- coupling inverse ------------------------------------------------------------------------

_MASK = np.array([1.0, 0.0, 1.0, 0.0])
_WS = np.array([[0.6, -0.4, 0.2, 0.8], [0.0] * 4, [-0.7, 0.5, 0.3, -0.2], [0.0] * 4])
_WT = np.array([[1.1, 0.3, -0.5, 0.9], [0.0] * 4, [0.4, -1.2, 0.7, 0.6], [0.0] * 4])


def example_s(y):
    """A log-scale conditioner (n, 4) -> (n, 4) that reads only the kept coordinates."""
    return np.tanh(y @ _WS)


def example_t(y):
    """A shift conditioner (n, 4) -> (n, 4) that reads only the kept coordinates."""
    return np.sin(y @ _WT) + 0.5


def coupling_forward(z, mask, s, t):
    """x = m z + (1 - m) (z exp(s(m z)) + t(m z)) and log|det df/dz| = sum_{m_j = 0} s_j."""
    kept = mask * z
    sz, tz = s(kept), t(kept)
    x = kept + (1.0 - mask) * (z * np.exp(sz) + tz)
    return x, np.sum((1.0 - mask) * sz, axis=1)


def _coupling_inverse(x, mask, s, t):
    kept = mask * x
    sx, tx = s(kept), t(kept)
    return kept + (1.0 - mask) * (x - tx) * np.exp(-sx), -np.sum((1.0 - mask) * sx, axis=1)


def check_coupling_inverse(coupling_inverse):
    """Output pair and shapes, kept coordinates, round trip, and the inverse's log-det."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 4)) * 1.5
    args = (x, _MASK, example_s, example_t)
    z_ref, ld_ref = _coupling_inverse(*args)

    def pair(call):
        out = call(*args)
        if not (isinstance(out, tuple) and len(out) == 2):
            fail("return a pair (z, log_det)")
        expect_shape(out[0], x.shape, "z")
        expect_shape(out[1], (6,), "log_det (one value per sample)")

    def kept(call):
        z = np.asarray(call(*args)[0], dtype=np.float64)
        if not close(z[:, _MASK == 1], x[:, _MASK == 1]):
            fail("the kept coordinates (mask = 1) must pass through unchanged")

    def round_trip(call):
        z = np.asarray(call(*args)[0], dtype=np.float64)
        back, _ = coupling_forward(z, _MASK, example_s, example_t)
        err = float(np.max(np.abs(back - x)))
        if err > 1e-9:
            kept_x = _MASK * x
            sx, tx = example_s(kept_x), example_t(kept_x)
            hint = "undo the shift, then the scale: z = (x - t) exp(-s)"
            if close(z, kept_x + (1 - _MASK) * (x + tx) * np.exp(-sx)):
                hint = "the shift has the wrong sign: subtract t, do not add it"
            elif close(z, kept_x + (1 - _MASK) * (x - tx) * np.exp(sx)):
                hint = "the scale has the wrong sign: divide by exp(s), i.e. multiply by exp(-s)"
            elif close(z, kept_x + (1 - _MASK) * (x * np.exp(-sx) - tx)):
                hint = "the order is wrong: subtract t first, then divide by exp(s)"
            fail(f"forward(inverse(x)) differs from x by up to {err:.3g}: {hint}")

    def log_det(call):
        ld = np.asarray(call(*args)[1], dtype=np.float64)
        if close(ld, ld_ref):
            return
        if close(ld, -ld_ref):
            fail("this is log|det df/dz| of the forward map (+sum s); the inverse's log-det "
                 "is -sum s")
        if close(ld, 0.0 * ld_ref):
            fail("the log-det is zero, but the layer scales by exp(s): the log-det term is "
                 "forgotten")
        all_s = -np.sum(example_s(_MASK * x), axis=1)
        if close(ld, all_s):
            fail("sum the log-scales over the transformed coordinates only (mask = 0)")
        i = first_mismatch(ld, ld_ref)[0]
        fail(f"sample {i}: got {ld[i]:.6g}, expected {ld_ref[i]:.6g}")

    return run_checks("coupling_inverse", coupling_inverse, [
        ("returns (z, log_det) of the right shapes", pair),
        ("leaves the kept coordinates unchanged", kept),
        ("inverts the layer (round trip)", round_trip),
        ("gives log|det df^{-1}/dx| = -sum s (log-det sign)", log_det)])


# ---- log-prob of a composed flow -------------------------------------------------------------

def example_flow(seed: int = 5):
    """``(base, [Affine, AffineCoupling, Affine])`` in 2-D with non-trivial parameters."""
    rng = np.random.default_rng(seed)
    first = Affine(2, log_scale=[0.4, -0.3], shift=[0.5, -1.0])
    coupling = AffineCoupling([1, 0], hidden=(8,), rng=rng)
    for p in coupling.parameters().values():
        p[...] = 0.3 * rng.standard_normal(p.shape)
    last = Affine(2, log_scale=[-0.2, 0.0], shift=[0.0, 0.7])
    return StandardNormal(2), [first, coupling, last]


def _variants(x, base, layers):
    """The right answer and the typical wrong ones, by name."""
    z, ld_inv = x, 0.0
    for b in reversed(layers):
        z, ld = b.inverse(z)
        ld_inv = ld_inv + ld
    z_wrong, ld_wrong = x, 0.0
    for b in layers:
        z_wrong, ld = b.inverse(z_wrong)
        ld_wrong = ld_wrong + ld
    return {
        "right": base.log_prob(z) + ld_inv,
        "the log-det term is forgotten": base.log_prob(z),
        "the log-det has the wrong sign (log|det df/dz| where log|det df^{-1}/dx| belongs)":
            base.log_prob(z) - ld_inv,
        "the layers are inverted in the wrong order (invert the last layer first)":
            base.log_prob(z_wrong) + ld_wrong,
    }


def check_flow_log_prob(flow_log_prob):
    """Shape, normalisation on a grid, and agreement with ``nflib.Flow(...).log_prob``."""
    base, layers = example_flow()
    x = Flow(base, Compose(layers)).sample(8, np.random.default_rng(6))

    def shape(call):
        expect_shape(call(x, base, layers), (8,), "flow_log_prob(x, base, layers) for 8 points")

    def diagnose(got, points):
        for name, value in _variants(points, base, layers).items():
            if name != "right" and close(got, value):
                return name
        return None

    def normalised(call):
        g = np.linspace(-12.0, 12.0, 481)
        xx, yy = np.meshgrid(g, g, indexing="ij")
        grid = np.stack([xx.ravel(), yy.ravel()], axis=1)
        logp = np.asarray(call(grid, base, layers), dtype=np.float64)
        total = float(np.trapezoid(np.trapezoid(np.exp(logp).reshape(xx.shape), g, axis=1), g))
        if abs(total - 1.0) > 1e-6:
            why = diagnose(logp, grid) or "the density of x must include sum_k log|det df_k^{-1}|"
            fail(f"exp(log p) integrates to {total:.4f} over the plane, not 1: {why}")

    def values(call):
        got = np.asarray(call(x, base, layers), dtype=np.float64)
        want = Flow(base, Compose(layers)).log_prob(x)
        if close(got, want):
            return
        why = diagnose(got, x)
        i = first_mismatch(got, want)[0]
        fail(why or f"sample {i}: got {got[i]:.6g}, expected {want[i]:.6g}")

    return run_checks("flow_log_prob", flow_log_prob, [
        ("returns one value per point (shape)", shape),
        ("integrates to 1 (normalisation)", normalised),
        ("equals nflib.Flow(base, Compose(layers)).log_prob", values)])


# ---- numerical log-det and volume preservation -----------------------------------------------

def check_numerical_log_det(numerical_log_det):
    """Shape, |det| for a reflection, exact log-dets of nflib layers, additive coupling = 0."""
    rng = np.random.default_rng(7)
    z = rng.standard_normal((5, 2))
    flip = np.array([[0.0, 2.0], [1.5, 0.5]])            # det -3
    affine = Affine(2, log_scale=[0.3, -1.1], shift=[1.0, 2.0])
    coupling = AffineCoupling([0, 1], hidden=(8,), rng=rng)
    for p in coupling.parameters().values():
        p[...] = 0.5 * rng.standard_normal(p.shape)

    def forward_of(layer):
        return lambda v: layer.forward(v)[0]

    def shape(call):
        expect_shape(call(forward_of(affine), z), (5,), "numerical_log_det(f, z) for 5 points")

    def linear(call):
        got = np.asarray(call(lambda v: v @ flip.T, z), dtype=np.float64)
        if not np.all(np.isfinite(got)):
            fail("not finite for a linear map with det = -3: use log|det J| (np.linalg.slogdet)")
        if not close(got, np.full(5, np.log(3.0)), atol=1e-6):
            hint = ""
            if close(got, np.full(5, -3.0), atol=1e-6):
                hint = ": that is det J itself; return log|det J|"
            offset = got - np.log(3.0)
            if np.ptp(offset) < 1e-6 and offset[0] < -5.0:
                hint = ": the differences are not divided by the step (2 eps)"
            fail(f"for x = A z with det A = -3 got {got[0]:.6g}, expected log 3 = "
                 f"{np.log(3.0):.6g}{hint}")

    def layers(call):
        for name, layer in (("Affine", affine), ("AffineCoupling", coupling)):
            got = np.asarray(call(forward_of(layer), z), dtype=np.float64)
            want = layer.forward(z)[1]
            if not close(got, want, atol=1e-6):
                fail(f"for nflib's {name} got {got[0]:.6g}, its exact log-det is {want[0]:.6g}")

    additive = AdditiveCoupling([1, 0], hidden=(8,), rng=np.random.default_rng(8))
    for p in additive.parameters().values():
        p[...] = np.random.default_rng(9).standard_normal(p.shape)

    def volume(call):
        got = np.asarray(call(forward_of(additive), 3.0 * z), dtype=np.float64)
        if not np.all(np.abs(got) < 1e-6):
            fail(f"for an AdditiveCoupling the result should be 0 (x2 = z2 + t(z1) has a "
                 f"unit-triangular Jacobian); got up to {np.max(np.abs(got)):.3g}")

    def notes(call):
        got = np.asarray(call(forward_of(additive), 3.0 * z), dtype=np.float64)
        return [f"AdditiveCoupling with random weights: max |log det| = "
                f"{np.max(np.abs(got)):.1e}, so it preserves volume"]

    return run_checks("numerical_log_det", numerical_log_det, [
        ("returns one value per point (shape)", shape),
        ("takes log|det| of a linear map's Jacobian", linear),
        ("matches the exact log-dets of nflib's Affine and AffineCoupling", layers),
        ("gives 0 for an additive coupling (volume preservation)", volume)], notes=notes)
