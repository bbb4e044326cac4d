"""The bijection protocol, composition, inversion, and input validation.

Conventions (the same in every chapter):

* A flow is a generative map ``f: z -> x``; ``z`` comes from the base distribution.
* Arrays are ``(n, d)``; log-determinants are per sample, shape ``(n,)``.
* ``forward(z) -> (x, log|det df/dz|)`` and ``inverse(x) -> (z, log|det df^{-1}/dx|)``,
  so ``inverse(x)[1] == -forward(z)[1]`` when ``x = f(z)``.

Input is checked once, at the edge: ``forward`` and ``inverse`` validate their argument with
``check_z`` / ``check_x`` (shape, real, finite) and then call the cached path, which trusts it.
A composition checks only at its own edge, not once per layer.

Gradients are written by hand in the style of forward/backward pairs: ``forward_cached`` (or
``inverse_cached``) returns the outputs plus a cache, and ``forward_backward`` (or
``inverse_backward``) takes the cache and the upstream gradients ``dL/d(output)`` (shape
``(n, d)``) and ``dL/d(log_det)`` (shape ``(n,)``) and returns ``dL/d(input)`` and a dict of
parameter gradients with the same keys and shapes as ``parameters()``.
"""

from __future__ import annotations

from .validation import as_batch

__all__ = ["Bijection", "Compose", "Inverse", "prefixed"]


def prefixed(groups: dict) -> dict:
    """Flatten ``{prefix: {name: array}}`` to ``{"prefix.name": array}``: how a container names
    the parameters (and gradients) of its parts, e.g. ``"0.log_scale"`` for layer 0."""
    return {f"{prefix}.{name}": v for prefix, group in groups.items() for name, v in group.items()}


class Layer:
    """What every layer shares, conditional (``nflib.conditional``) or not: no parameters and no
    passes until a subclass implements them, and ``trained_directions`` read off the class.

    The cached passes take the layer's input (and, for a conditional layer, its context) and
    return ``(output, log_det, cache)``; the backward passes take ``(cache, grad_output,
    grad_log_det)``. A subclass implements those it supports; calling another one raises
    ``NotImplementedError`` naming the class.
    """

    @property
    def trained_directions(self) -> tuple:
        """The directions with a hand-written gradient: ``"forward"`` if the class implements
        ``forward_backward``, ``"inverse"`` if it implements ``inverse_backward``."""
        return tuple(direction for direction in ("forward", "inverse")
                     if getattr(type(self), f"{direction}_backward")
                     is not getattr(Layer, f"{direction}_backward"))

    def parameters(self) -> dict:
        """Name -> live parameter array (the optimiser updates these arrays in place)."""
        return {}

    def forward_cached(self, *inputs):
        """The forward pass on validated input: ``(x, log|det df/dz|, cache)``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def inverse_cached(self, *inputs):
        """The inverse pass on validated input: ``(z, log|det df^{-1}/dx|, cache)``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement inverse")

    def forward_backward(self, cache, grad_x, grad_log_det):
        """Given dL/dx ``(n, d)`` and dL/dlog_det ``(n,)``, return (dL/dz, {name: dL/dparam})
        (a conditional layer also returns dL/dc). A cache serves one backward pass (a
        composition releases its parts' caches as it goes)."""
        raise NotImplementedError(
            f"{type(self).__name__} has no gradient for its forward direction")

    def inverse_backward(self, cache, grad_z, grad_log_det):
        """Given dL/dz ``(n, d)`` and dL/dlog_det ``(n,)``, return (dL/dx, {name: dL/dparam})
        (a conditional layer also returns dL/dc)."""
        raise NotImplementedError(
            f"{type(self).__name__} has no gradient for its inverse direction")


class Bijection(Layer):
    """An invertible map ``f`` with a tractable log-determinant: the library's extension point.

    A new layer subclasses ``Bijection`` and implements the **unchecked** paths, which trust
    their input (already validated by ``forward``/``inverse`` or by an enclosing ``Compose``):

    * ``forward_cached(z) -> (x, log|det df/dz|, cache)`` and
      ``inverse_cached(x) -> (z, log|det df^{-1}/dx|, cache)``: the layer's actual computation;
    * for each direction it is trained in, ``forward_backward(cache, grad_x, grad_log_det)``
      and/or ``inverse_backward(cache, grad_z, grad_log_det)`` returning
      ``(dL/d input, {name: dL/d param})``; ``trained_directions`` is derived from which of the
      two the class implements;
    * ``parameters()`` returning the live parameter arrays (optimisers update them in place);
    * ``check_z``/``check_x`` if its inputs need more than an ``(n, dim)`` float64 batch;
    * the class attribute ``volume_preserving = True`` if ``log|det|`` is 0 for every input and
      every parameter value (a generic test holds the layer to what it declares).

    It does not override ``forward`` or ``inverse``: they validate once and call the cached
    path, and ``Compose`` and ``Flow`` call the cached paths directly, so an override would be
    silently bypassed. Defining one raises ``TypeError`` when the class is created. The passes
    without a gradient, ``forward_value``/``inverse_value``, come from the cached paths.
    """

    #: True when |det df/dz| = 1 everywhere: log_det is identically 0 (no density change)
    volume_preserving: bool = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in ("forward", "inverse"):
            if name in cls.__dict__:
                raise TypeError(
                    f"{cls.__name__} defines {name}(), which Compose and Flow bypass: implement "
                    f"{name}_cached() instead ({name}() validates its input and calls it)")

    #: dimension of a sample, or None if any width is accepted
    dim: int | None = None

    # ---- the public contract -------------------------------------------------------
    def forward(self, z):
        """Return ``(x, log_det)`` with ``x = f(z)`` and ``log_det = log|det df/dz|``."""
        x, log_det, _ = self.forward_cached(self.check_z(z))
        return x, log_det

    def inverse(self, x):
        """Return ``(z, log_det)`` with ``z = f^{-1}(x)`` and ``log_det = log|det df^{-1}/dx|``."""
        z, log_det, _ = self.inverse_cached(self.check_x(x))
        return z, log_det

    def check_z(self, z):
        """Validate an input of ``forward``: a real, finite ``(n, dim)`` float64 batch."""
        return as_batch(z, self.dim, "z")

    def check_x(self, x):
        """Validate an input of ``inverse``: a real, finite ``(n, dim)`` float64 batch."""
        return as_batch(x, self.dim, "x")

    # ---- hand-written gradients ----------------------------------------------------
    def forward_value(self, z):
        """``(x, log_det)`` of the unchecked forward pass when no gradient follows: no cache is
        returned (a composition releases each layer's work arrays before the next layer runs)."""
        x, log_det, _ = self.forward_cached(z)
        return x, log_det

    def inverse_value(self, x):
        """``(z, log_det)`` of the unchecked inverse pass when no gradient follows."""
        z, log_det, _ = self.inverse_cached(x)
        return z, log_det

    def __repr__(self):
        return f"{type(self).__name__}()"


class Compose(Bijection):
    """``f = f_K o ... o f_1``: ``Compose([b1, b2, ...])`` applies ``b1`` first on forward.

    log|det df/dz| = sum_k log|det df_k/dz_{k-1}| (the chain rule for determinants).
    Parameters are named ``"<k>.<name>"`` with ``k`` the position of the layer.
    """

    def __init__(self, bijections):
        self.bijections = list(bijections)
        if not self.bijections:
            raise ValueError("Compose needs at least one bijection")
        for k, b in enumerate(self.bijections):
            if not isinstance(b, Bijection):
                raise ValueError(f"layer {k} of Compose is a {type(b).__name__}, not a Bijection")
        dims = [(k, b.dim) for k, b in enumerate(self.bijections) if b.dim is not None]
        for (j, dj), (k, dk) in zip(dims, dims[1:]):
            if dj != dk:
                raise ValueError(f"Compose: layer {j} acts on dimension {dj} but layer {k} "
                                 f"on dimension {dk}")
        self.dim = dims[0][1] if dims else None

    @property
    def volume_preserving(self) -> bool:
        return all(b.volume_preserving for b in self.bijections)

    @property
    def trained_directions(self) -> tuple:
        """The directions every layer has a gradient for."""
        return tuple(d for d in ("forward", "inverse")
                     if all(d in b.trained_directions for b in self.bijections))

    def __len__(self):
        return len(self.bijections)

    def __getitem__(self, k):
        return self.bijections[k]

    def check_z(self, z):
        return self.bijections[0].check_z(z)

    def check_x(self, x):
        return self.bijections[-1].check_x(x)

    def parameters(self):
        return prefixed({k: b.parameters() for k, b in enumerate(self.bijections)})

    def forward_cached(self, z):
        caches, total = [], 0.0
        for b in self.bijections:
            z, log_det, cache = b.forward_cached(z)
            caches.append(cache)
            total = total + log_det
        return z, total, caches

    def inverse_cached(self, x):
        caches, total = [], 0.0
        for b in reversed(self.bijections):
            x, log_det, cache = b.inverse_cached(x)
            caches.append(cache)
            total = total + log_det
        return x, total, caches[::-1]

    # The passes below release each layer's work arrays (its cache) as soon as they are done
    # with it, so the next layer reuses them while they are still in the processor's cache
    # (nflib.workspace); the operations and the sums are those of the cached paths above.

    def forward_value(self, z):
        total = 0.0
        for b in self.bijections:
            z, log_det = b.forward_value(z)
            total = total + log_det
        return z, total

    def inverse_value(self, x):
        total = 0.0
        for b in reversed(self.bijections):
            x, log_det = b.inverse_value(x)
            total = total + log_det
        return x, total

    def forward_backward(self, caches, grad_x, grad_log_det):
        grads = {}
        for k in reversed(range(len(self.bijections))):
            cache, caches[k] = caches[k], None
            grad_x, g = self.bijections[k].forward_backward(cache, grad_x, grad_log_det)
            del cache
            grads.update(prefixed({k: g}))
        return grad_x, grads

    def inverse_backward(self, caches, grad_z, grad_log_det):
        grads = {}
        for k in range(len(self.bijections)):
            cache, caches[k] = caches[k], None
            grad_z, g = self.bijections[k].inverse_backward(cache, grad_z, grad_log_det)
            del cache
            grads.update(prefixed({k: g}))
        return grad_z, grads

    def __repr__(self):
        return "Compose([" + ", ".join(map(repr, self.bijections)) + "])"


class Inverse(Bijection):
    """The inverse of a bijection: ``Inverse(b).forward == b.inverse`` and vice versa.

    Useful to train a map in the other direction (an IAF is the inverse of a MAF).
    """

    def __init__(self, bijection: Bijection):
        self.bijection = bijection
        self.dim = bijection.dim

    @property
    def volume_preserving(self) -> bool:
        return self.bijection.volume_preserving

    @property
    def trained_directions(self) -> tuple:
        """The wrapped layer's directions, swapped (its inverse is this forward)."""
        swap = {"forward": "inverse", "inverse": "forward"}
        return tuple(d for d in ("forward", "inverse")
                     if swap[d] in self.bijection.trained_directions)

    def parameters(self):
        return self.bijection.parameters()

    def check_z(self, z):
        return self.bijection.check_x(z)

    def check_x(self, x):
        return self.bijection.check_z(x)

    def forward_cached(self, z):
        return self.bijection.inverse_cached(z)

    def inverse_cached(self, x):
        return self.bijection.forward_cached(x)

    def forward_backward(self, cache, grad_x, grad_log_det):
        return self.bijection.inverse_backward(cache, grad_x, grad_log_det)

    def inverse_backward(self, cache, grad_z, grad_log_det):
        return self.bijection.forward_backward(cache, grad_z, grad_log_det)

    def __repr__(self):
        return f"Inverse({self.bijection!r})"
