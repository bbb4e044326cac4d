"""Autoregressive flows: MADE (the masked conditioner), MAF and IAF.

MADE is an MLP whose weights are masked so that output i sees only inputs j < i (natural
ordering, 0-based). Each input j has degree j+1, each hidden unit a degree k in 1..d-1, and

    input j  -> hidden unit of degree k      allowed iff  k >= j+1
    hidden k -> hidden unit of degree k'     allowed iff  k' >= k
    hidden k -> output i (degree i+1)        allowed iff  i+1 > k

so the product of the masks (input x output) is strictly upper triangular: output i depends on
x_0 .. x_{i-1} only. MADE outputs (mu_i, s_i), with the soft-clamped log-scale s = c*tanh(raw/c).

A custom ``order`` (a permutation of 0..d-1 listing the coordinates in the order they are
generated) gives input ``order[k]`` the degree k+1; the same three rules then make output i depend
only on the coordinates that come before i in ``order``, and the mask product is strictly upper
triangular after permuting its rows and columns by ``order``. The sequential direction visits the
coordinates in that order.

* MAF (density in one pass): z_i = (x_i - mu_i(x_<i)) exp(-s_i(x_<i)), log|det df^{-1}/dx| = -sum s;
  sampling x = f(z) needs d passes, x_i = z_i exp(s_i(x_<i)) + mu_i(x_<i), one coordinate per pass.
* IAF (sampling in one pass): x_i = z_i exp(s_i(z_<i)) + mu_i(z_<i),  log|det df/dz| = sum s;
  the density needs the inverse, d passes.

``passes(u)`` runs the d-pass direction (MAF forward, IAF inverse) and returns the d + 1 partial
results, y^(0) = 0 and y^(k) with the first k coordinates of ``order`` filled in, so the
sequential computation can be shown or checked one MADE pass at a time.

The Jacobian is triangular with diagonal exp(+-s), hence the log-determinants.
"""

from __future__ import annotations

import numpy as np

from .core import Bijection, prefixed
from .validation import as_batch
from .mlp import MLP

__all__ = ["MADE", "MAF", "IAF", "hidden_degrees", "check_order"]


def hidden_degrees(d: int, width: int) -> np.ndarray:
    """Degrees in 1..d-1 for a hidden layer of ``width`` units, every degree used if possible.

    Cycles through 1..d-1 when width >= d-1, else spreads evenly from 1 to d-1. Either way the
    layer holds degree 1 and degree d-1 (for width >= 2), so every unit has an input and an output.
    """
    if d < 2:
        raise ValueError(f"MADE needs dimension d >= 2; got {d}")
    if width >= d - 1:
        return 1 + np.arange(width) % (d - 1)
    return np.round(np.linspace(1, d - 1, width)).astype(int)


def check_order(order, d: int) -> np.ndarray:
    """``order`` as an integer array, or ``ValueError`` unless it is a permutation of 0..d-1.

    ``None`` gives the natural order ``0, 1, ..., d-1``.
    """
    if order is None:
        return np.arange(d)
    arr = np.asarray(order)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"order must be a 1-D sequence of integer indices; got {order!r}")
    if arr.size != d or not np.array_equal(np.sort(arr), np.arange(d)):
        raise ValueError(f"order must be a permutation of 0..{d - 1}; got {np.asarray(order).tolist()}")
    return arr.astype(np.intp)


class MADE:
    """``MADE(d, hidden=(64, 64), *, rng, clamp=3.0, activation="tanh", order=None)``: x -> (mu, s).

    Both outputs have shape (n, d).

    A masked MLP (see the module docstring); ``masks`` holds the binary masks, input to output,
    the output mask repeated for the mu and raw log-scale halves. Parameters ``W0, b0, ...``.
    ``order`` lists the coordinates in autoregressive order (default 0, 1, ..., d-1): input
    ``order[k]`` has degree k+1, so output i sees exactly the inputs that precede i in ``order``.
    ``degrees[0]`` holds the input degrees, ``degrees[1:]`` the hidden ones.
    """

    def __init__(self, d: int, hidden=(64, 64), *, rng: np.random.Generator, clamp: float = 3.0,
                 activation: str = "tanh", order=None):
        if int(d) != d or d < 2:
            raise ValueError(f"MADE needs dimension d >= 2; got {d!r}")
        if not clamp > 0 or not np.isfinite(clamp):
            raise ValueError(f"clamp must be a positive finite number; got {clamp!r}")
        hidden = tuple(hidden)
        if not hidden:
            raise ValueError("MADE needs at least one hidden layer")
        self.dim, self.clamp = int(d), float(clamp)
        self.order = check_order(order, self.dim)
        input_degrees = np.empty(self.dim, dtype=int)
        input_degrees[self.order] = np.arange(1, self.dim + 1)
        self.degrees = [input_degrees]
        self.degrees += [hidden_degrees(self.dim, int(w)) for w in hidden]
        masks = [(k_out[None, :] >= k_in[:, None]).astype(np.float64)
                 for k_in, k_out in zip(self.degrees[:-1], self.degrees[1:])]
        out_mask = (self.degrees[0][None, :] > self.degrees[-1][:, None]).astype(np.float64)
        masks.append(np.concatenate([out_mask, out_mask], axis=1))
        self.net = MLP(self.dim, 2 * self.dim, hidden, rng=rng, activation=activation, masks=masks)

    @property
    def masks(self):
        return self.net.masks

    def connectivity(self) -> np.ndarray:
        """``C[j, i]`` = number of paths from input j to output mu_i.

        Strictly upper triangular in the natural order; for a custom order,
        ``C[np.ix_(order, order)]`` is.
        """
        c = self.masks[0]
        for m in self.masks[1:]:
            c = c @ m
        return c[:, :self.dim]

    def parameters(self):
        return self.net.parameters()

    def __call__(self, x):
        """``(mu, s)`` for a validated ``(n, d)`` batch ``x``."""
        mu, s, _ = self.forward_cached(as_batch(x, self.dim, "x"))
        return mu, s

    def forward_cached(self, x):
        """``(mu, s, cache)`` for inputs ``x`` of shape (n, d) (not validated: internal)."""
        out, net_cache = self.net.forward_cached(x)
        th = np.tanh(out[:, self.dim:] / self.clamp)
        return out[:, :self.dim], self.clamp * th, (net_cache, th)

    def backward(self, cache, grad_mu, grad_s):
        """Given dL/dmu and dL/ds, return ``(dL/dx, {name: grad})``; ds/draw = 1 - tanh^2(raw/c)."""
        net_cache, th = cache
        g_out = np.empty((grad_mu.shape[0], 2 * self.dim))
        g_out[:, :self.dim] = grad_mu
        np.multiply(grad_s, 1.0 - th * th, out=g_out[:, self.dim:])
        return self.net.backward(net_cache, g_out)

    def __repr__(self):
        text = f"MADE({self.dim}, hidden={self.net.widths[1:-1]}"
        if not np.array_equal(self.order, np.arange(self.dim)):
            text += f", order={self.order.tolist()}"
        return text + ")"


class _Autoregressive(Bijection):
    def __init__(self, d, hidden, rng, clamp, activation, order):
        self.made = MADE(d, hidden, rng=rng, clamp=clamp, activation=activation, order=order)
        self.dim = self.made.dim

    @property
    def order(self) -> np.ndarray:
        """The coordinates in autoregressive order (the order of the sequential passes)."""
        return self.made.order

    def parameters(self):
        return prefixed({"made": self.made.parameters()})

    def _sequential(self, target, sign, trace=None):
        """Solve y_i = (target_i - mu_i(y_<i)) e^{-s_i} (sign -1) or target_i e^{s_i} + mu_i (+1),
        one coordinate per MADE pass, in ``order``; returns (y, sum of sign*s).
        ``trace``, a list, receives a copy of y before the first pass and after every pass."""
        y = np.zeros_like(target)
        log_det = np.zeros(target.shape[0])
        if trace is not None:
            trace.append(y.copy())
        for i in self.made.order:
            mu, s = self.made(y)
            if sign > 0:
                y[:, i] = target[:, i] * np.exp(s[:, i]) + mu[:, i]
            else:
                y[:, i] = (target[:, i] - mu[:, i]) * np.exp(-s[:, i])
            log_det += sign * s[:, i]
            if trace is not None:
                trace.append(y.copy())
        return y, log_det

    def passes(self, u) -> list:
        """The d-pass direction one MADE pass at a time: a list of d + 1 arrays ``(n, d)``.

        Entry k holds the result after k passes: the coordinates ``order[:k]`` are final, the
        others still 0. The last entry equals ``forward(u)[0]`` for a MAF and ``inverse(u)[0]``
        for an IAF. ``u`` is validated like the input of that direction.
        """
        trace = []
        self._sequential(as_batch(u, self.dim, "u"), self._sequential_sign, trace)
        return trace

    def __repr__(self):
        text = f"{type(self).__name__}({self.dim}, hidden={self.made.net.widths[1:-1]}"
        if not np.array_equal(self.order, np.arange(self.dim)):
            text += f", order={self.order.tolist()}"
        return text + ")"


class MAF(_Autoregressive):
    """Masked autoregressive flow, ``MAF(d, hidden=(64, 64), *, rng, clamp=3.0, activation=...,
    order=None)``.

    Inverse (density) in one pass, z = (x - mu(x)) e^{-s(x)}; forward (sampling) in d passes,
    x_i = z_i e^{s_i} + mu_i for i in ``order``. ``passes(z)`` returns them one by one.
    Trained by likelihood: gradient of the inverse direction (g = dL/dz, g_ld = dL/dlog_det):
    dL/dmu = -g e^{-s}, dL/ds = -g z - g_ld, dL/dx = g e^{-s} + MADE backward.
    """

    _sequential_sign = +1

    def __init__(self, d: int, hidden=(64, 64), *, rng: np.random.Generator, clamp: float = 3.0,
                 activation: str = "tanh", order=None):
        super().__init__(d, hidden, rng, clamp, activation, order)

    def forward_cached(self, z):
        x, log_det = self._sequential(z, +1)
        return x, log_det, None

    def inverse_cached(self, x):
        mu, s, made_cache = self.made.forward_cached(x)
        inv_scale = np.exp(-s)
        z = (x - mu) * inv_scale
        return z, -s.sum(axis=1), (made_cache, z, inv_scale)

    def inverse_backward(self, cache, grad_z, grad_log_det):
        made_cache, z, inv_scale = cache
        g_x = grad_z * inv_scale
        g_s = -(grad_z * z)
        g_s -= grad_log_det[:, None]
        g_x_net, grads = self.made.backward(made_cache, -g_x, g_s)
        g_x += g_x_net
        return g_x, prefixed({"made": grads})


class IAF(_Autoregressive):
    """Inverse autoregressive flow, ``IAF(d, hidden=(64, 64), *, rng, clamp=3.0, activation=...,
    order=None)``.

    Forward (sampling) in one pass, x = z e^{s(z)} + mu(z); inverse (density) in d passes,
    z_i = (x_i - mu_i) e^{-s_i} for i in ``order``. ``passes(x)`` returns them one by one.
    Trained by reverse KL: gradient of the forward direction (g = dL/dx, g_ld = dL/dlog_det):
    dL/dmu = g, dL/ds = g z e^s + g_ld, dL/dz = g e^s + MADE backward.
    """

    _sequential_sign = -1

    def __init__(self, d: int, hidden=(64, 64), *, rng: np.random.Generator, clamp: float = 3.0,
                 activation: str = "tanh", order=None):
        super().__init__(d, hidden, rng, clamp, activation, order)

    def forward_cached(self, z):
        mu, s, made_cache = self.made.forward_cached(z)
        scale = np.exp(s)
        x = z * scale + mu
        return x, s.sum(axis=1), (made_cache, z, scale)

    def inverse_cached(self, x):
        z, log_det = self._sequential(x, -1)
        return z, log_det, None

    def forward_backward(self, cache, grad_x, grad_log_det):
        made_cache, z, scale = cache
        g_z = grad_x * scale
        g_s = g_z * z
        g_s += grad_log_det[:, None]
        g_z_net, grads = self.made.backward(made_cache, grad_x, g_s)
        g_z += g_z_net
        return g_z, prefixed({"made": grads})
