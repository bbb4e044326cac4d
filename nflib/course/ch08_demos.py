"""Pieces of chapter 8 (beyond affine layers): the two toy-flow configurations compared at equal
parameter count and step count, and the 1-D bimodal target of the expressiveness demo.

* ``make_toy_flow("affine" | "spline", rng)``: a RealNVP of 8 affine couplings (MLP 32-32) or
  2 rational-quadratic spline couplings (8 bins on [-4, 4], MLP 56-56): 9488 and 9230 parameters.
* ``train_toy(name, kind, seed, n_steps)``: maximum likelihood on 50 000 samples of the toy
  (Adam, lr 5e-3, cosine decay, batch 256); returns the flow and the CPU seconds of training.
* ``Bimodal``: the 1-D target p = 0.5 N(-1.5, 0.5^2) + 0.5 N(1.5, 0.5^2), its cdf and quantile,
  and the monotone transport T = F^{-1} o Phi from N(0, 1) to it (chapter 1's inverse-cdf map).
"""

from __future__ import annotations

import time

import numpy as np
from scipy import special, stats

import nflib as nf
from nflib import datasets

__all__ = ["TOY_CONFIGS", "make_toy_flow", "train_toy", "n_parameters", "Bimodal"]

TOY_CONFIGS = {
    "affine": {"n_layers": 8, "hidden": (32, 32)},
    "spline": {"n_layers": 2, "hidden": (56, 56), "bins": 8, "bound": 4.0},
}


def make_toy_flow(kind: str, rng: np.random.Generator) -> nf.Flow:
    """A 2-D flow of the chapter's comparison: ``kind`` is "affine" or "spline"."""
    if kind not in TOY_CONFIGS:
        raise ValueError(f"kind must be one of {sorted(TOY_CONFIGS)}; got {kind!r}")
    cfg = TOY_CONFIGS[kind]
    if kind == "affine":
        bijection = nf.realnvp(2, cfg["n_layers"], cfg["hidden"], rng=rng)
    else:
        bijection = nf.spline_flow(2, cfg["n_layers"], cfg["hidden"], rng=rng, bins=cfg["bins"],
                                   bound=cfg["bound"])
    return nf.Flow(nf.StandardNormal(2), bijection)


def n_parameters(flow) -> int:
    return int(sum(p.size for p in flow.parameters().values()))


def train_toy(name: str, kind: str, seed: int, n_steps: int = 600, batch_size: int = 256,
              lr: float = 5e-3):
    """Fit a ``kind`` flow to the toy ``name`` by maximum likelihood; ``(flow, cpu_seconds)``."""
    rng = np.random.default_rng(seed)
    toy = datasets.toy(name)
    x = toy.sample(50_000, rng)
    flow = make_toy_flow(kind, rng)
    start = time.process_time()
    nf.fit(flow, x, rng=rng, n_steps=n_steps, batch_size=batch_size, lr=lr, schedule="cosine")
    return flow, time.process_time() - start


class Bimodal:
    """p(x) = 0.5 N(x; -m, s^2) + 0.5 N(x; m, s^2) with m = 1.5, s = 0.5."""

    def __init__(self, m: float = 1.5, s: float = 0.5):
        self.m, self.s = float(m), float(s)

    def log_prob(self, x):
        x = np.asarray(x, dtype=np.float64)
        a = stats.norm.logpdf(x, -self.m, self.s)
        b = stats.norm.logpdf(x, self.m, self.s)
        return np.logaddexp(a, b) + np.log(0.5)

    def cdf(self, x):
        return 0.5 * (stats.norm.cdf(x, -self.m, self.s) + stats.norm.cdf(x, self.m, self.s))

    def ppf(self, u, iterations: int = 200):
        """The quantile function by bisection (the cdf is increasing)."""
        u = np.asarray(u, dtype=np.float64)
        lo = np.full(u.shape, -self.m - 40 * self.s)
        hi = np.full(u.shape, self.m + 40 * self.s)
        for _ in range(iterations):
            mid = 0.5 * (lo + hi)
            below = self.cdf(mid) < u
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        return 0.5 * (lo + hi)

    def transport(self, z):
        """T(z) = F^{-1}(Phi(z)) and T'(z) = phi(z) / p(T(z)): N(0, 1) -> p, monotone."""
        z = np.asarray(z, dtype=np.float64)
        x = self.ppf(special.ndtr(z))
        return x, np.exp(stats.norm.logpdf(z) - self.log_prob(x))

    def inverse_transport(self, x):
        """z = T^{-1}(x) = Phi^{-1}(F(x)) and the slope T'(z) = phi(z) / p(x) there."""
        x = np.asarray(x, dtype=np.float64)
        z = special.ndtri(self.cdf(x))
        return z, np.exp(stats.norm.logpdf(z) - self.log_prob(x))

    @property
    def mean(self) -> float:
        return 0.0

    @property
    def variance(self) -> float:
        return self.s ** 2 + self.m ** 2
