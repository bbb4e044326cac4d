"""How fast nflib trains, and how much of that time is spent in useful matrix products.

Model: ``nf.realnvp(2, 8, (64, 64))``, an 8-layer RealNVP on 2-D data, batch 512. Prints

(a) the throughput of ``flow.log_prob`` and of one training step (``nll_and_grad`` plus an
    ``Adam`` update);
(b) the time of the same layers' matrix products alone: for every coupling layer's MLP, the
    forward products h_{k-1} W_k and, for a training step, the backward products h_{k-1}^T G_k
    (weight gradients) and G_k W_k^T (gradients of the inputs), with the same shapes;
(c) the ratio (b)/(a): the share of the time spent in those products;
(d) the overhead of the library: its time over that of a minimal hand-written numpy forward
    (``log_prob``) and forward/backward (``nll_and_grad``) of exactly the same network, the same
    kernels (matmul, tanh, exp) with no classes, checks or dictionaries (target: at most 1.15x
    and 1.25x), and, when PyTorch is installed, PyTorch CPU's time over nflib's.

Times are CPU time of this process, medians over ``--repeats`` runs of a block of 10 calls; the
share is the median of per-run ratios, each run timing the layers and their matrix products
back to back, so a busy machine affects both alike. BLAS runs on one thread (``--threads`` to
change): these matrices are far too small to gain from more.

    python benchmarks/nflib_perf.py [--repeats 41] [--batch 512] [--threads 1] [--profile]
"""

from __future__ import annotations

import argparse
import os
import sys


def _parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=41, help="timed runs; the median is printed")
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--threads", type=int, default=1, help="BLAS threads")
    p.add_argument("--profile", action="store_true", help="also print a cProfile of training steps")
    return p.parse_args()


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None:  # BLAS reads these when numpy is first imported
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import time  # noqa: E402

import numpy as np  # noqa: E402

import nflib as nf  # noqa: E402


def block_time(fn, calls: int) -> float:
    """CPU time of one call of ``fn``, averaged over a block of ``calls`` calls, in seconds."""
    start = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - start) / calls


def paired_times(fn, baseline, repeats: int, calls: int = 10):
    """Median times of ``fn`` and ``baseline`` and the median of their per-run ratio.

    The two are timed alternately, so that each ratio compares runs made under the same load
    (the machine may be shared); CPU time of this process, not wall-clock time.
    """
    fn(), baseline()  # warm up
    t_fn, t_base = [], []
    for _ in range(repeats):
        t_fn.append(block_time(fn, calls))
        t_base.append(block_time(baseline, calls))
    t_fn, t_base = np.array(t_fn), np.array(t_base)
    return float(np.median(t_fn)), float(np.median(t_base)), float(np.median(t_base / t_fn))


def matmul_workload(flow, batch: int, rng, backward: bool):
    """A function doing exactly the matrix products of the flow's MLPs, with the same shapes."""
    jobs = []
    for layer in flow.bijection:
        weights = layer.net.weights
        acts = [rng.standard_normal((batch, w.shape[0])) for w in weights]
        grads = [rng.standard_normal((batch, w.shape[1])) for w in weights]
        for w, h, g in zip(weights, acts, grads):
            jobs.append((h, w))               # forward: h W
            if backward:
                jobs.append((h.T, g))         # weight gradient: h^T G
                jobs.append((g, w.T))         # input gradient: G W^T

    def run():
        for a, b in jobs:
            a @ b
    return run


class BareRealNVP:
    """The same 8-layer RealNVP on d = 2, written as plain numpy: the floor nflib is held to."""

    def __init__(self, flow):
        self.c = flow.bijection[0].clamp
        self.layers = []
        for layer in flow.bijection:
            keep, move = int(np.arange(2)[layer._keep][0]), int(np.arange(2)[layer._move][0])
            w, b = layer.net.weights, layer.net.biases
            self.layers.append((keep, move, np.concatenate([w[0], b[0][None, :]]),
                                w[1], b[1], w[2], b[2]))

    def _inverse(self, x):
        """z = f^{-1}(x), log|det df^{-1}/dx| and the activations for the backward pass."""
        z, log_det, tape = x.copy(), np.zeros(x.shape[0]), []
        for keep, move, wb0, w1, b1, w2, b2 in reversed(self.layers):
            h0 = np.empty((z.shape[0], 2))
            h0[:, 0], h0[:, 1] = z[:, keep], 1.0
            h1 = np.tanh(h0 @ wb0)
            h2 = np.tanh(h1 @ w1 + b1)
            out = h2 @ w2 + b2
            th = np.tanh(out[:, 0] / self.c)
            s = self.c * th
            inv = np.exp(-s)
            z[:, move] = (z[:, move] - out[:, 1]) * inv
            log_det -= s
            tape.append((h0, h1, h2, th, inv, z[:, move].copy()))
        return z, log_det, tape

    def log_prob(self, x):
        z, log_det, _ = self._inverse(x)
        return -0.5 * np.einsum("ij,ij->i", z, z) - np.log(2 * np.pi) + log_det

    def nll_and_grad(self, x):
        z, log_det, tape = self._inverse(x)
        n = x.shape[0]
        loss = -np.mean(-0.5 * np.einsum("ij,ij->i", z, z) - np.log(2 * np.pi) + log_det)
        g, g_ld, grads, ones = z / n, -1.0 / n, [], np.ones(n)
        for (keep, move, wb0, w1, _, w2, _), (h0, h1, h2, th, inv, zm) in zip(
                self.layers, reversed(tape)):
            g_move = g[:, move]
            g_x_move = g_move * inv
            g_out = np.empty((n, 2))
            g_out[:, 0] = (-(g_move * zm) - g_ld) * (1.0 - th * th)
            g_out[:, 1] = -g_x_move
            grads += [h2.T @ g_out, ones @ g_out]
            g_pre1 = g_out @ w2.T
            h2 *= h2
            np.subtract(1.0, h2, out=h2)
            g_pre1 *= h2
            grads += [h1.T @ g_pre1, ones @ g_pre1]
            g_pre0 = g_pre1 @ w1.T
            h1 *= h1
            np.subtract(1.0, h1, out=h1)
            g_pre0 *= h1
            grads.append(h0.T @ g_pre0)
            g[:, keep] += g_pre0 @ wb0[0]
            g[:, move] = g_x_move
        return loss, grads


def torch_times(flow, x, repeats: int):
    """PyTorch CPU (float64, one thread) times of log_prob and of loss.backward(), or None."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    params = []
    for layer in flow.bijection:
        w, b = layer.net.weights, layer.net.biases
        params.append([torch.tensor(a, requires_grad=True) for a in (*w, *b)]
                      + [int(np.arange(2)[layer._keep][0]), int(np.arange(2)[layer._move][0])])
    c, xt = flow.bijection[0].clamp, torch.tensor(x)

    def log_prob():
        z, log_det = xt.clone(), torch.zeros(xt.shape[0], dtype=torch.float64)
        for w0, w1, w2, b0, b1, b2, keep, move in reversed(params):
            h = torch.tanh(z[:, keep:keep + 1] @ w0 + b0)
            h = torch.tanh(h @ w1 + b1)
            out = h @ w2 + b2
            s = c * torch.tanh(out[:, 0] / c)
            moved = (z[:, move] - out[:, 1]) * torch.exp(-s)
            z = torch.stack([moved, z[:, 1 - move]], 1) if move == 0 else torch.stack(
                [z[:, 0], moved], 1)
            log_det = log_det - s
        return -0.5 * (z * z).sum(1) - np.log(2 * np.pi) + log_det

    def train():
        loss = -log_prob().mean()
        loss.backward()

    with torch.no_grad():
        t_lp = np.median([block_time(log_prob, 10) for _ in range(repeats)])
    t_tr = np.median([block_time(train, 10) for _ in range(repeats)])
    return float(t_lp), float(t_tr)


def main(args) -> None:
    nf.mlp.keep_freed_memory()  # as fit() does: freed activations stay in the process for reuse
    rng = np.random.default_rng(0)
    flow = nf.Flow(nf.StandardNormal(2), nf.realnvp(2, 8, (64, 64), rng=rng))
    # move away from the identity initialisation so the timings see a generic network
    for p in flow.parameters().values():
        p += 0.1 * rng.standard_normal(p.shape)
    x = nf.datasets.TwoMoons().sample(args.batch, rng)
    opt = nf.Adam(flow.parameters(), lr=1e-4)

    def train_step():
        _, grads = nf.nll_and_grad(flow, x)
        opt.step(grads)

    mm_forward = matmul_workload(flow, args.batch, rng, backward=False)
    mm_training = matmul_workload(flow, args.batch, rng, backward=True)
    rows = [("log_prob", *paired_times(lambda: flow.log_prob(x), mm_forward, args.repeats)),
            ("nll_and_grad", *paired_times(lambda: nf.nll_and_grad(flow, x), mm_training,
                                           args.repeats)),
            ("training step (+ Adam)", *paired_times(train_step, mm_training, args.repeats))]
    _, grads = nf.nll_and_grad(flow, x)
    spare = nf.Adam({k: p.copy() for k, p in flow.parameters().items()}, lr=1e-4)
    t_adam = float(np.median([block_time(lambda: spare.step(grads), 10)
                              for _ in range(args.repeats)]))

    n = args.batch
    print(f"RealNVP, 8 affine couplings, MLP hidden (64, 64), d = 2, batch {n}, "
          f"{args.threads} BLAS thread(s), CPU time, median of {args.repeats} runs")
    print(f"{'':26s}{'ms/batch':>10s}{'samples/s':>12s}{'matmuls ms':>12s}{'matmul share':>14s}")
    for name, t, mm, share in rows:
        print(f"{name:26s}{1e3 * t:10.3f}{n / t:12.0f}{1e3 * mm:12.3f}{share:14.2f}")
    print(f"Adam update alone: {1e3 * t_adam:.3f} ms for "
          f"{sum(p.size for p in flow.parameters().values())} parameters")

    bare = BareRealNVP(flow)
    np.testing.assert_allclose(bare.log_prob(x), flow.log_prob(x), rtol=1e-12, atol=1e-12)
    loss, _ = nf.nll_and_grad(flow, x)
    assert abs(bare.nll_and_grad(x)[0] - loss) < 1e-12
    overhead = [("log_prob", *paired_times(lambda: flow.log_prob(x), lambda: bare.log_prob(x),
                                           args.repeats)),
                ("nll_and_grad", *paired_times(lambda: nf.nll_and_grad(flow, x),
                                               lambda: bare.nll_and_grad(x), args.repeats))]
    print()
    print("Overhead of the library over plain numpy doing the same work (same kernels):")
    print(f"{'':26s}{'nflib ms':>10s}{'numpy ms':>10s}{'ratio':>8s}{'target':>8s}")
    for (name, t, t_bare, share), target in zip(overhead, (1.15, 1.25)):
        print(f"{name:26s}{1e3 * t:10.3f}{1e3 * t_bare:10.3f}{1 / share:8.2f}{target:8.2f}")
    torch_t = torch_times(flow, x, args.repeats)
    if torch_t is None:
        print("PyTorch is not installed: no comparison with it.")
    else:
        print(f"PyTorch CPU / nflib: log_prob {torch_t[0] / rows[0][1]:.2f}x, "
              f"training step (backward) {torch_t[1] / rows[1][1]:.2f}x")

    if args.profile:
        import cProfile
        import pstats
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(200):
            train_step()
        prof.disable()
        pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main(ARGS)
