"""Base distributions p_Z: the ``Distribution`` contract, a standard normal and a uniform box.

A base distribution has three public methods, which validate their input once:

* ``log_prob(z) -> (n,)``, the log-density log p_Z(z);
* ``grad_log_prob(z) -> (n, d)``, its gradient d log p_Z / dz (maximum likelihood needs it);
* ``sample(n, rng) -> (n, d)``.

A new base subclasses ``Distribution``, sets ``dim`` and implements the **unchecked** methods,
which trust their input: ``log_prob_unchecked(z)``, ``sample_unchecked(n, rng)`` and, if the
density has a gradient, ``grad_log_prob_unchecked(z)``. ``Flow`` and ``ConditionalFlow`` call
the unchecked methods on the latent points their bijection has just computed (valid by
construction, so not checked twice), exactly as ``Compose`` calls a layer's cached path.
``has_gradient`` says whether the class implements the gradient; a loss that needs it refuses a
base without it with a ``ValueError`` before doing any work.
"""

from __future__ import annotations

import numpy as np

from .validation import LOG_2PI, as_batch, positive_int, sample_count

__all__ = ["Distribution", "StandardNormal", "Uniform"]


class Distribution:
    """A base distribution p_Z on R^dim: the extension point for new bases.

    Subclasses set ``dim`` and implement ``log_prob_unchecked(z) -> (n,)``,
    ``sample_unchecked(n, rng) -> (n, dim)`` and optionally ``grad_log_prob_unchecked(z) ->
    (n, dim)``. They do not override ``log_prob``, ``grad_log_prob`` or ``sample``: those
    validate and call the unchecked methods, which the flows call directly, so an override would
    be silently bypassed. Defining one raises ``TypeError`` when the class is created.
    """

    #: dimension of a sample
    dim: int

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in ("log_prob", "grad_log_prob", "sample"):
            if name in cls.__dict__:
                raise TypeError(
                    f"{cls.__name__} defines {name}(), which Flow bypasses: implement "
                    f"{name}_unchecked() instead ({name}() validates its input and calls it)")

    # ---- the public contract: validate once, then the unchecked method ----------------
    def log_prob(self, z):
        """log p_Z(z) for a real, finite ``(n, dim)`` batch; shape ``(n,)``."""
        return self.log_prob_unchecked(as_batch(z, self.dim, "z"))

    def grad_log_prob(self, z):
        """d log p_Z / dz for a real, finite ``(n, dim)`` batch; shape ``(n, dim)``."""
        self.require_gradient("grad_log_prob")
        return self.grad_log_prob_unchecked(as_batch(z, self.dim, "z"))

    def sample(self, n: int, rng: np.random.Generator):
        """``n`` draws (a whole number >= 0) from ``rng``, a ``numpy.random.Generator``."""
        if not isinstance(rng, np.random.Generator):
            raise ValueError("rng must be a numpy.random.Generator, e.g. np.random.default_rng(0); "
                             f"got {type(rng).__name__}")
        return self.sample_unchecked(sample_count(n), rng)

    @property
    def has_gradient(self) -> bool:
        """True when the class implements ``grad_log_prob_unchecked``."""
        return (type(self).grad_log_prob_unchecked
                is not Distribution.grad_log_prob_unchecked)

    def require_gradient(self, needed_by: str) -> None:
        """Raise ``ValueError`` naming ``needed_by`` if this base has no gradient."""
        if not self.has_gradient:
            raise ValueError(
                f"{needed_by} needs the gradient of the base's log-density, but "
                f"{type(self).__name__} cannot give one (it does not implement "
                "grad_log_prob_unchecked)")

    # ---- what a subclass implements (input already validated) ------------------------
    def log_prob_unchecked(self, z):
        """``log_prob`` for a ``z`` that is already a valid ``(n, dim)`` float64 batch."""
        raise NotImplementedError(f"{type(self).__name__} does not implement log_prob_unchecked")

    def grad_log_prob_unchecked(self, z):
        """``grad_log_prob`` for an already valid ``z``; not implemented: no gradient."""
        self.require_gradient("grad_log_prob_unchecked")

    def sample_unchecked(self, n: int, rng: np.random.Generator):
        """``n`` draws, with ``n`` and ``rng`` already checked."""
        raise NotImplementedError(f"{type(self).__name__} does not implement sample_unchecked")

    def __repr__(self):
        return f"{type(self).__name__}({self.dim})"


class StandardNormal(Distribution):
    """N(0, I_d): log p(z) = -1/2 ||z||^2 - d/2 log(2 pi),  d log p / dz = -z."""

    def __init__(self, d: int):
        self.dim = positive_int(d, "dimension d")

    def log_prob_unchecked(self, z):
        return -0.5 * np.einsum("ij,ij->i", z, z) - 0.5 * self.dim * LOG_2PI

    def grad_log_prob_unchecked(self, z):
        return -z

    def sample_unchecked(self, n, rng):
        return rng.standard_normal((n, self.dim))


class Uniform(Distribution):
    """Uniform on the box [low, high]^d: log p(z) = -d log(high - low) inside, -inf outside;
    the gradient is zero inside the box (the density is flat)."""

    def __init__(self, d: int, low: float = 0.0, high: float = 1.0):
        positive_int(d, "dimension d")
        if not high > low:
            raise ValueError(f"need high > low; got low={low}, high={high}")
        self.dim, self.low, self.high = int(d), float(low), float(high)

    def log_prob_unchecked(self, z):
        inside = np.all((z >= self.low) & (z <= self.high), axis=1)
        return np.where(inside, -self.dim * np.log(self.high - self.low), -np.inf)

    def grad_log_prob_unchecked(self, z):
        return np.zeros_like(z)

    def sample_unchecked(self, n, rng):
        return rng.uniform(self.low, self.high, size=(n, self.dim))

    def __repr__(self):
        return f"Uniform({self.dim}, low={self.low}, high={self.high})"
