"""Chapter 5 (Glow and multi-scale flows): the 8x8 digits, their baselines and the two models.

* ``split_digits(seed)``: the 1797 digits as integer grey levels, split 1437 / 360 into
  training and test images (a seeded permutation), with labels.
* ``Logit(d, alpha)``: the fixed map between logit space and the pixel box, the data end of
  both models (a bijection with a log-determinant, so bits/dim stay exact).
* ``digits_glow`` and ``digits_realnvp``: a multi-scale Glow (``nflib.glow``) and a flat
  RealNVP of similar size, each followed by a per-pixel ActNorm and the logit map.
* ``digits_glow_variant``: the Glow with a chosen channel mixing between couplings (the
  learned 1x1 convolution, a fixed reversal or a fixed random shuffle of the channels) and,
  optionally, a learned prior for the variables factored out at the split.
* ``fresh_noise(batch, rng)``: the ``augment`` of ``nflib.fit`` that redraws the dequantisation
  noise of every training batch.
* ``gaussian_bpd``, ``logit_gaussian_bpd``, ``bpd``, ``nearest``, ``level_latents``,
  ``level_bits``: baselines and measurements.
* ``image_bits``, ``auroc``, ``typicality_rejects``: per-image bits/dim of integer images, the
  area under the ROC curve of a score, and the typicality test of batches (what a likelihood
  does not tell about foreign inputs).
* ``iw_bits(log_density, pixels, k, rng)``: bits/dim of the discrete pixels from the
  importance-weighted estimate of log P(k) with k uniform dequantisations (k = 1 is the usual
  dequantised bound).
"""

from __future__ import annotations

import numpy as np

from nflib import datasets
from nflib.core import Bijection, Compose
from nflib.coupling import AffineCoupling
from nflib.distributions import StandardNormal
from nflib.flow import Flow
from nflib.coupling import channel_mask
from nflib.core import Inverse
from nflib.image import ActNorm, InvConv1x1, Split, Squeeze, flat_view, glow, image_view
from nflib.permute import Permute
from nflib.validation import as_batch, positive_int

__all__ = ["SHAPE", "D", "split_digits", "Logit", "digits_glow", "digits_realnvp",
           "digits_glow_variant", "MIXINGS", "channel_permutation",
           "fresh_noise", "gaussian_bpd", "logit_gaussian_bpd", "bpd", "iw_bits",
           "n_parameters", "nearest",
           "image_bits", "auroc", "typicality_rejects", "level_latents", "level_bits"]

#: one grey channel of 8 x 8 pixels, and the number of dimensions
SHAPE = (1, 8, 8)
D = 64
LEVELS = datasets.LEVELS


def split_digits(seed: int = 0, n_train: int = 1437):
    """``(train_pixels, test_pixels, train_labels, test_labels)``: integer levels (n, 64)."""
    pixels, labels = datasets.load_digits(flatten=True)
    order = np.random.default_rng(seed).permutation(pixels.shape[0])
    train, test = order[:n_train], order[n_train:]
    return pixels[train], pixels[test], labels[train], labels[test]


class Logit(Bijection):
    """``Logit(d, alpha=0.05)``: generative direction y -> x from logit space to the pixel box.

        x = (sigmoid(y) - alpha) / (1 - 2 alpha),      y = logit(alpha + (1 - 2 alpha) x)

    so x in [0, 1) maps to y in [logit(alpha), logit(1 - alpha)): the edges of the box move
    away from zero probability, where a Gaussian base cannot follow them. With
    s = sigmoid(y) = alpha + (1 - 2 alpha) x,

        log|det dx/dy| = sum_j [log s_j + log(1 - s_j)] - d log(1 - 2 alpha).

    No parameters; the gradients pass through (d/dy log(s(1-s)) = 1 - 2s).
    """

    def __init__(self, d: int, alpha: float = 0.05):
        self.dim = positive_int(d, "dimension d")
        if not 0 <= alpha < 0.5:
            raise ValueError(f"alpha must lie in [0, 0.5); got {alpha!r}")
        self.alpha = float(alpha)

    def check_x(self, x):
        x = as_batch(x, self.dim, "x")
        lo, hi = -self.alpha / (1 - 2 * self.alpha), (1 - self.alpha) / (1 - 2 * self.alpha)
        if np.any((x <= lo) | (x >= hi)):
            raise ValueError(f"x must lie strictly inside ({lo:.4g}, {hi:.4g}), the image of "
                             "the logit map (pixels are in [0, 1))")
        return x

    def _c(self):
        return np.log1p(-2 * self.alpha)

    def forward_cached(self, y):
        s = 1.0 / (1.0 + np.exp(-y))
        x = (s - self.alpha) / (1 - 2 * self.alpha)
        log_det = np.sum(np.log(s) + np.log1p(-s), axis=1) - self.dim * self._c()
        return x, log_det, s

    def inverse_cached(self, x):
        s = self.alpha + (1 - 2 * self.alpha) * x
        y = np.log(s) - np.log1p(-s)
        log_det = self.dim * self._c() - np.sum(np.log(s) + np.log1p(-s), axis=1)
        return y, log_det, s

    def forward_backward(self, s, grad_x, grad_log_det):
        dx_dy = s * (1 - s) / (1 - 2 * self.alpha)
        return grad_x * dx_dy + grad_log_det[:, None] * (1 - 2 * s), {}

    def inverse_backward(self, s, grad_y, grad_log_det):
        # dy/dx = (1 - 2 alpha) / (s (1 - s));
        # d/dx of -log(s (1 - s)) = -(1 - 2 alpha) (1 - 2s) / (s (1 - s))
        dy_dx = (1 - 2 * self.alpha) / (s * (1 - s))
        return dy_dx * (grad_y - grad_log_det[:, None] * (1 - 2 * s)), {}

    def __repr__(self):
        return f"Logit({self.dim}, alpha={self.alpha})"


def _wrap(core: Bijection, alpha: float) -> Flow:
    """Base N(0, I_64) -> core -> per-pixel ActNorm -> logit map -> pixels."""
    return Flow(StandardNormal(D), Compose([core, ActNorm(D), Logit(D, alpha)]))


def digits_glow(*, rng: np.random.Generator, n_levels: int = 2, depth: int = 4,
                hidden=(64,), alpha: float = 0.05) -> Flow:
    """The chapter's Glow: ``nflib.glow`` on (1, 8, 8), then a per-pixel ActNorm and ``Logit``."""
    return _wrap(flat_view(glow(SHAPE, n_levels, depth, hidden, rng=rng), SHAPE), alpha)


def digits_realnvp(*, rng: np.random.Generator, n_layers: int = 8, hidden=(48,),
                   alpha: float = 0.05) -> Flow:
    """A flat RealNVP on the 64 pixels: affine couplings with alternating masks (even and odd
    pixel indices) and an ActNorm(64) after each, then a per-pixel ActNorm and ``Logit``."""
    j = np.arange(D)
    layers = []
    for k in range(int(n_layers)):
        layers += [AffineCoupling((j + k) % 2 == 0, hidden, rng=rng), ActNorm(D)]
    return _wrap(Compose(layers[::-1]), alpha)


#: the channel mixings of ``digits_glow_variant``
MIXINGS = ("reverse", "shuffle", "1x1 conv")


def channel_permutation(perm, shape) -> Bijection:
    """The fixed permutation of the channels of ``(c, h, w)`` images, ``x[:, j] = z[:, perm[j]]``,
    as a bijection of the flattened images seen as images (``nflib.Permute`` of the c*h*w
    entries that moves whole channels)."""
    c, h, w = shape
    perm = np.asarray(perm)
    if sorted(perm.tolist()) != list(range(c)):
        raise ValueError(f"perm must be a permutation of 0..{c - 1}; got {perm.tolist()}")
    flat = (perm[:, None] * (h * w) + np.arange(h * w)[None, :]).ravel()
    return image_view(Permute(flat), shape)


def _variant_level(shape, n_levels, depth, hidden, rng, mixing, learned_prior):
    c, h, w = shape
    sq = (4 * c, h // 2, w // 2)
    layers = [Squeeze()]
    if n_levels > 1:
        keep = sq[0] // 2
        inner = _variant_level((keep, sq[1], sq[2]), n_levels - 1, depth, hidden, rng, mixing,
                               learned_prior)
        layers.append(Split(inner, keep=keep))
        if learned_prior:
            # generative direction: the factored-out channels eps ~ N(0, I) become
            # z = mu(h) + sigma(h) eps, with h the kept channels at the split
            layers.append(image_view(AffineCoupling(channel_mask(sq, 0), hidden, rng=rng), sq))
    steps = []
    for _ in range(depth):
        if mixing == "1x1 conv":
            mix = InvConv1x1(sq[0], rng=rng)
        elif mixing == "reverse":
            mix = channel_permutation(np.arange(sq[0])[::-1], sq)
        else:
            mix = channel_permutation(rng.permutation(sq[0]), sq)
        coupling = AffineCoupling(channel_mask(sq, 0), hidden, rng=rng)
        steps.append([ActNorm(sq[0]), mix, image_view(coupling, sq)])
    for step in reversed(steps):
        layers.extend(step[::-1])
    layers.append(Inverse(Squeeze()))
    return Compose(layers)


def digits_glow_variant(*, rng: np.random.Generator, mixing: str = "1x1 conv",
                        learned_prior: bool = False, n_levels: int = 2, depth: int = 4,
                        hidden=(64,), alpha: float = 0.05) -> Flow:
    """The chapter's Glow with a chosen channel mixing, for the ablation of the Glow paper.

    Every coupling transforms the same half of the channels (``channel_mask(shape, 0)``: the
    first half conditions, the second half moves), so the mixing layer alone decides which
    numbers the next coupling transforms: ``mixing`` is ``"1x1 conv"`` (a learned
    ``InvConv1x1``), ``"reverse"`` (the channel order reversed) or ``"shuffle"`` (a fixed random
    permutation of the channels per step, drawn from ``rng``).

    ``learned_prior=True`` gives the variables factored out at each split a learned conditional
    prior N(mu(h), diag sigma(h)^2), h the kept channels at the split, as in Glow. Written in the
    generative direction it is an affine coupling placed right after the ``Split``: the kept
    channels condition, the factored-out standard-normal channels eps become
    z = mu(h) + sigma(h) eps, and its log-determinant is -sum log sigma(h). Its zero-initialised
    last layer makes it start as the standard normal prior.
    """
    if mixing not in MIXINGS:
        raise ValueError(f"mixing must be one of {MIXINGS}; got {mixing!r}")
    core = _variant_level(SHAPE, positive_int(n_levels, "n_levels"), positive_int(depth, "depth"),
                          hidden, rng, mixing, bool(learned_prior))
    return _wrap(flat_view(core, SHAPE), alpha)


def fresh_noise(batch, rng: np.random.Generator, levels: int = LEVELS):
    """New dequantisation noise for dequantised pixels: floor(levels x) + u, u ~ U[0, 1)."""
    pixels = np.clip(np.floor(np.asarray(batch) * levels), 0, levels - 1)
    return (pixels + rng.random(pixels.shape)) / levels


def n_parameters(flow: Flow) -> int:
    return int(sum(p.size for p in flow.parameters().values()))


def bpd(flow: Flow, x) -> float:
    """Bits per dimension of the discrete pixels from the model's NLL of dequantised x."""
    return datasets.bits_per_dim(-float(np.mean(flow.log_prob(x))), x.shape[1])


def gaussian_bpd(x_train, x_test, diagonal: bool) -> float:
    """Bits/dim on ``x_test`` of the maximum-likelihood Gaussian of ``x_train`` (diagonal or
    full covariance), by Cholesky."""
    mu = x_train.mean(axis=0)
    r = x_test - mu
    if diagonal:
        var = x_train.var(axis=0)
        nll = 0.5 * np.sum(r ** 2 / var + np.log(2 * np.pi * var), axis=1)
    else:
        cov = np.cov(x_train, rowvar=False, bias=True)
        chol = np.linalg.cholesky(cov)
        u = np.linalg.solve(chol, r.T)
        nll = (0.5 * np.sum(u ** 2, axis=0) + np.sum(np.log(np.diag(chol)))
               + 0.5 * x_test.shape[1] * np.log(2 * np.pi))
    return datasets.bits_per_dim(float(np.mean(nll)), x_test.shape[1])


def logit_gaussian_bpd(x_train, x_test, alpha: float = 0.05) -> float:
    """Bits/dim on ``x_test`` of a diagonal Gaussian fitted (maximum likelihood) to ``x_train``
    in the logit space of ``Logit(64, alpha)``: 128 parameters, with the logit map's
    log-determinant counted, so that it is a density on the pixel box like the flows'."""
    logit = Logit(x_train.shape[1], alpha)
    y_train, _ = logit.inverse(x_train)
    y_test, log_det = logit.inverse(x_test)            # log|det dy/dx|
    mu, var = y_train.mean(axis=0), y_train.var(axis=0)
    nll_y = 0.5 * np.sum((y_test - mu) ** 2 / var + np.log(2 * np.pi * var), axis=1)
    return datasets.bits_per_dim(float(np.mean(nll_y - log_det)), x_test.shape[1])


def iw_bits(log_density, pixels, k: int, rng: np.random.Generator, levels: int = LEVELS,
            batch: int = 4096) -> float:
    """Bits/dim of integer ``pixels`` (n, d) from the importance-weighted estimate

        log P(pixels) ~ log (1/k) sum_i p_X((pixels + u_i) / levels) - d log(levels),

    u_i ~ U[0, 1)^d independent, with ``log_density(x)`` the model's log p_X on [0, 1)^d. Each
    image gets k fresh draws. For k = 1 this is the usual dequantised bound; its expectation
    rises towards log P as k grows (uniform noise is the proposal), so the bits/dim fall towards
    those of the discrete model.
    """
    pixels = np.asarray(pixels, dtype=np.float64)
    n, d = pixels.shape
    k = positive_int(k, "k")
    repeated = np.repeat(pixels, k, axis=0)
    x = (repeated + rng.random(repeated.shape)) / levels
    log_p = np.concatenate([np.asarray(log_density(x[i:i + batch]), dtype=np.float64)
                            for i in range(0, len(x), batch)]).reshape(n, k)
    top = log_p.max(axis=1)
    log_mean = top + np.log(np.mean(np.exp(log_p - top[:, None]), axis=1))
    nll = -float(np.mean(log_mean)) + d * np.log(levels)
    return float(nll / (d * np.log(2.0)))


def image_bits(log_density, pixels, rng: np.random.Generator,
               levels: int = LEVELS) -> np.ndarray:
    """Bits/dim of each integer image (n, d), from one uniform dequantisation draw per image:
    (-log p_X((pixels + u) / levels) + d ln levels) / (d ln 2), shape (n,)."""
    pixels = np.asarray(pixels, dtype=np.float64)
    d = pixels.shape[1]
    x = (pixels + rng.random(pixels.shape)) / levels
    log_p = np.asarray(log_density(x), dtype=np.float64)
    return (-log_p + d * np.log(levels)) / (d * np.log(2.0))


def auroc(inlier_scores, outlier_scores) -> float:
    """Area under the ROC curve of a score that should be larger for outliers: the probability
    that a random outlier scores above a random inlier (ties count one half); 0.5 is chance,
    1 a perfect detector, below 0.5 a score that ranks the outliers as the more typical."""
    a = np.asarray(inlier_scores, dtype=np.float64)[None, :]
    b = np.asarray(outlier_scores, dtype=np.float64)[:, None]
    return float(np.mean((b > a) + 0.5 * (b == a)))


def typicality_rejects(reference_bits, entropy_bits, bits, batch: int, rng: np.random.Generator,
                       n_boot: int = 2000, level: float = 0.01):
    """The typicality test of batches of ``batch`` images (Nalisnick et al. 2019).

    A batch is rejected as out of distribution when its mean bits/dim lies farther from
    ``entropy_bits`` (the model's entropy estimate, e.g. its mean bits/dim on validation images)
    than epsilon, the (1 - level) quantile of that distance over ``n_boot`` batches resampled
    from ``reference_bits`` (held-out in-distribution images). Too likely is rejected as well
    as too unlikely. ``bits`` (n,) are split into consecutive batches (a remainder is dropped).
    Returns (fraction of batches rejected, epsilon)."""
    reference_bits = np.asarray(reference_bits, dtype=np.float64)
    batch = positive_int(batch, "batch")
    boot = reference_bits[rng.integers(0, len(reference_bits), size=(n_boot, batch))].mean(axis=1)
    epsilon = float(np.quantile(np.abs(boot - entropy_bits), 1 - level))
    bits = np.asarray(bits, dtype=np.float64)
    means = bits[:len(bits) // batch * batch].reshape(-1, batch).mean(axis=1)
    return float(np.mean(np.abs(means - entropy_bits) > epsilon)), epsilon


def nearest(samples, images):
    """For each sample, the index of the nearest image (Euclidean) and the distance."""
    d2 = (np.sum(samples ** 2, axis=1)[:, None] - 2 * samples @ images.T
          + np.sum(images ** 2, axis=1)[None, :])
    idx = np.argmin(d2, axis=1)
    return idx, np.sqrt(np.maximum(d2[np.arange(len(idx)), idx], 0.0))


def level_latents(flow: Flow, x):
    """The latent variables of the chapter's 2-level Glow for images ``x``, by level: a dict
    ``"level 1"`` (the 32 factored out after the first level) and ``"level 2"`` (the 32 that
    go through the second level), each of shape (n, 32)."""
    x = as_batch(x, D, "x")
    z, _ = flow.bijection.inverse(x)
    sq = z.reshape(-1, 1, 4, 2, 4, 2).transpose(0, 1, 3, 5, 2, 4).reshape(-1, 4, 4, 4)
    return {"level 1": sq[:, 2:].reshape(len(x), -1), "level 2": sq[:, :2].reshape(len(x), -1)}


def level_bits(flow: Flow, x):
    """Split -log p(x) of the chapter's 2-level Glow into bits per dimension of its parts.

    Returns a dict: ``"level 1"`` and ``"level 2"``, the base's -log N(z) of the 32 latent
    variables factored out at each level (in bits per dimension of the whole image, so the parts
    add up), and ``"log-det"``, minus the log-determinant of the whole map (with the scaling
    offset log2(17)); the three add up to the model's bits/dim.
    """
    x = as_batch(x, D, "x")
    z, log_det = flow.bijection.inverse(x)
    sq = z.reshape(-1, 1, 4, 2, 4, 2).transpose(0, 1, 3, 5, 2, 4).reshape(-1, 4, 4, 4)
    groups = {"level 1": sq[:, 2:].reshape(len(x), -1), "level 2": sq[:, :2].reshape(len(x), -1)}
    scale = float(D * np.log(2.0))
    out = {name: float(np.mean(0.5 * np.sum(g ** 2, axis=1) + 0.5 * g.shape[1]
                                     * np.log(2 * np.pi)) / scale) for name, g in groups.items()}
    out["log-det"] = float(-np.mean(log_det) / scale + datasets.bpd_offset())
    return out
