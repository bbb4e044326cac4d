"""Training loops: Adam on the live parameter arrays, maximum likelihood and reverse KL.

* ``Adam(params, lr)``: ``step(grads)`` updates the arrays of ``flow.parameters()`` in place.
* ``fit(flow, x, rng=...)``: maximum likelihood on mini-batches of ``x``, optionally with a
  validation split, early stopping (the best parameters are restored), gradient clipping and a
  cosine learning-rate decay. Returns a ``History`` with the loss of every step.
* ``fit_reverse_kl(flow, log_target, grad_log_target, rng=...)``: fits the flow to an
  unnormalised target by minimising KL(q || p) - log Z on fresh base samples.

A progress display (one line, updated in place; in a notebook an updating output) appears only
with ``progress=True``; by default training is silent.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np

from .flow import Flow, nll_and_grad, reverse_kl_and_grad
from .mlp import keep_freed_memory
from .validation import as_batch, nonempty

__all__ = ["Adam", "History", "fit", "fit_reverse_kl", "clip_gradients"]


class Adam:
    """``Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8)``, updating ``params`` in place.

    With g the gradient at step t (counting from 1):

        m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2,
        p <- p - lr * m_hat / (sqrt(v_hat) + eps),   m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t)

    computed as p <- p - lr_t m / (sqrt(v) + eps_t) with lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)
    and eps_t = eps sqrt(1 - b2^t), which is the same update with fewer operations. The moments
    of all parameters live in one flat vector, so a step costs a few array operations however
    many parameter arrays there are. ``params`` is a dict name -> live array
    (``flow.parameters()``); ``step(grads)`` needs a gradient of the same shape for every name.
    ``lr`` may be changed between steps.

    ``weight_decay`` (AdamW, decoupled): before the update every parameter shrinks,
    p <- p (1 - lr * weight_decay), a pull towards zero that regularises a model fitted to
    little data.
    """

    def __init__(self, params: dict, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        if not params:
            raise ValueError("Adam needs at least one parameter array")
        for name, p in params.items():
            if not isinstance(p, np.ndarray) or p.dtype != np.float64:
                raise ValueError(f"parameter {name!r} must be a float64 numpy array")
        b1, b2 = betas
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"betas must lie in [0, 1); got {betas!r}")
        if not eps > 0:
            raise ValueError(f"eps must be positive; got {eps!r}")
        self.params = params
        self.lr = _positive(lr, "learning rate")
        self.b1, self.b2, self.eps = float(b1), float(b2), float(eps)
        if not (np.isfinite(weight_decay) and weight_decay >= 0):
            raise ValueError(f"weight_decay must be a non-negative number; got {weight_decay!r}")
        self.weight_decay = float(weight_decay)
        self.t = 0
        size = sum(p.size for p in params.values())
        self.m, self.v = np.zeros(size), np.zeros(size)
        # the gradients are gathered into one flat buffer and the update is computed into
        # another (which also holds the scaled gradient terms on the way): no temporaries
        self._grad = np.empty(size)
        self._update = np.empty(size)
        self._pairs, start = [], 0  # (parameter, its slice of the update), in params' order
        for p in params.values():
            self._pairs.append((p, self._update[start:start + p.size].reshape(p.shape)))
            start += p.size

    def step(self, grads: dict) -> None:
        """One Adam update of every parameter, in place."""
        if grads.keys() != self.params.keys():
            missing = sorted(set(self.params) - set(grads))
            extra = sorted(set(grads) - set(self.params))
            raise ValueError(f"gradients do not match the parameters: missing {missing}, "
                             f"unknown {extra}")
        gs = [grads[name] for name in self.params]
        for name, p, g in zip(self.params, self.params.values(), gs):
            if getattr(g, "shape", None) != p.shape and np.shape(g) != p.shape:
                raise ValueError(f"gradient of {name!r} has shape {np.shape(g)}; "
                                 f"the parameter has shape {p.shape}")
        g = np.concatenate(gs, axis=None, out=self._grad)  # axis=None: flattened, in order
        self.t += 1
        c2 = np.sqrt(1.0 - self.b2 ** self.t)
        lr_t = self.lr * c2 / (1.0 - self.b1 ** self.t)
        m, v, update = self.m, self.v, self._update
        m *= self.b1
        m += np.multiply(g, 1.0 - self.b1, out=update)   # m <- b1 m + (1 - b1) g
        g *= g
        v *= self.b2
        v += np.multiply(g, 1.0 - self.b2, out=update)   # v <- b2 v + (1 - b2) g^2
        np.sqrt(v, out=update)
        update += self.eps * c2
        np.divide(m, update, out=update)
        update *= lr_t
        decay = 1.0 - self.lr * self.weight_decay
        for p, p_update in self._pairs:
            if self.weight_decay:
                p *= decay
            p -= p_update


def clip_gradients(grads: dict, max_norm: float) -> float:
    """Scale all gradients in place so their joint L2 norm is at most ``max_norm``.

    Returns the norm before clipping: g <- g * min(1, max_norm / ||g||).
    """
    norm = float(np.sqrt(sum(float(np.vdot(g, g)) for g in grads.values())))
    if norm > max_norm:
        for g in grads.values():
            g *= max_norm / norm
    return norm


@dataclass
class History:
    """What a training run did. ``loss[k]`` is the training loss of step k (a mini-batch mean);
    ``val_loss[j]`` was measured after step ``val_step[j]``; ``best_step`` is the step whose
    parameters were kept (with validation: those with the lowest validation loss)."""

    loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_step: list = field(default_factory=list)
    best_step: int | None = None
    stopped_early: bool = False
    seconds: float = 0.0

    @property
    def steps(self) -> int:
        return len(self.loss)

    @property
    def best_val_loss(self) -> float | None:
        return min(self.val_loss) if self.val_loss else None


class _Progress:
    """A single status line: an updating output in a notebook, ``\\r`` on a terminal, or nothing."""

    def __init__(self, enabled: bool, every: float = 0.2):
        self.enabled, self.every, self.last = bool(enabled), every, -np.inf
        self.handle = None
        if self.enabled:
            try:
                from IPython import get_ipython
                from IPython.display import Pretty, display
                shell = get_ipython()
                if shell is not None and getattr(shell, "kernel", None) is not None:
                    self.pretty = Pretty
                    self.handle = display(Pretty(""), display_id=True)
            except ImportError:
                pass

    def update(self, text: str, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self.last < self.every:
            return
        self.last = now
        if self.handle is not None:
            self.handle.update(self.pretty(text))
        else:
            sys.stderr.write("\r" + text.ljust(79))
            sys.stderr.flush()

    def close(self, text: str) -> None:
        self.update(text, force=True)
        if self.enabled and self.handle is None:
            sys.stderr.write("\n")


class _Budget:
    """Stops at ``n_steps`` or ``time_limit`` seconds of wall-clock or CPU time (``clock``);
    ``fraction()`` (the share of the budget used) feeds the cosine decay."""

    def __init__(self, n_steps, time_limit, clock="wall"):
        if n_steps is None and time_limit is None:
            raise ValueError("give n_steps (or n_epochs) or time_limit, so training ends")
        if n_steps is not None and (int(n_steps) != n_steps or n_steps < 1):
            raise ValueError(f"n_steps and n_epochs must be positive integers; got {n_steps!r}")
        if clock not in ("wall", "cpu"):
            raise ValueError(f"clock must be 'wall' or 'cpu'; got {clock!r}")
        self.n_steps = None if n_steps is None else int(n_steps)
        self.time_limit = None if time_limit is None else _positive(time_limit, "time_limit")
        self.clock = time.perf_counter if clock == "wall" else time.process_time
        self.start = self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.start

    def fraction(self, step: int) -> float:
        parts = [0.0]
        if self.n_steps:
            parts.append(step / self.n_steps)
        if self.time_limit:
            parts.append(self.elapsed() / self.time_limit)
        return min(1.0, max(parts))

    def done(self, step: int) -> bool:
        return self.fraction(step) >= 1.0


def shuffled_batches(n: int, batch_size: int, rng: np.random.Generator):
    """Index arrays of mini-batches of ``batch_size`` rows out of ``n``, epoch after epoch
    without end, each epoch in a new order ``rng.permutation(n)``; an epoch's last rows that do
    not fill a batch are left out of that epoch (every batch has ``batch_size`` rows)."""
    if not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be between 1 and the number of rows ({n}); "
                         f"got {batch_size}")
    while True:
        order = rng.permutation(n)
        for start in range(0, n - batch_size + 1, batch_size):
            yield order[start:start + batch_size]


def _positive(v, name):
    if not (np.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a positive finite number; got {v!r}")
    return float(v)


def cosine_lr(base_lr, fraction):
    """Cosine decay: base_lr (1 + cos(pi * fraction)) / 2, from base_lr at 0 to 0 at 1."""
    return base_lr * 0.5 * (1.0 + np.cos(np.pi * fraction))


def scheduled_lr(base_lr, schedule, fraction, warmup):
    """Learning rate after ``fraction`` of the budget: constant (``schedule=None``) or cosine
    decay (``"cosine"``), times a linear warm-up over the first ``warmup`` share, and never
    below 1e-3 base_lr."""
    if schedule is None:
        lr = base_lr
    elif schedule == "cosine":
        lr = cosine_lr(base_lr, fraction)
    else:
        raise ValueError(f"schedule must be None or 'cosine'; got {schedule!r}")
    if warmup and fraction < warmup:
        lr *= fraction / warmup
    return max(lr, 1e-3 * base_lr)


def _check_loss(loss, step):
    if not np.isfinite(loss):
        raise FloatingPointError(
            f"the training loss is {loss} at step {step}: the parameters diverged "
            "(try a smaller learning rate or clip_norm)")


def _mean_nll(flow: Flow, x, batch: int = 8192) -> float:
    total = 0.0
    for s in range(0, x.shape[0], batch):
        total -= float(np.sum(flow.log_prob(x[s:s + batch])))
    return total / x.shape[0]


def _split_data(flow, x, x_val, val_fraction, rng):
    """Validated training data and validation data (given, held out at random, or None)."""
    x = as_batch(x, flow.dim, "x")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1); got {val_fraction!r}")
    if x_val is not None and val_fraction:
        raise ValueError("give x_val or val_fraction, not both")
    if val_fraction:
        perm = rng.permutation(x.shape[0])
        n_val = max(1, int(round(val_fraction * x.shape[0])))
        x, x_val = x[perm[n_val:]], x[perm[:n_val]]
    if x.shape[0] == 0:
        raise ValueError("x is empty, or no training data is left after the validation split")
    return x, None if x_val is None else nonempty(as_batch(x_val, flow.dim, "x_val"), "x_val")


class _Validation:
    """Validation NLL, a copy of the best parameters, patience, and restoring the best."""

    def __init__(self, flow, x_val, patience, history):
        self.flow, self.x_val, self.patience, self.history = flow, x_val, patience, history
        self.best, self.bad = None, 0

    def evaluate(self, step: int) -> None:
        val = _mean_nll(self.flow, self.x_val)
        self.history.val_loss.append(val)
        self.history.val_step.append(step)
        if self.best is None or val < self.best[0]:
            params = self.flow.parameters()
            self.best, self.bad = (val, {k: p.copy() for k, p in params.items()}, step), 0
        else:
            self.bad += 1
            if self.patience is not None and self.bad >= self.patience:
                self.history.stopped_early = True

    def restore(self, last_step: int) -> None:
        """Copy the best parameters back into the live arrays (no validation: keep the last)."""
        if self.best is None:
            self.history.best_step = last_step
            return
        for k, p in self.flow.parameters().items():
            p[...] = self.best[1][k]
        self.history.best_step = self.best[2]


def _optimiser_step(opt, loss, grads, step, clip_norm):
    _check_loss(loss, step)
    if clip_norm is not None:
        clip_gradients(grads, clip_norm)
    opt.step(grads)


def fit(flow: Flow, x, *, rng: np.random.Generator, n_epochs: int | None = None,
        n_steps: int | None = None, time_limit: float | None = None, batch_size: int = 256,
        lr: float = 1e-3, schedule: str | None = None, warmup: float = 0.0,
        clip_norm: float | None = None, val_fraction: float = 0.0, x_val=None,
        patience: int | None = None, eval_every: int | None = None, clock: str = "wall",
        weight_decay: float = 0.0, augment=None, keep_memory: bool = False,
        progress: bool = False) -> History:
    """Maximum-likelihood training: minimise the mean negative log-likelihood of ``x`` with Adam.

    Each epoch visits ``x`` in a new random order (from ``rng``) in mini-batches of
    ``batch_size``. Training stops after ``n_epochs`` epochs, ``n_steps`` steps or ``time_limit``
    seconds (of wall-clock time, or of this process's CPU time with ``clock="cpu"``), whichever
    comes first. ``schedule="cosine"`` decays the learning rate to 0 over that budget (after a
    linear ``warmup`` over that fraction of it); ``clip_norm`` caps the joint gradient norm.

    Validation: ``x_val``, or ``val_fraction`` of ``x`` held out at random. The validation NLL
    is measured every ``eval_every`` steps (default: once per epoch); the parameters with the
    lowest one are restored at the end, and with ``patience`` training stops once that many
    evaluations in a row failed to improve on the best. Returns a ``History``.

    Regularisation: ``weight_decay`` (see ``Adam``); ``augment(batch, rng) -> batch`` transforms
    each training mini-batch before its gradient, e.g. fresh dequantisation noise every epoch.
    ``keep_memory=True`` also asks the C allocator to keep freed memory for reuse
    (``nflib.mlp.keep_freed_memory``; it affects the whole process). Training no longer needs
    it: the layers reuse their work arrays (``nflib.workspace``), and it is off by default.
    """
    x, x_val = _split_data(flow, x, x_val, val_fraction, rng)
    if augment is not None and not callable(augment):
        raise ValueError("augment must be a callable augment(batch, rng) -> batch")
    if keep_memory:
        keep_freed_memory()
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
    steps_per_epoch = -(-x.shape[0] // int(batch_size))
    if n_epochs is not None:
        if int(n_epochs) != n_epochs or n_epochs < 1:
            raise ValueError(f"n_epochs must be a positive integer; got {n_epochs!r}")
        epoch_steps = int(n_epochs) * steps_per_epoch
        n_steps = epoch_steps if n_steps is None else min(n_steps, epoch_steps)
    eval_every = steps_per_epoch if eval_every is None else int(eval_every)
    opt = Adam(flow.parameters(), lr=lr, weight_decay=weight_decay)
    budget = _Budget(n_steps, time_limit, clock)
    history = History()
    validation = _Validation(flow, x_val, patience, history)
    display = _Progress(progress)

    step, stop = 0, budget.done(0)
    while not stop:
        order = rng.permutation(x.shape[0])
        for s in range(0, x.shape[0], int(batch_size)):
            opt.lr = scheduled_lr(lr, schedule, budget.fraction(step), warmup)
            batch = x[order[s:s + int(batch_size)]]
            if augment is not None:
                batch = as_batch(augment(batch, rng), flow.dim, "augment(batch, rng)")
            loss, grads = nll_and_grad(flow, batch)
            _optimiser_step(opt, loss, grads, step, clip_norm)
            history.loss.append(loss)
            step += 1
            stop = budget.done(step)
            if x_val is not None and (step % eval_every == 0 or stop):
                validation.evaluate(step)
            stop = stop or history.stopped_early
            display.update(_status(step, budget, loss, history))
            if stop:
                break

    validation.restore(step)
    history.seconds = budget.elapsed()
    display.close(_status(step, budget, history.loss[-1], history))
    return history


def fit_reverse_kl(flow: Flow, log_target, grad_log_target, *, rng: np.random.Generator,
                   n_steps: int | None = 1000, time_limit: float | None = None,
                   batch_size: int = 256, lr: float = 1e-3, schedule: str | None = None,
                   warmup: float = 0.0, clip_norm: float | None = None, clock: str = "wall",
                   progress: bool = False) -> History:
    """Fit the flow to an unnormalised target p~ = Z p by minimising reverse KL with Adam.

    Each step draws ``batch_size`` fresh base samples and follows ``reverse_kl_and_grad``:
    the loss is a Monte Carlo estimate of KL(q || p) - log Z, so it approaches -log Z from above
    as q approaches p. ``log_target(x) -> (n,)``, ``grad_log_target(x) -> (n, d)``.
    Stops after ``n_steps`` or ``time_limit`` seconds (``clock`` as in ``fit``).
    Returns a ``History`` (``loss`` per step).
    """
    params = flow.parameters()
    opt = Adam(params, lr=lr)
    budget = _Budget(n_steps, time_limit, clock)
    history = History()
    display = _Progress(progress)
    step = 0
    while not budget.done(step):
        opt.lr = scheduled_lr(lr, schedule, budget.fraction(step), warmup)
        loss, grads = reverse_kl_and_grad(flow, log_target, grad_log_target, batch_size, rng)
        _optimiser_step(opt, loss, grads, step, clip_norm)
        history.loss.append(loss)
        step += 1
        display.update(_status(step, budget, loss, history))
    history.best_step = step
    history.seconds = budget.elapsed()
    display.close(_status(step, budget, history.loss[-1], history))
    return history


def _status(step, budget, loss, history) -> str:
    text = f"step {step}"
    if budget.n_steps:
        text += f"/{budget.n_steps}"
    text += f"  loss {loss:.4f}"
    if history.val_loss:
        text += f"  val {history.val_loss[-1]:.4f} (best {min(history.val_loss):.4f})"
    return text + f"  {budget.elapsed():.1f}s"
