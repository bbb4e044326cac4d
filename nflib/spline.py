"""Rational-quadratic spline coupling (neural spline flow, Durkan et al. 2019).

A coupling layer whose elementwise map is a monotone rational-quadratic spline instead of an
affine map. Half the coordinates (``mask = 1``) pass unchanged and feed a conditioner MLP; each
other coordinate goes through its own spline, with knots given by the MLP.

The spline on [-B, B]
---------------------
K bins with knots (x_k, y_k), k = 0..K, x_0 = y_0 = -B, x_K = y_K = B, and positive derivatives
d_k at the knots, d_0 = d_K = 1. Outside [-B, B] the map is the identity (the *linear tails*),
which joins the spline with matching value and slope, so the map is C^1 on the whole line.
From the conditioner's K + K + (K - 1) raw outputs per coordinate (u^w, u^h, u^d):

    widths   w_k = 2B (m_w + (1 - K m_w) softmax(u^w)_k),   x_k = -B + sum_{j<k} w_j,
    heights  h_k = 2B (m_h + (1 - K m_h) softmax(u^h)_k),   y_k = -B + sum_{j<k} h_j,
    interior derivatives  d_k = m_d + (1 - m_d) softplus(u^d_k) / log 2,

with small minima m_w, m_h, m_d. At zero raw outputs the bins are equal and every d_k = 1, so the
spline is the identity: a new layer is the identity map.

This derivative parametrisation is not the one of Durkan et al. (2019) and of nflows, which use
d_k = m_d + softplus(u^d_k) (d_k = 1 there needs u^d_k = log(e^{1 - m_d} - 1), not 0). The division
by log 2 puts the identity at u = 0 and makes dd_k/du = (1 - m_d) sigmoid(u) / log 2, about 0.72 at
u = 0 instead of 0.5. Both map the real line onto (m_d, inf), but the raw outputs of a trained
layer mean different derivatives in the two, so weights do not carry over between them unchanged.

In bin k, with s_k = h_k / w_k, xi = (z - x_k) / w_k in [0, 1] and q = xi (1 - xi):

    g(z)  = y_k + h_k (s_k xi^2 + d_k q) / (s_k + (d_{k+1} + d_k - 2 s_k) q),
    g'(z) = s_k^2 (d_{k+1} xi^2 + 2 s_k q + d_k (1 - xi)^2) / (s_k + (d_{k+1} + d_k - 2 s_k) q)^2,

which is positive (monotone) whenever all s_k, d_k > 0. ``log|det df/dz|`` is the sum of
log g'(z) over the transformed coordinates (0 in the tails).

Inverse: for y in bin k (found among the y-knots), xi solves a xi^2 + b xi + c = 0 with

    a = h_k (s_k - d_k) + (y - y_k)(d_{k+1} + d_k - 2 s_k),
    b = h_k d_k - (y - y_k)(d_{k+1} + d_k - 2 s_k),
    c = -s_k (y - y_k),

and the root in [0, 1] is xi = 2c / (-b - sqrt(b^2 - 4ac)); then z = x_k + xi w_k. Here
b^2 - 4ac >= 0, c <= 0 and a + b = h_k s_k > 0, so the denominator is never zero (it is negative);
for b >= 0 its two terms have the same sign and nothing cancels (b < 0 happens, for example over
part of a bin whose right derivative is much larger than its left, with a small rounding loss).

Gradients (hand-written, both directions)
-----------------------------------------
Write F for g or log g' as a function of (xi, s, h, d_k, d_{k+1}, y_k); its partial derivatives are
in ``_partials``. The chain rule through xi = (z - x_k)/w and s = h/w gives

    dF/dz = F_xi / w,   dF/dx_k = -F_xi / w,   dF/dw = -(F_xi xi + F_s s) / w,
    dF/dh = F_h + F_s / w,

and w = x_{k+1} - x_k, h = y_{k+1} - y_k scatter these onto the knots. The knots come from the
raw outputs by a cumulative sum (its transpose is a reversed cumulative sum), a softmax
(dL/du = p (g - sum p g)) and a softplus (derivative sigmoid). Forward: the upstream gradient of
the outputs is g_x g_F for F = g plus g_ld for F = log g'. Inverse (z = g^{-1}(x), log-det
-log g'(z)): with a = g_z - g_ld (log g')_z, the implicit function theorem gives dL/dx = a / g'
and dL/dtheta = -(a / g') g_theta - g_ld (log g')_theta for every knot parameter theta.
"""

from __future__ import annotations

import numpy as np

from .core import Compose
from .coupling import _Coupling, alternating_stack
from .functions import sigmoid, softplus
from .validation import positive_int

__all__ = ["RationalQuadraticSpline", "spline_flow", "rq_spline", "rq_spline_inverse"]

_LOG2 = float(np.log(2.0))


def _softmax(u):
    e = np.exp(u - u.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_backward(p, g):
    return p * (g - np.sum(p * g, axis=-1, keepdims=True))


def knots(raw_w, raw_h, raw_d, bound, min_width=1e-3, min_height=1e-3, min_derivative=1e-3):
    """Knot positions x (…, K+1), y (…, K+1) and derivatives d (…, K+1) from raw parameters.

    ``raw_w``, ``raw_h`` have K entries on the last axis, ``raw_d`` K - 1 (module docstring).
    Returns ``(x, y, d, p_w, p_h)`` with the softmax probabilities for the backward pass.
    """
    k = raw_w.shape[-1]
    p_w, p_h = _softmax(raw_w), _softmax(raw_h)
    widths = 2 * bound * (min_width + (1 - k * min_width) * p_w)
    heights = 2 * bound * (min_height + (1 - k * min_height) * p_h)
    shape = raw_w.shape[:-1] + (k + 1,)
    x, y, d = np.empty(shape), np.empty(shape), np.ones(shape)
    x[..., 0] = y[..., 0] = -bound
    np.cumsum(widths, axis=-1, out=x[..., 1:])
    np.cumsum(heights, axis=-1, out=y[..., 1:])
    x[..., 1:] -= bound
    y[..., 1:] -= bound
    x[..., -1] = y[..., -1] = bound  # exactly, whatever the rounding of the sums
    d[..., 1:-1] = min_derivative + (1 - min_derivative) * softplus(raw_d) / _LOG2
    return x, y, d, p_w, p_h


def _gather(a, idx):
    return np.take_along_axis(a, idx[..., None], axis=-1)[..., 0]


def _bin_quantities(xk, yk, dk, idx):
    """x_k, w_k, y_k, h_k, d_k, d_{k+1} of bin ``idx`` (elementwise)."""
    x0, x1 = _gather(xk, idx), _gather(xk, idx + 1)
    y0, y1 = _gather(yk, idx), _gather(yk, idx + 1)
    return x0, x1 - x0, y0, y1 - y0, _gather(dk, idx), _gather(dk, idx + 1)


def _bin_index(knot_pos, v):
    """Index k of the bin [knot_k, knot_{k+1}) holding v (clipped to 0 .. K-1)."""
    k = knot_pos.shape[-1] - 1
    idx = np.sum(knot_pos[..., 1:-1] <= v[..., None], axis=-1)
    return np.clip(idx, 0, k - 1)


def _spline_values(xi, s, h, y0, d0, d1):
    """g and log g' in a bin, with the shared intermediate quantities."""
    q = xi * (1 - xi)
    c = d0 + d1 - 2 * s
    den = s + c * q
    num = s * xi * xi + d0 * q
    g = y0 + h * num / den
    m = d1 * xi * xi + 2 * s * q + d0 * (1 - xi) ** 2
    log_dg = 2 * np.log(s) + np.log(m) - 2 * np.log(den)
    return g, log_dg, (q, c, den, num, m)


def _partials(xi, s, h, d0, d1, parts):
    """Partial derivatives of g and of log g' with respect to (xi, s, h, d0, d1); dg/dy_k = 1."""
    q, c, den, num, m = parts
    den2 = den * den
    one_2xi = 1 - 2 * xi
    g = {"xi": h * ((2 * s * xi + d0 * one_2xi) * den - num * c * one_2xi) / den2,
         "s": h * (xi * xi * den - num * (1 - 2 * q)) / den2,
         "h": num / den,
         "d0": h * q * (den - num) / den2,
         "d1": -h * num * q / den2}
    lg = {"xi": (2 * d1 * xi + 2 * s * one_2xi - 2 * d0 * (1 - xi)) / m - 2 * c * one_2xi / den,
          "s": 2 / s + 2 * q / m - 2 * (1 - 2 * q) / den,
          "h": 0.0,
          "d0": (1 - xi) ** 2 / m - 2 * q / den,
          "d1": xi * xi / m - 2 * q / den}
    return g, lg


def rq_spline(z, xk, yk, dk):
    """Elementwise monotone RQ spline with identity tails: ``(g(z), log g'(z), cache)``.

    ``z`` (…), knots ``xk``, ``yk``, ``dk`` (…, K+1) with the same leading shape (or broadcast).
    """
    xk, yk, dk = (np.broadcast_to(a, z.shape + a.shape[-1:]) for a in (xk, yk, dk))
    bound = xk[..., -1]
    inside = np.abs(z) < bound
    zc = np.where(inside, z, 0.0)
    idx = _bin_index(xk, zc)
    x0, w, y0, h, d0, d1 = _bin_quantities(xk, yk, dk, idx)
    xi = np.clip((zc - x0) / w, 0.0, 1.0)
    s = h / w
    g, log_dg, parts = _spline_values(xi, s, h, y0, d0, d1)
    out = np.where(inside, g, z)
    log_dg = np.where(inside, log_dg, 0.0)
    return out, log_dg, (inside, idx, xi, w, s, h, d0, d1, parts, log_dg)


def rq_spline_inverse(x, xk, yk, dk):
    """The inverse of :func:`rq_spline`: ``(z, log g'(z), cache)`` (note: +log g', the forward
    log-derivative at the preimage; the inverse's log-det is its negative)."""
    xk, yk, dk = (np.broadcast_to(a, x.shape + a.shape[-1:]) for a in (xk, yk, dk))
    bound = yk[..., -1]
    inside = np.abs(x) < bound
    xc = np.where(inside, x, 0.0)
    idx = _bin_index(yk, xc)
    x0, w, y0, h, d0, d1 = _bin_quantities(xk, yk, dk, idx)
    s = h / w
    dy = xc - y0
    c = d0 + d1 - 2 * s
    qa = h * (s - d0) + dy * c
    qb = h * d0 - dy * c
    qc = -s * dy
    disc = np.maximum(qb * qb - 4 * qa * qc, 0.0)
    xi = np.clip(2 * qc / (-qb - np.sqrt(disc)), 0.0, 1.0)
    z = np.where(inside, x0 + xi * w, x)
    _, log_dg, parts = _spline_values(xi, s, h, y0, d0, d1)
    log_dg = np.where(inside, log_dg, 0.0)
    return z, log_dg, (inside, idx, xi, w, s, h, d0, d1, parts, log_dg)


def _local_partials(cache):
    """Partials of g and log g' at fixed knots (``_partials``) and their z-derivatives."""
    inside, idx, xi, w, s, h, d0, d1, parts, _ = cache
    pg, plg = _partials(xi, s, h, d0, d1, parts)
    dg_dz = np.where(inside, pg["xi"] / w, 1.0)
    dlg_dz = np.where(inside, plg["xi"] / w, 0.0)
    return pg, plg, dg_dz, dlg_dz


def _knot_grads(cache, partials, coef_g, coef_lg, n_knots):
    """Gradients on the knot arrays (x, y, d), each (..., n_knots), of
    sum(coef_g * g + coef_lg * log g') at fixed z (the chain rule of the module docstring)."""
    inside, idx, xi, w, s, h, d0, d1, parts, _ = cache
    pg, plg = partials[:2]
    cg = np.where(inside, coef_g, 0.0)
    cl = np.where(inside, coef_lg, 0.0)
    f = {k: cg * pg[k] + cl * plg[k] for k in pg}
    f_x0 = -f["xi"] / w
    f_w = -(f["xi"] * xi + f["s"] * s) / w
    f_h = f["h"] + f["s"] / w
    slots = np.arange(n_knots)
    left = slots == idx[..., None]              # one-hot of knot k, then of knot k + 1
    right = slots == (idx + 1)[..., None]
    gx = left * (f_x0 - f_w)[..., None] + right * f_w[..., None]
    gy = left * (cg - f_h)[..., None] + right * f_h[..., None]
    gd = left * f["d0"][..., None] + right * f["d1"][..., None]
    return gx, gy, gd


class RationalQuadraticSpline(_Coupling):
    """``RationalQuadraticSpline(mask, hidden=(64, 64), *, rng, bins=8, bound=3.0,
    activation="tanh", min_width=1e-3, min_height=1e-3, min_derivative=1e-3)``.

    A coupling layer (``mask = 1``: kept coordinates) whose transformed coordinates each go
    through a monotone rational-quadratic spline on [-bound, bound] with ``bins`` bins and identity
    tails; the knots come from an MLP of the kept coordinates (3 bins - 1 outputs per transformed
    coordinate). Formulas, inverse and gradients: module docstring.
    """

    def __init__(self, mask, hidden=(64, 64), *, rng: np.random.Generator, bins: int = 8,
                 bound: float = 3.0, activation: str = "tanh", min_width: float = 1e-3,
                 min_height: float = 1e-3, min_derivative: float = 1e-3):
        self.bins = positive_int(bins, "bins")
        if self.bins < 2:
            raise ValueError(f"bins must be at least 2; got {bins!r}")
        if not (np.isfinite(bound) and bound > 0):
            raise ValueError(f"bound must be a positive finite number; got {bound!r}")
        self.bound = float(bound)
        for name, v in (("min_width", min_width), ("min_height", min_height)):
            if not (np.isfinite(v) and 0 < v < 1.0 / self.bins):
                raise ValueError(f"{name} must lie in (0, 1/bins); got {v!r}")
        if not (np.isfinite(min_derivative) and 0 < min_derivative < 1):
            raise ValueError(f"min_derivative must lie in (0, 1); got {min_derivative!r}")
        self.min_width, self.min_height = float(min_width), float(min_height)
        self.min_derivative = float(min_derivative)
        self._outputs_per_coordinate = 3 * self.bins - 1
        super().__init__(mask, hidden, rng, activation)

    def _knots(self, kept):
        out, net_cache = self.net.forward_cached(kept)
        k = self.bins
        raw = out.reshape(out.shape[0], self.n_move, 3 * k - 1)
        x, y, d, p_w, p_h = knots(raw[..., :k], raw[..., k:2 * k], raw[..., 2 * k:], self.bound,
                                  self.min_width, self.min_height, self.min_derivative)
        return x, y, d, (net_cache, raw, p_w, p_h)

    def _net_backward(self, kcache, gx, gy, gd):
        """From gradients on the knots back to the raw outputs and through the MLP."""
        net_cache, raw, p_w, p_h = kcache
        k = self.bins
        g_raw = np.empty_like(raw)
        for lo, g, p, m in ((0, gx, p_w, self.min_width), (k, gy, p_h, self.min_height)):
            # knot j >= 1 is -B + cumsum(widths)[j-1] (the last knot is fixed at B)
            # (knot K is pinned at B: its share is the same for every width and the softmax
            # backward removes it, as it removes any constant)
            g_w = np.cumsum(g[..., :0:-1], axis=-1)[..., ::-1]
            g_p = 2 * self.bound * (1 - k * m) * g_w
            g_raw[..., lo:lo + k] = _softmax_backward(p, g_p)
        u = raw[..., 2 * k:]
        g_raw[..., 2 * k:] = gd[..., 1:-1] * (1 - self.min_derivative) * sigmoid(u) / _LOG2
        g_kept, grads = self.net.backward(net_cache, g_raw.reshape(raw.shape[0], -1))
        return g_kept, self._net_grads(grads)

    def forward_cached(self, z):
        kept, moved = z[:, self._keep], z[:, self._move]
        xk, yk, dk, kcache = self._knots(kept)
        x_moved, log_dg, scache = rq_spline(moved, xk, yk, dk)
        return self._merge(kept, x_moved), log_dg.sum(axis=1), (kcache, scache, xk.shape[-1])

    def inverse_cached(self, x):
        kept, moved = x[:, self._keep], x[:, self._move]
        xk, yk, dk, kcache = self._knots(kept)
        z_moved, log_dg, scache = rq_spline_inverse(moved, xk, yk, dk)
        return self._merge(kept, z_moved), -log_dg.sum(axis=1), (kcache, scache, xk.shape[-1])

    def forward_backward(self, cache, grad_x, grad_log_det):
        kcache, scache, n_knots = cache
        g_moved = grad_x[:, self._move]
        g_ld = np.broadcast_to(grad_log_det[:, None], g_moved.shape)
        partials = _local_partials(scache)
        gx, gy, gd = _knot_grads(scache, partials, g_moved, g_ld, n_knots)
        g_z_moved = g_moved * partials[2] + g_ld * partials[3]
        g_kept, grads = self._net_backward(kcache, gx, gy, gd)
        return self._merge(grad_x[:, self._keep] + g_kept, g_z_moved), grads

    def inverse_backward(self, cache, grad_z, grad_log_det):
        kcache, scache, n_knots = cache
        g_moved = grad_z[:, self._move]
        g_ld = np.broadcast_to(grad_log_det[:, None], g_moved.shape)
        partials = _local_partials(scache)
        _, _, dg_dz, dlg_dz = partials
        adj = g_moved - g_ld * dlg_dz           # dL/dz along the preimage, log-det included
        g_x_moved = adj / dg_dz
        gx, gy, gd = _knot_grads(scache, partials, -g_x_moved, -g_ld, n_knots)
        g_kept, grads = self._net_backward(kcache, gx, gy, gd)
        return self._merge(grad_z[:, self._keep] + g_kept, g_x_moved), grads

    def __repr__(self):
        return (f"RationalQuadraticSpline(mask={self.mask.astype(int).tolist()}, "
                f"bins={self.bins}, bound={self.bound:g}, net={self.net!r})")


def spline_flow(d: int, n_layers: int, hidden=(64, 64), *, rng: np.random.Generator,
                bins: int = 8, bound: float = 3.0, activation: str = "tanh") -> Compose:
    """``n_layers`` spline couplings with alternating masks (as :func:`nflib.realnvp`)."""
    return alternating_stack("spline_flow", d, n_layers, lambda mask: RationalQuadraticSpline(
        mask, hidden, rng=rng, bins=bins, bound=bound, activation=activation))
