"""Checks for the exercises of chapter 3 (autoregressive flows).

* ``made_masks(d, hidden)``: the MADE masks in the natural order. Inputs have degrees 1..d,
  hidden unit u of a layer has degree 1 + (u mod (d-1)), outputs have degrees 1..d; a connection
  into a hidden unit of degree k is kept when the source degree is <= k, a connection from a
  hidden unit of degree k to output i when k < i. The mask product (inputs x outputs) is then
  strictly upper triangular with every entry above the diagonal positive.
* ``dependency_matrix(fn, x)``: D[i, j] is True when output i of fn changes as input j moves
  (one input perturbed at a time). An all-False D means nothing changed: the step was too small
  or the tolerance too large.
* ``maf_sample(made, z)``: x = f(z) of a MAF, x_i = z_i exp(s_i(x_<i)) + mu_i(x_<i), one
  coordinate per MADE pass, i = 1..d.
* ``maf_log_prob(made, x)``: log p(x) = log N(z; 0, I) - sum_i s_i(x) with
  z = (x - mu(x)) exp(-s(x)), one MADE pass.
"""

from __future__ import annotations

import numpy as np

from nflib.autoregressive import MAF, MADE
from nflib.distributions import StandardNormal
from nflib.flow import Flow
from ._feedback import close, expect_shape, fail, first_mismatch, run_checks

__all__ = ["check_made_masks", "check_dependency_matrix", "check_maf_sample",
           "check_maf_log_prob", "example_maf", "reference_masks"]


def _perturb(obj, rng, scale):
    for p in obj.parameters().values():
        p += scale * rng.standard_normal(p.shape)
    return obj


def example_maf(d: int = 5, seed: int = 11) -> MAF:
    """A d-d ``nflib.MAF`` with random (non-zero) weights; its MADE is ``example_maf().made``."""
    rng = np.random.default_rng(seed)
    return _perturb(MAF(d, (12, 12), rng=rng), rng, 0.4)


# ---- masks from degrees ----------------------------------------------------------------------

def _masks_from_rules(d, hidden, into_hidden, into_output, input_degrees=None,
                      hidden_degrees=None):
    degrees_in = np.arange(1, d + 1) if input_degrees is None else input_degrees
    hid = [(1 + np.arange(w) % (d - 1)) if hidden_degrees is None else hidden_degrees(w)
           for w in hidden]
    out_degrees = np.arange(1, d + 1)
    layers = [degrees_in] + hid
    masks = [into_hidden(k_out[None, :], k_in[:, None]).astype(float)
             for k_in, k_out in zip(layers[:-1], layers[1:])]
    masks.append(into_output(out_degrees[None, :], layers[-1][:, None]).astype(float))
    return masks


def reference_masks(d, hidden):
    """The masks of ``nflib.MADE(d, hidden)`` (the mu half of the output mask)."""
    made = MADE(d, hidden, rng=np.random.default_rng(0))
    return [m.copy() for m in made.masks[:-1]] + [made.masks[-1][:, :d].copy()]


def _variants(d, hidden):
    ge, gt = np.greater_equal, np.greater
    return {
        "into the outputs the rule is strict: keep hidden degree k -> output i only when "
        "i > k (you used >=, so output i sees x_i)":
            _masks_from_rules(d, hidden, ge, ge),
        "into hidden units keep a connection when the unit's degree is >= the source's degree "
        "(you used >, so output i misses x_{i-1})":
            _masks_from_rules(d, hidden, gt, gt),
        "the inputs have degrees 1..d, not 0..d-1":
            _masks_from_rules(d, hidden, ge, gt, input_degrees=np.arange(d)),
        "hidden degrees run over 1..d-1 (1 + (u mod (d-1))), not 0..d-2":
            _masks_from_rules(d, hidden, ge, gt, hidden_degrees=lambda w: np.arange(w) % (d - 1)),
    }


_MASK_CASES = [(4, (6, 6)), (5, (4,)), (3, (4, 2))]


def _matches(got, want):
    return len(got) == len(want) and all(
        np.shape(g) == np.shape(w) and np.array_equal(g, w) for g, w in zip(got, want))


def check_made_masks(made_masks):
    """Shapes, binary entries, no leak, complete connectivity, and MADE's own masks."""

    def masks_of(call, d, hidden):
        out = call(d, hidden)
        try:
            return [np.asarray(m, dtype=np.float64) for m in out]
        except (TypeError, ValueError):
            fail("return a list of 2-D arrays, one mask per weight matrix")

    def diagnose(got, d, hidden):
        for why, masks in _variants(d, hidden).items():
            if _matches(got, masks):
                return why
        return None

    def shapes(call):
        for d, hidden in _MASK_CASES:
            got = masks_of(call, d, hidden)
            widths = [d, *hidden, d]
            if len(got) != len(widths) - 1:
                fail(f"for d = {d}, hidden = {hidden}: {len(got)} masks; expected "
                     f"{len(widths) - 1} (one per weight matrix, inputs to outputs)")
            for k, (m, a, b) in enumerate(zip(got, widths[:-1], widths[1:])):
                expect_shape(m, (a, b), f"mask {k} for d = {d}, hidden = {hidden}")
            if not all(np.all((m == 0) | (m == 1)) for m in got):
                fail("masks must be binary (0 or 1)")

    def product(masks):
        c = masks[0]
        for m in masks[1:]:
            c = c @ m
        return c                                   # c[j, i]: paths from input j to output i

    def no_leak(call):
        for d, hidden in _MASK_CASES:
            got = masks_of(call, d, hidden)
            c = product(got)
            leaks = [(j, i) for j in range(d) for i in range(d) if j >= i and c[j, i] > 0]
            if leaks:
                j, i = leaks[0]
                why = diagnose(got, d, hidden) or (
                    "every path from x_j to output i must pass degrees j <= k < i")
                fail(f"for d = {d}, hidden = {hidden}: output {i + 1} depends on x_{j + 1} "
                     f"(1-based): {why}")

    def complete(call):
        for d, hidden in _MASK_CASES:
            got = masks_of(call, d, hidden)
            c = product(got)
            missing = [(j, i) for j in range(d) for i in range(d) if j < i and c[j, i] == 0]
            if missing:
                j, i = missing[0]
                why = diagnose(got, d, hidden) or "check the degrees and the two rules"
                fail(f"for d = {d}, hidden = {hidden}: output {i + 1} cannot see x_{j + 1} "
                     f"(1-based), although it comes before it: {why}")

    def exact(call):
        for d, hidden in _MASK_CASES:
            got = masks_of(call, d, hidden)
            if not _matches(got, reference_masks(d, hidden)):
                why = diagnose(got, d, hidden) or (
                    "give hidden unit u the degree 1 + (u mod (d-1)), as nflib.MADE does")
                fail(f"for d = {d}, hidden = {hidden} the masks differ from nflib.MADE's: {why}")

    return run_checks("made_masks", made_masks, [
        ("one binary mask per weight matrix, of the right shapes", shapes),
        ("no leak: output i sees no input j >= i (mask product)", no_leak),
        ("complete: output i sees every input j < i (mask product)", complete),
        ("equals nflib.MADE's masks", exact)])


# ---- the autoregressive property by perturbation ---------------------------------------------

def _dependency_cases():
    rng = np.random.default_rng(12)
    natural = _perturb(MADE(4, (10, 10), rng=rng), rng, 0.5)
    shuffled = _perturb(MADE(4, (10,), rng=rng, order=[2, 0, 3, 1]), rng, 0.5)
    w = rng.standard_normal((4, 4))
    leaky = np.tril(w)                     # output i sees x_1 .. x_i (a leak on the diagonal)
    rank = np.argsort([2, 0, 3, 1])
    return [
        ("a MADE in the natural order", lambda x: natural(x)[0], np.tri(4, k=-1, dtype=bool)),
        ("a MADE with order [2, 0, 3, 1]", lambda x: shuffled(x)[0],
         rank[None, :] < rank[:, None]),
        ("a map whose output i sees x_1 .. x_i (it leaks)", lambda x: np.tanh(x @ leaky.T),
         np.tri(4, dtype=bool)),
    ]


def check_dependency_matrix(dependency_matrix):
    """Shape, then the dependencies of three maps: two MADEs and a leaking map."""
    x = np.random.default_rng(13).standard_normal((6, 4))
    cases = _dependency_cases()

    def shape(call):
        expect_shape(call(cases[0][1], x), (4, 4), "dependency_matrix(fn, x) for d = 4")

    def values(call):
        for name, fn, want in cases:
            got = np.asarray(call(fn, x.copy()), dtype=bool)
            if np.array_equal(got, want):
                continue
            if np.array_equal(got, want.T):
                fail(f"for {name} the matrix is transposed: row i is output i, column j is "
                     "input j (D[i, j]: output i moves when x_j moves)")
            if not got.any():
                fail(f"for {name} nothing changed: step too small or tolerance too large "
                     "(D is all False, so no output moved beyond your tolerance; move x_j by "
                     "a step of order 1 and count any change > 0)")
            if np.all(got == got[:, :1]):
                fail(f"for {name} every row is constant: perturb one input at a time, not "
                     "all of them together")
            i, j = first_mismatch(got.astype(float), want.astype(float))
            fail(f"for {name}: D[{i}, {j}] is {bool(got[i, j])}, but output {i} "
                 f"{'does' if want[i, j] else 'does not'} depend on input {j} (0-based)")

    def input_untouched(call):
        x_copy = x.copy()
        call(cases[0][1], x_copy)
        if not np.array_equal(x_copy, x):
            fail("dependency_matrix changed x in place: perturb a copy")

    return run_checks("dependency_matrix", dependency_matrix, [
        ("returns a (d, d) matrix (shape)", shape),
        ("finds the dependencies of two MADEs and flags a leak", values),
        ("leaves x unchanged", input_untouched)])


# ---- sampling a MAF pass by pass -------------------------------------------------------------

def _sample_variants(made, z):
    d = z.shape[1]

    def sequential(indices, inverse=False):
        x = np.zeros_like(z)
        for i in indices:
            mu, s = made(x)
            x[:, i] = ((z[:, i] - mu[:, i]) * np.exp(-s[:, i]) if inverse
                       else z[:, i] * np.exp(s[:, i]) + mu[:, i])
        return x

    mu_z, s_z = made(z)
    mu_0, s_0 = made(np.zeros_like(z))
    return {
        "you evaluated the MADE on z: that is an IAF. A MAF's conditioners take x, which is "
        "built one coordinate per pass": z * np.exp(s_z) + mu_z,
        "every x_i was computed from conditioners evaluated before x_1 .. x_{i-1} were known "
        "(one pass on x = 0, or passes in the wrong order): run the passes in order "
        "i = 1..d and call the MADE again after each new coordinate": z * np.exp(s_0) + mu_0,
        "that is the inverse (density) direction, (x - mu) exp(-s); sampling computes "
        "x_i = z_i exp(s_i) + mu_i": sequential(range(d), inverse=True),
    }


def check_maf_sample(maf_sample):
    """Shape, x_1, the round trip through the one-pass inverse, and nflib.MAF.forward."""
    maf = example_maf()
    z = np.random.default_rng(14).standard_normal((7, maf.dim))

    def result(call):
        return np.asarray(call(maf.made, z.copy()), dtype=np.float64)

    def diagnose(got):
        for why, value in _sample_variants(maf.made, z).items():
            if close(got, value):
                return why
        return None

    def shape(call):
        expect_shape(call(maf.made, z.copy()), z.shape, "maf_sample(made, z)")

    def first(call):
        got = result(call)
        mu, s = maf.made(np.zeros_like(z))
        if not close(got[:, 0], z[:, 0] * np.exp(s[:, 0]) + mu[:, 0]):
            fail(diagnose(got) or "x_1 = z_1 exp(s_1) + mu_1, with mu_1 and s_1 the MADE's "
                 "outputs for any input (they see no coordinate)")

    def round_trip(call):
        got = result(call)
        z_back = maf.inverse(got)[0]
        err = float(np.max(np.abs(z_back - z)))
        if err > 1e-9:
            fail(f"the MAF's one-pass inverse maps your x back to a point up to {err:.3g} from "
                 f"z: {diagnose(got) or 'x_i must use the conditioners of the final x_<i'}")

    def agrees(call):
        got = result(call)
        want = maf.forward(z)[0]
        if not close(got, want):
            i, j = first_mismatch(got, want)
            fail(f"sample {i}, coordinate {j}: got {got[i, j]:.6g}, nflib.MAF.forward gives "
                 f"{want[i, j]:.6g}")

    return run_checks("maf_sample", maf_sample, [
        ("returns x of the same shape as z", shape),
        ("computes x_1 from the constant conditioners", first),
        ("is undone by the one-pass inverse (round trip)", round_trip),
        ("equals nflib.MAF.forward", agrees)])


# ---- the density in one pass -----------------------------------------------------------------

def _log_prob_variants(made, x):
    mu, s = made(x)
    z = (x - mu) * np.exp(-s)
    log_n = -0.5 * np.sum(z * z, axis=1) - 0.5 * x.shape[1] * np.log(2 * np.pi)
    return {
        "the log-determinant has the wrong sign: the inverse's is -sum(s), not +sum(s)":
            log_n + s.sum(axis=1),
        "the log-determinant term -sum(s) is forgotten": log_n,
        "the normal log-density's constant -d/2 log(2 pi) is missing":
            log_n - s.sum(axis=1) + 0.5 * x.shape[1] * np.log(2 * np.pi),
        "z has the wrong scale: divide by exp(s), i.e. multiply by exp(-s)":
            -0.5 * np.sum(((x - mu) * np.exp(s)) ** 2, axis=1)
            - 0.5 * x.shape[1] * np.log(2 * np.pi) - s.sum(axis=1),
    }


def check_maf_log_prob(maf_log_prob):
    """Shape, normalisation of a 2-d MAF's density on a grid, and nflib.Flow's log_prob."""
    maf2 = example_maf(d=2, seed=18)          # its density lies well inside the grid
    maf5 = example_maf()
    x5 = Flow(StandardNormal(5), maf5).sample(9, np.random.default_rng(16))

    def diagnose(got, made, x):
        for why, value in _log_prob_variants(made, x).items():
            if close(got, value):
                return why
        return None

    def shape(call):
        expect_shape(call(maf5.made, x5), (9,), "maf_log_prob(made, x) for 9 points")

    def normalised(call):
        g = np.linspace(-10.0, 10.0, 321)
        grid = np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1).reshape(-1, 2)
        logp = np.asarray(call(maf2.made, grid), dtype=np.float64)
        with np.errstate(over="ignore"):
            total = float(np.trapezoid(np.trapezoid(np.exp(logp).reshape(g.size, g.size), g,
                                                    axis=1), g))
        if not abs(total - 1.0) < 1e-4:
            why = diagnose(logp, maf2.made, grid) or "log p = log N(z; 0, I) - sum_i s_i"
            fail(f"exp(log p) of a 2-d MAF integrates to {total:.4g}, not 1: {why}")

    def agrees(call):
        got = np.asarray(call(maf5.made, x5), dtype=np.float64)
        want = Flow(StandardNormal(5), maf5).log_prob(x5)
        if not close(got, want):
            i = first_mismatch(got, want)[0]
            fail(diagnose(got, maf5.made, x5) or
                 f"point {i}: got {got[i]:.6g}, nflib.Flow(...).log_prob gives {want[i]:.6g}")

    return run_checks("maf_log_prob", maf_log_prob, [
        ("returns one value per point (shape)", shape),
        ("integrates to 1 (normalisation)", normalised),
        ("equals nflib.Flow(StandardNormal(d), maf).log_prob", agrees)])
