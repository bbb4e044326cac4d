"""A flow model: a base distribution pushed through a bijection, and its two training losses.

Density (change of variables, with ``f: z -> x``):

    log p_X(x) = log p_Z(f^{-1}(x)) + log|det d f^{-1}/dx|

Maximum likelihood minimises the mean negative log-likelihood of data; reverse KL fits the flow
to an unnormalised target ``log p~(x)`` using samples of the flow itself:

    KL(q || p) + log Z = E_{z ~ p_Z}[ log p_Z(z) - log|det df/dz| - log p~(f(z)) ].
"""

from __future__ import annotations

import numpy as np

from .core import Bijection
from .validation import as_batch

__all__ = ["Flow", "nll_and_grad", "reverse_kl_and_grad"]


class Flow:
    """``Flow(base, bijection)``: x = f(z), z ~ base."""

    def __init__(self, base, bijection: Bijection):
        if bijection.dim is not None and bijection.dim != base.dim:
            raise ValueError(
                f"base has dimension {base.dim} but the bijection acts on dimension {bijection.dim}")
        self.base = base
        self.bijection = bijection
        self.dim = base.dim

    def log_prob(self, x):
        """log p_X(x) = log p_Z(f^{-1}(x)) + log|det df^{-1}/dx|, shape (n,)."""
        x = as_batch(x, self.dim, "x")
        z, log_det = self.bijection.inverse(x)
        return self.base.log_prob(z) + log_det

    def sample(self, n: int, rng: np.random.Generator):
        """Draw n samples x = f(z), z ~ p_Z."""
        x, _ = self.bijection.forward(self.base.sample(n, rng))
        return x

    def sample_and_log_prob(self, n: int, rng: np.random.Generator):
        """Samples and their log-density in one forward pass: log q(x) = log p_Z(z) - log|det df/dz|."""
        z = self.base.sample(n, rng)
        x, log_det = self.bijection.forward(z)
        return x, self.base.log_prob(z) - log_det

    def parameters(self):
        """Name -> live parameter arrays of the bijection."""
        return self.bijection.parameters()

    def __repr__(self):
        return f"Flow({self.base!r}, {self.bijection!r})"


def nll_and_grad(flow: Flow, x):
    """Mean negative log-likelihood of ``x`` and its gradient with respect to every parameter.

    L = -1/n sum_i [log p_Z(z_i) + log|det df^{-1}/dx|_i],  z_i = f^{-1}(x_i).
    dL/dz_i = -1/n grad log p_Z(z_i),  dL/dlog_det_i = -1/n; then backpropagate through the
    inverse pass. Returns ``(loss, grads)`` with ``grads`` keyed like ``flow.parameters()``.
    """
    x = as_batch(x, flow.dim, "x")
    n = x.shape[0]
    z, log_det, cache = flow.bijection.inverse_cached(x)
    loss = -np.mean(flow.base.log_prob(z) + log_det)
    grad_z = -flow.base.grad_log_prob(z) / n
    grad_log_det = np.full(n, -1.0 / n)
    _, grads = flow.bijection.inverse_backward(cache, grad_z, grad_log_det)
    return float(loss), grads


def reverse_kl_and_grad(flow: Flow, log_target, grad_log_target, n: int, rng: np.random.Generator):
    """Monte Carlo reverse KL (up to the target's log normaliser) and its gradient.

    L = 1/n sum_i [log p_Z(z_i) - log|det df/dz|_i - log p~(f(z_i))],  z_i ~ p_Z,
    a reparametrised estimate of KL(q || p) - log Z. dL/dx_i = -1/n grad log p~(x_i) and
    dL/dlog_det_i = -1/n; backpropagate through the forward pass.
    ``log_target(x) -> (n,)`` and ``grad_log_target(x) -> (n, d)``.
    """
    z = flow.base.sample(n, rng)
    x, log_det, cache = flow.bijection.forward_cached(z)
    loss = np.mean(flow.base.log_prob(z) - log_det - log_target(x))
    grad_x = -np.asarray(grad_log_target(x), dtype=np.float64) / n
    grad_log_det = np.full(n, -1.0 / n)
    _, grads = flow.bijection.forward_backward(cache, grad_x, grad_log_det)
    return float(loss), grads
