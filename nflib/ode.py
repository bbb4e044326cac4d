"""Continuous normalizing flows: a vector field, a fixed-step ODE integrator and the trace.

A continuous flow moves a point along a time-dependent vector field, dz/dt = f(t, z), from
t = 0 (base) to t = 1 (data). Its log-density obeys the instantaneous change of variables

    d log p(z(t), t) / dt = -tr( df/dz (t, z(t)) ),

the limit of the discrete rule log p_{k+1} = log p_k - log|det(I + h df/dz)| as the step h -> 0,
because log det(I + h J) = h tr J + O(h^2). Equivalently (Liouville's formula) the map
z(t0) -> z(t1) is a bijection with log|det| = int_{t0}^{t1} tr(df/dz) dt: ``flow_map`` integrates
the state and this integral together, so

    log p_1(x) = log p_0(z(0)) + int_1^0 tr(df/dz) dt      (integrating x backwards to time 0).

Integrators (fixed steps, so results do not depend on the machine): ``euler`` and the classical
fourth-order Runge-Kutta ``rk4``,

    k1 = f(t, y),  k2 = f(t + h/2, y + h k1/2),  k3 = f(t + h/2, y + h k2/2),
    k4 = f(t + h, y + h k3),   y <- y + h (k1 + 2 k2 + 2 k3 + k4) / 6   (global error O(h^4)).

Traces: ``exact_trace`` sums the diagonal of the Jacobian (d Jacobian-vector products: fine for
small d); ``hutchinson_trace`` is Hutchinson's unbiased estimator tr J = E[eps^T J eps] for probes
with E[eps eps^T] = I, one Jacobian-vector product per probe. With S = (J + J^T)/2 its variance is

    2 ||S||_F^2                      for Gaussian probes,
    2 (||S||_F^2 - sum_i S_ii^2)     for Rademacher probes (eps_i = +-1),

(``hutchinson_variance``). A vector field is an object with ``__call__(t, z) -> (n, d)``,
``jvp(t, z, v) -> (n, d)`` (J v, or (n, m, d) for probes (n, m, d)) and
``jacobian(t, z) -> (n, d, d)``:
``LinearField`` (f = A z + b, exact answers in closed form) and ``MLPField`` (an MLP of (z, t),
the velocity network of flow matching).
"""

from __future__ import annotations

import numpy as np

from .mlp import MLP
from .validation import as_batch, check_finite, positive_int

__all__ = ["LinearField", "MLPField", "euler", "rk4", "exact_trace", "hutchinson_trace",
           "hutchinson_variance", "probes", "flow_map", "cnf_log_prob", "cnf_sample"]


def _time(t, name="t"):
    try:
        t = float(t)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number; got {t!r}") from None
    if not np.isfinite(t):
        raise ValueError(f"{name} must be finite; got {t!r}")
    return t


class LinearField:
    """``LinearField(A, b=None)``: f(t, z) = A z + b (the same at every time), Jacobian A.

    The flow is z(t) = e^{tA} z(0) (+ the b terms) and log|det| over [0, t] is t tr(A) exactly.
    """

    def __init__(self, A, b=None):
        A = np.asarray(A, dtype=np.float64)
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise ValueError(f"A must be a square matrix; got shape {A.shape}")
        check_finite(A, "A")
        self.A, self.dim = A, A.shape[0]
        self.b = np.zeros(self.dim) if b is None else np.asarray(b, dtype=np.float64)
        if self.b.shape != (self.dim,):
            raise ValueError(f"b must have shape ({self.dim},); got {self.b.shape}")
        check_finite(self.b, "b")

    def __call__(self, t, z):
        return z @ self.A.T + self.b

    def jvp(self, t, z, v):
        return v @ self.A.T

    def jacobian(self, t, z):
        return np.broadcast_to(self.A, (z.shape[0], self.dim, self.dim)).copy()


class MLPField:
    """``MLPField(d, hidden=(64, 64), *, rng, activation="tanh")``: f(t, z) = MLP([z, t]).

    The MLP (``nflib.mlp.MLP``, last layer zero at start) takes the d coordinates and the time.
    Jacobian-vector products are computed forward through the network: a tangent v is carried
    as T_0 = v W_0[:d], T_k = (act'(h_k) * T_{k-1}) W_k, with act' = 1 - h^2 for tanh.
    """

    def __init__(self, d: int, hidden=(64, 64), *, rng: np.random.Generator,
                 activation: str = "tanh"):
        self.dim = positive_int(d, "d")
        self.net = MLP(self.dim + 1, self.dim, hidden, rng=rng, activation=activation)

    def parameters(self):
        return self.net.parameters()

    @staticmethod
    def _inputs(t, z):
        """[z, t] with t a scalar or one time per row."""
        inp = np.empty((z.shape[0], z.shape[1] + 1))
        inp[:, :-1] = z
        inp[:, -1] = t if np.ndim(t) == 0 else np.ravel(t)
        return inp

    def forward_cached(self, t, z):
        return self.net.forward_cached(self._inputs(t, z))

    def backward(self, cache, grad_out):
        """dL/d[z, t] and the parameter gradients, from dL/df."""
        return self.net.backward(cache, grad_out)

    def __call__(self, t, z):
        return self.net.forward_cached(self._inputs(t, z))[0]

    def _tangents(self, cache, v):
        acts, weights = cache
        d = self.dim
        tangent = v @ weights[0][:d]
        for k in range(1, len(weights)):
            h = acts[k]
            slope = 1.0 - h * h if self.net.activation == "tanh" else (h > 0).astype(float)
            tangent = (slope[:, None, :] if tangent.ndim == 3 else slope) * tangent
            tangent = tangent @ weights[k]
        return tangent

    def jvp(self, t, z, v):
        """J v for v of shape (n, d), or for m probes per row, shape (n, m, d)."""
        _, cache = self.net.forward_cached(self._inputs(t, z))
        return self._tangents(cache, v)

    def jacobian(self, t, z):
        """(n, d, d) with [i, a, b] = d f_a / d z_b at row i."""
        _, cache = self.net.forward_cached(self._inputs(t, z))
        eye = np.broadcast_to(np.eye(self.dim), (z.shape[0], self.dim, self.dim))
        return np.swapaxes(self._tangents(cache, eye), 1, 2)

    def __repr__(self):
        return f"MLPField({self.dim}, net={self.net!r})"


# ---- integrators -----------------------------------------------------------------------------

def _steps(t0, t1, n_steps):
    t0, t1 = _time(t0, "t0"), _time(t1, "t1")
    return t0, (t1 - t0) / positive_int(n_steps, "n_steps"), int(n_steps)


def euler(fun, y0, t0, t1, n_steps: int):
    """y(t1) for dy/dt = fun(t, y) by ``n_steps`` explicit Euler steps y <- y + h fun(t, y)."""
    t, h, n = _steps(t0, t1, n_steps)
    y = np.array(y0, dtype=np.float64)
    check_finite(y, "y0")
    for k in range(n):
        y = y + h * fun(t + k * h, y)
    return y


def rk4(fun, y0, t0, t1, n_steps: int, path: bool = False):
    """y(t1) for dy/dt = fun(t, y) by ``n_steps`` classical Runge-Kutta steps (module docstring).

    ``y0`` is any float array (``fun`` returns the same shape); ``t1 < t0`` integrates backwards.
    With ``path=True`` returns the list of the n_steps + 1 states instead.
    """
    t, h, n = _steps(t0, t1, n_steps)
    y = np.array(y0, dtype=np.float64)
    check_finite(y, "y0")
    states = [y] if path else None
    for k in range(n):
        s = t + k * h
        k1 = fun(s, y)
        k2 = fun(s + 0.5 * h, y + 0.5 * h * k1)
        k3 = fun(s + 0.5 * h, y + 0.5 * h * k2)
        k4 = fun(s + h, y + h * k3)
        y = y + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        if path:
            states.append(y)
    return states if path else y


# ---- traces ----------------------------------------------------------------------------------

def exact_trace(field, t, z):
    """tr(df/dz) at every row of z, shape (n,), from the full Jacobian (d JVPs)."""
    return np.trace(field.jacobian(t, z), axis1=1, axis2=2)


def probes(n: int, d: int, rng: np.random.Generator, m: int = 1, kind: str = "rademacher"):
    """(n, m, d) probe vectors with E[eps eps^T] = I: Rademacher (+-1) or Gaussian."""
    n, d, m = positive_int(n, "n"), positive_int(d, "d"), positive_int(m, "m")
    if kind == "rademacher":
        return rng.choice([-1.0, 1.0], size=(n, m, d))
    if kind == "gaussian":
        return rng.standard_normal((n, m, d))
    raise ValueError(f"probe kind must be 'rademacher' or 'gaussian'; got {kind!r}")


def hutchinson_trace(field, t, z, eps):
    """Hutchinson's estimate of tr(df/dz) per row: mean over probes of eps^T J eps.

    ``eps`` is (n, d) (one probe per row) or (n, m, d) (m probes per row, averaged).
    """
    eps = np.asarray(eps, dtype=np.float64)
    if eps.ndim == 2:
        eps = eps[:, None, :]
    if eps.ndim != 3 or eps.shape[0] != z.shape[0] or eps.shape[2] != z.shape[1]:
        raise ValueError(f"eps must have shape (n, d) or (n, m, d) with (n, d) = {z.shape}; "
                         f"got {eps.shape}")
    jv = field.jvp(t, z, eps)
    return np.mean(np.sum(eps * jv, axis=2), axis=1)


def hutchinson_variance(jacobian, kind: str = "rademacher"):
    """Variance of one-probe Hutchinson estimates of tr J, for J of shape (d, d) or (n, d, d)."""
    J = np.asarray(jacobian, dtype=np.float64)
    S = 0.5 * (J + np.swapaxes(J, -1, -2))
    frob = np.sum(S * S, axis=(-2, -1))
    if kind == "gaussian":
        return 2.0 * frob
    if kind == "rademacher":
        return 2.0 * (frob - np.sum(np.diagonal(S, axis1=-2, axis2=-1) ** 2, axis=-1))
    raise ValueError(f"probe kind must be 'rademacher' or 'gaussian'; got {kind!r}")


# ---- the continuous flow ---------------------------------------------------------------------

def flow_map(field, z, t0: float = 0.0, t1: float = 1.0, n_steps: int = 20, eps=None):
    """Integrate dz/dt = field(t, z) from t0 to t1 with RK4: ``(z(t1), log_det)``.

    ``log_det = int_{t0}^{t1} tr(df/dz) dt`` (shape (n,)) is log|det dz(t1)/dz(t0)|, integrated
    alongside the state with the exact trace, or with Hutchinson's estimator when probes ``eps``
    ((n, d) or (n, m, d), held fixed along the path) are given.
    """
    z = as_batch(z, getattr(field, "dim", None), "z")
    n, d = z.shape
    if eps is None:
        def trace(t, y):
            return exact_trace(field, t, y)
    else:
        eps = np.asarray(eps, dtype=np.float64)

        def trace(t, y):
            return hutchinson_trace(field, t, y, eps)

    def augmented(t, state):
        y = state[:, :d]
        out = np.empty_like(state)
        out[:, :d] = field(t, y)
        out[:, d] = trace(t, y)
        return out

    state = np.concatenate([z, np.zeros((n, 1))], axis=1)
    state = rk4(augmented, state, t0, t1, n_steps)
    return state[:, :d], state[:, d]


def cnf_log_prob(field, x, base, n_steps: int = 20, eps=None):
    """log p_1(x) = log p_0(z(0)) + int_1^0 tr(df/dz) dt, integrating x from t = 1 back to 0."""
    z0, log_det = flow_map(field, x, 1.0, 0.0, n_steps, eps)
    return base.log_prob(z0) + log_det


def cnf_sample(field, base, n: int, rng: np.random.Generator, n_steps: int = 20):
    """Samples x = z(1) from z(0) ~ base, and their log-density log p_0(z0) - int_0^1 tr dt."""
    z0 = base.sample(n, rng)
    x, log_det = flow_map(field, z0, 0.0, 1.0, n_steps)
    return x, base.log_prob(z0) - log_det
