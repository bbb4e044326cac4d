"""Data sets with known densities: four 2-D toys and the 8x8 handwritten digits.

Every toy has ``sample(n, rng) -> (n, 2)``, its exact ``log_prob(x) -> (n,)`` and its
``entropy()`` H = -E[log p(X)] in nats, so that a model q fitted to it can be scored by

    KL(p || q) = E_p[log p(X) - log q(X)] = NLL(q) - H(p)      (in nats, >= 0).

``TwoMoons`` and ``Rings`` are curves blurred by isotropic Gaussian noise of standard deviation
sigma. For a circular arc of radius r around m, parametrised by the angle t uniform on an
interval of length L, and x at distance rho and angle phi from m,

    p(x) = 1/L int N(x; m + r (cos t, sin t), sigma^2 I) dt
         = exp(-(rho - r)^2 / (2 sigma^2)) / (2 pi sigma^2 L) * int exp(kappa (cos(t - phi) - 1)) dt

with kappa = r rho / sigma^2. The last integral is computed by Gauss-Legendre quadrature on the
pieces where the integrand is monotone, each truncated where the integrand has dropped by
e^-40, in log space (relative error about 1e-11 near the data, compared with adaptive
quadrature in the tests). For a full circle it equals 2 pi I_0(kappa) e^-kappa exactly.

The digits are ``sklearn.datasets.load_digits`` (1797 images, bundled with scikit-learn, 17 grey
levels 0..16), dequantised uniformly: x = (pixel + u) / 17, u ~ U[0, 1)^d.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
from scipy.special import i0e, logsumexp

from .quadrature import gauss_hermite
from .validation import as_batch

__all__ = ["TwoMoons", "EightGaussians", "Checkerboard", "Rings", "TOYS", "toy",
           "load_digits", "dequantize", "digits", "bits_per_dim", "bpd_offset", "LEVELS",
           "log_arc_integral"]

#: a monotone piece of the arc integrand is truncated where it has dropped by exp(-_TAIL)
_TAIL = 40.0
_GL_X, _GL_W = np.polynomial.legendre.leggauss(24)
_GL_X, _GL_W = 0.5 * (_GL_X + 1.0), 0.5 * _GL_W   # on [0, 1]
#: points per chunk in vectorised quadratures (bounds the memory of the (n, pieces, nodes) arrays)
_CHUNK = 8192


# ---- quadrature along a circular arc ---------------------------------------------------------
def log_arc_integral(kappa, a, length):
    """log of  int_a^{a+length} exp(kappa (cos u - 1)) du  for arrays ``kappa >= 0`` and ``a``.

    ``length`` (scalar, 0 < length <= 2 pi). The interval is cut at the multiples of pi, where
    cos u has its extrema, into pieces on which the integrand is monotone. On a piece starting
    at its peak, at angle alpha from the nearest multiple of 2 pi, the integrand is

        exp(-2 kappa sin^2(alpha/2)) * exp(kappa (cos(alpha + d) - cos(alpha))),  d >= 0;

    the second factor falls from 1 and is integrated by 24-point Gauss-Legendre from d = 0 to
    where it equals exp(-40) (or to the end of the piece). The rounding error of the exponent,
    about kappa * 1e-16, stays below 1e-7 for |x| up to 1e6 at the default noise levels.
    """
    kappa = np.asarray(kappa, dtype=np.float64)
    a = np.mod(np.asarray(a, dtype=np.float64) + np.pi, 2 * np.pi) - np.pi      # in [-pi, pi)
    kappa, a = np.broadcast_arrays(kappa, a)
    if not 0 < length <= 2 * np.pi + 1e-12:
        raise ValueError(f"arc length must be in (0, 2 pi]; got {length!r}")
    # the multiples of pi strictly inside (a, a + length): at most ceil(length / pi) of them
    start = a.reshape(-1, 1)
    first = (np.floor(start / np.pi) + 1) * np.pi
    cuts = np.clip(first + np.pi * np.arange(int(np.ceil(length / np.pi - 1e-12))), start,
                   start + length)
    ends = np.concatenate([start, cuts, start + length], axis=1)
    lo, hi = ends[:, :-1], ends[:, 1:]                       # monotone pieces, some of length 0
    near_lo = np.cos(lo) >= np.cos(hi)
    peak = np.where(near_lo, lo, hi)
    alpha = np.abs(peak - 2 * np.pi * np.round(peak / (2 * np.pi)))
    piece = hi - lo
    k = kappa.reshape(-1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        drop = np.where(k > 0, _TAIL / k, np.inf)
        window = np.arccos(np.maximum(np.cos(alpha) - drop, -1.0)) - alpha
        fallback = _TAIL / (k * np.sin(alpha) + np.sqrt(k * _TAIL))   # only if arccos rounds to 0
        window = np.minimum(piece, np.where(window > 0, window, fallback))
        d = window[..., None] * _GL_X
        expo = np.cos(alpha[..., None] + d)
        expo -= np.cos(alpha)[..., None]
        expo *= k[..., None]
        inner = np.log(window) + np.log(np.exp(expo, out=expo) @ _GL_W)
        logs = -2.0 * k * np.sin(0.5 * alpha) ** 2 + inner
    logs = np.where(piece > 0, logs, -np.inf)
    return logsumexp(logs, axis=1).reshape(kappa.shape)


def _log_arc_density(x, center, radius, sigma, t0, length):
    """log of the arc density (module docstring): angle t uniform on [t0, t0 + length]."""
    dx, dy = x[:, 0] - center[0], x[:, 1] - center[1]
    rho, phi = np.hypot(dx, dy), np.arctan2(dy, dx)
    kappa = radius * rho / sigma ** 2
    out = np.empty(x.shape[0])
    for s in range(0, x.shape[0], _CHUNK):
        sl = slice(s, s + _CHUNK)
        out[sl] = log_arc_integral(kappa[sl], t0 - phi[sl], length)
    return (out - (rho - radius) ** 2 / (2 * sigma ** 2)
            - np.log(2 * np.pi * sigma ** 2 * length))


def composite_gauss_legendre(lo: float, hi: float, panels: int, order: int = 8):
    """Nodes and weights of composite Gauss-Legendre on [lo, hi]: ``order`` points on each of
    ``panels`` equal panels, panel after panel."""
    x, w = np.polynomial.legendre.leggauss(order)
    edges = np.linspace(lo, hi, panels + 1)
    half = 0.5 * np.diff(edges)[:, None]
    nodes = (0.5 * (edges[:-1] + edges[1:]))[:, None] + half * x
    return nodes.reshape(-1), (half * w).reshape(-1)


def _check_positive(v, name):
    if not (np.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a positive finite number; got {v!r}")
    return float(v)


# ---- the toys --------------------------------------------------------------------------------
class _Toy:
    """Shared interface: ``sample``, ``log_prob``, ``entropy`` and the KL helpers."""

    dim = 2
    name = "toy"

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        n = int(n)
        if n < 0:
            raise ValueError(f"number of samples must be >= 0; got {n}")
        return self._sample(n, rng)

    def log_prob(self, x) -> np.ndarray:
        """Exact log-density, shape (n,); -inf where the density is zero."""
        return self._log_prob(as_batch(x, 2, "x"))

    def entropy(self) -> float:
        """Differential entropy H = -E[log p(X)] in nats (numerical integration, cached)."""
        return self._entropy

    def kl_from_nll(self, nll: float) -> float:
        """KL(data || model) = NLL - H, for a model's mean NLL in nats on fresh samples."""
        return float(nll) - self.entropy()

    def kl_divergence(self, model_log_prob, n: int, rng: np.random.Generator):
        """Monte Carlo KL(data || model) = mean(log p - log q) on n samples, and its standard error.

        The paired difference has far less variance than NLL - H when the model is close.
        ``model_log_prob(x) -> (n,)``, e.g. ``flow.log_prob``.
        """
        x = self.sample(n, rng)
        diff = self.log_prob(x) - np.asarray(model_log_prob(x), dtype=np.float64)
        return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(n))

    def __repr__(self):
        return f"{type(self).__name__}()"


class TwoMoons(_Toy):
    """``TwoMoons(noise=0.1)``: two interleaved half circles of radius 1 blurred by N(0, noise^2 I).

    Moon 1: centre (-0.5, -0.25), angles t in [0, pi] (upper half circle); moon 2: centre
    (0.5, 0.25), angles t in [pi, 2 pi] (lower). Each moon has probability 1/2, t is uniform.
    The density is the average of the two arc densities (module docstring).
    """

    name = "two_moons"
    centers = np.array([[-0.5, -0.25], [0.5, 0.25]])
    starts = np.array([0.0, np.pi])

    def __init__(self, noise: float = 0.1):
        self.noise = _check_positive(noise, "noise")

    def _curve(self, moon, t):
        c = self.centers[moon]
        return np.stack([c[..., 0] + np.cos(t), c[..., 1] + np.sin(t)], axis=-1)

    def _sample(self, n, rng):
        moon = rng.integers(0, 2, size=n)
        t = self.starts[moon] + np.pi * rng.random(n)
        return self._curve(moon, t) + self.noise * rng.standard_normal((n, 2))

    def _log_prob(self, x):
        parts = [_log_arc_density(x, c, 1.0, self.noise, t0, np.pi)
                 for c, t0 in zip(self.centers, self.starts)]
        return np.logaddexp(parts[0], parts[1]) - np.log(2.0)

    @cached_property
    def _entropy(self):
        # H = -E_{moon, t, e}[log p(curve(t) + noise e)]: Gauss-Legendre in t, Gauss-Hermite in e
        # (accurate to about 1e-6 nats: more nodes change the result by less than that)
        t, wt = composite_gauss_legendre(0.0, np.pi, 16)
        e, we = gauss_hermite(32, 2)
        total = 0.0
        for moon in (0, 1):
            pts = self._curve(moon, self.starts[moon] + t)[:, None, :] + self.noise * e[None]
            logp = self._log_prob(pts.reshape(-1, 2)).reshape(t.size, -1)
            total += 0.5 * (wt / np.pi) @ (logp @ we)
        return float(-total)

    def __repr__(self):
        return f"TwoMoons(noise={self.noise})"


class EightGaussians(_Toy):
    """``EightGaussians(radius=2.0, sigma=0.2)``: equal mixture of N(mu_k, sigma^2 I),
    mu_k = radius (cos(k pi/4), sin(k pi/4)), k = 0..7; log p = logsumexp_k log N - log 8."""

    name = "eight_gaussians"

    def __init__(self, radius: float = 2.0, sigma: float = 0.2):
        self.radius = _check_positive(radius, "radius")
        self.sigma = _check_positive(sigma, "sigma")
        angle = np.arange(8) * np.pi / 4
        self.means = self.radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)

    def _sample(self, n, rng):
        k = rng.integers(0, 8, size=n)
        return self.means[k] + self.sigma * rng.standard_normal((n, 2))

    def _log_prob(self, x):
        sq = ((x[:, None, :] - self.means[None]) ** 2).sum(axis=-1)
        comp = -0.5 * sq / self.sigma ** 2 - np.log(2 * np.pi * self.sigma ** 2)
        return logsumexp(comp, axis=1) - np.log(8.0)

    @cached_property
    def _entropy(self):
        e, we = gauss_hermite(40, 2)
        logp = self._log_prob((self.means[:, None, :] + self.sigma * e[None]).reshape(-1, 2))
        return float(-(logp.reshape(8, -1) @ we).mean())

    def __repr__(self):
        return f"EightGaussians(radius={self.radius}, sigma={self.sigma})"


class Checkerboard(_Toy):
    """``Checkerboard(size=1.0)``: uniform on the 8 dark squares of a 4x4 board on [-2s, 2s]^2.

    Square (i, j) (column i, row j, from the lower left) is dark when i + j is even. The density
    is 1/(8 s^2) on the dark squares (closed) and 0 elsewhere (log p = -inf); H = log(8 s^2).
    """

    name = "checkerboard"

    def __init__(self, size: float = 1.0):
        self.size = _check_positive(size, "size")

    def _sample(self, n, rng):
        cell = rng.integers(0, 8, size=n)
        row = cell // 2
        col = 2 * (cell % 2) + (row % 2)          # dark squares: col + row even
        corner = np.stack([col, row], axis=1) * self.size - 2 * self.size
        return corner + self.size * rng.random((n, 2))

    def _log_prob(self, x):
        u = x / self.size + 2.0                   # board coordinates in [0, 4]
        inside = np.all((u >= 0) & (u <= 4), axis=1)
        cells = np.clip(np.floor(u), 0, 3)
        frac = u - cells
        # a point on an edge between squares belongs to the board if either square is dark
        dark = (cells.sum(axis=1) % 2 == 0)
        on_edge = np.any(((frac == 0) & (cells > 0)) | ((frac == 1) & (cells < 3)), axis=1)
        return np.where(inside & (dark | on_edge), -np.log(8 * self.size ** 2), -np.inf)

    @cached_property
    def _entropy(self):
        return float(np.log(8 * self.size ** 2))

    def __repr__(self):
        return f"Checkerboard(size={self.size})"


class Rings(_Toy):
    """``Rings(radii=(0.5, 1.0, 1.5), noise=0.08)``: concentric circles blurred by N(0, noise^2 I).

    A point picks ring k with probability proportional to its radius (uniform along the total
    length of the curves) and an angle uniformly. For the full circle the arc integral is exact,
    int_0^{2pi} exp(kappa (cos u - 1)) du = 2 pi i0e(kappa), so

        log p(x) = logsumexp_k [log w_k - (rho - r_k)^2 / (2 noise^2) + log i0e(r_k rho / noise^2)]
                   - log(2 pi noise^2).
    """

    name = "rings"

    def __init__(self, radii=(0.5, 1.0, 1.5), noise: float = 0.08):
        radii = np.array(radii, dtype=np.float64).reshape(-1)
        if radii.size == 0 or not np.all(np.isfinite(radii) & (radii > 0)):
            raise ValueError(f"radii must be positive finite numbers; got {radii.tolist()}")
        self.radii = radii
        self.noise = _check_positive(noise, "noise")
        self.weights = radii / radii.sum()

    def _sample(self, n, rng):
        k = rng.choice(self.radii.size, size=n, p=self.weights)
        t = 2 * np.pi * rng.random(n)
        r = self.radii[k]
        return (np.stack([r * np.cos(t), r * np.sin(t)], axis=1)
                + self.noise * rng.standard_normal((n, 2)))

    def _log_prob(self, x):
        rho = np.hypot(x[:, 0], x[:, 1])[:, None]
        r, s2 = self.radii[None], self.noise ** 2
        comp = np.log(self.weights)[None] - (rho - r) ** 2 / (2 * s2) + np.log(i0e(r * rho / s2))
        return logsumexp(comp, axis=1) - np.log(2 * np.pi * s2)

    @cached_property
    def _entropy(self):
        # radial symmetry: H = -int_0^inf p(rho) log p(rho) 2 pi rho d rho, by composite
        # Gauss-Legendre
        top = self.radii.max() + 12 * self.noise
        rho, w = composite_gauss_legendre(0.0, top, int(np.ceil(top / self.noise)) * 2)
        logp = self._log_prob(np.stack([rho, np.zeros_like(rho)], axis=1))
        return float(-np.sum(w * 2 * np.pi * rho * np.exp(logp) * logp))

    def __repr__(self):
        return f"Rings(radii={self.radii.tolist()}, noise={self.noise})"


TOYS = {cls.name: cls for cls in (TwoMoons, EightGaussians, Checkerboard, Rings)}


def toy(name: str, **kwargs) -> _Toy:
    """The toy called ``name`` (one of ``TOYS``), e.g. ``toy("two_moons", noise=0.05)``."""
    if name not in TOYS:
        raise ValueError(f"unknown toy {name!r}; choose one of {sorted(TOYS)}")
    return TOYS[name](**kwargs)


# ---- 8x8 digits ------------------------------------------------------------------------------
#: grey levels of the scikit-learn digits: integers 0 .. 16
LEVELS = 17


def load_digits(flatten: bool = False):
    """The 1797 scikit-learn digits as integer grey levels 0..16 (float64) and their labels.

    Images ``(1797, 1, 8, 8)``, or ``(1797, 64)`` with ``flatten=True``. No download: the data
    ship with scikit-learn.
    """
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError:
        raise ImportError("the digits ship with scikit-learn, an optional dependency of nflib: "
                          "pip install 'nflib[digits]' (or scikit-learn)") from None

    bunch = _sk_load_digits()
    pixels = np.asarray(bunch.images, dtype=np.float64)[:, None, :, :]
    if flatten:
        pixels = pixels.reshape(pixels.shape[0], -1)
    return pixels, np.asarray(bunch.target)


def dequantize(pixels, rng: np.random.Generator, levels: int = LEVELS) -> np.ndarray:
    """Uniform dequantisation to [0, 1): x = (pixel + u) / levels, u ~ U[0, 1) independently.

    A density p_X on [0, 1)^d is a density of y = pixel + u on [0, levels)^d after the rescaling
    y = levels * x, with p_Y(y) = p_X(x) / levels^d; and E_u[log p_Y(pixel + u)] is a lower bound
    on the log-probability of the discrete pixels (Jensen). ``bits_per_dim`` accounts for both.
    """
    pixels = np.asarray(pixels, dtype=np.float64)
    if not np.all(np.isfinite(pixels)):
        raise ValueError("pixels contain non-finite values")
    if np.any(pixels != np.round(pixels)) or pixels.min(initial=0) < 0 or \
            pixels.max(initial=0) > levels - 1:
        raise ValueError(f"pixels must be integers in 0..{levels - 1}")
    return (pixels + rng.random(pixels.shape)) / levels


def digits(rng: np.random.Generator, flatten: bool = True):
    """Dequantised digits in [0, 1): ``(1797, 64)`` (or ``(1797, 1, 8, 8)``) and the labels."""
    pixels, labels = load_digits(flatten=flatten)
    return dequantize(pixels, rng), labels


def bpd_offset(levels: int = LEVELS) -> float:
    """log2(levels): the bits per dimension added by the rescaling x = (pixel + u) / levels."""
    return float(np.log2(levels))


def bits_per_dim(nll_nats, d: int, levels: int = LEVELS) -> float:
    """Bits per dimension of the discrete data from a model's NLL on dequantised x in [0, 1)^d.

    bpd = (nll + d ln(levels)) / (d ln 2) = nll / (d ln 2) + log2(levels), with ``nll`` the mean
    -log p_X(x) in nats per image. A uniform model on [0, 1]^d (nll = 0) has bpd = log2(levels),
    the cost of storing each pixel as one of ``levels`` equally likely values.
    """
    if int(d) != d or d < 1:
        raise ValueError(f"d must be a positive integer; got {d!r}")
    return float(float(nll_nats) / (int(d) * np.log(2.0)) + bpd_offset(levels))
