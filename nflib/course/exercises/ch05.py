"""Checks for the exercises of chapter 5 (Glow and multi-scale flows).

* ``squeeze(x, reverse=False)``: (n, c, h, w) -> (n, 4c, h/2, w/2), channel 4k + 2a + b holding
  pixel (2i + a, 2j + b) of channel k (as ``nflib.Squeeze``); ``reverse=True`` undoes it.
* ``conv1x1_log_det(weight, height, width)``: log|det| of a 1x1 convolution on an h x w image,
  h w sum_i log|U_ii| from the LU factorisation W = P L U.
* ``bits_per_dim(nll_nats, d, levels)``: (nll + d ln levels) / (d ln 2) for a model of pixels
  dequantised and rescaled to [0, 1); the typical slips are named before any value is judged.
* ``actnorm_init(x)``: the data-dependent initialisation of ActNorm in the data direction,
  bias = per-channel mean, log_scale = log of the per-channel standard deviation (over the
  batch and the pixels; ddof=0 as nflib, or ddof=1).
* ``iw_log_prob(log_p_x, log_q, d, levels)`` (the follow-up page on variational
  dequantisation): from K draws u_i ~ q(.|k) per image, arrays (n, K) of log p_X((k + u_i)/L)
  and log q(u_i|k), the importance-weighted estimate of log P(k) per image, shape (n,):
  log (1/K) sum_i exp(log p_X - d ln L - log q), by log-sum-exp; with K = 1 it is the bound.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from nflib.image import ActNorm, Squeeze
from ._feedback import close, expect_shape, fail, run_checks

__all__ = ["check_squeeze", "check_conv1x1_log_det", "check_bits_per_dim",
           "check_actnorm_init", "check_iw_log_prob"]


# ---- squeeze ---------------------------------------------------------------------------------

def check_squeeze(squeeze):
    """Shape, the 2x2 block rule (against nflib.Squeeze), and the round trip."""
    x = np.arange(2 * 2 * 4 * 6, dtype=np.float64).reshape(2, 2, 4, 6)
    want = Squeeze().forward(x)[0]

    def shape(call):
        expect_shape(call(x), (2, 8, 2, 3), "squeeze(x) for x of shape (2, 2, 4, 6)")

    def blocks(call):
        got = np.asarray(call(x), dtype=np.float64)
        if close(got, want):
            return
        if close(got, x.reshape(2, 8, 2, 3)):
            fail("a plain reshape mixes rows of the image into channels; each 2x2 block of "
                 "pixels must become the pixel of 4 channels (reshape to (n, c, h/2, 2, w/2, 2) "
                 "and move the two 2-axes next to the channel axis)")
        if sorted(got.ravel()) != sorted(x.ravel()):
            fail("the output is not a rearrangement of the input's entries")
        top_left = got[0, 0]
        if close(top_left, x[0, 0, ::2, ::2]):
            fail("channel 0 is right but the other channels are in another order: channel "
                 "4k + 2a + b must hold pixel (2i + a, 2j + b) of channel k")
        fail("channel 4k + 2a + b must hold pixel (2i + a, 2j + b) of input channel k "
             "(top-left, top-right, bottom-left, bottom-right of each 2x2 block)")

    def round_trip(call):
        y = np.asarray(call(want, True), dtype=np.float64)
        expect_shape(y, x.shape, "squeeze(y, reverse=True) for y of shape (2, 8, 2, 3)")
        if not close(y, x):
            fail("squeeze(squeeze(x), reverse=True) does not give x back")

    return run_checks("squeeze", squeeze, [
        ("returns shape (n, 4c, h/2, w/2)", shape),
        ("moves each 2x2 block to 4 channels (as nflib.Squeeze)", blocks),
        ("reverse=True undoes it (round trip)", round_trip)])


# ---- LU log-det of a 1x1 convolution ---------------------------------------------------------

def _weights():
    rng = np.random.default_rng(11)
    a = rng.standard_normal((4, 4))
    b = np.array([[0.0, 2.0, 1.0], [1.0, 1.0, 0.0], [3.0, 0.0, -1.0]])   # needs pivoting
    c = np.diag([2.0, 0.5, 0.8])
    return [(a, 3, 5), (b, 4, 4), (c, 32, 32)]


def check_conv1x1_log_det(conv1x1_log_det):
    """A number; h w log|det W| for random, pivoting and negative-determinant matrices."""
    cases = _weights()

    def scalar(call):
        w, h, wd = cases[0]
        value = np.asarray(call(w, h, wd), dtype=np.float64)
        if value.shape != ():
            fail(f"return one number (the log-det of the whole layer); got shape {value.shape}")

    def values(call):
        for w, h, wd in cases:
            got = float(np.asarray(call(w, h, wd), dtype=np.float64))
            logabs = np.linalg.slogdet(w)[1]
            want = h * wd * logabs
            if np.isclose(got, want, rtol=1e-9, atol=1e-9):
                continue
            if np.isnan(got):
                fail("got NaN: some diagonal entries of U are negative; take log|U_ii|")
            if np.isclose(got, logabs, rtol=1e-9):
                fail(f"for a {h} x {wd} image got log|det W| = {got:.6g}: the Jacobian holds "
                     "one copy of W per pixel, so multiply by h * w")
            if np.isclose(got, np.exp(want), rtol=1e-9) or np.isclose(
                    got, h * wd * np.linalg.det(w), rtol=1e-9):
                fail("take the logarithm of |det|")
            if np.isclose(got, -want, rtol=1e-9):
                fail("the sign is flipped: the forward map's log-det is +h w sum log|U_ii|")
            fail(f"for W of size {w.shape[0]} on a {h} x {wd} image got {got:.6g}, expected "
                 f"h w log|det W| = {want:.6g}")

    return run_checks("conv1x1_log_det", conv1x1_log_det, [
        ("returns one number", scalar),
        ("equals h * w * log|det W| (slogdet)", values)])


# ---- bits per dimension ----------------------------------------------------------------------

def _bpd_slip(got, nll, d, levels):
    """The typical slip that gives ``got`` for ``(nll, d, levels)``, as a hint, or None."""
    nats = nll + d * np.log(levels)
    slips = [
        (nll / (d * np.log(2.0)),
         "the offset log2(levels) from rescaling the pixels to [0, 1) is missing: add "
         "d ln(levels) to the NLL before dividing"),
        (nats / d, "that is nats per dimension: divide by ln 2 for bits"),
        (nats / np.log(2.0), "that is bits per image: divide by the number of dimensions d"),
        ((nll - d * np.log(levels)) / (d * np.log(2.0)),
         "the rescaling offset has the wrong sign: densities on [0, 1) are levels^d times "
         "larger than on [0, levels), so add d ln(levels) to the NLL"),
        (-nats / (d * np.log(2.0)),
         "the sign is flipped: bits/dim count the negative log-likelihood, which nll already is"),
        (nll / (d * np.log(2.0)) + np.log(levels),
         "the offset is ln(levels), in nats; in bits it is log2(levels)"),
    ]
    for value, hint in slips:
        if np.isclose(got, value, rtol=1e-10, atol=1e-12):
            return hint
    return None


def check_bits_per_dim(bits_per_dim):
    """The typical slips (missing offset, nats, bits per image, signs) are named first, on every
    case including the uniform model; then the values."""
    cases = [(0.0, 64, 17), (-80.0, 64, 17), (1500.0, 3072, 256), (-250.0, 784, 256)]

    def want(nll, d, levels):
        return (nll + d * np.log(levels)) / (d * np.log(2.0))

    def value_of(call, nll, d, levels):
        value = np.asarray(call(nll, d, levels), dtype=np.float64)
        if value.shape != ():
            fail(f"return one number (bits per dimension); got shape {value.shape}")
        return float(value)

    def slips(call):
        # a case with nll != 0 first: at nll = 0 a flipped offset and a flipped sign coincide
        for nll, d, levels in cases[1:] + cases[:1]:
            got = value_of(call, nll, d, levels)
            if np.isclose(got, want(nll, d, levels), rtol=1e-10):
                continue
            hint = _bpd_slip(got, nll, d, levels)
            if hint:
                fail(f"for nll = {nll}, d = {d}, levels = {levels} got {got:.6g}: {hint}")

    def uniform(call):
        got = value_of(call, 0.0, 64, 17)
        if not np.isclose(got, np.log2(17)):
            fail(f"a model with nll = 0 nats on [0, 1)^64 is uniform, so 17 levels cost "
                 f"log2(17) = {np.log2(17):.4f} bits per pixel; got {got:.6g}")

    def values(call):
        for nll, d, levels in cases:
            got = value_of(call, nll, d, levels)
            right = want(nll, d, levels)
            if not np.isclose(got, right, rtol=1e-10):
                fail(f"for nll = {nll}, d = {d}, levels = {levels} got {got:.6g}, expected "
                     f"(nll + d ln(levels)) / (d ln 2) = {right:.6g}")

    return run_checks("bits_per_dim", bits_per_dim, [
        ("avoids the typical slips (offset, nats, per image, sign)", slips),
        ("gives log2(levels) for the uniform model", uniform),
        ("converts nats per image to bits per dimension", values)])


# ---- ActNorm initialisation ------------------------------------------------------------------

def check_actnorm_init(actnorm_init):
    """Shapes, zero mean and unit variance per channel after the map, and nflib's values.

    The standard deviation may be the batch's own (``ddof=0``, numpy's default and nflib's) or
    the sample estimate (``ddof=1``); both are accepted, and a note says which was used.
    """
    rng = np.random.default_rng(12)
    spread = np.array([0.5, 2.0, 4.0]).reshape(1, 3, 1, 1)
    centre = np.array([-1.0, 0.0, 3.0]).reshape(1, 3, 1, 1)
    x = centre + spread * rng.standard_normal((16, 3, 4, 4))
    x[:, :, 0, 0] += 5.0                      # pixels differ: per-pixel stats would differ
    count = x.shape[0] * x.shape[2] * x.shape[3]           # values per channel
    ddof1 = np.sqrt((count - 1) / count)      # the std of z when the scale used ddof=1

    def pair(call):
        out = call(x)
        if not (isinstance(out, tuple) and len(out) == 2):
            fail("return a pair (log_scale, bias)")
        for value, name in zip(out, ("log_scale", "bias")):
            arr = np.asarray(value, dtype=np.float64)
            if arr.shape != (3,):
                hint = ""
                if arr.shape == (3, 4, 4):
                    hint = ": average over the pixels too, one value per channel"
                elif arr.shape == ():
                    hint = ": one value per channel, not one for the whole tensor"
                fail(f"{name} has shape {arr.shape}; expected (3,) for 3 channels{hint}")

    def normalises(call):
        log_scale, bias = (np.asarray(v, dtype=np.float64) for v in call(x))
        z = (x - bias.reshape(1, 3, 1, 1)) * np.exp(-log_scale.reshape(1, 3, 1, 1))
        mean, std = z.mean(axis=(0, 2, 3)), z.std(axis=(0, 2, 3))
        if close(mean, 0.0) and (close(std, 1.0) or close(std, ddof1)):
            return
        m, s = x.mean(axis=(0, 2, 3)), x.std(axis=(0, 2, 3))
        if close(bias, -m):
            fail("the bias has the wrong sign: z = (x - bias) e^{-log_scale} needs bias = mean")
        if close(log_scale, np.log(s ** 2)):
            fail("log_scale is the log of the variance; use the standard deviation")
        if close(log_scale, -np.log(s)):
            fail("log_scale has the wrong sign for the data direction: z = (x - bias) / e^{s} "
                 "needs e^{s} = std, s = log std")
        fail(f"after z = (x - bias) e^(-log_scale) the channels have means "
             f"{np.round(mean, 3).tolist()} and standard deviations {np.round(std, 3).tolist()}; "
             "expected 0 and 1")

    def matches(call):
        log_scale, bias = (np.asarray(v, dtype=np.float64) for v in call(x))
        ref_ls, ref_b = ActNorm(3).initial_parameters(x, "inverse")
        if not (close(log_scale, ref_ls) or close(log_scale, ref_ls - np.log(ddof1))):
            fail("the log-scales differ from nflib.ActNorm's initialisation, the log of each "
                 "channel's standard deviation over the examples and the pixels")
        if not close(bias, ref_b):
            fail("the biases differ from nflib.ActNorm's initialisation, each channel's mean "
                 "over the examples and the pixels")

    def notes(call):
        log_scale, _ = (np.asarray(v, dtype=np.float64) for v in call(x))
        ref_ls, _ = ActNorm(3).initial_parameters(x, "inverse")
        which = ("ddof=0, the batch's own spread, as nflib" if close(log_scale, ref_ls) else
                 "ddof=1, the sample estimate; nflib uses ddof=0, and with "
                 f"{count} values per channel the two differ by a factor {1 / ddof1:.4f}")
        return [f"per-channel scales: {np.round(np.exp(log_scale), 3).tolist()} ({which})"]

    return run_checks("actnorm_init", actnorm_init, [
        ("returns (log_scale, bias), one value per channel", pair),
        ("gives zero mean and unit variance per channel", normalises),
        ("agrees with nflib.ActNorm (ddof=0 or ddof=1)", matches)], notes=notes)


# ---- variational dequantisation: the importance-weighted estimate ----------------------------

def _iw_cases():
    """(log_p_x, log_q, d, levels) arrays of shape (n, K): moderate values, then large ones."""
    rng = np.random.default_rng(5)
    moderate = (rng.normal(40.0, 3.0, (4, 6)), rng.normal(2.0, 1.5, (4, 6)), 8, 5)
    large = (rng.normal(900.0, 20.0, (3, 5)), rng.normal(30.0, 5.0, (3, 5)), 64, 17)
    return moderate, large


def _iw_want(log_p_x, log_q, d, levels):
    w = log_p_x - d * np.log(levels) - log_q
    return logsumexp(w, axis=1) - np.log(w.shape[1])


def check_iw_log_prob(iw_log_prob):
    """Shape, then the typical slips named (mean of the logs, a sum instead of a mean, the sign
    of log q, the rescaling constant), then stability at large log-densities, then K = 1 as the
    bound, then the values."""
    moderate, large = _iw_cases()

    def value(call, case):
        log_p, log_q, d, levels = case
        return expect_shape(call(log_p.copy(), log_q.copy(), d, levels), (log_p.shape[0],),
                            f"iw_log_prob for arrays of shape {log_p.shape}")

    def shape(call):
        value(call, moderate)

    def slips(call):
        log_p, log_q, d, levels = moderate
        got, k = value(call, moderate), log_p.shape[1]
        c = d * np.log(levels)
        if close(got, _iw_want(*moderate)):
            return
        if close(got, np.mean(log_p - c - log_q, axis=1)):
            fail("this is the mean of the log-weights, the K = 1 bound averaged over the draws; "
                 "the estimate is the log of the mean weight, log (1/K) sum_i exp(w_i), which is "
                 "larger (Jensen)")
        if close(got, logsumexp(log_p - c - log_q, axis=1)):
            fail(f"this is the log of the sum of the K = {k} weights; the estimate averages them: "
                 "subtract log K")
        if close(got, _iw_want(log_p, -log_q, d, levels)):
            fail("log q has the wrong sign: the weight is p_Y(k + u) / q(u | k), so subtract "
                 "log q")
        if close(got, _iw_want(log_p, log_q, 0, levels)):
            fail("the rescaling constant is missing: p_Y(k + u) = p_X(x) / levels^d, so subtract "
                 "d ln(levels) from log p_X")
        if close(got, _iw_want(log_p + 2 * c, log_q, d, levels)):
            fail("the rescaling constant has the wrong sign: subtract d ln(levels), do not add it")
        if close(got, _iw_want(log_p, log_q, d, levels) - c):
            fail("d ln(levels) is subtracted twice")

    def stable(call):
        got = value(call, large)
        if not np.all(np.isfinite(got)):
            fail("with log p_X near 900 nats exp overflows (or underflows): subtract the largest "
                 "log-weight of each image before exponentiating, and add it back after the log "
                 "(log-sum-exp)")

    def bound(call):
        log_p, log_q, d, levels = moderate
        single = (log_p[:, :1], log_q[:, :1], d, levels)
        got = value(call, single)
        want = (log_p[:, 0] - d * np.log(levels) - log_q[:, 0])
        if not close(got, want):
            fail("with K = 1 the estimate must be the bound itself, log p_X - d ln(levels) - "
                 f"log q; got {got[:2]} for {want[:2]}")

    def values(call):
        for case in (moderate, large):
            got, want = value(call, case), _iw_want(*case)
            if not close(got, want, atol=1e-8, rtol=1e-10):
                fail(f"got {got[:2]}, expected log (1/K) sum_i exp(log p_X - d ln(levels) - "
                     f"log q) = {want[:2]}")

    return run_checks("iw_log_prob", iw_log_prob, [
        ("returns one value per image (shape (n,))", shape),
        ("avoids the typical slips (mean of logs, sum, sign of log q, the constant)", slips),
        ("is stable for large log-densities (log-sum-exp)", stable),
        ("gives the bound for K = 1", bound),
        ("computes the importance-weighted estimate", values)])
