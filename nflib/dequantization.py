"""Dequantisation of discrete data: uniform noise, or a learned (variational) noise distribution.

A density p_X on the box [0, 1)^d defines a model of integer data k in {0, ..., L-1}^d (L levels):

    P(k) = int_{[0,1)^d} p_Y(k + u) du,     p_Y(k + u) = p_X((k + u) / L) L^{-d}.

For any distribution q(u | k) on the unit box, Jensen's inequality gives a lower bound (the bound
of variational dequantisation; uniform noise is q = 1):

    log P(k) >= E_{u ~ q(.|k)} [ log p_X((k + u) / L) - d log L - log q(u | k) ],

with the gap E_u [log q(u|k) - log p(u|k)] = KL( q(.|k) || p(.|k) ), where p(u | k) =
p_Y(k + u) / P(k) is the model's own density inside the bin of k. Uniform noise leaves a gap
whenever the model's density is not flat on each bin; a learned q can follow it.

``VariationalDequantizer(d, levels, ...)``: q(u | k) is a conditional flow (``nflib.conditional``)
followed by a sigmoid onto (0, 1):

    eps ~ N(0, I_d),   y = f(eps; c),   u = sigmoid(y),   c = 2 k / (L - 1) - 1,

    log q(u | k) = log N(eps) - log|det dy/deps| - sum_j log sigmoid'(y_j),
    log sigmoid'(y) = log u + log(1 - u) = -softplus(-y) - softplus(y).

f starts with a fixed-init ``Affine`` of scale 1.7 (a normal of that scale, pushed through the
sigmoid, is close to uniform: the logistic distribution would be exactly uniform), then
conditional affine couplings (``ConditionalAffineCoupling``) whose conditioners read c; the
first transforms every coordinate from the context alone. y is clipped to [-30, 30] so that u
stays strictly inside (0, 1) in float64 (sigmoid(30) = 1 - 9.4e-14); nothing trained comes near.

The objective, per image (in nats; bits/dim are -bound / (d ln 2)):

    L = -1/n sum_i [ log p_X(x_i) - d log L - log q(u_i | k_i) ],  x_i = (k_i + u_i) / L,

is minimised over the model p_X and q together by reparametrisation (u_i = sigmoid(f(eps_i; c_i))).
Gradients, written by hand:

* model parameters: those of -1/n sum log p_X(x_i) at the sampled x_i (``nll_and_grad``'s);
* the input gradient of the model's term, g_x = d(-1/n sum log p_X)/dx, is what the model's
  inverse backward pass returns as its first output;
* dequantiser: dL/dy = g_x sigmoid'(y) / L - (1 - 2u) / n (the second term from
  -1/n * -sum log sigmoid'(y)), dL/d log|det dy/deps| = -1/n, back through the forward pass of f.

``dequantized_nll_and_grad(flow, pixels, rng, dequantizer=None)`` returns ``(L, model_grads,
dequantizer_grads)`` (uniform noise with ``dequantizer=None``); ``fit_dequantized`` trains both
with Adam (weight decay on the model only) on mini-batches. ``dequantized_bound`` is the
per-image bound and ``iw_log_prob`` the importance-weighted estimate of log P(k),

    log P_K(k) = log 1/K sum_i p_Y(k + u_i) / q(u_i | k),   u_i ~ q(.|k),

whose expectation rises with K towards log P(k) (K = 1 is the bound itself).
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from .affine import Affine
from .conditional import ConditionalAffineCoupling, ConditionalCompose, ConditionalFlow
from .distributions import StandardNormal
from .flow import Flow
from .functions import softplus
from .train import Adam, cosine_lr, shuffled_batches
from .validation import as_batch, nonempty, positive_int

__all__ = ["VariationalDequantizer", "check_pixels", "dequantized_nll_and_grad",
           "dequantized_bound", "iw_log_prob", "fit_dequantized"]

#: y is clipped to +-Y_MAX before the sigmoid, so that u is strictly inside (0, 1) in float64
Y_MAX = 30.0
#: the scale of the fixed-init first layer: sigmoid(1.7 eps), eps ~ N(0, 1), is close to uniform
INIT_SCALE = 1.7


def check_pixels(pixels, d: int, levels: int) -> np.ndarray:
    """Integer-valued pixels ``(n, d)`` in ``0 .. levels - 1``, as float64; ValueError otherwise."""
    k = nonempty(as_batch(pixels, d, "pixels"), "pixels")
    if np.any(k != np.round(k)):
        raise ValueError("pixels must be integers (the discrete levels, not dequantised values)")
    if k.min() < 0 or k.max() > levels - 1:
        raise ValueError(f"pixels must lie in 0..{levels - 1}; got values from {k.min():g} to "
                         f"{k.max():g}")
    return k


def _log_sigmoid_prime(y):
    """log sigmoid'(y) = log s + log(1 - s) = -softplus(-y) - softplus(y), stable for any y."""
    return -softplus(-y) - softplus(y)


class VariationalDequantizer:
    """``VariationalDequantizer(d, levels, n_layers=3, hidden=(32,), *, rng, clamp=3.0)``:
    q(u | k) on (0, 1)^d for integer data k with ``levels`` levels (see the module docstring).

    ``sample(pixels, rng) -> (u, log_q)``; ``log_prob(u, pixels) -> (n,)``; ``parameters()``
    (the live arrays, named like ``ConditionalCompose``'s: ``"0.log_scale"``, ``"1.net.W0"``,
    ...). The first coupling transforms every coordinate from the context alone; the others
    alternate even and odd coordinates.
    """

    def __init__(self, d: int, levels: int, n_layers: int = 3, hidden=(32,), *,
                 rng: np.random.Generator, clamp: float = 3.0):
        self.dim = positive_int(d, "d")
        self.levels = positive_int(levels, "levels")
        if self.levels < 2:
            raise ValueError(f"levels must be at least 2; got {levels!r}")
        n_layers = positive_int(n_layers, "n_layers")
        j = np.arange(self.dim)
        first = Affine(self.dim, log_scale=np.full(self.dim, np.log(INIT_SCALE)))
        layers = [first, ConditionalAffineCoupling(np.zeros(self.dim), self.dim, hidden, rng=rng,
                                                   clamp=clamp)]
        for m in range(1, n_layers):
            mask = (j + m) % 2 == 0 if self.dim > 1 else np.zeros(1)
            layers.append(ConditionalAffineCoupling(mask, self.dim, hidden, rng=rng,
                                                    clamp=clamp))
        self.bijection = ConditionalCompose(layers)
        self.flow = ConditionalFlow(StandardNormal(self.dim), self.bijection)

    def context(self, pixels) -> np.ndarray:
        """c = 2 k / (levels - 1) - 1 in [-1, 1]: what the conditioners read (validated)."""
        k = check_pixels(pixels, self.dim, self.levels)
        return 2.0 * k / (self.levels - 1) - 1.0

    def parameters(self) -> dict:
        return self.bijection.parameters()

    def sample_cached(self, pixels, rng: np.random.Generator):
        """``(u, log_q, cache)`` for one draw per row of ``pixels``; ``cache`` feeds
        ``backward``."""
        c = self.context(pixels)
        eps = rng.standard_normal(c.shape)
        y, log_det, cache = self.bijection.forward_cached(eps, c)
        y = np.clip(y, -Y_MAX, Y_MAX)
        u = 1.0 / (1.0 + np.exp(-y))
        log_q = (self.flow.base.log_prob_unchecked(eps) - log_det
                 - np.sum(_log_sigmoid_prime(y), axis=1))
        return u, log_q, (cache, y, u)

    def sample(self, pixels, rng: np.random.Generator):
        """``(u, log q(u | pixels))``: one draw u in (0, 1)^d per row of ``pixels``."""
        u, log_q, _ = self.sample_cached(pixels, rng)
        return u, log_q

    def log_prob(self, u, pixels) -> np.ndarray:
        """log q(u | pixels) for u strictly inside (0, 1)^d; shape (n,)."""
        c = self.context(pixels)
        u = as_batch(u, self.dim, "u")
        if u.shape[0] != c.shape[0]:
            raise ValueError(f"u has {u.shape[0]} rows but pixels {c.shape[0]}")
        if np.any((u <= 0) | (u >= 1)):
            raise ValueError("u must lie strictly inside (0, 1)")
        y = np.log(u) - np.log1p(-u)
        return self.flow.log_prob(y, c) - np.sum(_log_sigmoid_prime(y), axis=1)

    def backward(self, cache, grad_u, grad_log_q):
        """Gradients of a loss L(u, log_q) for the parameters, from dL/du and dL/dlog_q (both
        per sample): dL/dy = dL/du sigmoid'(y) - dL/dlog_q (1 - 2u), and dL/dlog|det dy/deps|
        = -dL/dlog_q, back through the forward pass of f. Returns ``{name: dL/dparam}``."""
        inner, y, u = cache
        grad_log_q = np.asarray(grad_log_q, dtype=np.float64)
        grad_y = grad_u * u * (1.0 - u) - grad_log_q[:, None] * (1.0 - 2.0 * u)
        grad_y = np.where(np.abs(y) < Y_MAX, grad_y, 0.0)      # the clip passes no gradient
        _, grads, _ = self.bijection.forward_backward(inner, grad_y, -grad_log_q)
        return grads

    def __repr__(self):
        return f"VariationalDequantizer({self.dim}, levels={self.levels}, {self.bijection!r})"


def _check(flow: Flow, dequantizer, pixels, levels):
    if not isinstance(flow, Flow):
        raise ValueError(f"flow must be an nflib.Flow; got {type(flow).__name__}")
    if dequantizer is not None:
        if not isinstance(dequantizer, VariationalDequantizer):
            raise ValueError("dequantizer must be a VariationalDequantizer or None (uniform)")
        if dequantizer.dim != flow.dim or dequantizer.levels != levels:
            raise ValueError(f"the dequantizer is for d = {dequantizer.dim} with "
                             f"{dequantizer.levels} levels; the data have d = {flow.dim} with "
                             f"{levels}")
    return check_pixels(pixels, flow.dim, levels)


def _draw(k, dequantizer, rng, levels):
    """u, log q(u | k) and the dequantiser's cache (None for uniform noise)."""
    if dequantizer is None:
        return rng.random(k.shape), np.zeros(k.shape[0]), None
    return dequantizer.sample_cached(k, rng)


def dequantized_nll_and_grad(flow: Flow, pixels, rng: np.random.Generator, dequantizer=None,
                             levels: int = 17):
    """``(L, model_grads, dequantizer_grads)`` for one noise draw per image of ``pixels``:
    L = -1/n sum_i [log p_X((k_i + u_i)/L) - d log L - log q(u_i|k_i)] in nats per image, the
    negative of the dequantisation bound (uniform noise, and ``{}`` as its grads, when
    ``dequantizer`` is None). See the module docstring for the gradients."""
    flow.base.require_gradient("dequantized_nll_and_grad (maximum likelihood)")
    k = _check(flow, dequantizer, pixels, levels)
    n, d = k.shape
    u, log_q, q_cache = _draw(k, dequantizer, rng, levels)
    x = (k + u) / levels
    z, log_det, cache = flow.bijection.inverse_cached(x)
    log_p = flow.base.log_prob_unchecked(z) + log_det
    loss = -float(np.mean(log_p - log_q)) + d * np.log(levels)
    grad_x, model_grads = flow.bijection.inverse_backward(
        cache, -flow.base.grad_log_prob_unchecked(z) / n, np.full(n, -1.0 / n))
    if dequantizer is None:
        return loss, model_grads, {}
    q_grads = dequantizer.backward(q_cache, grad_x / levels, np.full(n, 1.0 / n))
    return loss, model_grads, q_grads


def dequantized_bound(flow: Flow, pixels, rng: np.random.Generator, dequantizer=None,
                      levels: int = 17) -> np.ndarray:
    """One-draw estimate of the bound log p_X((k + u)/L) - d log L - log q(u|k) per image (n,),
    in nats; its mean over draws is the bound on log P(k)."""
    return iw_log_prob(flow, pixels, 1, rng, dequantizer, levels)


def iw_log_prob(flow: Flow, pixels, k: int, rng: np.random.Generator, dequantizer=None,
                levels: int = 17, batch: int = 4096) -> np.ndarray:
    """Importance-weighted estimate of log P(pixels) per image (n,), in nats, with ``k`` draws
    u_i ~ q(.|pixels) (uniform when ``dequantizer`` is None):
    log 1/k sum_i exp(log p_X((pixels + u_i)/L) - d log L - log q(u_i|pixels))."""
    pixels = _check(flow, dequantizer, pixels, levels)
    k = positive_int(k, "k")
    n, d = pixels.shape
    repeated = np.repeat(pixels, k, axis=0)
    weights = np.empty(n * k)
    for s in range(0, n * k, batch):
        rows = repeated[s:s + batch]
        u, log_q, _ = _draw(rows, dequantizer, rng, levels)
        weights[s:s + batch] = flow.log_prob((rows + u) / levels) - log_q
    return logsumexp(weights.reshape(n, k), axis=1) - np.log(k) - d * np.log(levels)


def fit_dequantized(flow: Flow, pixels, *, rng: np.random.Generator, n_steps: int,
                    dequantizer=None, batch_size: int = 128, lr: float = 2e-3,
                    dequantizer_lr: float | None = None, weight_decay: float = 0.0,
                    schedule: str | None = None, levels: int = 17) -> list:
    """Train ``flow`` (and ``dequantizer``, if given) on integer ``pixels`` by the dequantisation
    bound with Adam for ``n_steps`` mini-batch steps (epochs in a fresh random order from
    an rng spawned from ``rng``; new noise every batch, from a second one). ``weight_decay``
    applies to the model only;
    ``dequantizer_lr`` defaults to ``lr``; ``schedule="cosine"`` decays both rates to 0.
    Returns the mini-batch losses (nats per image). The same ``rng`` and step count give the
    uniform and the variational runs the same batches."""
    k = _check(flow, dequantizer, pixels, levels)
    n_steps = positive_int(n_steps, "n_steps")
    batch_size = min(positive_int(batch_size, "batch_size"), k.shape[0])
    if schedule not in (None, "cosine"):
        raise ValueError(f"schedule must be None or 'cosine'; got {schedule!r}")
    opt = Adam(flow.parameters(), lr=lr, weight_decay=weight_decay)
    q_lr = lr if dequantizer_lr is None else dequantizer_lr
    q_opt = None if dequantizer is None else Adam(dequantizer.parameters(), lr=q_lr)
    # batches and noise from two streams: a uniform and a variational run given equal rngs see
    # the same batches in the same order
    order_rng, noise_rng = rng.spawn(2)
    losses, batches = [], shuffled_batches(k.shape[0], batch_size, order_rng)
    for step, idx in zip(range(n_steps), batches):
        loss, model_grads, q_grads = dequantized_nll_and_grad(flow, k[idx], noise_rng,
                                                              dequantizer, levels)
        if not np.isfinite(loss):
            raise FloatingPointError(f"the loss became non-finite at step {step}")
        if schedule == "cosine":
            opt.lr, factor = cosine_lr(lr, step / n_steps), cosine_lr(1.0, step / n_steps)
        else:
            factor = 1.0
        opt.step(model_grads)
        if q_opt is not None:
            q_opt.lr = q_lr * factor
            q_opt.step(q_grads)
        losses.append(loss)
    return losses
