"""Invertible residual blocks (i-ResNet, Behrmann et al. 2019; Residual Flows, Chen et al. 2019).

A residual block is the map

    x = f(z) = z + g(z),

with g a small MLP. It is invertible when g is a contraction, Lip(g) = c < 1: for a given x the
map z -> x - g(z) is then a contraction too, so by Banach's fixed-point theorem the iteration

    z_0 = x,   z_{k+1} = x - g(z_k)

converges to the unique z with z + g(z) = x, with |z_k - z| <= c^k |z_0 - z| (``inverse``).

**Spectral normalisation.** For g = W_L o tanh o ... o tanh o W_1 (tanh is 1-Lipschitz),
Lip(g) <= prod_k ||W_k||_2. Each weight is used as W_k min(1, c_k / sigma_k), with sigma_k its
largest singular value and c_k = c^(1/L), so that Lip(g) <= c. sigma_k comes from power
iteration (``spectral_norm``): v <- W^T u / |W^T u|, u <- W v / |W v|, sigma ~ u^T W v, which
converges to the top singular pair at the rate (sigma_2 / sigma_1)^2 per step for the value. A
training loop would take one warm-started step per update; here each call iterates from a fixed
start vector until the value settles, so the block is a pure function of its parameters.

**Log-determinant.** With J = dg/dz, log|det df/dz| = log det(I + J) (positive determinant,
because the eigenvalues of J lie inside the unit disc). Three ways to get it:

* ``log_det="exact"`` (the layer's own output): ``slogdet`` of the d x d matrix I + J per
  sample, fine for small d;
* ``log_det_series``: the power series log det(I + J) = tr log(I + J)
  = sum_{k>=1} (-1)^{k+1} tr(J^k) / k, truncated after n terms (i-ResNet), with exact traces
  or Hutchinson's estimates v^T J^k v (one Jacobian-vector product per power). Truncation
  biases it: the tail is sum_{k>n} (-1)^{k+1} tr(J^k) / k, of size about c^(n+1) / (n+1);
* ``log_det_roulette``: the Russian-roulette estimator (Residual Flows). Draw N ~ Geometric(p)
  on {1, 2, ...}, so P(N >= k) = (1 - p)^(k-1), and return
  sum_{k=1}^N (-1)^{k+1} tr(J^k) / (k P(N >= k)). Each term k is kept with probability
  P(N >= k) and reweighted by its inverse, so the expectation is the whole series: unbiased at
  a random, finite cost (E N = 1 / p powers). Its variance is finite when the terms shrink
  faster than (1 - p)^(k/2), e.g. |eigenvalues of J|^2 < 1 - p.

Only the forward and inverse maps and their exact log-determinants are implemented; the block
has no hand-written gradient (its ``trained_directions`` is empty).
"""

from __future__ import annotations

import numpy as np

from .core import Bijection
from .functions import sech2
from .validation import as_batch, positive_int

__all__ = ["ResidualBlock", "spectral_norm", "log_det_series", "log_det_roulette"]

_MAX_POWER_STEPS = 1000
_MAX_FIXED_POINT_STEPS = 2000


def spectral_norm(W, n_iter: int | None = None, v=None, tol: float = 1e-15):
    """Largest singular value of ``W`` by power iteration: ``(sigma, v, estimates)``.

    Starts from ``v`` (default: all ones) and runs ``n_iter`` steps, or until two successive
    estimates agree to ``tol`` relative (at most 1000 steps) when ``n_iter`` is None.
    ``estimates`` lists sigma after each step; every estimate is at most the true value.
    """
    W = np.asarray(W, dtype=np.float64)
    v = np.ones(W.shape[1]) if v is None else np.array(v, dtype=np.float64)
    v = v / np.linalg.norm(v)
    estimates, sigma = [], 0.0
    steps = _MAX_POWER_STEPS if n_iter is None else positive_int(n_iter, "n_iter")
    for _ in range(steps):
        u = W @ v
        norm_u = np.linalg.norm(u)
        if norm_u == 0.0:
            return 0.0, v, estimates + [0.0]
        u /= norm_u
        w = W.T @ u
        new = float(np.linalg.norm(w))     # = u^T W v' for v' = W^T u / |W^T u|
        v = w / new
        estimates.append(new)
        if n_iter is None and abs(new - sigma) <= tol * new:
            return new, v, estimates
        sigma = new
    return sigma, v, estimates


class ResidualBlock(Bijection):
    """``ResidualBlock(d, hidden=(16,), *, rng, lipschitz=0.9)``: x = z + g(z), Lip(g) <= lipschitz.

    g is an MLP d -> hidden... -> d with tanh between layers; its weights (``"weight0"``, ...,
    shape (in, out), applied as z @ W) are spectrally normalised on use so that
    Lip(g) <= ``lipschitz`` < 1. Parameters: ``weight<k>`` and ``bias<k>``. The forward
    log-determinant is exact (``slogdet`` of I + J_g per sample); the inverse is the Banach
    fixed-point iteration, run until the step is below ``tol`` (relative to the scale of x).
    """

    def __init__(self, d: int, hidden=(16,), *, rng: np.random.Generator,
                 lipschitz: float = 0.9, tol: float = 1e-14):
        self.dim = positive_int(d, "d")
        hidden = tuple(positive_int(h, "hidden width") for h in hidden)
        if not 0.0 < float(lipschitz) < 1.0:
            raise ValueError(f"lipschitz must lie in (0, 1) for the block to be invertible; "
                             f"got {lipschitz!r}")
        self.lipschitz = float(lipschitz)
        self.tol = float(tol)
        widths = (self.dim, *hidden, self.dim)
        self.weights = [rng.standard_normal((a, b)) / np.sqrt(a)
                        for a, b in zip(widths[:-1], widths[1:])]
        self.biases = [np.zeros(b) for b in widths[1:]]
        # fixed start vectors of the power iterations: the block is a function of its parameters
        self._v0 = [rng.standard_normal(b) for b in widths[1:]]

    def parameters(self):
        out = {}
        for k, (W, b) in enumerate(zip(self.weights, self.biases)):
            out[f"weight{k}"], out[f"bias{k}"] = W, b
        return out

    # ---- the contraction g ---------------------------------------------------------------
    def normalised_weights(self):
        """The weights as g uses them: W_k min(1, c_k / sigma_k), c_k = lipschitz^(1/L)."""
        c = self.lipschitz ** (1.0 / len(self.weights))
        out = []
        for W, v0 in zip(self.weights, self._v0):
            sigma = spectral_norm(W, v=v0)[0]     # ||W||_2 = ||W^T||_2
            out.append(W * min(1.0, c / sigma) if sigma > 0 else W)
        return out

    def g(self, z, weights=None):
        """g(z) and the tanh slopes of its hidden layers (for Jacobians)."""
        weights = self.normalised_weights() if weights is None else weights
        h, slopes = z, []
        for k, (W, b) in enumerate(zip(weights, self.biases)):
            a = h @ W + b
            if k < len(weights) - 1:
                slopes.append(sech2(a))
                h = np.tanh(a)
            else:
                h = a
        return h, slopes

    def jacobian(self, z, weights=None):
        """J_g = dg/dz per sample, shape (n, d, d), [i, a, b] = d g_a / d z_b."""
        weights = self.normalised_weights() if weights is None else weights
        _, slopes = self.g(z, weights)
        n = z.shape[0]
        T = np.broadcast_to(np.eye(self.dim), (n, self.dim, self.dim))   # tangents, rows b
        for k, W in enumerate(weights):
            T = T @ W
            if k < len(weights) - 1:
                T = T * slopes[k][:, None, :]
        return np.swapaxes(T, 1, 2)

    def jvp(self, z, v, weights=None, slopes=None):
        """J_g v for v of shape (n, d) or (n, m, d) (m vectors per sample)."""
        weights = self.normalised_weights() if weights is None else weights
        if slopes is None:
            slopes = self.g(z, weights)[1]
        T = v
        for k, W in enumerate(weights):
            T = T @ W
            if k < len(weights) - 1:
                T = T * (slopes[k][:, None, :] if T.ndim == 3 else slopes[k])
        return T

    # ---- the bijection -------------------------------------------------------------------
    def forward_cached(self, z):
        weights = self.normalised_weights()
        gz, _ = self.g(z, weights)
        x = z + gz
        log_det = np.linalg.slogdet(np.eye(self.dim) + self.jacobian(z, weights))[1]
        return x, log_det, None

    def fixed_point(self, x, n_iter: int | None = None, weights=None):
        """The iterates z_0 = x, z_{k+1} = x - g(z_k): ``(z, steps)``.

        With ``n_iter`` None, iterate until max |z_{k+1} - z_k| <= tol max(1, max |x|) (at most
        2000 steps); ``steps`` is the number of steps taken. With ``n_iter``, return the list
        of the n_iter + 1 iterates instead of z.
        """
        weights = self.normalised_weights() if weights is None else weights
        z = x.copy()
        if n_iter is not None:
            path = [z]
            for _ in range(positive_int(n_iter, "n_iter")):
                z = x - self.g(z, weights)[0]
                path.append(z)
            return path, n_iter
        scale = self.tol * max(1.0, float(np.max(np.abs(x), initial=0.0)))
        for step in range(1, _MAX_FIXED_POINT_STEPS + 1):
            new = x - self.g(z, weights)[0]
            change = float(np.max(np.abs(new - z), initial=0.0))
            z = new
            if change <= scale:
                return z, step
        return z, _MAX_FIXED_POINT_STEPS

    def inverse_cached(self, x):
        weights = self.normalised_weights()
        z, _ = self.fixed_point(x, weights=weights)
        log_det = -np.linalg.slogdet(np.eye(self.dim) + self.jacobian(z, weights))[1]
        return z, log_det, None

    def __repr__(self):
        hidden = tuple(W.shape[1] for W in self.weights[:-1])
        return f"ResidualBlock({self.dim}, hidden={hidden}, lipschitz={self.lipschitz})"


# ---- stochastic log-determinants ---------------------------------------------------------------

def _power_traces(block, z, n_terms, probes=None):
    """tr(J^k) for k = 1..n_terms per sample, shape (n, n_terms): exact (matrix powers), or
    Hutchinson's v^T J^k v averaged over ``probes`` (n, m, d)."""
    weights = block.normalised_weights()
    out = np.empty((z.shape[0], n_terms))
    if probes is None:
        J = block.jacobian(z, weights)
        P = J
        for k in range(n_terms):
            out[:, k] = np.trace(P, axis1=1, axis2=2)
            P = P @ J
        return out
    probes = np.asarray(probes, dtype=np.float64)
    if probes.ndim == 2:
        probes = probes[:, None, :]
    slopes = block.g(z, weights)[1]
    w = probes
    for k in range(n_terms):
        w = block.jvp(z, w, weights, slopes)
        out[:, k] = np.mean(np.sum(probes * w, axis=2), axis=1)
    return out


def log_det_series(block: ResidualBlock, z, n_terms: int, probes=None):
    """The power series of log det(I + J_g) truncated after ``n_terms`` terms, per sample.

    Exact traces when ``probes`` is None, else Hutchinson's estimates with the probe vectors
    ``probes`` ((n, d) or (n, m, d), E[v v^T] = I). Biased by the tail of the series.
    """
    z = as_batch(z, block.dim, "z")
    n_terms = positive_int(n_terms, "n_terms")
    k = np.arange(1, n_terms + 1)
    return _power_traces(block, z, n_terms, probes) @ ((-1.0) ** (k + 1) / k)


def log_det_roulette(block: ResidualBlock, z, rng: np.random.Generator, p: float = 0.5,
                     probes=None):
    """The Russian-roulette estimate of log det(I + J_g) per sample: ``(estimate, N)``.

    N ~ Geometric(p) on {1, 2, ...} per sample; the estimate is
    sum_{k<=N} (-1)^{k+1} tr(J^k) / (k (1 - p)^(k-1)), unbiased for the whole series. Traces are
    exact when ``probes`` is None, else Hutchinson's with ``probes`` ((n, d) or (n, m, d)).
    """
    z = as_batch(z, block.dim, "z")
    if not 0.0 < float(p) < 1.0:
        raise ValueError(f"p must lie in (0, 1); got {p!r}")
    N = rng.geometric(p, size=z.shape[0])
    n_max = int(N.max(initial=1))
    k = np.arange(1, n_max + 1)
    weights = (-1.0) ** (k + 1) / (k * (1.0 - p) ** (k - 1))
    kept = k[None, :] <= N[:, None]
    traces = _power_traces(block, z, n_max, probes)
    return np.sum(np.where(kept, traces * weights, 0.0), axis=1), N
