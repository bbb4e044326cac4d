"""Pieces of chapter 8 (beyond affine layers): the two toy-flow configurations compared at equal
parameter count and step count, and the 1-D bimodal target of the expressiveness demo.

* ``make_toy_flow("affine" | "spline", rng)``: a RealNVP of 8 affine couplings (MLP 32-32) or
  2 rational-quadratic spline couplings (8 bins on [-4, 4], MLP 56-56): 9488 and 9230 parameters.
* ``train_toy(name, kind, seed, n_steps)``: maximum likelihood on 50 000 samples of the toy
  (Adam, lr 5e-3, cosine decay, batch 256); returns the flow and the CPU seconds of training.
* ``Bimodal``: the 1-D target p = 0.5 N(-1.5, 0.5^2) + 0.5 N(1.5, 0.5^2), its cdf and quantile,
  and the monotone transport T = F^{-1} o Phi from N(0, 1) to it (chapter 1's inverse-cdf map).
* ``rk4_backprop(field, z0, n_steps, loss)``: the gradient of loss(z(1)) through the RK4 steps
  of ``nflib.ode.rk4`` (backpropagation through the solver, which keeps every stage's cache), the
  reference the page checks the adjoint method against; ``array_bytes`` counts what it keeps.
* ``straightness(field, z0)``: E int_0^1 |v(t, z_t) - (z_1 - z_0)|^2 dt along the ODE's
  trajectories (0 exactly when every trajectory is a straight line run at constant speed), and
  E |z_1 - z_0|^2 for scale.
* ``binned_kl(samples, toy, edges)``: KL(q || p) between the bin probabilities of samples and of
  the eight Gaussians (exact, from normal cdfs) on a grid whose edge bins extend to infinity; by
  the data-processing inequality a lower bound on KL between the densities, defined for any
  sampler (one-to-one or not).
"""

from __future__ import annotations

import time

import numpy as np
from scipy import special, stats

from nflib import ode

import nflib as nf
from nflib import datasets

__all__ = ["TOY_CONFIGS", "make_toy_flow", "train_toy", "n_parameters", "Bimodal",
           "rk4_backprop", "array_bytes", "straightness", "bin_masses", "binned_kl"]

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


def array_bytes(obj) -> int:
    """Bytes of the numpy arrays held in ``obj`` (nested tuples, lists and dicts)."""
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes)
    if isinstance(obj, (list, tuple)):
        return sum(array_bytes(o) for o in obj)
    if isinstance(obj, dict):
        return sum(array_bytes(o) for o in obj.values())
    return 0


def rk4_backprop(field, z0, n_steps: int, loss, t0: float = 0.0, t1: float = 1.0):
    """The gradient of ``loss(z(t1))`` through ``n_steps`` RK4 steps of dz/dt = field(t, z).

    ``loss(z1) -> (L, dL/dz1)``; ``field`` is an ``nflib.ode.MLPField``. Forward: the steps of
    ``nflib.ode.rk4``, each keeping the caches of its four stages
    k1 = f(s, y), k2 = f(s + h/2, y + h k1/2), k3 = f(s + h/2, y + h k2/2), k4 = f(s + h, y + h k3).
    Backward: the chain rule through y' = y + h (k1 + 2 k2 + 2 k3 + k4) / 6, stage by stage in
    reverse (k4 feeds on k3, k3 on k2, k2 on k1). Returns ``(L, dL/dz0, {name: dL/dparam},
    tape)``, ``tape`` the 4 n_steps stage caches it had to keep.
    """
    h = (t1 - t0) / n_steps
    d = z0.shape[1]
    y, tape = np.array(z0, dtype=np.float64), []
    for k in range(n_steps):
        s = t0 + k * h
        k1, c1 = field.forward_cached(s, y)
        k2, c2 = field.forward_cached(s + 0.5 * h, y + 0.5 * h * k1)
        k3, c3 = field.forward_cached(s + 0.5 * h, y + 0.5 * h * k2)
        k4, c4 = field.forward_cached(s + h, y + h * k3)
        tape.append((c1, c2, c3, c4))
        y = y + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    value, gy = loss(y)
    grads = {name: np.zeros_like(p) for name, p in field.parameters().items()}

    def back(cache, g_out):
        g_in, g_par = field.backward(cache, g_out)
        for name, g in g_par.items():
            grads[name] += g
        return g_in[:, :d]                       # drop the gradient with respect to t

    for c1, c2, c3, c4 in reversed(tape):
        gk1, gk2, gk3, gk4 = (h / 6.0) * gy, (h / 3.0) * gy, (h / 3.0) * gy, (h / 6.0) * gy
        g4 = back(c4, gk4)                       # y4 = y + h k3
        gk3 = gk3 + h * g4
        g3 = back(c3, gk3)                       # y3 = y + h k2 / 2
        gk2 = gk2 + 0.5 * h * g3
        g2 = back(c2, gk2)                       # y2 = y + h k1 / 2
        gk1 = gk1 + 0.5 * h * g2
        g1 = back(c1, gk1)
        gy = gy + g1 + g2 + g3 + g4
    return value, gy, grads, tape


def straightness(field, z0, n_steps: int = 30):
    """``(S, chord2)``: S = E int_0^1 |v(t, z_t) - (z_1 - z_0)|^2 dt along RK4 trajectories from
    ``z0`` (trapezoid rule on the n_steps + 1 states) and chord2 = E |z_1 - z_0|^2."""
    path = ode.rk4(field, z0, 0.0, 1.0, n_steps, path=True)
    chord = path[-1] - path[0]
    deviation = np.array([np.sum((field(k / n_steps, z) - chord) ** 2, axis=1)
                          for k, z in enumerate(path)])
    S = np.trapezoid(deviation, dx=1.0 / n_steps, axis=0)
    return float(np.mean(S)), float(np.mean(np.sum(chord * chord, axis=1)))


def bin_masses(toy, edges):
    """Probabilities of the grid cells edges x edges under an ``EightGaussians`` toy, the first
    and last cells in each direction extended to infinity (products of normal cdfs)."""
    e = np.array(edges, dtype=np.float64)
    e[0], e[-1] = -np.inf, np.inf
    masses = 0.0
    for mx, my in toy.means:
        px = np.diff(stats.norm.cdf(e, mx, toy.sigma))
        py = np.diff(stats.norm.cdf(e, my, toy.sigma))
        masses = masses + np.outer(px, py)
    return masses / len(toy.means)


def binned_kl(samples, toy, edges) -> float:
    """KL(q || p) of the bin probabilities: q the samples' frequencies (points outside the grid
    counted in the edge cells), p from ``bin_masses``."""
    inner = np.asarray(edges)[1:-1]
    ix = np.searchsorted(inner, samples[:, 0])
    iy = np.searchsorted(inner, samples[:, 1])
    n_bins = len(edges) - 1
    q = np.bincount(ix * n_bins + iy, minlength=n_bins * n_bins) / samples.shape[0]
    p = bin_masses(toy, edges).ravel()
    kept = q > 0
    return float(np.sum(q[kept] * np.log(q[kept] / p[kept])))
