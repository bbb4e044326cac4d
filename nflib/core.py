"""The bijection protocol, composition, inversion, and input validation.

Conventions (the same in every chapter):

* A flow is a generative map ``f: z -> x``; ``z`` comes from the base distribution.
* Arrays are ``(n, d)``; log-determinants are per sample, shape ``(n,)``.
* ``forward(z) -> (x, log|det df/dz|)`` and ``inverse(x) -> (z, log|det df^{-1}/dx|)``,
  so ``inverse(x)[1] == -forward(z)[1]`` when ``x = f(z)``.

Gradients are written by hand in the style of forward/backward pairs: ``forward_cached`` (or
``inverse_cached``) returns the outputs plus a cache, and ``forward_backward`` (or
``inverse_backward``) takes the cache and the upstream gradients ``dL/d(output)`` (shape
``(n, d)``) and ``dL/d(log_det)`` (shape ``(n,)``) and returns ``dL/d(input)`` and a dict of
parameter gradients with the same keys and shapes as ``parameters()``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Bijection", "Compose", "Inverse", "as_batch", "check_finite"]


def as_batch(x, d: int | None = None, name: str = "input") -> np.ndarray:
    """Validate ``x`` as a float64 batch of shape ``(n, d)`` with finite entries.

    Raises ``ValueError`` naming the problem (wrong number of dimensions, wrong width,
    NaN or infinite values) instead of letting numpy fail deep inside a computation.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n, d); got shape {x.shape}")
    if d is not None and x.shape[1] != d:
        raise ValueError(f"{name} must have {d} columns (shape (n, {d})); got shape {x.shape}")
    check_finite(x, name)
    return x


def check_finite(x: np.ndarray, name: str = "input") -> None:
    """Raise ``ValueError`` if ``x`` holds NaN or infinite values."""
    if not np.all(np.isfinite(x)):
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise ValueError(f"{name} contains {bad} non-finite value(s) (NaN or inf)")


class Bijection:
    """An invertible map ``f`` with a tractable log-determinant.

    Subclasses implement ``forward`` and ``inverse``; those that can be trained implement
    the cached/backward pairs for the direction(s) they are trained in, and
    ``parameters()`` returning the live parameter arrays (updated in place by optimisers).
    """

    #: dimension of a sample, or None if any width is accepted
    dim: int | None = None

    # ---- the public contract -------------------------------------------------------
    def forward(self, z):
        """Return ``(x, log_det)`` with ``x = f(z)`` and ``log_det = log|det df/dz|``."""
        x, log_det, _ = self.forward_cached(z)
        return x, log_det

    def inverse(self, x):
        """Return ``(z, log_det)`` with ``z = f^{-1}(x)`` and ``log_det = log|det df^{-1}/dx|``."""
        z, log_det, _ = self.inverse_cached(x)
        return z, log_det

    def parameters(self) -> dict:
        """Name -> live parameter array (the optimiser updates these arrays in place)."""
        return {}

    # ---- hand-written gradients ----------------------------------------------------
    def forward_cached(self, z):
        """``forward`` plus a cache for ``forward_backward``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def inverse_cached(self, x):
        """``inverse`` plus a cache for ``inverse_backward``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement inverse")

    def forward_backward(self, cache, grad_x, grad_log_det):
        """Given dL/dx ``(n, d)`` and dL/dlog_det ``(n,)``, return ``(dL/dz, {name: dL/dparam})``."""
        raise NotImplementedError(
            f"{type(self).__name__} has no gradient for its forward direction")

    def inverse_backward(self, cache, grad_z, grad_log_det):
        """Given dL/dz ``(n, d)`` and dL/dlog_det ``(n,)``, return ``(dL/dx, {name: dL/dparam})``."""
        raise NotImplementedError(
            f"{type(self).__name__} has no gradient for its inverse direction")

    def __repr__(self):
        return f"{type(self).__name__}()"


class Compose(Bijection):
    """``f = f_K o ... o f_1``: ``Compose([b1, b2, ...])`` applies ``b1`` first on forward.

    log|det df/dz| = sum_k log|det df_k/dz_{k-1}| (the chain rule for determinants).
    Parameters are named ``"<k>.<name>"`` with ``k`` the position of the layer.
    """

    def __init__(self, bijections):
        self.bijections = list(bijections)
        if not self.bijections:
            raise ValueError("Compose needs at least one bijection")
        dims = {b.dim for b in self.bijections if b.dim is not None}
        self.dim = dims.pop() if len(dims) == 1 else None

    def __len__(self):
        return len(self.bijections)

    def __getitem__(self, k):
        return self.bijections[k]

    def parameters(self):
        return {f"{k}.{name}": p for k, b in enumerate(self.bijections)
                for name, p in b.parameters().items()}

    def forward_cached(self, z):
        caches, total = [], 0.0
        for b in self.bijections:
            z, log_det, cache = b.forward_cached(z)
            caches.append(cache)
            total = total + log_det
        return z, total, caches

    def inverse_cached(self, x):
        caches, total = [], 0.0
        for b in reversed(self.bijections):
            x, log_det, cache = b.inverse_cached(x)
            caches.append(cache)
            total = total + log_det
        return x, total, caches[::-1]

    def forward_backward(self, caches, grad_x, grad_log_det):
        grads = {}
        for k in reversed(range(len(self.bijections))):
            grad_x, g = self.bijections[k].forward_backward(caches[k], grad_x, grad_log_det)
            grads.update({f"{k}.{name}": v for name, v in g.items()})
        return grad_x, grads

    def inverse_backward(self, caches, grad_z, grad_log_det):
        grads = {}
        for k in range(len(self.bijections)):
            grad_z, g = self.bijections[k].inverse_backward(caches[k], grad_z, grad_log_det)
            grads.update({f"{k}.{name}": v for name, v in g.items()})
        return grad_z, grads

    def __repr__(self):
        return "Compose([" + ", ".join(map(repr, self.bijections)) + "])"


class Inverse(Bijection):
    """The inverse of a bijection: ``Inverse(b).forward == b.inverse`` and vice versa.

    Useful to train a map in the other direction (an IAF is the inverse of a MAF).
    """

    def __init__(self, bijection: Bijection):
        self.bijection = bijection
        self.dim = bijection.dim

    def parameters(self):
        return self.bijection.parameters()

    def forward_cached(self, z):
        return self.bijection.inverse_cached(z)

    def inverse_cached(self, x):
        return self.bijection.forward_cached(x)

    def forward_backward(self, cache, grad_x, grad_log_det):
        return self.bijection.inverse_backward(cache, grad_x, grad_log_det)

    def inverse_backward(self, cache, grad_z, grad_log_det):
        return self.bijection.forward_backward(cache, grad_z, grad_log_det)

    def __repr__(self):
        return f"Inverse({self.bijection!r})"
