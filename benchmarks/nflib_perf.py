"""How fast nflib trains, and how much of that time is spent in useful matrix products.

Model: ``nf.realnvp(2, 8, (64, 64))``, an 8-layer RealNVP on 2-D data, batch 512. Prints

(a) the throughput of ``flow.log_prob`` and of one training step (``nll_and_grad`` plus an
    ``Adam`` update);
(b) the time of the same layers' matrix products alone: for every coupling layer's MLP, the
    forward products h_{k-1} W_k and, for a training step, the backward products h_{k-1}^T G_k
    (weight gradients) and G_k W_k^T (gradients of the inputs), with the same shapes;
(c) the ratio (b)/(a): the share of the time spent in those products.

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


def main(args) -> None:
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
