"""Base distributions p_Z: a standard normal and a uniform on a box.

Each has ``log_prob(z) -> (n,)``, ``grad_log_prob(z) -> (n, d)`` and ``sample(n, rng)``. As for
bijections, the public methods validate ``z``; ``_log_prob`` and ``_grad_log_prob`` trust it
(``Flow`` calls them on latent points its bijection has just computed).
"""

from __future__ import annotations

import numpy as np

from .validation import LOG_2PI, as_batch, positive_int, sample_count

__all__ = ["StandardNormal", "Uniform"]


class StandardNormal:
    """N(0, I_d): log p(z) = -1/2 ||z||^2 - d/2 log(2 pi)."""

    def __init__(self, d: int):
        self.dim = positive_int(d, "dimension d")

    def log_prob(self, z):
        return self._log_prob(as_batch(z, self.dim, "z"))

    def grad_log_prob(self, z):
        """d log p / dz = -z."""
        return self._grad_log_prob(as_batch(z, self.dim, "z"))

    def _log_prob(self, z):
        return -0.5 * np.einsum("ij,ij->i", z, z) - 0.5 * self.dim * LOG_2PI

    def _grad_log_prob(self, z):
        return -z

    def sample(self, n: int, rng: np.random.Generator):
        return rng.standard_normal((sample_count(n), self.dim))

    def __repr__(self):
        return f"StandardNormal({self.dim})"


class Uniform:
    """Uniform on the box [low, high]^d: log p(z) = -d log(high - low) inside, -inf outside."""

    def __init__(self, d: int, low: float = 0.0, high: float = 1.0):
        positive_int(d, "dimension d")
        if not high > low:
            raise ValueError(f"need high > low; got low={low}, high={high}")
        self.dim, self.low, self.high = int(d), float(low), float(high)

    def log_prob(self, z):
        return self._log_prob(as_batch(z, self.dim, "z"))

    def grad_log_prob(self, z):
        """Zero inside the box (the density is flat)."""
        return self._grad_log_prob(as_batch(z, self.dim, "z"))

    def _log_prob(self, z):
        inside = np.all((z >= self.low) & (z <= self.high), axis=1)
        return np.where(inside, -self.dim * np.log(self.high - self.low), -np.inf)

    def _grad_log_prob(self, z):
        return np.zeros_like(z)

    def sample(self, n: int, rng: np.random.Generator):
        return rng.uniform(self.low, self.high, size=(sample_count(n), self.dim))

    def __repr__(self):
        return f"Uniform({self.dim}, low={self.low}, high={self.high})"
