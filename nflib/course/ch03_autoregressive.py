"""Fixed examples of chapter 3 (autoregressive flows), shared by the chapter, its exercises and
the tests.

* ``SidewaysBanana(a=0.5, sigma=0.3)``: x2 ~ N(0, 1) and x1 | x2 ~ N(a (x2^2 - 1), sigma^2), so

      log p(x) = log N(x2; 0, 1) + log N(x1; a (x2^2 - 1), sigma^2).

  Generated in the order (x2, x1) it is one affine autoregressive step; in the order (x1, x2)
  the marginal of x1 is skewed and x2 | x1 is bimodal.

* Its Knothe-Rosenblatt map in the natural order (x1 first), by quadrature:

      u1 = F1(x1)       = int phi(t) Phi((x1 - m(t)) / sigma) dt,           m(t) = a (t^2 - 1)
      u2 = F(x2 | x1)   = int_{-inf}^{x2} phi(t) N(x1; m(t), sigma^2) dt / p1(x1),
      p1(x1)            = int phi(t) N(x1; m(t), sigma^2) dt,
      z = Phi^{-1}(u)   (componentwise),

  each a 1-D integral over t (the Gaussian integral over x1 is done in closed form), by composite
  Gauss-Legendre quadrature. The map is triangular (z1 does not depend on x2) and increasing in
  each x_i, with dz_i/dx_i = p(x_i | x_<i) / phi(z_i) > 0, and it pushes p onto N(0, I). Its inverse
  solves F1(x1) = Phi(z1), then F(x2 | x1) = Phi(z2), by bisection: one coordinate after the other.

* ``SidewaysBanana.kl_from(log_q)``: KL(p || q) = E_p[log p - log q] by the trapezoid rule on a
  grid in the coordinates (t, e) with x2 = t, x1 = a (t^2 - 1) + sigma e, where p becomes
  phi(t) phi(e) (unit Jacobian up to sigma, which cancels); the grid covers [-8, 8]^2 (mass
  outside: 1e-15).

* ``hand_maf()``: a 3-d ``nflib.MAF`` whose MADE (one ReLU hidden layer, weights set by hand)
  computes exactly

      mu_1 = 1,            alpha_1 = 0,
      mu_2 = 2 x1,         alpha_2 = x1 - 1,
      mu_3 = x2 - x1,      alpha_3 = -x1 / 2,

  (relu(v) - relu(-v) = v, and the soft clamp c tanh(raw / c) with c = 1e8 equals raw to
  machine precision for these small values).

* ``volatility_maf(d, phi=0.9, gain=0.8)``: a d-d ``nflib.MAF`` (ReLU MADE set by hand) with
  mu_t = phi x_{t-1} and alpha_t = tanh(gain x_{t-1}) (clamp 1, so the scale e^alpha stays in
  (1/e, e)); mu_1 = alpha_1 = 0. Its samples are time series, generated one step per MADE pass.

* ``made_multiply_adds(made)``: multiply-adds of one MADE pass for one sample, the sum of the
  sizes of its weight matrices (the dense implementation, masked entries multiplied too).
  ``made_masked_multiply_adds(made)``: the connections the masks keep, the multiply-adds of a
  sampler that evaluates each hidden unit once, in order of degree, as soon as its inputs are known.

* ``degree_order_sample(maf, z)``: ``maf.forward(z)`` (natural order) computed the way the
  masks allow: after x_1..x_k are known, the hidden units of degree k are computed, layer by
  layer, each once, from the units (or inputs) of degree <= k, then output k + 1 from the last
  layer's units of degree <= k. Still d sequential steps, but each kept connection is used once:
  the multiply-adds of ``made_masked_multiply_adds`` instead of d dense passes.

* ``cpu_median(fn, repeat, number)``: the median over ``repeat`` timings of the CPU time of one
  call of ``fn`` (each timing averages ``number`` calls), by ``time.process_time``.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.special import ndtr, ndtri

from ..autoregressive import MAF
from ..validation import LOG_2PI, as_batch

__all__ = ["SidewaysBanana", "hand_maf", "volatility_maf", "made_multiply_adds",
           "made_masked_multiply_adds", "degree_order_sample", "cpu_median", "HAND_Z"]

#: the latent point of the worked example
HAND_Z = np.array([[0.5, -1.0, 2.0]])


def _composite_gl(lo, hi, panels: int, order: int = 8):
    """Nodes (..., panels * order) and weights of composite Gauss-Legendre on [lo, hi] (arrays)."""
    x, w = np.polynomial.legendre.leggauss(order)
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    frac = np.linspace(0.0, 1.0, panels + 1)
    edges = lo[..., None] + (hi - lo)[..., None] * frac
    half = 0.5 * np.diff(edges, axis=-1)[..., None]
    nodes = 0.5 * (edges[..., :-1] + edges[..., 1:])[..., None] + half * x
    weights = half * w
    shape = nodes.shape[:-2] + (-1,)
    return nodes.reshape(shape), np.broadcast_to(weights, nodes.shape).reshape(shape)


class SidewaysBanana:
    """``SidewaysBanana(a=0.5, sigma=0.3)``: x2 ~ N(0, 1), x1 | x2 ~ N(a (x2^2 - 1), sigma^2).

    ``sample``, exact ``log_prob``, and the Knothe-Rosenblatt map ``kr_forward`` (x -> z) and
    ``kr_inverse`` (z -> x) in the natural order, by quadrature (module docstring).
    """

    dim = 2
    #: the latent variable t = x2 is integrated over [-T_MAX, T_MAX] (mass outside: 1e-23)
    T_MAX = 10.0

    def __init__(self, a: float = 0.5, sigma: float = 0.3, panels: int = 200):
        if not (np.isfinite(a) and np.isfinite(sigma) and sigma > 0):
            raise ValueError(f"need a finite a and sigma > 0; got a={a!r}, sigma={sigma!r}")
        self.a, self.sigma, self.panels = float(a), float(sigma), int(panels)
        self._t, self._w = _composite_gl(-self.T_MAX, self.T_MAX, self.panels)

    def mean_x1(self, x2):
        """m(x2) = a (x2^2 - 1), the conditional mean of x1 given x2."""
        return self.a * (np.asarray(x2, dtype=np.float64) ** 2 - 1.0)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        x2 = rng.standard_normal(n)
        x1 = self.mean_x1(x2) + self.sigma * rng.standard_normal(n)
        return np.column_stack([x1, x2])

    def log_prob(self, x) -> np.ndarray:
        x = as_batch(x, 2, "x")
        r = (x[:, 0] - self.mean_x1(x[:, 1])) / self.sigma
        return -0.5 * (x[:, 1] ** 2 + r ** 2) - LOG_2PI - np.log(self.sigma)

    # ---- the Knothe-Rosenblatt map, by quadrature over t = x2 ------------------------------
    def _cond_x1(self, x1, t):
        """N(x1; m(t), sigma^2) for x1 (n, 1) and nodes t (..., k)."""
        r = (x1 - self.mean_x1(t)) / self.sigma
        return np.exp(-0.5 * r * r) / (self.sigma * np.sqrt(2 * np.pi))

    def marginal_x1(self, x1) -> np.ndarray:
        """p1(x1) = int phi(t) N(x1; m(t), sigma^2) dt, shape (n,)."""
        x1 = np.asarray(x1, dtype=np.float64).reshape(-1, 1)
        phi = np.exp(-0.5 * self._t ** 2) / np.sqrt(2 * np.pi)
        return (self._cond_x1(x1, self._t) * phi) @ self._w

    def cdf_x1(self, x1) -> np.ndarray:
        """F1(x1) = int phi(t) Phi((x1 - m(t)) / sigma) dt, shape (n,)."""
        x1 = np.asarray(x1, dtype=np.float64).reshape(-1, 1)
        phi = np.exp(-0.5 * self._t ** 2) / np.sqrt(2 * np.pi)
        return np.clip((ndtr((x1 - self.mean_x1(self._t)) / self.sigma) * phi) @ self._w, 0, 1)

    def cdf_x2_given_x1(self, x2, x1) -> np.ndarray:
        """F(x2 | x1) = int_{-T_MAX}^{x2} phi(t) N(x1; m(t), sigma^2) dt / p1(x1), shape (n,)."""
        x2 = np.asarray(x2, dtype=np.float64).reshape(-1)
        x1 = np.asarray(x1, dtype=np.float64).reshape(-1, 1)
        upper = np.clip(x2, -self.T_MAX, self.T_MAX)
        t, w = _composite_gl(np.full_like(upper, -self.T_MAX), upper, self.panels)
        phi = np.exp(-0.5 * t ** 2) / np.sqrt(2 * np.pi)
        below = np.sum(self._cond_x1(x1, t) * phi * w, axis=1)
        return np.clip(below / self.marginal_x1(x1), 0.0, 1.0)

    def kr_uniform(self, x) -> np.ndarray:
        """u = (F1(x1), F(x2 | x1)): the map to the uniform square, shape (n, 2)."""
        x = as_batch(x, 2, "x")
        return np.column_stack([self.cdf_x1(x[:, 0]), self.cdf_x2_given_x1(x[:, 1], x[:, 0])])

    def kr_forward(self, x) -> np.ndarray:
        """z = Phi^{-1}(u): the Knothe-Rosenblatt map to N(0, I), shape (n, 2)."""
        return ndtri(self.kr_uniform(x))

    def kr_inverse(self, z, iterations: int = 60) -> np.ndarray:
        """x with kr_forward(x) = z: solve for x1, then x2 given x1 (bisection)."""
        z = as_batch(z, 2, "z")
        u = ndtr(z)

        def solve(cdf, target, lo, hi):
            lo, hi = np.full_like(target, lo), np.full_like(target, hi)
            for _ in range(iterations):
                mid = 0.5 * (lo + hi)
                below = cdf(mid) < target
                lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
            return 0.5 * (lo + hi)

        x1 = solve(self.cdf_x1, u[:, 0], -3.0, self.a * self.T_MAX ** 2)
        x2 = solve(lambda v: self.cdf_x2_given_x1(v, x1), u[:, 1], -self.T_MAX, self.T_MAX)
        return np.column_stack([x1, x2])

    def kl_from(self, log_q, half_width: float = 8.0, n: int = 321) -> float:
        """KL(p || q) in nats by the trapezoid rule in (t, e): x2 = t, x1 = m(t) + sigma e.

        ``log_q`` maps points (k, 2) to log-densities (k,); it is called once, on n * n points.
        """
        g = np.linspace(-half_width, half_width, n)
        t, e = np.meshgrid(g, g, indexing="ij")
        x = np.column_stack([(self.mean_x1(t) + self.sigma * e).ravel(), t.ravel()])
        weight = np.exp(-0.5 * (t * t + e * e)).ravel() / (2 * np.pi)     # phi(t) phi(e)
        diff = (self.log_prob(x) - np.asarray(log_q(x), dtype=np.float64)) * weight
        return float(np.trapezoid(np.trapezoid(diff.reshape(n, n), g, axis=1), g))

    def __repr__(self):
        return f"SidewaysBanana(a={self.a}, sigma={self.sigma})"


def _relu_made_maf(d: int, width: int, clamp: float) -> MAF:
    maf = MAF(d, (width,), rng=np.random.default_rng(0), clamp=clamp, activation="relu")
    for p in maf.parameters().values():
        p[...] = 0.0
    return maf


def hand_maf() -> MAF:
    """The worked example's 3-d MAF (module docstring): mu and alpha linear in x_<i."""
    maf = _relu_made_maf(3, 4, clamp=1e8)
    # hidden degrees are [1, 2, 1, 2]: units 0, 2 see x1; units 1, 3 may see x1 and x2
    assert list(maf.made.degrees[1]) == [1, 2, 1, 2]
    p = maf.parameters()
    W0, W1, b1 = p["made.W0"], p["made.W1"], p["made.b1"]
    W0[0, 0], W0[0, 2] = 1.0, -1.0               # h0 = relu(x1), h2 = relu(-x1)
    W0[1, 1], W0[1, 3] = 1.0, -1.0               # h1 = relu(x2), h3 = relu(-x2)
    x1_row = np.array([1.0, 0.0, -1.0, 0.0])     # h @ x1_row = x1
    x2_row = np.array([0.0, 1.0, 0.0, -1.0])     # h @ x2_row = x2
    b1[0] = 1.0                                  # mu_1 = 1
    W1[:, 1] = 2.0 * x1_row                      # mu_2 = 2 x1
    W1[:, 2] = x2_row - x1_row                   # mu_3 = x2 - x1
    W1[:, 4], b1[4] = x1_row, -1.0               # alpha_2 = x1 - 1   (alpha_1 = 0)
    W1[:, 5] = -0.5 * x1_row                     # alpha_3 = -x1 / 2
    if not np.array_equal(W1 * maf.made.masks[1], W1):
        raise AssertionError("a hand-set weight is masked out")
    return maf


def hand_mu_alpha(x):
    """The closed forms of ``hand_maf``: (mu, alpha), each (n, 3), for x of shape (n, 3)."""
    x = np.asarray(x, dtype=np.float64)
    one, zero = np.ones(len(x)), np.zeros(len(x))
    mu = np.column_stack([one, 2 * x[:, 0], x[:, 1] - x[:, 0]])
    alpha = np.column_stack([zero, x[:, 0] - 1.0, -0.5 * x[:, 0]])
    return mu, alpha


def volatility_maf(d: int = 16, phi: float = 0.9, gain: float = 0.8) -> MAF:
    """A d-d MAF with mu_t = phi x_{t-1}, alpha_t = tanh(gain x_{t-1}) (module docstring)."""
    maf = _relu_made_maf(d, 2 * (d - 1), clamp=1.0)
    p = maf.parameters()
    W0, W1 = p["made.W0"], p["made.W1"]
    # hidden unit k (degree k+1) is relu(x_k), unit d-1+k (also degree k+1) is relu(-x_k)
    for k in range(d - 1):
        W0[k, k], W0[k, d - 1 + k] = 1.0, -1.0
        W1[k, k + 1], W1[d - 1 + k, k + 1] = phi, -phi                  # mu_{k+1}
        W1[k, d + k + 1], W1[d - 1 + k, d + k + 1] = gain, -gain        # raw alpha_{k+1}
    if not np.array_equal(W1 * maf.made.masks[1], W1) or not np.array_equal(
            W0 * maf.made.masks[0], W0):
        raise AssertionError("a hand-set weight is masked out")
    return maf


def made_multiply_adds(made) -> int:
    """Multiply-adds of one MADE pass for one sample: sum of the weight matrices' sizes."""
    return int(sum(w.size for w in made.net.weights))


def made_masked_multiply_adds(made) -> int:
    """Multiply-adds of one MADE evaluation that skips masked connections: the masks' ones."""
    return int(sum(np.count_nonzero(m) for m in made.masks))


def degree_order_sample(maf: MAF, z):
    """``(x, log_det)`` of ``maf.forward(z)``, each hidden unit computed once (module docstring)."""
    made = maf.made
    d = made.dim
    if not np.array_equal(made.order, np.arange(d)):
        raise ValueError("degree_order_sample handles the natural order only")
    z = as_batch(z, d, "z")
    n = z.shape[0]
    net = made.net
    weights = [w * m for w, m in zip(net.weights, net.masks)]
    biases = net.biases

    def act(v):
        return np.tanh(v) if net.activation == "tanh" else np.maximum(v, 0.0)

    hidden_degrees = made.degrees[1:]
    new_units = [[np.flatnonzero(k == j) for j in range(d)] for k in hidden_degrees]
    known_units = [[np.flatnonzero(k <= j) for j in range(d)] for k in hidden_degrees]
    hs = [np.zeros((n, len(k))) for k in hidden_degrees]
    x = np.empty_like(z)
    log_det = np.zeros(n)
    w_out, b_out = weights[-1], biases[-1]
    for i in range(d):                       # 0-based: output i sees last-layer degrees <= i
        seen = known_units[-1][i]
        h = hs[-1][:, seen]
        mu = h @ w_out[seen, i] + b_out[i]
        s = made.clamp * np.tanh((h @ w_out[seen, d + i] + b_out[d + i]) / made.clamp)
        x[:, i] = z[:, i] * np.exp(s) + mu
        log_det += s
        k = i + 1                            # x_1 .. x_k are known: units of degree k
        if k >= d:
            break
        units = new_units[0][k]
        hs[0][:, units] = act(x[:, :k] @ weights[0][:k, units] + biases[0][units])
        for layer in range(1, len(hs)):
            units, below = new_units[layer][k], known_units[layer - 1][k]
            hs[layer][:, units] = act(hs[layer - 1][:, below] @ weights[layer][np.ix_(below, units)]
                                      + biases[layer][units])
    return x, log_det


def cpu_median(fn, repeat: int = 5, number: int = 1) -> float:
    """Median CPU seconds of one call of ``fn()`` over ``repeat`` timings of ``number`` calls."""
    times = []
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(number):
            fn()
        times.append((time.process_time() - start) / number)
    return float(np.median(times))
