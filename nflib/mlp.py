"""A small multilayer perceptron with a cached forward pass and a hand-written backward pass.

It is the conditioner inside coupling layers and MADE. With L weight matrices W_0 .. W_{L-1}:

    h_0 = input,   h_{k+1} = act(h_k W_k + b_k)   (k = 0 .. L-2),   out = h_{L-1} W_{L-1} + b_{L-1}

with ``act`` = tanh or ReLU. The last layer starts at zero, so the network outputs 0 and a new
coupling layer is exactly the identity. Optional binary ``masks`` (one per weight matrix, same
shape) multiply the weights, ``W_k * M_k``: that is how MADE removes connections.

Backward, from G_{L-1} = dL/dout down to dL/dinput = G_0 W_0^T:

    dL/dW_k = h_k^T G_k,   dL/db_k = sum over rows of G_k,   G_{k-1} = (G_k W_k^T) * act'(h_k),

with act'(h) = 1 - h^2 for tanh and [h > 0] for ReLU; a masked weight gets dL/dW_k * M_k.
"""

from __future__ import annotations

import ctypes
import sys

import numpy as np

from .validation import positive_int
from .workspace import empty

__all__ = ["MLP", "keep_freed_memory"]

_ACTIVATIONS = ("tanh", "relu")


def keep_freed_memory(trim_threshold: int = 128 * 2**20, mmap_threshold: int = 32 * 2**20) -> bool:
    """Ask the C allocator (glibc on Linux) to keep freed memory for reuse; True if it applied.

    Every forward and backward pass allocates activation arrays of a few hundred kB and frees
    them soon after. By default glibc hands such blocks back to the operating system at once
    (mmap/munmap, heap trimming), so the next pass pays a page fault for every 4 kB it touches:
    measured on an 8-layer RealNVP with batch 512, that was a third of the time of a training
    step. Raising the two thresholds (``mallopt(M_TRIM_THRESHOLD)``, ``mallopt(M_MMAP_THRESHOLD)``)
    keeps the memory in the process. It changes the allocator for the whole process, so nflib
    never calls it on its own: ``fit(..., keep_memory=True)`` calls it, and a benchmark may.
    The layers now take their work arrays from ``nflib.workspace``, which reuses them without
    any allocator setting, so this no longer speeds training up measurably. It does nothing on
    other platforms.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # constants from <malloc.h>
    return bool(mallopt(m_trim_threshold, int(trim_threshold))
                and mallopt(m_mmap_threshold, int(mmap_threshold)))



class MLP:
    """``MLP(n_in, n_out, hidden=(64, 64), *, rng, activation="tanh", masks=None)``.

    Parameters are named ``W0, b0, W1, b1, ...`` (``W_k`` of shape ``(fan_in, fan_out)``).
    Hidden weights start as N(0, gain/fan_in) (gain 1 for tanh, 2 for ReLU); the last layer
    starts at zero.
    """

    def __init__(self, n_in: int, n_out: int, hidden=(64, 64), *, rng: np.random.Generator,
                 activation: str = "tanh", masks=None):
        widths = [positive_int(n_in, "n_in"), *[positive_int(h, "hidden width") for h in hidden],
                  positive_int(n_out, "n_out")]
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {_ACTIVATIONS}; got {activation!r}")
        self.activation = activation
        self.widths = tuple(widths)
        self.masks = self._check_masks(masks)
        gain = 1.0 if activation == "tanh" else 2.0
        self.weights, self.biases = [], []
        for k, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
            last = k == len(widths) - 2
            w = (np.zeros((fan_in, fan_out)) if last
                 else rng.standard_normal((fan_in, fan_out)) * np.sqrt(gain / fan_in))
            if self.masks is not None:
                w *= self.masks[k]
            self.weights.append(w)
            self.biases.append(np.zeros(fan_out))
        self._names = tuple(self.parameters())

    def _check_masks(self, masks):
        if masks is None:
            return None
        masks = [np.asarray(m, dtype=np.float64) for m in masks]
        shapes = list(zip(self.widths[:-1], self.widths[1:]))
        if len(masks) != len(shapes):
            raise ValueError(f"need one mask per weight matrix ({len(shapes)}); got {len(masks)}")
        for k, (m, shape) in enumerate(zip(masks, shapes)):
            if m.shape != shape:
                raise ValueError(f"mask {k} must have shape {shape}; got {m.shape}")
            if not np.all((m == 0) | (m == 1)):
                raise ValueError(f"mask {k} must be binary (0/1)")
        return masks

    def parameters(self) -> dict:
        """``{"W0": ..., "b0": ..., ...}``: the live arrays."""
        params = {}
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            params[f"W{k}"] = w
            params[f"b{k}"] = b
        return params

    def _effective_weights(self):
        if self.masks is None:
            return self.weights
        return [np.multiply(w, m, out=empty(w.shape)) for w, m in zip(self.weights, self.masks)]

    def __call__(self, h):
        return self.forward_cached(h)[0]

    def forward_cached(self, h):
        """Return ``(out, cache)``; ``h`` is ``(n, n_in)`` (not validated: an internal hot path).

        The first layer is computed as [h, 1] @ [W_0; b_0], one matmul with the bias folded in
        (for the narrow inputs of a coupling layer this is much faster than h @ W_0 + b_0).
        Work arrays come from ``nflib.workspace``: an array is reused only once nothing (no
        cache, no caller, no view) holds it any more.
        """
        weights = self._effective_weights()
        n = h.shape[0]
        h_aug = empty((n, h.shape[1] + 1))
        h_aug[:, :-1] = h
        h_aug[:, -1] = 1.0
        w0 = np.concatenate([weights[0], self.biases[0][None, :]],
                            out=empty((weights[0].shape[0] + 1, weights[0].shape[1])))
        out = np.matmul(h_aug, w0, out=empty((n, w0.shape[1])))
        acts = [h_aug]
        for w, b in zip(weights[1:], self.biases[1:]):
            self._activate(out)
            acts.append(out)
            out = np.matmul(out, w, out=empty((n, w.shape[1])))
            out += b
        return out, (acts, weights)

    def _activate(self, h):
        if self.activation == "tanh":
            np.tanh(h, out=h)
        else:
            np.maximum(h, 0.0, out=h)

    def backward(self, cache, grad_out):
        """Given ``dL/dout`` ``(n, n_out)``, return ``(dL/dinput, {name: dL/dparam})``."""
        acts, weights = cache
        n = grad_out.shape[0]
        grads = {}
        g = grad_out
        ones = empty((n,))  # row sums as matrix-vector products (faster than g.sum(0))
        ones.fill(1.0)
        for k in reversed(range(1, len(weights))):
            h = acts[k]
            grads[f"W{k}"] = h.T @ g
            grads[f"b{k}"] = ones @ g
            g = np.matmul(g, weights[k].T, out=empty(h.shape))
            if self.activation == "tanh":  # tanh' = 1 - h^2
                d_act = np.multiply(h, h, out=empty(h.shape))
                np.subtract(1.0, d_act, out=d_act)
                g *= d_act
            else:  # relu' = [h > 0]
                g *= h > 0
        grad_aug = acts[0].T @ g  # [dL/dW_0; dL/db_0]
        grads["W0"], grads["b0"] = grad_aug[:-1], grad_aug[-1]
        if self.masks is not None:
            for k, m in enumerate(self.masks):
                grads[f"W{k}"] *= m
        grad_in = np.matmul(g, weights[0].T, out=empty((n, weights[0].shape[0])))
        return grad_in, {name: grads[name] for name in self._names}

    def __repr__(self):
        return f"MLP({self.widths}, activation={self.activation!r})"
