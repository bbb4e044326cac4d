"""Input checks shared by every public entry point of nflib, and the numeric limits they use.

Public methods (``forward``, ``inverse``, ``log_prob``, ``sample``, the losses, ``fit`` and the
optimisers) check and convert their input once, here; the internal cached paths trust it. Each
check raises ``ValueError`` naming the argument and the problem (wrong shape, complex or
non-finite values, a count that is not a whole number) instead of letting numpy fail, or
produce NaN, deep inside a computation.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["LOG_2PI", "MAX_LOG_SCALE", "as_batch", "as_image_batch", "check_finite",
           "check_log_scale", "positive_int", "sample_count", "nonempty"]

#: log(2 pi), the constant of every Gaussian log-density
LOG_2PI = float(np.log(2.0 * np.pi))
#: beyond this |log-scale| the scale exp(log-scale) under- or overflows in float64
MAX_LOG_SCALE = 700.0


def _as_real_array(x, name: str) -> np.ndarray:
    """``x`` as a float64 array; complex, string or object input is refused, not cut or cast."""
    a = np.asarray(x)
    if np.iscomplexobj(a):
        raise ValueError(f"{name} must be real; got a complex array (its imaginary part "
                         "would be silently dropped)")
    if a.dtype.kind not in "fiub":
        raise ValueError(f"{name} must be an array of numbers; got dtype {a.dtype}")
    return a.astype(np.float64, copy=False)


def check_finite(x, name: str = "input") -> None:
    """Raise ``ValueError`` if ``x`` holds NaN or infinite values."""
    finite = np.isfinite(x)
    if not np.all(finite):
        bad = int(np.size(x) - np.count_nonzero(finite))
        raise ValueError(f"{name} contains {bad} non-finite value(s) (NaN or inf)")


def as_batch(x, d: int | None = None, name: str = "input") -> np.ndarray:
    """Validate ``x`` as a real float64 batch of shape ``(n, d)`` with finite entries.

    ``n = 0`` (an empty batch) is allowed here; losses that average over the batch refuse it
    with :func:`nonempty`.
    """
    x = _as_real_array(x, name)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n, d); got shape {x.shape}")
    if d is not None and x.shape[1] != d:
        raise ValueError(f"{name} must have {d} columns (shape (n, {d})); got shape {x.shape}")
    check_finite(x, name)
    return x


def as_image_batch(x, shape=None, name: str = "input") -> np.ndarray:
    """Validate ``x`` as a real float64 image batch ``(n, c, h, w)`` with finite entries.

    ``shape``, if given, is the required ``(c, h, w)``.
    """
    x = _as_real_array(x, name)
    if x.ndim != 4:
        raise ValueError(f"{name} must be a 4-D image batch of shape (n, c, h, w); "
                         f"got shape {x.shape}")
    if shape is not None and x.shape[1:] != tuple(shape):
        raise ValueError(f"{name} must have shape (n, {', '.join(map(str, shape))}); got {x.shape}")
    check_finite(x, name)
    return x


def nonempty(x: np.ndarray, name: str = "x") -> np.ndarray:
    """Refuse an empty batch where a mean over the batch is taken (a loss, a statistic)."""
    if x.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (0 rows): a mean over it is undefined")
    return x


def positive_int(v, what: str) -> int:
    """``v`` as an ``int`` if it is a whole number >= 1, else ``ValueError`` naming ``what``."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or int(v) != v or v < 1:
        raise ValueError(f"{what} must be a positive integer; got {v!r}")
    return int(v)


def sample_count(n, what: str = "n") -> int:
    """A number of samples: a whole number >= 0 (2.5 or -1 are refused, not truncated)."""
    if isinstance(n, bool) or not isinstance(n, numbers.Real) or int(n) != n or n < 0:
        raise ValueError(f"{what} must be a non-negative whole number of samples; got {n!r}")
    return int(n)


def check_log_scale(v, name: str) -> None:
    """A log-scale must be finite and within +-MAX_LOG_SCALE (else exp under- or overflows)."""
    check_finite(v, name)
    if np.any(np.abs(v) > MAX_LOG_SCALE):
        raise ValueError(f"{name} has entries beyond +-{MAX_LOG_SCALE:g}: the scale exp({name}) "
                         "under- or overflows, so the map is singular")
