"""Coupling layers: half the coordinates pass unchanged and condition an easy map of the rest.

A binary ``mask`` marks the coordinates that pass through (``mask = 1``). The conditioner is an
MLP of those coordinates only, so its output never depends on what it transforms:

* ``AdditiveCoupling`` (NICE):  x = mask*z + (1-mask)*(z + t(mask*z)),        log|det| = 0
* ``AffineCoupling`` (RealNVP): x = mask*z + (1-mask)*(z*exp(s) + t),         log|det| = sum s
  with (raw, t) = MLP(mask*z) and the soft-clamped log-scale  s = c*tanh(raw/c)  in (-c, c).

The Jacobian is triangular (after reordering the coordinates), so the log-determinant is the sum
of the log-scales of the transformed coordinates, and the inverse is explicit:
z = mask*x + (1-mask)*(x - t)*exp(-s), with s and t computed from the unchanged coordinates.
The last layer of the MLP starts at zero, so a new coupling layer is the identity.
"""

from __future__ import annotations

import numpy as np

from .core import Bijection, Compose, prefixed
from .mlp import MLP

__all__ = ["AdditiveCoupling", "AffineCoupling", "realnvp"]


def _check_mask(mask) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 1:
        raise ValueError(f"mask must be 1-D; got shape {mask.shape}")
    if not np.all((mask == 0) | (mask == 1)):
        raise ValueError("mask must be binary (0/1 or bool)")
    mask = mask.astype(bool)
    if mask.all() or not mask.any():
        raise ValueError("mask must contain both 1s (coordinates kept) and 0s (coordinates "
                         "transformed); otherwise the layer is the identity or has no conditioner")
    return mask


def _as_index(idx: np.ndarray):
    """A slice when the indices are evenly spaced (views, no copies), else the index array."""
    if idx.size == 1:
        return slice(int(idx[0]), int(idx[0]) + 1)
    steps = np.diff(idx)
    if np.all(steps == steps[0]):
        return slice(int(idx[0]), int(idx[-1]) + 1, int(steps[0]))
    return idx


class _Coupling(Bijection):
    """Shared bookkeeping: the mask, the kept/transformed index sets and the conditioner."""

    #: conditioner outputs per transformed coordinate (1 for t, 2 for raw log-scale and t)
    _outputs_per_coordinate = 1

    def __init__(self, mask, hidden, rng, activation):
        self.mask = _check_mask(mask)
        self.dim = self.mask.size
        self._keep = _as_index(np.flatnonzero(self.mask))
        self._move = _as_index(np.flatnonzero(~self.mask))
        self.n_move = int((~self.mask).sum())
        self.net = MLP(int(self.mask.sum()), self._outputs_per_coordinate * self.n_move, hidden,
                       rng=rng, activation=activation)

    def parameters(self):
        return prefixed({"net": self.net.parameters()})

    def _net_grads(self, grads):
        return prefixed({"net": grads})

    def _merge(self, kept, moved):
        """Assemble a full array from the kept and transformed columns."""
        out = np.empty((kept.shape[0], self.dim))
        out[:, self._keep] = kept
        out[:, self._move] = moved
        return out

    def __repr__(self):
        return f"{type(self).__name__}(mask={self.mask.astype(int).tolist()}, net={self.net!r})"


class AdditiveCoupling(_Coupling):
    """``AdditiveCoupling(mask, hidden=(64, 64), *, rng, activation="tanh")`` (NICE).

    x_moved = z_moved + t(z_kept); volume preserving (log|det| = 0). Gradients both directions:
    dL/dz_moved = g_x_moved, dL/dz_kept = g_x_kept + J_t^T g_x_moved (forward) and the same with
    t replaced by -t (inverse).
    """

    def __init__(self, mask, hidden=(64, 64), *, rng: np.random.Generator,
                 activation: str = "tanh"):
        super().__init__(mask, hidden, rng, activation)

    def forward_cached(self, z):
        kept = z[:, self._keep]
        t, net_cache = self.net.forward_cached(kept)
        return self._merge(kept, z[:, self._move] + t), np.zeros(z.shape[0]), net_cache

    def inverse_cached(self, x):
        kept = x[:, self._keep]
        t, net_cache = self.net.forward_cached(kept)
        return self._merge(kept, x[:, self._move] - t), np.zeros(x.shape[0]), net_cache

    def forward_backward(self, cache, grad_x, grad_log_det):
        g_moved = grad_x[:, self._move]
        g_kept, grads = self.net.backward(cache, g_moved)
        return self._merge(grad_x[:, self._keep] + g_kept, g_moved), self._net_grads(grads)

    def inverse_backward(self, cache, grad_z, grad_log_det):
        g_moved = grad_z[:, self._move]
        g_kept, grads = self.net.backward(cache, -g_moved)
        return self._merge(grad_z[:, self._keep] + g_kept, g_moved), self._net_grads(grads)


class AffineCoupling(_Coupling):
    """``AffineCoupling(mask, hidden=(64, 64), *, rng, clamp=3.0, activation="tanh")`` (RealNVP).

    x_moved = z_moved * exp(s) + t with s = c*tanh(raw/c), (raw, t) = MLP(z_kept);
    log|det df/dz| = sum s. Gradients (g = upstream dL/dx, g_ld = dL/dlog_det):

    * forward:  dL/ds = g_moved z_moved e^s + g_ld,  dL/dt = g_moved,  dL/draw = dL/ds (1 - tanh^2),
      dL/dz_moved = g_moved e^s,  dL/dz_kept = g_kept + (MLP backward of (dL/draw, dL/dt));
    * inverse (z_moved = (x_moved - t) e^{-s}, log|det| = -sum s):
      dL/ds = -g_moved z_moved - g_ld,  dL/dt = -g_moved e^{-s},  dL/dx_moved = g_moved e^{-s}.
    """

    _outputs_per_coordinate = 2

    def __init__(self, mask, hidden=(64, 64), *, rng: np.random.Generator, clamp: float = 3.0,
                 activation: str = "tanh"):
        if not clamp > 0 or not np.isfinite(clamp):
            raise ValueError(f"clamp must be a positive finite number; got {clamp!r}")
        self.clamp = float(clamp)
        super().__init__(mask, hidden, rng, activation)

    def _scale_shift(self, kept):
        """(s, t, tanh(raw/c), net cache) from the kept coordinates."""
        out, net_cache = self.net.forward_cached(kept)
        th = np.tanh(out[:, :self.n_move] / self.clamp)
        return self.clamp * th, out[:, self.n_move:], th, net_cache

    def _net_backward(self, net_cache, th, g_s, g_t):
        g_out = np.empty((g_s.shape[0], 2 * self.n_move))
        np.multiply(g_s, 1.0 - th * th, out=g_out[:, :self.n_move])
        g_out[:, self.n_move:] = g_t
        g_kept, grads = self.net.backward(net_cache, g_out)
        return g_kept, self._net_grads(grads)

    def forward_cached(self, z):
        kept, moved = z[:, self._keep], z[:, self._move]
        s, t, th, net_cache = self._scale_shift(kept)
        scale = np.exp(s)
        x = self._merge(kept, moved * scale + t)
        return x, s.sum(axis=1), (net_cache, th, moved, scale)

    def inverse_cached(self, x):
        kept = x[:, self._keep]
        s, t, th, net_cache = self._scale_shift(kept)
        inv_scale = np.exp(-s)
        moved = (x[:, self._move] - t) * inv_scale
        return self._merge(kept, moved), -s.sum(axis=1), (net_cache, th, moved, inv_scale)

    def forward_backward(self, cache, grad_x, grad_log_det):
        net_cache, th, z_moved, scale = cache
        g_moved = grad_x[:, self._move]
        g_z_moved = g_moved * scale
        g_s = g_z_moved * z_moved
        g_s += grad_log_det[:, None]
        g_kept, grads = self._net_backward(net_cache, th, g_s, g_moved)
        return self._merge(grad_x[:, self._keep] + g_kept, g_z_moved), grads

    def inverse_backward(self, cache, grad_z, grad_log_det):
        net_cache, th, z_moved, inv_scale = cache
        g_moved = grad_z[:, self._move]
        g_x_moved = g_moved * inv_scale
        g_s = -(g_moved * z_moved)
        g_s -= grad_log_det[:, None]
        g_kept, grads = self._net_backward(net_cache, th, g_s, -g_x_moved)
        return self._merge(grad_z[:, self._keep] + g_kept, g_x_moved), grads


def realnvp(d: int, n_layers: int, hidden=(64, 64), *, rng: np.random.Generator,
            clamp: float = 3.0, activation: str = "tanh") -> Compose:
    """A RealNVP bijection: ``n_layers`` affine couplings with alternating masks.

    Layer k keeps the coordinates j with (j + k) even and transforms the others, so consecutive
    layers transform complementary halves (in 2-D: first x_2 given x_1, then x_1 given x_2).
    """
    if int(d) != d or d < 2:
        raise ValueError(f"realnvp needs dimension d >= 2; got {d!r}")
    if int(n_layers) != n_layers or n_layers < 1:
        raise ValueError(f"n_layers must be a positive integer; got {n_layers!r}")
    j = np.arange(int(d))
    return Compose([AffineCoupling((j + k) % 2 == 0, hidden, rng=rng, clamp=clamp,
                                   activation=activation) for k in range(int(n_layers))])
