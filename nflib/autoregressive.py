"""Autoregressive flows: MADE (the masked conditioner), MAF and IAF.

MADE is an MLP whose weights are masked so that output i sees only inputs j < i (natural
ordering, 0-based). Each input j has degree j+1, each hidden unit a degree k in 1..d-1, and

    input j  -> hidden unit of degree k      allowed iff  k >= j+1
    hidden k -> hidden unit of degree k'     allowed iff  k' >= k
    hidden k -> output i (degree i+1)        allowed iff  i+1 > k

so the product of the masks (input x output) is strictly upper triangular: output i depends on
x_0 .. x_{i-1} only. MADE outputs (mu_i, s_i), with the soft-clamped log-scale s = c*tanh(raw/c).

* MAF (density in one pass): z_i = (x_i - mu_i(x_<i)) exp(-s_i(x_<i)), log|det df^{-1}/dx| = -sum s;
  sampling x = f(z) needs d passes, x_i = z_i exp(s_i(x_<i)) + mu_i(x_<i), one coordinate per pass.
* IAF (sampling in one pass): x_i = z_i exp(s_i(z_<i)) + mu_i(z_<i),  log|det df/dz| = sum s;
  the density needs the inverse, d passes.

The Jacobian is triangular with diagonal exp(+-s), hence the log-determinants.
"""

from __future__ import annotations

import numpy as np

from .core import Bijection, prefixed
from .validation import as_batch
from .mlp import MLP

__all__ = ["MADE", "MAF", "IAF", "hidden_degrees"]


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


class MADE:
    """``MADE(d, hidden=(64, 64), *, rng, clamp=3.0, activation="tanh")``: x -> (mu, s).

    Both outputs have shape (n, d).

    A masked MLP (see the module docstring); ``masks`` holds the binary masks, input to output,
    the output mask repeated for the mu and raw log-scale halves. Parameters ``W0, b0, ...``.
    """

    def __init__(self, d: int, hidden=(64, 64), *, rng: np.random.Generator, clamp: float = 3.0,
                 activation: str = "tanh"):
        if int(d) != d or d < 2:
            raise ValueError(f"MADE needs dimension d >= 2; got {d!r}")
        if not clamp > 0 or not np.isfinite(clamp):
            raise ValueError(f"clamp must be a positive finite number; got {clamp!r}")
        hidden = tuple(hidden)
        if not hidden:
            raise ValueError("MADE needs at least one hidden layer")
        self.dim, self.clamp = int(d), float(clamp)
        self.degrees = [np.arange(1, self.dim + 1)]
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
        """``C[j, i]`` = number of paths from input j to output mu_i (strictly upper triangular)."""
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
        return f"MADE({self.dim}, hidden={self.net.widths[1:-1]})"


class _Autoregressive(Bijection):
    def __init__(self, d, hidden, rng, clamp, activation):
        self.made = MADE(d, hidden, rng=rng, clamp=clamp, activation=activation)
        self.dim = self.made.dim

    def parameters(self):
        return prefixed({"made": self.made.parameters()})

    def _sequential(self, target, sign):
        """Solve y_i = (target_i - mu_i(y_<i)) e^{-s_i} (sign -1) or target_i e^{s_i} + mu_i (+1),
        one coordinate per MADE pass; returns (y, sum of sign*s)."""
        y = np.zeros_like(target)
        log_det = np.zeros(target.shape[0])
        for i in range(self.dim):
            mu, s = self.made(y)
            if sign > 0:
                y[:, i] = target[:, i] * np.exp(s[:, i]) + mu[:, i]
            else:
                y[:, i] = (target[:, i] - mu[:, i]) * np.exp(-s[:, i])
            log_det += sign * s[:, i]
        return y, log_det

    def __repr__(self):
        return f"{type(self).__name__}({self.dim}, hidden={self.made.net.widths[1:-1]})"


class MAF(_Autoregressive):
    """Masked autoregressive flow, ``MAF(d, hidden=(64, 64), *, rng, clamp=3.0, activation=...)``.

    Inverse (density) in one pass, z = (x - mu(x)) e^{-s(x)}; forward (sampling) in d passes.
    Trained by likelihood: gradient of the inverse direction (g = dL/dz, g_ld = dL/dlog_det):
    dL/dmu = -g e^{-s}, dL/ds = -g z - g_ld, dL/dx = g e^{-s} + MADE backward.
    """

    def __init__(self, d: int, hidden=(64, 64), *, rng: np.random.Generator, clamp: float = 3.0,
                 activation: str = "tanh"):
        super().__init__(d, hidden, rng, clamp, activation)

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
    """Inverse autoregressive flow, ``IAF(d, hidden=(64, 64), *, rng, clamp=3.0, activation=...)``.

    Forward (sampling) in one pass, x = z e^{s(z)} + mu(z); inverse (density) in d passes.
    Trained by reverse KL: gradient of the forward direction (g = dL/dx, g_ld = dL/dlog_det):
    dL/dmu = g, dL/ds = g z e^s + g_ld, dL/dz = g e^s + MADE backward.
    """

    def __init__(self, d: int, hidden=(64, 64), *, rng: np.random.Generator, clamp: float = 3.0,
                 activation: str = "tanh"):
        super().__init__(d, hidden, rng, clamp, activation)

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
