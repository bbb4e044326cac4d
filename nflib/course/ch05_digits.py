"""Chapter 5 (Glow and multi-scale flows): the 8x8 digits, their baselines and the two models.

* ``split_digits(seed)``: the 1797 digits as integer grey levels, split 1437 / 360 into
  training and test images (a seeded permutation), with labels.
* ``Logit(d, alpha)``: the fixed map between logit space and the pixel box, the data end of
  both models (a bijection with a log-determinant, so bits/dim stay exact).
* ``digits_glow`` and ``digits_realnvp``: a multi-scale Glow (``nflib.glow``) and a flat
  RealNVP of similar size, each followed by a per-pixel ActNorm and the logit map.
* ``fresh_noise(batch, rng)``: the ``augment`` of ``nflib.fit`` that redraws the dequantisation
  noise of every training batch.
* ``gaussian_bpd``, ``logit_gaussian_bpd``, ``bpd``, ``nearest``, ``level_latents``,
  ``level_bits``: baselines and measurements.
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
from nflib.image import ActNorm, flat_view, glow
from nflib.validation import as_batch, positive_int

__all__ = ["SHAPE", "D", "split_digits", "Logit", "digits_glow", "digits_realnvp",
           "fresh_noise", "gaussian_bpd", "logit_gaussian_bpd", "bpd", "iw_bits",
           "n_parameters", "nearest", "level_latents", "level_bits"]

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
