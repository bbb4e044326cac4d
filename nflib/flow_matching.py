"""Conditional flow matching with straight paths (Lipman et al. 2023; Liu et al. 2023).

Instead of maximising likelihood through an ODE solver, regress a velocity field on the velocity
of simple paths between noise and data. Draw x0 ~ N(0, I), x1 from the data and t ~ U(0, 1); the
straight path x_t = (1 - t) x0 + t x1 moves with velocity u = x1 - x0. The loss

    L(theta) = E || v_theta(t, x_t) - (x1 - x0) ||^2

has the same gradient as the regression on the marginal velocity u_t(x) = E[x1 - x0 | x_t = x],
whose flow carries N(0, I) at t = 0 to the data at t = 1. Its gradient is plain backpropagation:
dL/dv = 2 (v - u) / n through ``MLPField`` (``nflib.mlp.MLP``'s hand-written backward).
Samples come from integrating dz/dt = v(t, z) (``nflib.ode.flow_map``); the log-likelihood from
the trace integral (``nflib.ode.cnf_log_prob``).
"""

from __future__ import annotations

import numpy as np

from .ode import MLPField
from .train import Adam, cosine_lr
from .validation import as_batch, nonempty, positive_int

__all__ = ["flow_matching_loss_and_grad", "fit_flow_matching"]


def flow_matching_loss_and_grad(field: MLPField, x1, rng: np.random.Generator, x0=None,
                                t=None):
    """The conditional flow-matching loss on a batch ``x1`` and its parameter gradients.

    ``x0`` (noise, default N(0, I) draws) and ``t`` (times, default U(0, 1)) may be given to fix
    the Monte Carlo draw. Returns ``(loss, grads)``, ``grads`` keyed like ``field.parameters()``.
    """
    x1 = nonempty(as_batch(x1, field.dim, "x1"), "x1")
    n = x1.shape[0]
    x0 = rng.standard_normal(x1.shape) if x0 is None else as_batch(x0, field.dim, "x0")
    t = rng.uniform(0.0, 1.0, n) if t is None else np.asarray(t, dtype=np.float64).reshape(n)
    xt = (1.0 - t)[:, None] * x0 + t[:, None] * x1
    v, cache = field.forward_cached(t, xt)
    resid = v - (x1 - x0)
    loss = float(np.mean(np.sum(resid * resid, axis=1)))
    _, grads = field.backward(cache, (2.0 / n) * resid)
    return loss, grads


def fit_flow_matching(field: MLPField, x, *, rng: np.random.Generator, n_steps: int,
                      batch_size: int = 256, lr: float = 2e-3, schedule: str | None = "cosine",
                      x0=None):
    """Train ``field`` by flow matching with Adam for ``n_steps`` mini-batches of ``x``.

    ``schedule="cosine"`` decays the learning rate to 0 over the steps. ``x0``, if given, is
    the noise paired with ``x`` row by row (a batch takes the same rows of both: the reflow step
    of rectified flow, with x = ODE(x0) of a trained field); by default every batch draws fresh
    N(0, I) noise. Returns the loss of every step (a list).
    """
    x = nonempty(as_batch(x, field.dim, "x"), "x")
    if x0 is not None:
        x0 = as_batch(x0, field.dim, "x0")
        if x0.shape != x.shape:
            raise ValueError(f"x0 must pair with x row by row: shapes {x0.shape} and {x.shape}")
    n_steps = positive_int(n_steps, "n_steps")
    batch_size = positive_int(batch_size, "batch_size")
    if schedule not in (None, "cosine"):
        raise ValueError(f"schedule must be None or 'cosine'; got {schedule!r}")
    opt = Adam(field.parameters(), lr=lr)
    losses = []
    for step in range(n_steps):
        if schedule == "cosine":
            opt.lr = cosine_lr(lr, step / n_steps)
        rows = rng.integers(0, x.shape[0], batch_size)
        loss, grads = flow_matching_loss_and_grad(field, x[rows], rng,
                                                  x0=None if x0 is None else x0[rows])
        opt.step(grads)
        losses.append(loss)
    return losses
