"""Chapter 4 (coupling flows): the models, training runs and measurements the chapter shows.

* ``maf_flow(d, n_layers, hidden, rng)``: MAF layers with a ``Reverse`` between consecutive
  ones, the autoregressive model the coupling flows are compared with.
* ``free_parameters(bijection)``: the number of parameters that can change in training; a
  weight removed by a MADE mask is not counted.
* ``train_toy(name, kind, depth, seed, n_steps, ...)``: maximum likelihood on one of the 2-D toys
  of ``nflib.datasets`` with minibatch Adam, a validation set and early stopping; returns a
  ``ToyRun`` with the trained flow, its history, the CPU time of training and the test KL

      KL(data || model) = test NLL - H(data)      (nats; H exact, from ``toy.entropy()``).

  Everything is seeded: the same arguments give the same numbers on every machine.
* ``train_nice(with_scaling)``: NICE on two moons, without or with the final scaling layer.
* ``scaling_to_latent(bijection)``: a NICE stack whose elementwise affine layer comes last on the
  forward pass (the data end) rewritten as the same map with that layer first (the latent end,
  where NICE puts it), by rescaling the inputs and outputs of the shift networks.
* ``train_until_nonfinite(flow, x, ...)``: plain Adam steps that stop at the first non-finite
  loss (an overflowing scale), recording the loss of every step.
* ``layer_stages(bijection, z)``: the points after each layer of a composed flow, for the figure
  that shows the layer-by-layer deformation.
* ``transform_counts(masks)``: how often each coordinate has been transformed after each layer.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from nflib.affine import Affine
from nflib.core import Compose
from nflib.autoregressive import MAF
from nflib.coupling import AdditiveCoupling, AffineCoupling, realnvp
from nflib.datasets import toy
from nflib.distributions import StandardNormal
from nflib.flow import Flow, nll_and_grad
from nflib.permute import Reverse
from nflib.train import Adam, cosine_lr, fit

__all__ = ["maf_flow", "free_parameters", "ToyRun", "build_flow", "shared_toy", "toy_data",
           "train_toy", "train_nice", "scaling_to_latent", "train_until_nonfinite", "layer_stages",
           "transform_counts", "mean_nll"]


def maf_flow(d: int, n_layers: int, hidden=(32, 32), *, rng: np.random.Generator,
             clamp: float = 3.0) -> Compose:
    """``n_layers`` MAF layers with a ``Reverse`` between consecutive ones (so the variable
    ordering alternates, as the masks of ``realnvp`` do)."""
    layers = []
    for k in range(int(n_layers)):
        if k:
            layers.append(Reverse(d))
        layers.append(MAF(d, hidden, rng=rng, clamp=clamp))
    return Compose(layers)


def _mlp_free(net) -> int:
    biases = sum(b.size for b in net.biases)
    if net.masks is None:
        return int(sum(w.size for w in net.weights) + biases)
    return int(sum(m.sum() for m in net.masks) + biases)


def free_parameters(bijection) -> int:
    """Parameters that training can change: every entry of every parameter array, except the
    weights a MADE mask sets to zero for good."""
    if isinstance(bijection, Compose):
        return sum(free_parameters(b) for b in bijection.bijections)
    if isinstance(bijection, MAF):
        return _mlp_free(bijection.made.net)
    if isinstance(bijection, (AffineCoupling, AdditiveCoupling)):
        return _mlp_free(bijection.net)
    return int(sum(p.size for p in bijection.parameters().values()))


def mean_nll(flow: Flow, x, batch: int = 20000) -> float:
    """Mean negative log-likelihood of ``x`` in nats, evaluated in chunks."""
    total = 0.0
    for s in range(0, x.shape[0], batch):
        total -= float(np.sum(flow.log_prob(x[s:s + batch])))
    return total / x.shape[0]


@dataclass
class ToyRun:
    """One training run on a toy. ``curve_steps`` / ``curve_kl``: validation NLL - H(data),
    measured every ``eval_every`` steps; ``kl``: on ``n_test`` fresh test points."""

    name: str
    kind: str
    depth: int
    seed: int
    flow: Flow
    history: object
    cpu_seconds: float
    entropy: float
    nll: float
    kl: float
    kl_se: float
    n_parameters: int
    curve_steps: np.ndarray
    curve_kl: np.ndarray

    @property
    def cpu_per_step(self) -> float:
        return self.cpu_seconds / self.history.steps


def build_flow(kind: str, depth: int, hidden, rng: np.random.Generator,
               clamp: float | None = 3.0) -> Flow:
    """A 2-D flow: ``"realnvp"`` (affine couplings), ``"same_mask"`` (affine couplings that all
    keep x_1 and transform x_2), ``"nice"`` (additive couplings with alternating masks) or
    ``"maf"``."""
    if kind == "realnvp":
        bij = realnvp(2, depth, hidden, rng=rng, clamp=clamp)
    elif kind == "same_mask":
        bij = Compose([AffineCoupling([True, False], hidden, rng=rng, clamp=clamp)
                       for _ in range(depth)])
    elif kind == "maf":
        bij = maf_flow(2, depth, hidden, rng=rng)
    elif kind == "nice":
        bij = Compose([AdditiveCoupling([k % 2 == 0, k % 2 == 1], hidden, rng=rng)
                       for k in range(depth)])
    else:
        raise ValueError(f"kind must be 'realnvp', 'same_mask', 'nice' or 'maf'; got {kind!r}")
    return Flow(StandardNormal(2), bij)


@lru_cache(maxsize=None)
def shared_toy(name: str):
    """One instance per toy, so its entropy (a numerical integral, cached by the instance) is
    computed once per process."""
    return toy(name)


def toy_data(name: str, seed: int, n_train: int = 20000, n_val: int = 2000,
             n_test: int = 20000):
    """Training, validation and test samples of a toy; the test points come from a separate
    seeded stream, so they never overlap with what training saw."""
    data = shared_toy(name)
    rng = np.random.default_rng([seed, 0])
    x_train, x_val = data.sample(n_train, rng), data.sample(n_val, rng)
    x_test = data.sample(n_test, np.random.default_rng([seed, 1]))
    return data, x_train, x_val, x_test


def train_toy(name: str, kind: str = "realnvp", depth: int = 8, seed: int = 0,
              n_steps: int = 600, hidden=(32, 32), batch_size: int = 256, lr: float = 5e-3,
              eval_every: int = 50, patience: int = 6, n_train: int = 20000,
              n_val: int = 2000, n_test: int = 20000, clamp: float | None = 3.0) -> ToyRun:
    """Train a ``kind`` flow of ``depth`` layers on the toy ``name`` by maximum likelihood:
    Adam with cosine learning-rate decay over ``n_steps`` steps, validation every
    ``eval_every`` steps, early stopping after ``patience`` evaluations without improvement,
    and the parameters with the best validation NLL kept. ``clamp`` is the soft clamp of the
    affine couplings' log-scales (RealNVP and same-mask stacks)."""
    data, x_train, x_val, x_test = toy_data(name, seed, n_train, n_val, n_test)
    rng = np.random.default_rng([seed, 2])
    flow = build_flow(kind, depth, hidden, rng, clamp=clamp)
    start = time.process_time()
    history = fit(flow, x_train, rng=rng, n_steps=n_steps, batch_size=batch_size, lr=lr,
                  schedule="cosine", x_val=x_val, eval_every=eval_every, patience=patience,
                  clip_norm=100.0)
    cpu = time.process_time() - start
    log_q = flow.log_prob(x_test)
    entropy = data.entropy()
    nll = float(-log_q.mean())
    return ToyRun(name=name, kind=kind, depth=depth, seed=seed, flow=flow, history=history,
                  cpu_seconds=cpu, entropy=entropy, nll=nll, kl=nll - entropy,
                  kl_se=float(log_q.std(ddof=1) / np.sqrt(log_q.size)),
                  n_parameters=free_parameters(flow.bijection),
                  curve_steps=np.array(history.val_step),
                  curve_kl=np.array(history.val_loss) - entropy)


def train_nice(with_scaling: bool, n_steps: int = 400, seed: int = 0):
    """A NICE flow on two moons: four additive couplings (alternating masks, MLPs with two hidden
    layers of 32 units) and, with ``with_scaling``, a final ``Affine`` scaling layer on the data
    side; Adam with cosine decay. Returns ``(flow, KL on the test points)``."""
    data, x_train, _, x_test = toy_data("two_moons", seed)
    rng = np.random.default_rng([seed, 3])
    layers = [AdditiveCoupling([k % 2 == 0, k % 2 == 1], (32, 32), rng=rng) for k in range(4)]
    if with_scaling:
        layers.append(Affine(2))
    flow = Flow(StandardNormal(2), Compose(layers))
    fit(flow, x_train, rng=rng, n_steps=n_steps, batch_size=256, lr=5e-3, schedule="cosine")
    return flow, mean_nll(flow, x_test) - data.entropy()


def scaling_to_latent(bijection: Compose) -> Compose:
    """The map of ``Compose([a_1, ..., a_K, S])`` (additive couplings, then an elementwise affine
    ``S(v) = exp(sigma) v + b``) written with the scaling first, ``Compose([S, a'_1, ..., a'_K])``.

    ``S(a(z))`` has x_B = exp(sigma_B) (z_B + t(z_A)) + b_B and x_A = exp(sigma_A) z_A + b_A, so
    ``S o a = a' o S`` with the shift t'(u) = exp(sigma_B) t(exp(-sigma_A) (u - b_A)): for an MLP
    ``t`` that is the same network with its first layer fed (u - b_A) exp(-sigma_A) (weights and
    bias rewritten) and its last layer multiplied by exp(sigma_B). Applied from the last coupling
    to the first, the scaling moves to the latent end and the map does not change.
    """
    *couplings, scale = bijection.bijections
    if not isinstance(scale, Affine) or not all(isinstance(b, AdditiveCoupling)
                                                for b in couplings):
        raise ValueError("expected additive couplings followed by one Affine layer")
    sigma, shift = scale.log_scale, scale.shift
    moved = []
    for layer in couplings:
        new = copy.deepcopy(layer)
        keep, move = layer._keep, layer._move
        w_in, b_in = new.net.weights[0], new.net.biases[0]
        inv = np.exp(-sigma[keep])
        b_in -= (shift[keep] * inv) @ layer.net.weights[0]
        w_in *= inv[:, None]
        new.net.weights[-1] *= np.exp(sigma[move])[None, :]
        new.net.biases[-1] *= np.exp(sigma[move])
        moved.append(new)
    return Compose([copy.deepcopy(scale), *moved])


def train_until_nonfinite(flow: Flow, x, *, rng: np.random.Generator, n_steps: int,
                          lr: float, batch_size: int = 256):
    """Adam on minibatches drawn with replacement, the learning rate decaying as
    lr (1 + cos(pi k / n_steps)) / 2 at step k; returns the list of losses, ending with the
    first non-finite one if the parameters diverge (an overflow makes ``nflib`` refuse the
    non-finite latent points, which counts as a non-finite loss)."""
    opt = Adam(flow.parameters(), lr=lr)
    losses = []
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(int(n_steps)):
            opt.lr = cosine_lr(lr, k / n_steps)
            batch = x[rng.integers(0, x.shape[0], batch_size)]
            try:
                loss, grads = nll_and_grad(flow, batch)
            except ValueError:
                loss = float("nan")
            losses.append(loss)
            if not np.isfinite(loss):
                break
            opt.step(grads)
    return losses


def layer_stages(bijection: Compose, z) -> list:
    """``[z, f_1(z), f_2(f_1(z)), ...]``: the points after each layer, base first."""
    stages = [np.asarray(z, dtype=np.float64)]
    for layer in bijection.bijections:
        stages.append(layer.forward(stages[-1])[0])
    return stages


def transform_counts(masks) -> np.ndarray:
    """``counts[k, j]``: how many of the first k+1 layers transformed coordinate j, for
    layers with the given keep-masks (1 = kept, 0 = transformed)."""
    moved = ~np.asarray(masks, dtype=bool)
    return np.cumsum(moved, axis=0)
