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
from .distributions import Distribution
from .validation import as_batch, check_finite, nonempty, sample_count

__all__ = ["Flow", "nll_and_grad", "reverse_kl_and_grad"]


class Flow:
    """``Flow(base, bijection)``: x = f(z), z ~ base (a ``Distribution``).

    The data are validated once, at the edge (``check_data``); the latent points the bijection
    computes from them are valid by construction, so the flow calls the base's unchecked
    methods (``log_prob_unchecked``, ``grad_log_prob_unchecked``) on them.
    """

    def __init__(self, base: Distribution, bijection: Bijection):
        self.base = check_base(base)
        if bijection.dim is not None and bijection.dim != base.dim:
            raise ValueError(f"base has dimension {base.dim} but the bijection acts on "
                             f"dimension {bijection.dim}")
        self.bijection = bijection
        self.dim = base.dim

    def log_prob(self, x):
        """log p_X(x) = log p_Z(f^{-1}(x)) + log|det df^{-1}/dx|, shape (n,)."""
        z, log_det = self.bijection.inverse_value(self.check_data(x))
        return self.base.log_prob_unchecked(z) + log_det

    def check_data(self, x) -> np.ndarray:
        """Validate data once, at the edge: a real, finite ``(n, dim)`` batch (n = 0 allowed)."""
        if self.bijection.dim is None:
            x = as_batch(x, self.dim, "x")
        return self.bijection.check_x(x)

    def sample(self, n: int, rng: np.random.Generator):
        """Draw n samples x = f(z), z ~ p_Z (n a whole number >= 0)."""
        x, _ = self.bijection.forward_value(self.base.sample(n, rng))
        return x

    def sample_and_log_prob(self, n: int, rng: np.random.Generator):
        """Samples and their log-density in one pass: log q(x) = log p_Z(z) - log|det df/dz|."""
        z = self.base.sample(n, rng)
        x, log_det = self.bijection.forward_value(z)
        return x, self.base.log_prob_unchecked(z) - log_det

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
    flow.base.require_gradient("nll_and_grad (maximum likelihood)")
    x = nonempty(flow.check_data(x), "x")
    n = x.shape[0]
    z, log_det, cache = flow.bijection.inverse_cached(x)
    loss = -np.mean(flow.base.log_prob_unchecked(z) + log_det)
    grad_z = -flow.base.grad_log_prob_unchecked(z) / n
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
    if sample_count(n) == 0:
        raise ValueError("n must be at least 1: the loss is a mean over n base samples")
    z = flow.base.sample(n, rng)
    x, log_det, cache = flow.bijection.forward_cached(z)
    log_p = _target_values(log_target(x), (x.shape[0],), "log_target(x)")
    grad_x = _target_values(grad_log_target(x), x.shape, "grad_log_target(x)")
    loss = np.mean(flow.base.log_prob_unchecked(z) - log_det - log_p)
    grad_x = -grad_x / n
    grad_log_det = np.full(n, -1.0 / n)
    _, grads = flow.bijection.forward_backward(cache, grad_x, grad_log_det)
    return float(loss), grads


def check_base(base) -> Distribution:
    """A flow's base must be a ``Distribution`` (its unchecked methods are what flows call)."""
    if not isinstance(base, Distribution):
        raise ValueError(f"base must be an nflib Distribution (e.g. nflib.StandardNormal(d)); got "
                         f"{type(base).__name__}: subclass nflib.Distribution to define a new base")
    return base


def _target_values(values, shape, name: str) -> np.ndarray:
    """What a target function returned, checked: the expected shape (no silent broadcasting of
    an (n, 1) column against (n,)), real and finite at the flow's samples."""
    values = np.asarray(values)
    if np.iscomplexobj(values) or values.dtype.kind not in "fiu":
        raise ValueError(f"{name} must return real numbers; got dtype {values.dtype}")
    if values.shape != shape:
        raise ValueError(f"{name} must return an array of shape {shape}; got {values.shape}")
    values = values.astype(np.float64, copy=False)
    check_finite(values, name + " at the flow's samples")
    return values
