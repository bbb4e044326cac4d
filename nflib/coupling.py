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

``clamp=None`` builds an unclamped layer, s = raw: nothing then bounds the scale exp(s), which is
how training overflows (kept for demonstrations of exactly that).

Masks (1 = kept):

* ``alternating_mask(d, parity)``: m_j = 1 when j + parity is even (vectors);
* ``checkerboard_mask((c, h, w), parity)``: m = 1 at pixel (i, j) when i + j + parity is even, in
  every channel (RealNVP's spatial checkerboard), flattened channel-major to c*h*w entries;
* ``channel_mask((c, h, w), parity)``: keep the first c//2 channels (parity 0) or the others
  (parity 1), flattened the same way (RealNVP's channel-wise mask, used after a squeeze).
"""

from __future__ import annotations

import numpy as np

from .core import Bijection, Compose, prefixed
from .mlp import MLP
from .validation import positive_int
from .workspace import empty

__all__ = ["AdditiveCoupling", "AffineCoupling", "realnvp", "alternating_mask",
           "checkerboard_mask", "channel_mask"]


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


def _check_parity(parity) -> int:
    if parity not in (0, 1):
        raise ValueError(f"parity must be 0 or 1; got {parity!r}")
    return int(parity)


def _check_image_shape(shape):
    try:
        c, h, w = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be (c, h, w); got {shape!r}") from None
    if min(c, h, w) < 1 or tuple(shape) != (c, h, w):
        raise ValueError(f"shape must hold three positive integers (c, h, w); got {shape!r}")
    return c, h, w


def alternating_mask(d: int, parity: int = 0) -> np.ndarray:
    """Boolean mask of length ``d``: coordinate j is kept (True) when j + parity is even.

    Parity 0 keeps 0, 2, 4, ...; parity 1 keeps 1, 3, 5, ... (the complement). These are the
    masks of ``realnvp``, whose layer k uses parity k % 2.
    """
    if int(d) != d or d < 2:
        raise ValueError(f"a coupling mask needs dimension d >= 2; got {d!r}")
    return (np.arange(int(d)) + _check_parity(parity)) % 2 == 0


def checkerboard_mask(shape, parity: int = 0) -> np.ndarray:
    """Spatial checkerboard mask for flattened ``(c, h, w)`` images, shape ``(c*h*w,)``.

    Pixel (i, j) of every channel is kept when i + j + parity is even; flattened channel-major
    (index = (ch * h + i) * w + j), the layout of ``image.reshape(n, -1)``. Needs h*w >= 2.
    """
    c, h, w = _check_image_shape(shape)
    if h * w < 2:
        raise ValueError(f"a checkerboard needs at least two pixels; got (h, w) = ({h}, {w})")
    i, j = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    board = (i + j + _check_parity(parity)) % 2 == 0
    return np.broadcast_to(board, (c, h, w)).reshape(-1).copy()


def channel_mask(shape, parity: int = 0) -> np.ndarray:
    """Channel mask for flattened ``(c, h, w)`` images, shape ``(c*h*w,)``: keep every pixel of
    the first c//2 channels (parity 0) or of the remaining ones (parity 1). Needs c >= 2."""
    c, h, w = _check_image_shape(shape)
    if c < 2:
        raise ValueError(f"a channel mask needs at least two channels; got c = {c}")
    first = np.repeat(np.arange(c) < c // 2, h * w)
    return first if _check_parity(parity) == 0 else ~first


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
        self._net_names = tuple(self.parameters())

    def parameters(self):
        return prefixed({"net": self.net.parameters()})

    def _net_grads(self, grads):
        """The MLP's gradients (in the order of its parameters) named like ``parameters()``."""
        return dict(zip(self._net_names, grads.values()))

    def _merge(self, kept, moved):
        """Assemble a full array from the kept and transformed columns."""
        out = empty((kept.shape[0], self.dim))
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

    volume_preserving = True

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
    log|det df/dz| = sum s. With ``clamp=None`` the log-scale is not clamped, s = raw (and
    dL/draw = dL/ds below). Gradients (g = upstream dL/dx, g_ld = dL/dlog_det):

    * forward:  dL/ds = g_moved z_moved e^s + g_ld,  dL/dt = g_moved,  dL/draw = dL/ds (1 - tanh^2),
      dL/dz_moved = g_moved e^s,  dL/dz_kept = g_kept + (MLP backward of (dL/draw, dL/dt));
    * inverse (z_moved = (x_moved - t) e^{-s}, log|det| = -sum s):
      dL/ds = -g_moved z_moved - g_ld,  dL/dt = -g_moved e^{-s},  dL/dx_moved = g_moved e^{-s}.

    Each step writes into an array from ``nflib.workspace`` (``out=empty(shape)``), reused once
    nothing holds it; the operations and their order are those of the formulas above.
    """

    _outputs_per_coordinate = 2

    def __init__(self, mask, hidden=(64, 64), *, rng: np.random.Generator,
                 clamp: float | None = 3.0, activation: str = "tanh"):
        if clamp is not None:
            if isinstance(clamp, bool) or not isinstance(clamp, (int, float, np.number)) \
                    or not clamp > 0 or not np.isfinite(clamp):
                raise ValueError(f"clamp must be a positive finite number or None; got {clamp!r}")
            clamp = float(clamp)
        self.clamp = clamp
        super().__init__(mask, hidden, rng, activation)

    def _scale_shift(self, kept, sign: float = 1.0):
        """(sign * s, t, tanh(raw/c) or None when unclamped, net cache) from the kept
        coordinates; the inverse asks for -s (sign = -1), which costs no extra pass."""
        out, net_cache = self.net.forward_cached(kept)
        raw, t = out[:, :self.n_move], out[:, self.n_move:]
        if self.clamp is None:
            return (raw if sign > 0 else np.negative(raw, out=empty(raw.shape))), t, None, net_cache
        th = np.divide(raw, self.clamp, out=empty(raw.shape))
        np.tanh(th, out=th)                                    # tanh(raw/c)
        s = np.multiply(th, sign * self.clamp, out=empty(raw.shape))  # (+-) s = (+-c) tanh(raw/c)
        return s, t, th, net_cache

    def _net_backward(self, net_cache, th, g_s, g_t):
        g_out = empty((g_s.shape[0], 2 * self.n_move))
        if th is None:
            g_out[:, :self.n_move] = g_s
        else:  # ds/draw = 1 - tanh^2(raw/c)
            ds_draw = np.multiply(th, th, out=empty(th.shape))
            np.subtract(1.0, ds_draw, out=ds_draw)
            np.multiply(g_s, ds_draw, out=g_out[:, :self.n_move])
        g_out[:, self.n_move:] = g_t
        g_kept, grads = self.net.backward(net_cache, g_out)
        return g_kept, self._net_grads(grads)

    def forward_cached(self, z):
        kept, moved = z[:, self._keep], z[:, self._move]
        s, t, th, net_cache = self._scale_shift(kept)
        scale = np.exp(s, out=empty(s.shape))
        x_moved = np.multiply(moved, scale, out=empty(s.shape))
        x_moved += t                                           # x_moved = z_moved e^s + t
        log_det = s.sum(axis=1, out=empty((z.shape[0],)))     # log|det| = sum s
        return self._merge(kept, x_moved), log_det, (net_cache, th, moved, scale)

    def inverse_cached(self, x):
        kept = x[:, self._keep]
        neg_s, t, th, net_cache = self._scale_shift(kept, -1.0)
        inv_scale = np.exp(neg_s, out=empty(neg_s.shape))     # e^{-s}
        moved = np.subtract(x[:, self._move], t, out=empty(neg_s.shape))
        moved *= inv_scale                                     # z_moved = (x_moved - t) e^{-s}
        log_det = neg_s.sum(axis=1, out=empty((x.shape[0],)))  # log|det| = -sum s
        return self._merge(kept, moved), log_det, (net_cache, th, moved, inv_scale)

    def forward_backward(self, cache, grad_x, grad_log_det):
        net_cache, th, z_moved, scale = cache
        g_moved = grad_x[:, self._move]
        g_z_moved = np.multiply(g_moved, scale, out=empty(scale.shape))  # g e^s
        g_s = np.multiply(g_z_moved, z_moved, out=empty(scale.shape))
        g_s += grad_log_det[:, None]                           # dL/ds = g z e^s + g_ld
        g_kept, grads = self._net_backward(net_cache, th, g_s, g_moved)
        g_kept += grad_x[:, self._keep]
        return self._merge(g_kept, g_z_moved), grads

    def inverse_backward(self, cache, grad_z, grad_log_det):
        net_cache, th, z_moved, inv_scale = cache
        g_moved = grad_z[:, self._move]
        g_x_moved = np.multiply(g_moved, inv_scale, out=empty(inv_scale.shape))  # g e^{-s}
        g_s = np.multiply(g_moved, z_moved, out=empty(inv_scale.shape))
        np.negative(g_s, out=g_s)
        g_s -= grad_log_det[:, None]                           # dL/ds = -g z - g_ld
        g_t = np.negative(g_x_moved, out=empty(inv_scale.shape))  # dL/dt = -g e^{-s}
        g_kept, grads = self._net_backward(net_cache, th, g_s, g_t)
        g_kept += grad_z[:, self._keep]
        return self._merge(g_kept, g_x_moved), grads


def realnvp(d: int, n_layers: int, hidden=(64, 64), *, rng: np.random.Generator,
            clamp: float | None = 3.0, activation: str = "tanh") -> Compose:
    """A RealNVP bijection: ``n_layers`` affine couplings with alternating masks.

    Layer k keeps the coordinates j with (j + k) even and transforms the others, so consecutive
    layers transform complementary halves (in 2-D: first x_2 given x_1, then x_1 given x_2);
    its mask is ``alternating_mask(d, k % 2)``. ``clamp=None`` builds unclamped layers.
    """
    return alternating_stack("realnvp", d, n_layers, lambda mask: AffineCoupling(
        mask, hidden, rng=rng, clamp=clamp, activation=activation))


def alternating_stack(name: str, d: int, n_layers: int, make_layer) -> Compose:
    """``Compose([make_layer(alternating_mask(d, k % 2)) for k < n_layers])``: coupling layers
    that transform complementary halves in turn (``name`` is the builder, for error messages)."""
    if isinstance(d, bool) or int(d) != d or d < 2:
        raise ValueError(f"{name} needs dimension d >= 2; got {d!r}")
    n_layers = positive_int(n_layers, "n_layers")
    return Compose([make_layer(alternating_mask(d, k % 2)) for k in range(n_layers)])
