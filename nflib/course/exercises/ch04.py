"""Checks for the exercises of chapter 4 (coupling flows).

* ``checkerboard(shape, parity)``: boolean mask of a flattened ``(c, h, w)`` image (channel-major,
  as ``image.reshape(n, -1)``), True at pixel (i, j) of every channel when i + j + parity is even.
* ``coupling_inverse(x, mask, conditioner)``: z = m x + (1 - m) (x - t) exp(-s), with
  ``(s, t) = conditioner(x[:, mask])`` of shape (n, number of transformed coordinates) each.
* ``stack_log_det(z, layers)``: log|det df/dz| of a stack of affine couplings
  ``layers = [(mask, conditioner), ...]`` applied in order; each conditioner is evaluated at the
  point the previous layers produced, and the log-dets add: sum over layers of sum s.
* ``nice_log_prob(x, additive_layers, log_scale)``: log-density of the NICE flow
  x = exp(log_scale) * g(z), g the additive layers applied in order, z ~ N(0, I):
  log p(x) = log N(g^{-1}(x exp(-log_scale))) - sum(log_scale).

Each check passes copies of its arrays to the learner's function, so an answer that works in the
caller's array is judged on its values first; the last property of each check then says that the
input was changed in place.
"""

from __future__ import annotations

import numpy as np

from nflib.core import Compose
from nflib.coupling import AdditiveCoupling, AffineCoupling
from nflib.affine import Affine
from nflib.checks import numerical_log_det
from nflib.distributions import StandardNormal
from nflib.flow import Flow
from ._feedback import close, expect_shape, fail, first_mismatch, run_checks

__all__ = ["check_checkerboard", "check_coupling_inverse", "check_stack_log_det",
           "check_nice_log_prob", "example_layer", "conditioner_of", "coupling_forward",
           "example_stack", "example_nice"]


# ---- masks -----------------------------------------------------------------------------------

def _checkerboard(shape, parity):
    c, h, w = shape
    i, j = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    return np.broadcast_to((i + j + parity) % 2 == 0, (c, h, w)).reshape(-1)


def check_checkerboard(checkerboard):
    """Shape and type, the pattern of the first channel, every channel, parity and layout."""
    cases = [((1, 4, 4), 0), ((2, 3, 5), 1), ((3, 2, 2), 0)]

    def shape(call):
        for sh, parity in cases:
            mask = np.asarray(call(sh, parity))
            expect_shape(mask, (int(np.prod(sh)),), f"checkerboard({sh}, {parity})")
            if not np.all((mask == 0) | (mask == 1)):
                fail("the mask must hold only True/False (or 1/0)")

    def first_channel(call):
        mask = np.asarray(call((1, 4, 4), 0)).astype(bool).reshape(4, 4)
        want = _checkerboard((1, 4, 4), 0).reshape(4, 4)
        if np.array_equal(mask, ~want):
            fail("the pattern is inverted: pixel (0, 0) has i + j = 0, even, so it is kept "
                 "(True) for parity 0")
        if not np.array_equal(mask, want):
            fail(f"for (1, 4, 4) and parity 0 expected rows {want.astype(int).tolist()}; "
                 f"got {mask.astype(int).tolist()}")

    def channels_and_layout(call):
        for sh, parity in cases:
            mask = np.asarray(call(sh, parity)).astype(bool)
            want = _checkerboard(sh, parity)
            if np.array_equal(mask, want):
                continue
            c, h, w = sh
            pixel_major = np.moveaxis(want.reshape(c, h, w), 0, -1).reshape(-1)
            if c > 1 and np.array_equal(mask, pixel_major):
                fail("the layout is (h, w, c); flatten channel-major, (c, h, w), as "
                     "image.reshape(n, -1) does for an (n, c, h, w) batch")
            if np.array_equal(mask, _checkerboard(sh, 1 - parity)):
                fail(f"parity is ignored or reversed: for parity {parity} the kept pixels have "
                     "i + j + parity even")
            fail(f"for shape {sh} and parity {parity} the mask differs from the checkerboard "
                 "in some channel (every channel has the same pattern)")

    def complement(call):
        for sh, _ in cases:
            a = np.asarray(call(sh, 0)).astype(bool)
            b = np.asarray(call(sh, 1)).astype(bool)
            if not np.array_equal(a, ~b):
                fail("parity 1 must be the complement of parity 0, so two layers together "
                     "transform every pixel")

    return run_checks("checkerboard", checkerboard, [
        ("returns a flat 0/1 mask of c*h*w entries (shape)", shape),
        ("has the checkerboard pattern, (0, 0) kept for parity 0", first_channel),
        ("repeats it in every channel, channel-major, with the parity", channels_and_layout),
        ("parity 1 is the complement of parity 0", complement)])


# ---- inverse of an affine coupling -----------------------------------------------------------

def example_layer(seed: int = 0, d: int = 5) -> AffineCoupling:
    """An ``nflib`` affine coupling in ``d`` dimensions (keeps 0, 2, 4, ...) with random weights."""
    rng = np.random.default_rng(seed)
    layer = AffineCoupling(np.arange(d) % 2 == 0, (8,), rng=rng)
    for p in layer.parameters().values():
        p += 0.6 * rng.standard_normal(p.shape)
    return layer


def conditioner_of(layer: AffineCoupling):
    """``conditioner(kept) -> (s, t)`` of an ``nflib`` affine coupling: its clamped log-scales
    and shifts, each (n, number of transformed coordinates), from the kept coordinates."""
    def conditioner(kept):
        s, t, _, _ = layer._scale_shift(np.asarray(kept, dtype=np.float64))
        return s, t
    return conditioner


def coupling_forward(z, mask, conditioner):
    """x = m z + (1 - m) (z exp(s) + t), log|det df/dz| = sum s; (s, t) = conditioner(z[:, m])."""
    z = np.asarray(z, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    s, t = conditioner(z[:, mask])
    x = z.copy()
    x[:, ~mask] = z[:, ~mask] * np.exp(s) + t
    return x, s.sum(axis=1)


def check_coupling_inverse(coupling_inverse):
    """Shape, kept coordinates, the round trip, and agreement with ``nflib``'s inverse."""
    layer = example_layer(1)
    mask, cond = layer.mask, conditioner_of(layer)
    rng = np.random.default_rng(2)
    x = 1.5 * rng.standard_normal((7, 5))

    def inverse(call):
        """The learner's z for copies of x and the mask (an in-place answer is judged by the
        last property alone)."""
        return np.asarray(call(x.copy(), mask.copy(), cond), dtype=np.float64)

    def shape(call):
        expect_shape(call(x.copy(), mask.copy(), cond), x.shape,
                     "coupling_inverse(x, mask, conditioner)")

    def kept(call):
        z = inverse(call)
        if not close(z[:, mask], x[:, mask]):
            fail("the kept coordinates (mask True) must pass through unchanged")

    def round_trip(call):
        z = inverse(call)
        back = coupling_forward(z, mask, cond)[0]
        err = float(np.max(np.abs(back - x)))
        if err <= 1e-9:
            return
        s, t = cond(x[:, mask])
        moved = x[:, ~mask]
        hint = "subtract the shift, then divide by the scale: z = (x - t) exp(-s)"
        if close(z[:, ~mask], (moved - t) * np.exp(s)):
            hint = "the scale has the wrong sign: multiply by exp(-s), not exp(+s)"
        elif close(z[:, ~mask], moved * np.exp(-s) - t):
            hint = "the order is wrong: subtract t first, then multiply by exp(-s)"
        elif close(z[:, ~mask], (moved + t) * np.exp(-s)):
            hint = "the shift has the wrong sign: subtract t"
        fail(f"forward(inverse(x)) differs from x by up to {err:.3g}: {hint}")

    def matches_nflib(call):
        z = inverse(call)
        want = layer.inverse(x)[0]
        if not close(z, want):
            i = first_mismatch(z, want)
            fail(f"entry {i}: got {z[i]:.6g}, nflib's AffineCoupling.inverse gives {want[i]:.6g}")

    def input_untouched(call):
        x_in = x.copy()
        call(x_in, mask.copy(), cond)
        if not np.array_equal(x_in, x):
            fail("coupling_inverse changed the caller's x in place (z = x makes z the same array, "
                 "not a copy): start from z = x.copy()")

    return run_checks("coupling_inverse", coupling_inverse, [
        ("returns z with the shape of x", shape),
        ("leaves the kept coordinates unchanged", kept),
        ("inverts the layer (round trip)", round_trip),
        ("equals nflib's AffineCoupling.inverse", matches_nflib),
        ("leaves its input x unchanged", input_untouched)])


# ---- log-det of a stack ----------------------------------------------------------------------

def example_stack(seed: int = 3, d: int = 4, n_layers: int = 3):
    """``(layers, [(mask, conditioner), ...])``: ``n_layers`` nflib affine couplings with
    alternating masks and random weights, and their masks and conditioners."""
    rng = np.random.default_rng(seed)
    layers = []
    for k in range(n_layers):
        layer = AffineCoupling((np.arange(d) + k) % 2 == 0, (8,), rng=rng)
        for p in layer.parameters().values():
            p += 0.6 * rng.standard_normal(p.shape)
        layers.append(layer)
    return layers, [(layer.mask, conditioner_of(layer)) for layer in layers]


def check_stack_log_det(stack_log_det):
    """Shape, one layer (sum of s), the stack against nflib and a numerical Jacobian."""
    layers, pairs = example_stack()
    z = np.random.default_rng(4).standard_normal((6, 4))

    def log_det(call, some_pairs):
        """The learner's answer for a copy of z (an in-place answer is judged by the last
        property alone)."""
        return np.asarray(call(z.copy(), some_pairs), dtype=np.float64)

    def shape(call):
        expect_shape(call(z.copy(), pairs), (6,), "stack_log_det(z, layers) for 6 points")

    def one_layer(call):
        got = log_det(call, pairs[:1])
        want = layers[0].forward(z)[1]
        if close(got, want):
            return
        if close(got, -want):
            fail("the sign is flipped: the forward map scales by exp(+s), log|det| = +sum s")
        s, _ = pairs[0][1](z[:, pairs[0][0]])
        if close(got, np.exp(s).sum(axis=1)):
            fail("sum the log-scales s, not the scales exp(s)")
        if close(got, s.mean(axis=1)):
            fail("sum the log-scales over the transformed coordinates; do not average them")
        i = first_mismatch(got, want)[0]
        fail(f"one layer, point {i}: got {got[i]:.6g}, expected sum s = {want[i]:.6g}")

    def stack(call):
        got = log_det(call, pairs)
        want = Compose(layers).forward(z)[1]
        if close(got, want):
            return
        at_input = sum(cond(z[:, m])[0].sum(axis=1) for m, cond in pairs)
        if close(got, at_input):
            fail("every conditioner was evaluated at the input z; layer k must be evaluated at "
                 "the output of layers 1..k-1 (apply each layer before the next)")
        i = first_mismatch(got, want)[0]
        fail(f"three layers, point {i}: got {got[i]:.6g}, expected {want[i]:.6g}")

    def numerical(call):
        got = log_det(call, pairs)
        num = numerical_log_det(lambda v: Compose(layers).forward(v)[0], z)
        if not close(got, num, atol=1e-6):
            fail(f"differs from log|det| of a finite-difference Jacobian by up to "
                 f"{np.max(np.abs(got - num)):.3g}")

    def input_untouched(call):
        z_in = z.copy()
        call(z_in, pairs)
        if not np.array_equal(z_in, z):
            fail("stack_log_det changed the caller's z in place while applying the layers "
                 "(v = z or np.asarray(z) is the same array): start from v = np.array(z) or "
                 "z.copy()")

    return run_checks("stack_log_det", stack_log_det, [
        ("returns one value per point (shape)", shape),
        ("gives sum s for a single layer", one_layer),
        ("adds the log-dets along the stack (conditioners at the current point)", stack),
        ("matches a finite-difference Jacobian", numerical),
        ("leaves its input z unchanged", input_untouched)])


# ---- NICE with a scaling layer ---------------------------------------------------------------

def example_nice(seed: int = 5):
    """``(additive_layers, log_scale)``: three 2-D additive couplings and a scaling vector."""
    rng = np.random.default_rng(seed)
    layers = []
    for k in range(3):
        layer = AdditiveCoupling([k % 2 == 0, k % 2 == 1], (8,), rng=rng)
        for p in layer.parameters().values():
            p += 0.6 * rng.standard_normal(p.shape)
        layers.append(layer)
    return layers, np.array([0.4, -0.7])


def _nice_flow(layers, log_scale):
    return Flow(StandardNormal(2), Compose([*layers, Affine(2, log_scale=log_scale)]))


def check_nice_log_prob(nice_log_prob):
    """Shape, density values kept without scaling, normalisation, agreement with nflib.Flow."""
    layers, log_scale = example_nice()
    x = _nice_flow(layers, log_scale).sample(8, np.random.default_rng(6))
    base = StandardNormal(2)

    def log_prob(call, points, sigma):
        """The learner's answer for copies of the arrays (an in-place answer is judged by the
        last property alone)."""
        return np.asarray(call(points.copy(), list(layers), np.array(sigma, dtype=np.float64)),
                          dtype=np.float64)

    def flipped(points, ld_sign):
        """The scaling undone with exp(+log_scale), and the log-det with the given sign."""
        z = Compose(layers).inverse(points * np.exp(log_scale))[0]
        return base.log_prob(z) + ld_sign * log_scale.sum()

    flip_hint = ("the scaling is undone with exp(+log_scale); sampling multiplies by "
                 "exp(log_scale), so the inverse divides: g(z) = x exp(-log_scale)")
    both_flipped = (f"{flip_hint}, and the log-det's sign was flipped to match: that is the "
                    "density of the flow that scales by exp(-log_scale). Use x exp(-log_scale) "
                    "and -sum(log_scale)")

    def shape(call):
        expect_shape(call(x.copy(), list(layers), log_scale.copy()), (8,),
                     "nice_log_prob(x, layers, log_scale)")

    def volume(call):
        z = np.random.default_rng(7).standard_normal((8, 2))
        x0 = Compose(layers).forward(z)[0]
        got = log_prob(call, x0, np.zeros(2))
        if not close(got, base.log_prob(z)):
            fail("with log_scale = 0 the flow is volume preserving, so log p(f(z)) must equal "
                 "log N(z; 0, I); it does not (is the inverse of the additive layers right, last "
                 "layer first?)")

    def normalised(call):
        g = np.linspace(-9.0, 9.0, 361)
        xx, yy = np.meshgrid(g, g, indexing="ij")
        grid = np.stack([xx.ravel(), yy.ravel()], axis=1)
        logp = log_prob(call, grid, log_scale)
        total = float(np.trapezoid(np.trapezoid(np.exp(logp).reshape(xx.shape), g, axis=1), g))
        if abs(total - 1.0) > 1e-4:
            z = Compose(layers).inverse(grid * np.exp(-log_scale))[0]
            hint = "include the scaling layer's log-det, -sum(log_scale)"
            if close(logp, flipped(grid, -1.0)):
                hint = flip_hint
            elif close(logp, flipped(grid, +1.0)):
                hint = both_flipped
            elif close(logp, base.log_prob(z) + log_scale.sum()):
                hint = "the sign of the scaling's log-det is flipped: subtract sum(log_scale)"
            elif close(logp, base.log_prob(z)):
                hint = "the scaling layer's log-det, -sum(log_scale), is missing"
            fail(f"exp(log p) integrates to {total:.4f}, not 1: {hint}")

    def values(call):
        got = log_prob(call, x, log_scale)
        want = _nice_flow(layers, log_scale).log_prob(x)
        if close(got, want):
            return
        if close(got, flipped(x, +1.0)):
            fail(both_flipped)
        wrong_order = base.log_prob(Compose(layers).inverse(x)[0] * np.exp(-log_scale)) \
            - log_scale.sum()
        if close(got, wrong_order):
            fail("the scaling is undone after the additive layers; it is the last layer on the "
                 "way to x, so undo it first: z = g^{-1}(x exp(-log_scale))")
        i = first_mismatch(got, want)[0]
        fail(f"point {i}: got {got[i]:.6g}, nflib.Flow gives {want[i]:.6g}")

    def input_untouched(call):
        x_in, sigma_in = x.copy(), log_scale.copy()
        call(x_in, list(layers), sigma_in)
        if not (np.array_equal(x_in, x) and np.array_equal(sigma_in, log_scale)):
            fail("nice_log_prob changed the caller's x (or log_scale) in place, e.g. with "
                 "v = x; v *= ...: start from v = x * np.exp(-log_scale), a new array")

    return run_checks("nice_log_prob", nice_log_prob, [
        ("returns one value per point (shape)", shape),
        ("keeps the base's density values without scaling (volume preservation)", volume),
        ("integrates to 1 (normalisation)", normalised),
        ("equals nflib.Flow with the additive layers and an Affine scaling", values),
        ("leaves its inputs x and log_scale unchanged", input_untouched)])
