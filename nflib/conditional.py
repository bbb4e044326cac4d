"""Conditional flows: bijections whose conditioners also read a context vector c.

A conditional flow models a density q(x | c) for every context c at once (in simulation-based
inference x is a parameter vector theta and c the data it produced). Each layer is a bijection
in x for a fixed c:

    forward(z, c) -> (x, log|det df(.; c)/dz|),   inverse(x, c) -> (z, log|det df^{-1}(.; c)/dx|)

    log q(x | c) = log p_Z(f^{-1}(x; c)) + log|det df^{-1}(.; c)/dx|.

The context only enters the conditioners, never the Jacobian's shape, so the log-determinants are
those of the unconditional layers. The layers here are built from nflib's own by augmentation:

* ``ConditionalAffineCoupling`` and ``ConditionalSplineCoupling`` are the coupling layers
  ``AffineCoupling`` / ``RationalQuadraticSpline`` acting on the augmented vector [x, c] with
  the mask [m, 1, ..., 1]: the context is always a *kept* block, so it feeds the conditioner and
  passes unchanged. Reading the first d columns of the output gives the conditional layer; the
  log-determinant is unchanged (the kept block contributes 0). A conditional coupling may
  transform every coordinate of x (mask all 0), since the context alone can feed the conditioner.
* ``ConditionalMAF`` is a MADE on [c, x] in the natural order, so every output for x_i sees all
  of c and x_<i; only the outputs of the x block are used:
  z_i = (x_i - mu_i(c, x_<i)) e^{-s_i(c, x_<i)}, log|det df^{-1}/dx| = -sum_i s_i.

Gradients are hand-written, as everywhere in nflib. The backward passes return three things,
``(dL/dinput, {name: dL/dparam}, dL/dc)``: the gradient with respect to the context is what an
embedding network c = e(y) needs to be trained jointly. For the augmented couplings it is the
kept-block part of the inner layer's input gradient (the upstream gradient of the passed-through
context is zero); for the MAF it is the context block of MADE's input gradient.

``ConditionalFlow(base, bijection, embedding=None)`` adds the base distribution and an optional
embedding MLP e (raw context y -> c = e(y)); ``conditional_nll_and_grad`` is its maximum-
likelihood loss -1/n sum_i log q(x_i | e(y_i)) with gradients for every parameter, and
``fit_conditional`` trains it with Adam on mini-batches of (x, y) pairs.
"""

from __future__ import annotations

import numpy as np

from .autoregressive import MADE
from .core import Bijection, Layer, prefixed
from .coupling import AffineCoupling, _check_mask
from .distributions import Distribution
from .flow import check_base
from .mlp import MLP
from .spline import RationalQuadraticSpline
from .train import Adam, clip_gradients, cosine_lr, shuffled_batches
from .validation import as_batch, check_finite, nonempty, positive_int

__all__ = ["ConditionalBijection", "ConditionalAffineCoupling", "ConditionalSplineCoupling",
           "ConditionalMAF", "ConditionalCompose", "ConditionalFlow", "conditional_nll_and_grad",
           "fit_conditional"]


def _check_context(context, n: int, dim: int, name: str = "context") -> np.ndarray:
    """A real, finite ``(n, dim)`` context; a single row (shape ``(dim,)`` or ``(1, dim)``) is
    repeated for all n samples."""
    c = np.asarray(context)
    if c.ndim == 1 and not np.iscomplexobj(c) and c.dtype.kind in "fiub":
        c = c[None, :]
    c = as_batch(c, dim, name)
    if c.shape[0] == 1 and n != 1:
        c = np.repeat(c, n, axis=0)
    if c.shape[0] != n:
        raise ValueError(f"{name} must have one row per sample ({n}) or a single row; "
                         f"got shape {c.shape}")
    return c


class ConditionalBijection(Layer):
    """A bijection in x for every context c (see the module docstring).

    ``dim`` is the dimension of x, ``context_dim`` that of c. Subclasses implement the cached
    paths ``forward_cached(z, c)`` / ``inverse_cached(x, c)`` and the backward passes of the
    directions they are trained in, returning ``(dL/dinput, grads, dL/dc)``.
    """

    dim: int
    context_dim: int

    def forward(self, z, context):
        """``(x, log|det df/dz|)`` for ``z`` ``(n, dim)`` and ``context`` ``(n, context_dim)``."""
        z = as_batch(z, self.dim, "z")
        x, log_det, _ = self.forward_cached(z, self.check_context(context, z.shape[0]))
        return x, log_det

    def inverse(self, x, context):
        """``(z, log|det df^{-1}/dx|)`` for ``x`` ``(n, dim)`` and a context."""
        x = as_batch(x, self.dim, "x")
        z, log_det, _ = self.inverse_cached(x, self.check_context(context, x.shape[0]))
        return z, log_det

    def check_context(self, context, n: int) -> np.ndarray:
        return _check_context(context, n, self.context_dim)


class _AugmentedCoupling(ConditionalBijection):
    """A coupling layer on [x, c] whose mask keeps the whole context block."""

    def __init__(self, mask, context_dim):
        mask = np.asarray(mask)
        if mask.ndim != 1 or not np.all((mask == 0) | (mask == 1)):
            raise ValueError(f"mask must be a 1-D binary vector; got {mask!r}")
        if mask.all():
            raise ValueError("mask must transform at least one coordinate (a 0 in the mask)")
        self.mask = mask.astype(bool)
        self.dim = self.mask.size
        self.context_dim = positive_int(context_dim, "context_dim")
        self._augmented_mask = _check_mask(np.concatenate([self.mask,
                                                           np.ones(self.context_dim, bool)]))

    def parameters(self):
        return self.inner.parameters()

    def _augment(self, v, c):
        a = np.empty((v.shape[0], self.dim + self.context_dim))
        a[:, :self.dim] = v
        a[:, self.dim:] = c
        return a

    def _split_grad(self, g_aug, grads):
        return g_aug[:, :self.dim], grads, g_aug[:, self.dim:]

    def forward_cached(self, z, c):
        y, log_det, cache = self.inner.forward_cached(self._augment(z, c))
        return y[:, :self.dim], log_det, cache

    def inverse_cached(self, x, c):
        y, log_det, cache = self.inner.inverse_cached(self._augment(x, c))
        return y[:, :self.dim], log_det, cache

    def forward_backward(self, cache, grad_x, grad_log_det):
        g, grads = self.inner.forward_backward(
            cache, self._augment(grad_x, 0.0), grad_log_det)
        return self._split_grad(g, grads)

    def inverse_backward(self, cache, grad_z, grad_log_det):
        g, grads = self.inner.inverse_backward(
            cache, self._augment(grad_z, 0.0), grad_log_det)
        return self._split_grad(g, grads)

    def __repr__(self):
        return (f"{type(self).__name__}(mask={self.mask.astype(int).tolist()}, "
                f"context_dim={self.context_dim}, net={self.inner.net!r})")


class ConditionalAffineCoupling(_AugmentedCoupling):
    """``ConditionalAffineCoupling(mask, context_dim, hidden=(64, 64), *, rng, clamp=3.0,
    activation="tanh")``.

    x_moved = z_moved e^{s} + t with (s, t) from an MLP of [z_kept, c] (s soft-clamped as in
    ``AffineCoupling``); log|det df/dz| = sum s. ``mask`` may be all zeros (every coordinate
    transformed, the conditioner reading the context only). Parameters ``net.W0, net.b0, ...``.
    """

    def __init__(self, mask, context_dim: int, hidden=(64, 64), *, rng: np.random.Generator,
                 clamp: float | None = 3.0, activation: str = "tanh"):
        super().__init__(mask, context_dim)
        self.inner = AffineCoupling(self._augmented_mask, hidden, rng=rng, clamp=clamp,
                                    activation=activation)


class ConditionalSplineCoupling(_AugmentedCoupling):
    """``ConditionalSplineCoupling(mask, context_dim, hidden=(64, 64), *, rng, bins=8,
    bound=3.0, activation="tanh")``: a rational-quadratic spline coupling
    (``RationalQuadraticSpline``) whose knots come from an MLP of [z_kept, c]."""

    def __init__(self, mask, context_dim: int, hidden=(64, 64), *, rng: np.random.Generator,
                 bins: int = 8, bound: float = 3.0, activation: str = "tanh"):
        super().__init__(mask, context_dim)
        self.inner = RationalQuadraticSpline(self._augmented_mask, hidden, rng=rng, bins=bins,
                                             bound=bound, activation=activation)


class ConditionalMAF(ConditionalBijection):
    """``ConditionalMAF(d, context_dim, hidden=(64, 64), *, rng, clamp=3.0, activation="tanh")``.

    A MADE on [c, x] (natural order): output i of the x block sees c and x_<i. Inverse (density)
    in one pass, z = (x - mu) e^{-s}, log|det df^{-1}/dx| = -sum s; forward (sampling) in d
    passes. Gradient of the inverse direction (g = dL/dz, g_ld = dL/dlog_det): dL/dmu = -g e^{-s},
    dL/ds = -g z - g_ld, dL/dx = g e^{-s} + (MADE backward)_x, dL/dc = (MADE backward)_c.
    Parameters ``made.W0, made.b0, ...``.
    """

    def __init__(self, d: int, context_dim: int, hidden=(64, 64), *, rng: np.random.Generator,
                 clamp: float = 3.0, activation: str = "tanh"):
        self.dim = positive_int(d, "d")
        self.context_dim = positive_int(context_dim, "context_dim")
        self.made = MADE(self.context_dim + self.dim, hidden, rng=rng, clamp=clamp,
                         activation=activation)

    def parameters(self):
        return prefixed({"made": self.made.parameters()})

    def _conditioner(self, x, c):
        a = np.empty((x.shape[0], self.context_dim + self.dim))
        a[:, :self.context_dim] = c
        a[:, self.context_dim:] = x
        mu, s, made_cache = self.made.forward_cached(a)
        return mu[:, self.context_dim:], s[:, self.context_dim:], made_cache

    def inverse_cached(self, x, c):
        mu, s, made_cache = self._conditioner(x, c)
        inv_scale = np.exp(-s)
        z = (x - mu) * inv_scale
        return z, -s.sum(axis=1), (made_cache, z, inv_scale)

    def forward_cached(self, z, c):
        x = np.zeros_like(z)
        log_det = np.zeros(z.shape[0])
        for i in range(self.dim):
            mu, s, _ = self._conditioner(x, c)
            x[:, i] = z[:, i] * np.exp(s[:, i]) + mu[:, i]
            log_det += s[:, i]
        return x, log_det, None

    def inverse_backward(self, cache, grad_z, grad_log_det):
        made_cache, z, inv_scale = cache
        n, k = grad_z.shape[0], self.context_dim
        g_x = grad_z * inv_scale
        g_mu = np.zeros((n, k + self.dim))
        g_s = np.zeros((n, k + self.dim))
        g_mu[:, k:] = -g_x
        g_s[:, k:] = -(grad_z * z) - grad_log_det[:, None]
        g_a, grads = self.made.backward(made_cache, g_mu, g_s)
        g_x += g_a[:, k:]
        return g_x, prefixed({"made": grads}), g_a[:, :k]

    def __repr__(self):
        return (f"ConditionalMAF({self.dim}, context_dim={self.context_dim}, "
                f"hidden={self.made.net.widths[1:-1]})")


class ConditionalCompose(ConditionalBijection):
    """``ConditionalCompose([b1, b2, ...])``: b1 first on forward. Layers are conditional
    bijections or plain ``Bijection``s (a permutation, an ``Affine``), which ignore the context.
    Parameters ``"<k>.<name>"``; the context gradients of the layers add up."""

    def __init__(self, layers):
        self.layers = list(layers)
        if not self.layers:
            raise ValueError("ConditionalCompose needs at least one layer")
        context_dims = {b.context_dim for b in self.layers if isinstance(b, ConditionalBijection)}
        for k, b in enumerate(self.layers):
            if not isinstance(b, (Bijection, ConditionalBijection)):
                raise ValueError(f"layer {k} is a {type(b).__name__}, not a bijection")
        if len(context_dims) != 1:
            raise ValueError("ConditionalCompose needs conditional layers that all take the same "
                             f"context dimension; got {sorted(context_dims)}")
        dims = {b.dim for b in self.layers if b.dim is not None}
        if len(dims) != 1:
            raise ValueError(f"all layers must act on the same dimension; got {sorted(dims)}")
        self.dim, self.context_dim = dims.pop(), context_dims.pop()

    @property
    def trained_directions(self) -> tuple:
        return tuple(d for d in ("forward", "inverse")
                     if all(d in b.trained_directions for b in self.layers))

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, k):
        return self.layers[k]

    def parameters(self):
        return prefixed({k: b.parameters() for k, b in enumerate(self.layers)})

    @staticmethod
    def _conditional(b):
        return isinstance(b, ConditionalBijection)

    def forward_cached(self, z, c):
        caches, total = [], np.zeros(z.shape[0])
        for b in self.layers:
            z, log_det, cache = (b.forward_cached(z, c) if self._conditional(b)
                                 else b.forward_cached(z))
            caches.append(cache)
            total = total + log_det
        return z, total, caches

    def inverse_cached(self, x, c):
        caches, total = [], np.zeros(x.shape[0])
        for b in reversed(self.layers):
            x, log_det, cache = (b.inverse_cached(x, c) if self._conditional(b)
                                 else b.inverse_cached(x))
            caches.append(cache)
            total = total + log_det
        return x, total, caches[::-1]

    def _backward(self, order, caches, grad, grad_log_det, method):
        grads, grad_c = {}, np.zeros((grad.shape[0], self.context_dim))
        for k in order:
            b = self.layers[k]
            out = getattr(b, method)(caches[k], grad, grad_log_det)
            if self._conditional(b):
                grad, g, g_c = out
                grad_c += g_c
            else:
                grad, g = out
            grads.update(prefixed({k: g}))
        return grad, {name: grads[name] for name in self.parameters()}, grad_c

    def forward_backward(self, caches, grad_x, grad_log_det):
        return self._backward(reversed(range(len(self.layers))), caches, grad_x, grad_log_det,
                              "forward_backward")

    def inverse_backward(self, caches, grad_z, grad_log_det):
        return self._backward(range(len(self.layers)), caches, grad_z, grad_log_det,
                              "inverse_backward")

    def __repr__(self):
        return "ConditionalCompose([" + ", ".join(map(repr, self.layers)) + "])"


class ConditionalFlow:
    """``ConditionalFlow(base, bijection, embedding=None)``: x = f(z; c), z ~ base, with
    c = embedding(y) for an optional ``MLP`` embedding (else c = y).

    ``log_prob(x, y) -> (n,)`` and ``sample(n, y, rng) -> (n, dim)``; ``y`` has one row per
    sample, or a single row used for all. ``parameters()``: the bijection's names and, with an
    embedding, ``"embedding.W0"`` and so on.
    """

    def __init__(self, base: Distribution, bijection: ConditionalBijection,
                 embedding: MLP | None = None):
        check_base(base)
        if not isinstance(bijection, ConditionalBijection):
            raise ValueError("bijection must be a ConditionalBijection (use nflib.Flow for an "
                             "unconditional one)")
        if bijection.dim != base.dim:
            raise ValueError(f"base has dimension {base.dim} but the bijection acts on "
                             f"dimension {bijection.dim}")
        if embedding is not None and embedding.widths[-1] != bijection.context_dim:
            raise ValueError(f"the embedding outputs {embedding.widths[-1]} numbers but the "
                             f"bijection takes a context of {bijection.context_dim}")
        self.base, self.bijection, self.embedding = base, bijection, embedding
        self.dim = base.dim
        self.context_dim = (bijection.context_dim if embedding is None
                            else embedding.widths[0])

    def _context(self, y, n):
        y = _check_context(y, n, self.context_dim)
        if self.embedding is None:
            return y, None
        c, cache = self.embedding.forward_cached(y)
        check_finite(c, "the embedded context")
        return c, cache

    def log_prob(self, x, y):
        """log q(x | y) = log p_Z(f^{-1}(x; c)) + log|det df^{-1}/dx|, c = e(y); shape (n,)."""
        x = as_batch(x, self.dim, "x")
        c, _ = self._context(y, x.shape[0])
        z, log_det, _ = self.bijection.inverse_cached(x, c)
        return self.base.log_prob_unchecked(z) + log_det

    def sample(self, n: int, y, rng: np.random.Generator):
        """n samples of q(x | y): y a single row (n draws for it) or n rows (one draw each)."""
        z = self.base.sample(n, rng)
        c, _ = self._context(y, z.shape[0])
        x, _, _ = self.bijection.forward_cached(z, c)
        return x

    def parameters(self):
        params = dict(self.bijection.parameters())
        if self.embedding is not None:
            params.update(prefixed({"embedding": self.embedding.parameters()}))
        return params

    def __repr__(self):
        return f"ConditionalFlow({self.base!r}, {self.bijection!r}, embedding={self.embedding!r})"


def conditional_nll_and_grad(flow: ConditionalFlow, x, y):
    """Mean negative conditional log-likelihood -1/n sum_i log q(x_i | y_i) and its gradient
    for every parameter (bijection and embedding).

    dL/dz_i = -1/n grad log p_Z(z_i), dL/dlog_det_i = -1/n, back through the inverse pass; the
    context gradient dL/dc flows on into the embedding's backward pass.
    """
    flow.base.require_gradient("conditional_nll_and_grad (maximum likelihood)")
    x = nonempty(as_batch(x, flow.dim, "x"), "x")
    n = x.shape[0]
    c, emb_cache = flow._context(y, n)
    z, log_det, cache = flow.bijection.inverse_cached(x, c)
    loss = -np.mean(flow.base.log_prob_unchecked(z) + log_det)
    _, grads, grad_c = flow.bijection.inverse_backward(
        cache, -flow.base.grad_log_prob_unchecked(z) / n, np.full(n, -1.0 / n))
    grads = dict(grads)
    if flow.embedding is not None:
        _, g_emb = flow.embedding.backward(emb_cache, grad_c)
        grads.update(prefixed({"embedding": g_emb}))
    return float(loss), grads


def fit_conditional(flow: ConditionalFlow, x, y, *, rng: np.random.Generator, n_steps: int,
                    batch_size: int = 256, lr: float = 1e-3, schedule: str | None = "cosine",
                    clip_norm: float | None = None) -> list:
    """Train by maximum likelihood on pairs (x_i, y_i) with Adam for ``n_steps`` mini-batch
    steps (epochs in a fresh random order from ``rng``); ``schedule="cosine"`` decays the
    learning rate to 0. Returns the list of mini-batch losses."""
    x = nonempty(as_batch(x, flow.dim, "x"), "x")
    y = _check_context(y, x.shape[0], flow.context_dim, "y")
    n_steps = positive_int(n_steps, "n_steps")
    batch_size = min(positive_int(batch_size, "batch_size"), x.shape[0])
    if schedule not in (None, "cosine"):
        raise ValueError(f"schedule must be None or 'cosine'; got {schedule!r}")
    opt = Adam(flow.parameters(), lr=lr)
    losses, batches = [], shuffled_batches(x.shape[0], batch_size, rng)
    for step, idx in zip(range(n_steps), batches):
        loss, grads = conditional_nll_and_grad(flow, x[idx], y[idx])
        if not np.isfinite(loss):
            raise FloatingPointError(f"the loss became non-finite at step {step}")
        if clip_norm is not None:
            clip_gradients(grads, clip_norm)
        if schedule == "cosine":
            opt.lr = cosine_lr(lr, step / n_steps)
        opt.step(grads)
        losses.append(loss)
    return losses
