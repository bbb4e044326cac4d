"""Bijections for images of shape ``(n, c, h, w)``: the building blocks of Glow.

* ``ActNorm``: per-channel affine map, initialised from the first batch it sees.
* ``InvConv1x1``: an invertible c x c matrix applied at every pixel (a 1x1 convolution), with
  the LU parametrisation W = P L (U + diag(sign * exp(log_s))).
* ``Squeeze``: space to channels, (c, h, w) -> (4c, h/2, w/2); a permutation, log|det| = 0.
* ``Split``: multi-scale architecture. An inner bijection acts on the first ``keep`` channels
  only; the other channels pass unchanged, so in the normalising direction they are factored
  out to the base right there.
* ``Reshape`` / ``Flatten`` / ``Unflatten``: move between ``(n, c, h, w)`` and ``(n, d)``, so a
  ``Flow`` with ``StandardNormal(d)`` can wrap an image model (``flat_view``) and a vector
  bijection such as ``AffineCoupling`` can act on images (``image_view``).

Every layer here has hand-written gradients in both directions. The gradient arrays have the
shape of the arrays they differentiate: ``(n, c, h, w)`` for images. A Glow-like model of the
8x8 digits (flattened to 64 numbers, as ``Flow`` and ``nflib.datasets.digits`` expect)::

    model = nf.glow((1, 8, 8), n_levels=2, depth=4, hidden=(64,), rng=rng)
    flow = nf.Flow(nf.StandardNormal(64), nf.flat_view(model, (1, 8, 8)))
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from .affine import Affine, pixels_per_channel
from .core import Bijection, Compose, Inverse, prefixed
from .validation import (as_image_batch, check_finite, check_log_scale, positive_int,
                         _as_real_array)

__all__ = ["ActNorm", "InvConv1x1", "Squeeze", "Split", "Reshape", "Flatten", "Unflatten",
           "as_image_batch", "flat_view", "image_view", "glow"]

def _as_channels(x, c: int, name: str) -> np.ndarray:
    """Validate ``(n, c)`` vectors or ``(n, c, h, w)`` images with ``c`` channels (axis 1)."""
    x = _as_real_array(x, name)
    if x.ndim not in (2, 4):
        raise ValueError(f"{name} must be (n, {c}) vectors or (n, {c}, h, w) images; "
                         f"got shape {x.shape}")
    if x.shape[1] != c:
        raise ValueError(f"{name} must have {c} channels along axis 1; got shape {x.shape}")
    check_finite(x, name)
    return x


# ---------------------------------------------------------------------------------------------
class ActNorm(Affine):
    """``ActNorm(channels, log_scale=None, bias=None, min_std=1e-6)``: per-channel affine map
    (``nflib.Affine``'s map, with the shift named ``bias``) initialised from data.

        x = z * exp(log_scale_c) + bias_c,     log|det df/dz| = h*w * sum_c log_scale_c

    applied to channel c of ``(n, c, h, w)`` images, or to column c of ``(n, c)`` vectors
    (h*w = 1). Unless ``log_scale`` and ``bias`` are given, the first batch the layer sees sets
    them, once, so that the layer's output on that batch has zero mean and unit variance per
    channel: on ``inverse(x)`` (the data direction) bias = mean(x), log_scale = log std(x); on
    ``forward(z)`` log_scale = -log std(z), bias = -mean(z) exp(log_scale). Standard deviations
    are floored at ``min_std`` so a constant channel does not give an infinite scale.

    The map, its log-determinant and its gradients are ``Affine``'s (see ``nflib.affine``).
    """

    shift_name = "bias"

    def __init__(self, channels: int, log_scale=None, bias=None, min_std: float = 1e-6):
        self.channels = positive_int(channels, "channels")
        self.dim = None
        if (log_scale is None) != (bias is None):
            raise ValueError("give both log_scale and bias, or neither (data-dependent init)")
        if not min_std > 0:
            raise ValueError(f"min_std must be positive; got {min_std!r}")
        self.min_std = float(min_std)
        self.log_scale = self._vector(log_scale, "log_scale")
        self.shift = self._vector(bias, "bias")
        self.initialized = self._given = log_scale is not None

    @property
    def bias(self) -> np.ndarray:
        """The per-channel shift (the live parameter array)."""
        return self.shift

    def check_z(self, z):
        return _as_channels(z, self.channels, "z")

    def check_x(self, x):
        return _as_channels(x, self.channels, "x")

    def _moments(self, a):
        mean = a.mean(axis=(0, *range(2, a.ndim)))
        std = np.maximum(a.std(axis=(0, *range(2, a.ndim))), self.min_std)
        return mean, std

    def initial_parameters(self, a, direction: str = "inverse"):
        """``(log_scale, bias)`` that data-dependent initialisation would set from batch ``a``.

        ``direction`` is ``"inverse"`` (``a`` is data x) or ``"forward"`` (``a`` is latent z).
        Raises ``ValueError`` for a batch with fewer than 2 rows: an empty batch has no mean
        (numpy would give NaN), and one example has no spread between examples, so its
        per-channel "standard deviation" measures only the pixels of that one image (for
        vectors it is 0, floored to ``min_std``: a scale of 1e6). Changes nothing.
        """
        if a.shape[0] < 2:
            what = "an empty batch" if a.shape[0] == 0 else "a batch of 1 example"
            raise ValueError(
                f"ActNorm cannot initialise from {what}: data-dependent initialisation needs "
                "at least 2 examples to estimate each channel's mean and spread across the "
                "data; pass a larger first batch, or give log_scale and bias")
        mean, std = self._moments(a)
        if direction == "inverse":
            log_scale, bias = np.log(std), mean
        elif direction == "forward":
            log_scale, bias = -np.log(std), -mean / std
        else:
            raise ValueError(f"direction must be 'inverse' or 'forward'; got {direction!r}")
        check_log_scale(log_scale, "ActNorm log_scale from the first batch")
        check_finite(bias, "ActNorm bias from the first batch")
        return log_scale, bias

    def _initialize(self, a, direction: str) -> None:
        """Data-dependent initialisation (in place, so the live arrays stay the same objects).

        Everything is computed and checked before anything is written, so a refused batch
        leaves the layer as it was (uninitialised)."""
        log_scale, bias = self.initial_parameters(a, direction)
        self.log_scale[...] = log_scale
        self.bias[...] = bias
        self.initialized = True

    def reset(self) -> None:
        """Forget the data-dependent initialisation (only for a layer built without values)."""
        if self._given:
            raise ValueError("this ActNorm was built with explicit log_scale and bias; "
                             "there is no data-dependent initialisation to reset")
        self.log_scale[...] = 0.0
        self.bias[...] = 0.0
        self.initialized = False

    def forward_cached(self, z):
        if not self.initialized:
            self._initialize(z, "forward")
        return super().forward_cached(z)

    def inverse_cached(self, x):
        if not self.initialized:
            self._initialize(x, "inverse")
        return super().inverse_cached(x)

    def __repr__(self):
        return f"ActNorm({self.channels})"


# ---------------------------------------------------------------------------------------------
class InvConv1x1(Bijection):
    """``InvConv1x1(channels, *, rng=None, weight=None)``: x[:, :, i, j] = W z[:, :, i, j].

    LU parametrisation (P a fixed permutation, L unit lower triangular, U strictly upper
    triangular, ``sign`` fixed signs):

        W = P L (U + diag(sign * exp(log_s))),    log|det df/dz| = h*w * sum log_s

    since |det P| = det L = 1 and the second factor is triangular. W is invertible for every
    value of the parameters. Parameters: ``lower`` (only its strict lower triangle is used),
    ``upper`` (only its strict upper triangle), ``log_s`` (c,). Initialised from a random
    rotation drawn with ``rng``, or from an explicit ``weight``, which must be invertible
    (a singular or ill-conditioned matrix raises ``ValueError``). Accepts ``(n, c, h, w)``
    images and ``(n, c)`` vectors (h*w = 1), where it is a learnable invertible linear map.

    Gradients: with G = dL/dx, forward dL/dz = W^T G and dL/dW = sum_pixels G z^T; inverse
    (V = W^{-1}, z = V x) dL/dx = V^T G and dL/dW = -V^T (sum_pixels G x^T) V^T. Then
    dL/dL = tril(P^T dW B^T, -1), B = U + diag(sign e^{log_s}); dL/dB = L^T P^T dW,
    dL/dupper = triu(dL/dB, 1), dL/dlog_s = diag(dL/dB) sign e^{log_s} +- h*w sum g_ld.
    """

    def __init__(self, channels: int, *, rng: np.random.Generator | None = None, weight=None):
        c = self.channels = positive_int(channels, "channels")
        if (rng is None) == (weight is None):
            raise ValueError("InvConv1x1 needs exactly one of rng (random rotation) or weight")
        if weight is None:
            q, r = np.linalg.qr(rng.standard_normal((c, c)))
            weight = q * np.sign(np.diag(r))  # a Haar-random orthogonal matrix
        weight = self._check_weight(weight)
        p, low, up = linalg.lu(weight)
        s = np.diag(up)
        self.perm = p
        self.sign = np.sign(s)
        self.lower = np.tril(low, -1)
        self.upper = np.triu(up, 1)
        self.log_s = np.log(np.abs(s))

    def _check_weight(self, weight):
        c = self.channels
        weight = np.array(weight, dtype=np.float64)
        if weight.shape != (c, c):
            raise ValueError(f"InvConv1x1 weight must have shape ({c}, {c}); got {weight.shape}")
        check_finite(weight, "InvConv1x1 weight")
        cond = np.linalg.cond(weight)
        if not cond < 1e12:
            raise ValueError(f"InvConv1x1 weight is singular (condition number {cond:.3g}); "
                             "a 1x1 convolution must be an invertible matrix")
        return weight

    def check_z(self, z):
        return _as_channels(z, self.channels, "z")

    def check_x(self, x):
        return _as_channels(x, self.channels, "x")

    def parameters(self):
        return {"lower": self.lower, "upper": self.upper, "log_s": self.log_s}

    def _factors(self):
        """(L, B) with W = P L B."""
        check_log_scale(self.log_s, "InvConv1x1 log_s")
        check_finite(self.lower, "InvConv1x1 lower")
        check_finite(self.upper, "InvConv1x1 upper")
        low = np.tril(self.lower, -1) + np.eye(self.channels)
        b = np.triu(self.upper, 1) + np.diag(self.sign * np.exp(self.log_s))
        return low, b

    def weight(self) -> np.ndarray:
        """The matrix W = P L (U + diag(sign * exp(log_s)))."""
        low, b = self._factors()
        return self.perm @ low @ b

    def inverse_weight(self) -> np.ndarray:
        """W^{-1} = B^{-1} L^{-1} P^T by two triangular solves."""
        low, b = self._factors()
        tmp = linalg.solve_triangular(low, self.perm.T, lower=True, unit_diagonal=True)
        return linalg.solve_triangular(b, tmp, lower=False)

    @staticmethod
    def _apply(m, a):
        """m applied to the channel vector at every pixel of ``a`` ((n, c) or (n, c, h, w))."""
        if a.ndim == 2:
            return a @ m.T
        n, c = a.shape[:2]
        return np.matmul(m, a.reshape(n, c, pixels_per_channel(a))).reshape(a.shape)

    @staticmethod
    def _outer(g, a):
        """sum over samples and pixels of g a^T, shape (c, c)."""
        if g.ndim == 2:
            return g.T @ a
        n, c, k = g.shape[0], g.shape[1], pixels_per_channel(g)
        return np.tensordot(g.reshape(n, c, k), a.reshape(n, c, k), axes=([0, 2], [0, 2]))

    def _param_grads(self, grad_w, grad_log_s_direct):
        low, b = self._factors()
        pt_gw = self.perm.T @ grad_w
        g_b = low.T @ pt_gw
        return {"lower": np.tril(pt_gw @ b.T, -1),
                "upper": np.triu(g_b, 1),
                "log_s": np.diag(g_b) * self.sign * np.exp(self.log_s) + grad_log_s_direct}

    def forward_cached(self, z):
        w = self.weight()
        log_det = np.full(z.shape[0], pixels_per_channel(z) * self.log_s.sum())
        return self._apply(w, z), log_det, (z, w)

    def inverse_cached(self, x):
        v = self.inverse_weight()
        log_det = np.full(x.shape[0], -pixels_per_channel(x) * self.log_s.sum())
        return self._apply(v, x), log_det, (x, v)

    def forward_backward(self, cache, grad_x, grad_log_det):
        z, w = cache
        grad_w = self._outer(grad_x, z)
        direct = pixels_per_channel(z) * np.sum(grad_log_det)
        return self._apply(w.T, grad_x), self._param_grads(grad_w, direct)

    def inverse_backward(self, cache, grad_z, grad_log_det):
        x, v = cache
        grad_v = self._outer(grad_z, x)
        grad_w = -v.T @ grad_v @ v.T
        direct = -pixels_per_channel(x) * np.sum(grad_log_det)
        return self._apply(v.T, grad_z), self._param_grads(grad_w, direct)

    def __repr__(self):
        return f"InvConv1x1({self.channels})"


# ---------------------------------------------------------------------------------------------
def _squeeze(a: np.ndarray) -> np.ndarray:
    n, c, h, w = a.shape
    a = a.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 3, 5, 2, 4)
    return a.reshape(n, 4 * c, h // 2, w // 2)


def _unsqueeze(a: np.ndarray) -> np.ndarray:
    n, c4, h, w = a.shape
    a = a.reshape(n, c4 // 4, 2, 2, h, w).transpose(0, 1, 4, 2, 5, 3)
    return a.reshape(n, c4 // 4, 2 * h, 2 * w)


class Squeeze(Bijection):
    """``Squeeze()``: space to channels, (n, c, h, w) -> (n, 4c, h/2, w/2).

    Each 2x2 block of pixels of channel k becomes the pixel of channels 4k .. 4k+3 (in the order
    top-left, top-right, bottom-left, bottom-right). A permutation of the entries, so
    log|det| = 0, and the gradient passes back through the inverse permutation. In a generative
    model the data end uses ``Inverse(Squeeze())`` (channels back to space).
    """

    volume_preserving = True

    def check_z(self, z):
        z = as_image_batch(z, name="z")
        if z.shape[2] % 2 or z.shape[3] % 2:
            raise ValueError(f"Squeeze needs even height and width; got (h, w) = {z.shape[2:]}")
        return z

    def check_x(self, x):
        x = as_image_batch(x, name="x")
        if x.shape[1] % 4:
            raise ValueError(f"Squeeze.inverse needs a multiple of 4 channels; got {x.shape[1]}")
        return x

    def forward_cached(self, z):
        return _squeeze(z), np.zeros(z.shape[0]), None

    def inverse_cached(self, x):
        return _unsqueeze(x), np.zeros(x.shape[0]), None

    def forward_backward(self, cache, grad_x, grad_log_det):
        return _unsqueeze(grad_x), {}

    def inverse_backward(self, cache, grad_z, grad_log_det):
        return _squeeze(grad_z), {}


# ---------------------------------------------------------------------------------------------
class Split(Bijection):
    """``Split(inner, keep)``: ``inner`` acts on channels ``[:keep]``, the rest pass unchanged.

        f(z) = concat(inner(z[:, :keep]), z[:, keep:]),    log|det df/dz| = log|det d inner|

    This is the multi-scale architecture written as a bijection of the whole tensor: read in
    the normalising direction (data to latent), the channels ``[keep:]`` are factored out to the
    base at this point and every later layer (inside ``inner``) acts only on the kept ones.
    ``inner`` must return an array of the shape it is given (wrap it in ``Squeeze`` ...
    ``Inverse(Squeeze())`` to work at a coarser scale, as ``glow`` does). Works on axis 1 of
    images or vectors. Parameters are those of ``inner``, prefixed ``inner.``.
    """

    def __init__(self, inner: Bijection, keep: int):
        self.inner = inner
        self.keep = positive_int(keep, "keep")

    @property
    def volume_preserving(self) -> bool:
        return self.inner.volume_preserving

    @property
    def trained_directions(self) -> tuple:
        return self.inner.trained_directions

    def parameters(self):
        return prefixed({"inner": self.inner.parameters()})

    def _check(self, a, name):
        a = _as_real_array(a, name)
        if a.ndim < 2 or a.shape[1] <= self.keep:
            raise ValueError(f"Split keeps {self.keep} channels, so {name} needs more than "
                             f"{self.keep} along axis 1; got shape {a.shape}")
        check_finite(a, name)
        return a

    def check_z(self, z):
        z = self._check(z, "z")
        self.inner.check_z(z[:, :self.keep])
        return z

    def check_x(self, x):
        x = self._check(x, "x")
        self.inner.check_x(x[:, :self.keep])
        return x

    def _split(self, a, name):
        return a[:, :self.keep], a[:, self.keep:]

    def _join(self, out, kept, rest, name):
        if out.shape != kept.shape:
            raise ValueError(f"Split's inner bijection must keep the shape {kept.shape[1:]} of "
                             f"its input; its {name} returned shape {out.shape[1:]}")
        return np.concatenate([out, rest], axis=1)

    def forward_cached(self, z):
        kept, rest = self._split(z, "z")
        out, log_det, cache = self.inner.forward_cached(kept)
        return self._join(out, kept, rest, "forward"), log_det, cache

    def inverse_cached(self, x):
        kept, rest = self._split(x, "x")
        out, log_det, cache = self.inner.inverse_cached(kept)
        return self._join(out, kept, rest, "inverse"), log_det, cache

    def forward_backward(self, cache, grad_x, grad_log_det):
        g, grads = self.inner.forward_backward(cache, grad_x[:, :self.keep], grad_log_det)
        return np.concatenate([g, grad_x[:, self.keep:]], axis=1), self._prefixed(grads)

    def inverse_backward(self, cache, grad_z, grad_log_det):
        g, grads = self.inner.inverse_backward(cache, grad_z[:, :self.keep], grad_log_det)
        return np.concatenate([g, grad_z[:, self.keep:]], axis=1), self._prefixed(grads)

    @staticmethod
    def _prefixed(grads):
        return prefixed({"inner": grads})

    def __repr__(self):
        return f"Split({self.inner!r}, keep={self.keep})"


# ---------------------------------------------------------------------------------------------
class Reshape(Bijection):
    """``Reshape(in_shape, out_shape)``: each sample of shape ``in_shape`` becomes ``out_shape``.

    A relabelling of the entries (C order): log|det| = 0; ``dim`` is the number of entries.
    """

    volume_preserving = True

    def __init__(self, in_shape, out_shape):
        self.in_shape = tuple(positive_int(s, "shape entry") for s in np.atleast_1d(in_shape))
        self.out_shape = tuple(positive_int(s, "shape entry") for s in np.atleast_1d(out_shape))
        if np.prod(self.in_shape) != np.prod(self.out_shape):
            raise ValueError(f"cannot reshape {self.in_shape} ({np.prod(self.in_shape)} entries) "
                             f"to {self.out_shape} ({np.prod(self.out_shape)} entries)")
        self.dim = int(np.prod(self.in_shape))

    @staticmethod
    def _check(a, shape, name):
        a = _as_real_array(a, name)
        if a.ndim != len(shape) + 1 or a.shape[1:] != shape:
            raise ValueError(f"{name} must have shape (n, {', '.join(map(str, shape))}); "
                             f"got {a.shape}")
        check_finite(a, name)
        return a

    def check_z(self, z):
        return self._check(z, self.in_shape, "z")

    def check_x(self, x):
        return self._check(x, self.out_shape, "x")

    def forward_cached(self, z):
        z = z.reshape((z.shape[0],) + self.out_shape)
        return z, np.zeros(z.shape[0]), None

    def inverse_cached(self, x):
        x = x.reshape((x.shape[0],) + self.in_shape)
        return x, np.zeros(x.shape[0]), None

    def forward_backward(self, cache, grad_x, grad_log_det):
        return grad_x.reshape((grad_x.shape[0],) + self.in_shape), {}

    def inverse_backward(self, cache, grad_z, grad_log_det):
        return grad_z.reshape((grad_z.shape[0],) + self.out_shape), {}

    def __repr__(self):
        return f"Reshape({self.in_shape}, {self.out_shape})"


class Flatten(Reshape):
    """``Flatten(shape)``: forward ``(n, *shape) -> (n, d)``, d = prod(shape)."""

    def __init__(self, shape):
        shape = tuple(np.atleast_1d(shape))
        super().__init__(shape, (int(np.prod(shape)),))

    def __repr__(self):
        return f"Flatten({self.in_shape})"


class Unflatten(Reshape):
    """``Unflatten(shape)``: forward ``(n, d) -> (n, *shape)``, d = prod(shape)."""

    def __init__(self, shape):
        shape = tuple(np.atleast_1d(shape))
        super().__init__((int(np.prod(shape)),), shape)

    def __repr__(self):
        return f"Unflatten({self.out_shape})"


def flat_view(image_bijection: Bijection, shape) -> Compose:
    """The image bijection seen on flat vectors ``(n, d)``, for ``Flow(StandardNormal(d), ...)``.

    ``Compose([Unflatten(shape), image_bijection, Flatten(shape)])``; ``shape = (c, h, w)``.
    """
    return Compose([Unflatten(shape), image_bijection, Flatten(shape)])


def image_view(flat_bijection: Bijection, shape) -> Compose:
    """A bijection of flat vectors ``(n, d)`` applied to images of ``shape = (c, h, w)``.

    ``Compose([Flatten(shape), flat_bijection, Unflatten(shape)])``: how an ``AffineCoupling``
    with an MLP conditioner becomes an image layer.
    """
    return Compose([Flatten(shape), flat_bijection, Unflatten(shape)])


# ---------------------------------------------------------------------------------------------
def _actnorms(b: Bijection):
    """Every ActNorm inside ``b`` (through Compose, Split and Inverse)."""
    if isinstance(b, ActNorm):
        yield b
    elif isinstance(b, Compose):
        for part in b.bijections:
            yield from _actnorms(part)
    elif isinstance(b, Split):
        yield from _actnorms(b.inner)
    elif isinstance(b, Inverse):
        yield from _actnorms(b.bijection)


class _AllOrNothing(Compose):
    """A ``Compose`` whose passes either succeed or leave every ActNorm as it was.

    The first pass through a model initialises its ActNorms one after the other; if a later
    layer then raises (an empty or one-example batch, a non-finite value), the ActNorms already
    initialised on that batch are reset, so the failed call changes nothing.
    """

    def _guarded(self, run, a):
        fresh = [layer for layer in _actnorms(self) if not layer.initialized]
        try:
            return run(a)
        except Exception:
            for layer in fresh:
                layer.reset()
            raise

    def forward_cached(self, z):
        return self._guarded(super().forward_cached, z)

    def inverse_cached(self, x):
        return self._guarded(super().inverse_cached, x)

    def forward_value(self, z):
        return self._guarded(super().forward_value, z)

    def inverse_value(self, x):
        return self._guarded(super().inverse_value, x)


def glow(shape, n_levels: int, depth: int, hidden=(64,), *, rng: np.random.Generator,
         clamp: float = 3.0) -> Compose:
    """A Glow-like multi-scale image bijection, written in the generative direction z -> x.

    Read in the normalising direction, each level squeezes, applies ``depth`` steps of
    (affine coupling with an MLP conditioner, ``InvConv1x1``, ``ActNorm``), then factors out
    half of the channels and hands the other half to the next level. As a list:

        level(c, h, w) = Compose([Squeeze(), Split(level(2c, h/2, w/2), keep=2c),
                                  step_depth, ..., step_1, Inverse(Squeeze())])

    (the innermost level has no ``Split``). Every level maps a ``(c, h, w)`` tensor to one of
    the same shape, so the whole model is a bijection of ``(n, c, h, w)`` images; wrap it with
    ``flat_view(model, shape)`` for a ``Flow`` with ``StandardNormal(c*h*w)``.
    """
    from .coupling import AffineCoupling, channel_mask

    c, h, w = (positive_int(s, "shape entry") for s in shape)
    n_levels, depth = positive_int(n_levels, "n_levels"), positive_int(depth, "depth")
    if h % 2 ** n_levels or w % 2 ** n_levels:
        raise ValueError(f"{n_levels} levels need h and w divisible by {2 ** n_levels}; "
                         f"got (h, w) = ({h}, {w})")
    sq = (4 * c, h // 2, w // 2)
    layers = [Squeeze()]
    if n_levels > 1:
        keep = sq[0] // 2
        inner = glow((keep, sq[1], sq[2]), n_levels - 1, depth, hidden, rng=rng, clamp=clamp)
        layers.append(Split(inner, keep=keep))
    steps = []
    for k in range(depth):
        coupling = AffineCoupling(channel_mask(sq, k % 2), hidden, rng=rng, clamp=clamp)
        steps.append([ActNorm(sq[0]), InvConv1x1(sq[0], rng=rng), image_view(coupling, sq)])
    for step in reversed(steps):
        layers.extend(step[::-1])
    layers.append(Inverse(Squeeze()))
    return _AllOrNothing(layers)
