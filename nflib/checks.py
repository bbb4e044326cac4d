"""Numerical checks of a bijection: round trip, log-determinant and hand-written gradients.

These are the checks the test suite runs on every bijection, and the ones a reader can run on a
layer of their own:

* ``numerical_jacobian``: central differences,
  J[:, a, b] ~ (f(z + eps e_b) - f(z - eps e_b))_a / (2 eps),
  whose error is O(eps^2) (truncation) plus O(machine eps / eps) (round-off);
* ``numerical_log_det``: log|det J| of that Jacobian via ``numpy.linalg.slogdet``;
* ``check_round_trip``: max |f^{-1}(f(z)) - z| and max |f(f^{-1}(x)) - x|;
* ``check_log_det``: the layer's log-determinants against the numerical ones;
* ``check_gradients``: central differences of a scalar loss against hand-written gradients,
  the maximum relative error for each array;
* ``check_backward``: ``check_gradients`` applied to one layer's backward pass, with the loss
  L = sum(G * output) + sum(g * log_det) for fixed random weights G and g.

Inputs may be batches of vectors ``(n, d)`` or of images ``(n, c, h, w)``: a sample is flattened
to a vector for the Jacobian.
"""

from __future__ import annotations

import numpy as np

__all__ = ["numerical_jacobian", "numerical_log_det", "check_round_trip", "check_log_det",
           "relative_error", "check_gradients", "check_backward"]


def numerical_jacobian(fn, z, eps: float = 1e-5) -> np.ndarray:
    """Per-sample Jacobian of ``fn`` at the batch ``z`` by central differences: (n, D_out, D_in).

    ``fn`` maps a batch to a batch and treats samples independently, so one perturbed batch gives
    one column of every sample's Jacobian: 2 D_in calls in all.
    """
    z = np.asarray(z, dtype=np.float64)
    n = z.shape[0]
    flat = z.reshape(n, -1)
    columns = []
    for j in range(flat.shape[1]):
        step = np.zeros_like(flat)
        step[:, j] = eps
        f_plus = np.asarray(fn((flat + step).reshape(z.shape))).reshape(n, -1)
        f_minus = np.asarray(fn((flat - step).reshape(z.shape))).reshape(n, -1)
        columns.append((f_plus - f_minus) / (2.0 * eps))
    return np.stack(columns, axis=2)


def numerical_log_det(fn, z, eps: float = 1e-5) -> np.ndarray:
    """log|det J| per sample, J the central-difference Jacobian of ``fn`` at ``z``; shape (n,)."""
    return np.linalg.slogdet(numerical_jacobian(fn, z, eps))[1]


def check_round_trip(bijection, z, x=None) -> float:
    """Largest error of the two round trips: max |f^{-1}(f(z)) - z| and max |f(f^{-1}(x)) - x|.

    ``x`` (points in data space) defaults to ``z`` itself, which suits maps from R^d to R^d.
    """
    z = np.asarray(z, dtype=np.float64)
    x = z if x is None else np.asarray(x, dtype=np.float64)
    z_back = bijection.inverse(bijection.forward(z)[0])[0]
    x_back = bijection.forward(bijection.inverse(x)[0])[0]
    return float(max(np.max(np.abs(z_back - z)), np.max(np.abs(x_back - x))))


def check_log_det(bijection, z, eps: float = 1e-5) -> dict:
    """Compare the layer's log-determinants with numerical ones at ``z`` and at ``x = f(z)``.

    Returns the largest absolute errors:
    ``"forward"``: forward log-det vs log|det| of the numerical Jacobian of f at z;
    ``"inverse"``: inverse log-det vs log|det| of the numerical Jacobian of f^{-1} at x;
    ``"consistency"``: |inverse log-det at x + forward log-det at z| (should be 0).
    """
    z = np.asarray(z, dtype=np.float64)
    x, ld_forward = bijection.forward(z)
    _, ld_inverse = bijection.inverse(x)
    num_forward = numerical_log_det(lambda v: bijection.forward(v)[0], z, eps)
    num_inverse = numerical_log_det(lambda v: bijection.inverse(v)[0], x, eps)
    return {"forward": float(np.max(np.abs(ld_forward - num_forward))),
            "inverse": float(np.max(np.abs(ld_inverse - num_inverse))),
            "consistency": float(np.max(np.abs(ld_inverse + ld_forward)))}


def relative_error(analytic, numeric, floor: float = 1e-12) -> float:
    """max |a - n| / max(max |a|, max |n|, floor): one number per array, robust to tiny entries.

    ``floor`` is the size below which a gradient counts as zero: ``check_gradients`` sets it from
    the finite differences' round-off, so an identically zero gradient whose numerical estimate
    is round-off noise has an error near 0, not near 1."""
    analytic, numeric = np.asarray(analytic), np.asarray(numeric)
    scale = max(float(np.max(np.abs(analytic), initial=0.0)),
                float(np.max(np.abs(numeric), initial=0.0)), floor)
    return float(np.max(np.abs(analytic - numeric), initial=0.0)) / scale


def check_gradients(loss, arrays: dict, grads: dict, eps: float = 1e-6) -> dict:
    """Central differences of ``loss()`` against hand-written gradients; name -> relative error.

    ``arrays`` maps names to the live arrays ``loss()`` reads (parameters, or an input array the
    loss closes over); each entry is nudged by +-eps in place and restored. ``grads[name]`` is
    the hand-written dL/d(array). The error per name is
    max_i |g_i - g~_i| / max(max_i |g_i|, max_i |g~_i|, floor), g~ the central difference.

    A central difference carries round-off of about u |L| / eps (u the unit round-off), so a
    gradient below ``floor = 1e6 u max|L| / eps`` (2e-4 for |L| ~ 1 and eps = 1e-6) is
    compared absolutely against ``floor``: an identically zero gradient then scores about 1e-6
    or less, while a wrong one still scores far above the tests' tolerance.
    """
    missing = set(arrays) - set(grads)
    if missing:
        raise ValueError(f"no hand-written gradient for {sorted(missing)}")
    numerics, loss_scale = {}, 0.0
    for name, arr in arrays.items():
        if np.shape(grads[name]) != arr.shape:
            raise ValueError(f"gradient of {name!r} has shape {np.shape(grads[name])}, "
                             f"the array has shape {arr.shape}")
        numeric = np.empty(arr.shape)
        flat_numeric = numeric.reshape(-1)
        for i in range(arr.size):
            idx = np.unravel_index(i, arr.shape)
            old = arr[idx]
            arr[idx] = old + eps
            plus = loss()
            arr[idx] = old - eps
            minus = loss()
            arr[idx] = old
            flat_numeric[i] = (plus - minus) / (2.0 * eps)
            loss_scale = max(loss_scale, abs(plus), abs(minus))
        numerics[name] = numeric
    floor = 1e6 * np.finfo(np.float64).eps * max(loss_scale, np.finfo(np.float64).tiny) / eps
    return {name: relative_error(grads[name], numerics[name], floor) for name in arrays}


def check_backward(bijection, inputs, direction: str = "forward", *, rng: np.random.Generator,
                   eps: float = 1e-6) -> dict:
    """Check one layer's hand-written backward pass for every parameter and for the input.

    Uses L = sum(G * out) + sum(g * log_det) with fixed random G, g, where
    ``(out, log_det)`` is ``bijection.forward(inputs)`` (direction ``"forward"``) or
    ``bijection.inverse(inputs)`` (``"inverse"``). Returns name -> relative error, the input
    under the name ``"input"``.
    """
    if direction not in ("forward", "inverse"):
        raise ValueError(f"direction must be 'forward' or 'inverse'; got {direction!r}")
    inputs = np.array(inputs, dtype=np.float64)
    run = bijection.forward_cached if direction == "forward" else bijection.inverse_cached
    backward = bijection.forward_backward if direction == "forward" else bijection.inverse_backward
    out, log_det, cache = run(inputs)
    g_out = rng.standard_normal(out.shape)
    g_log_det = rng.standard_normal(log_det.shape)

    def loss():
        out, log_det, _ = run(inputs)
        return float(np.sum(g_out * out) + np.sum(g_log_det * log_det))

    g_in, grads = backward(cache, g_out, g_log_det)
    params = bijection.parameters()
    if set(grads) != set(params):
        raise ValueError(f"backward returned gradients for {sorted(grads)}, "
                         f"the parameters are {sorted(params)}")
    return check_gradients(loss, {**params, "input": inputs}, {**grads, "input": g_in}, eps)
