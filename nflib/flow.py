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
from .validation import as_batch, check_finite, nonempty, sample_count

__all__ = ["Flow", "nll_and_grad", "reverse_kl_and_grad"]


class Flow:
    """``Flow(base, bijection)``: x = f(z), z ~ base."""

    def __init__(self, base, bijection: Bijection):
        if bijection.dim is not None and bijection.dim != base.dim:
            raise ValueError(f"base has dimension {base.dim} but the bijection acts on "
                             f"dimension {bijection.dim}")
        self.base = base
        self.bijection = bijection
        self.dim = base.dim
        # the latent points a flow computes are valid by construction: no second check
        self._base_log_prob = getattr(base, "_log_prob", None) or base.log_prob
        self._base_grad_log_prob = (getattr(base, "_grad_log_prob", None)
                                    or getattr(base, "grad_log_prob", None))

    def log_prob(self, x):
        """log p_X(x) = log p_Z(f^{-1}(x)) + log|det df^{-1}/dx|, shape (n,)."""
        z, log_det, _ = self.bijection.inverse_cached(self.check_data(x))
        return self._base_log_prob(z) + log_det

    def check_data(self, x) -> np.ndarray:
        """Validate data once, at the edge: a real, finite ``(n, dim)`` batch (n = 0 allowed)."""
        if self.bijection.dim is None:
            x = as_batch(x, self.dim, "x")
        return self.bijection.check_x(x)

    def sample(self, n: int, rng: np.random.Generator):
        """Draw n samples x = f(z), z ~ p_Z (n a whole number >= 0)."""
        x, _, _ = self.bijection.forward_cached(self.base.sample(n, _check_rng(rng)))
        return x

    def sample_and_log_prob(self, n: int, rng: np.random.Generator):
        """Samples and their log-density in one pass: log q(x) = log p_Z(z) - log|det df/dz|."""
        z = self.base.sample(n, _check_rng(rng))
        x, log_det, _ = self.bijection.forward_cached(z)
        return x, self._base_log_prob(z) - log_det

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
    x = nonempty(flow.check_data(x), "x")
    n = x.shape[0]
    z, log_det, cache = flow.bijection.inverse_cached(x)
    loss = -np.mean(flow._base_log_prob(z) + log_det)
    grad_z = -flow._base_grad_log_prob(z) / n
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
    z = flow.base.sample(n, _check_rng(rng))
    x, log_det, cache = flow.bijection.forward_cached(z)
    log_p = _target_values(log_target(x), (x.shape[0],), "log_target(x)")
    grad_x = _target_values(grad_log_target(x), x.shape, "grad_log_target(x)")
    loss = np.mean(flow._base_log_prob(z) - log_det - log_p)
    grad_x = -grad_x / n
    grad_log_det = np.full(n, -1.0 / n)
    _, grads = flow.bijection.forward_backward(cache, grad_x, grad_log_det)
    return float(loss), grads


def _check_rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator, e.g. np.random.default_rng(0); "
                         f"got {type(rng).__name__}")
    return rng


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
