"""How close nflib comes to the numpy kernels its network needs, at small and large batches.

Model: ``nf.realnvp(2, 8, (64, 64))``, an 8-layer RealNVP on 2-D data (64x64 tanh conditioners),
moved away from its identity initialisation. For batch 512, 8192 and 100,000 it prints the time
of three paths and their ratio to a floor:

* ``log_prob``: ``flow.log_prob(x)``;
* ``nll_and_grad``: ``nf.nll_and_grad(flow, x)``;
* ``training step``: ``nll_and_grad`` plus an ``Adam`` update;

* the floor, "kernels": only the numpy calls the network cannot do without, each writing into
  an output allocated once beforehand. For ``log_prob``, per layer: the three matrix products
  of the MLP, its two tanh activations, the tanh of the soft clamp and the exp of the log-scale;
  for the gradient paths also the backward products (weight gradients h^T G, bias gradients
  1^T G, input gradients G W^T). No bias additions, no elementwise algebra, no bookkeeping: a
  floor that no numpy code can reach, so the ratio is the cost of everything else.

Rounds are interleaved in one process (nflib, then the floor, then nflib, ...), so a busy
machine slows both alike; each figure is the median over rounds of the per-round ratio (CPU time
of this process). BLAS runs on one thread. With PyTorch installed, the same network written in
torch (float64, one thread) is timed in the same rounds and its time over nflib's printed.

``--keep-freed-memory`` calls ``nflib.mlp.keep_freed_memory()`` first (a process-wide allocator
setting); compare a run with and without it to see what it is still worth. ``--workspace-mb``
sets how much memory ``nflib.workspace`` may keep for reuse: at batch 100,000 one training step
holds about 1 GB of activations, more than the default keeps, so the rest is allocated afresh.

    python benchmarks/nflib_perf.py [--batches 512 8192 100000] [--seconds 20]
                                    [--keep-freed-memory] [--workspace-mb 2048] [--profile]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys


def _parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batches", type=int, nargs="+", default=[512, 8192, 100_000])
    p.add_argument("--seconds", type=float, default=20.0,
                   help="CPU seconds to spend per batch size (more rounds: steadier medians)")
    p.add_argument("--min-rounds", type=int, default=5)
    p.add_argument("--keep-freed-memory", action="store_true",
                   help="call nflib.mlp.keep_freed_memory() before timing")
    p.add_argument("--workspace-mb", type=float, default=None,
                   help="memory nflib.workspace may keep for reuse (default: the library's)")
    p.add_argument("--profile", action="store_true", help="also print a cProfile of training steps")
    return p.parse_args()


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None:  # BLAS reads these when numpy is first imported
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"

import time  # noqa: E402

import numpy as np  # noqa: E402

import nflib as nf  # noqa: E402

N_LAYERS, HIDDEN = 8, (64, 64)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_description() -> str:
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        return "threadpoolctl not installed (BLAS unknown)"
    threadpool_limits(1)
    parts = []
    for info in threadpool_info():
        if info.get("user_api") == "blas":
            parts.append(f"{info.get('internal_api')} {info.get('version')} "
                         f"kernel {info.get('architecture')}, {info.get('num_threads')} thread(s)")
    return "; ".join(parts) or "no BLAS found by threadpoolctl"


def block_time(fn, calls: int) -> float:
    """CPU time of one call of ``fn``, averaged over a block of ``calls`` calls, in seconds."""
    start = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - start) / calls


class Kernels:
    """The floor: the network's matmul, tanh and exp calls, into outputs allocated once."""

    def __init__(self, flow, n: int, rng):
        self.layers = []
        for layer in flow.bijection:
            (w0, w1, w2), (b0, _, _) = layer.net.weights, layer.net.biases
            wb0 = np.concatenate([w0, b0[None, :]])
            h0 = np.ones((n, wb0.shape[0]))
            h0[:, 0] = rng.standard_normal(n)
            arrays = dict(
                h0=h0, wb0=wb0, w1=w1, w2=w2, w1t=np.ascontiguousarray(w1.T), w2t=w2.T,
                a1=np.empty((n, w1.shape[0])), a2=np.empty((n, w2.shape[0])),
                out=np.empty((n, w2.shape[1])), th=np.empty((n, w2.shape[1] // 2)),
                scale=np.empty((n, w2.shape[1] // 2)), ones=np.ones(n),
                g_out=rng.standard_normal((n, w2.shape[1])) / n,
                g2=np.empty((n, w2.shape[0])), g1=np.empty((n, w1.shape[0])),
                gw2=np.empty(w2.shape), gb2=np.empty(w2.shape[1]), gw1=np.empty(w1.shape),
                gb1=np.empty(w1.shape[1]), gwb0=np.empty(wb0.shape), g_in=np.empty(n))
            self.layers.append(arrays)

    def forward(self):
        for a in self.layers:
            np.matmul(a["h0"], a["wb0"], out=a["a1"])
            np.tanh(a["a1"], out=a["a1"])
            np.matmul(a["a1"], a["w1"], out=a["a2"])
            np.tanh(a["a2"], out=a["a2"])
            np.matmul(a["a2"], a["w2"], out=a["out"])
            np.tanh(a["out"][:, :a["th"].shape[1]], out=a["th"])
            np.exp(a["th"], out=a["scale"])

    def backward(self):
        for a in reversed(self.layers):
            np.matmul(a["a2"].T, a["g_out"], out=a["gw2"])
            np.matmul(a["ones"], a["g_out"], out=a["gb2"])
            np.matmul(a["g_out"], a["w2t"], out=a["g2"])
            np.matmul(a["a1"].T, a["g2"], out=a["gw1"])
            np.matmul(a["ones"], a["g2"], out=a["gb1"])
            np.matmul(a["g2"], a["w1t"], out=a["g1"])
            np.matmul(a["h0"].T, a["g1"], out=a["gwb0"])
            np.matmul(a["g1"], a["wb0"][0], out=a["g_in"])

    def forward_backward(self):
        self.forward()
        self.backward()


def torch_paths(flow, x):
    """The same network in PyTorch CPU (float64, one thread): (log_prob, loss.backward), or None."""
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

    def log_prob_no_grad():
        with torch.no_grad():
            log_prob()

    def train():
        (-log_prob().mean()).backward()

    return log_prob_no_grad, train


def measure(flow, x, seconds: float, min_rounds: int):
    """Median per-round ratios of each path to its floor (and of torch to nflib)."""
    rng = np.random.default_rng(1)
    floor = Kernels(flow, x.shape[0], rng)
    opt = nf.Adam(flow.parameters(), lr=1e-7)

    def train_step():
        _, grads = nf.nll_and_grad(flow, x)
        opt.step(grads)

    paths = {"log_prob": (lambda: flow.log_prob(x), floor.forward),
             "nll_and_grad": (lambda: nf.nll_and_grad(flow, x), floor.forward_backward),
             "training step": (train_step, floor.forward_backward)}
    torch_fns = torch_paths(flow, x)
    extra = {}
    if torch_fns is not None:
        extra = {"log_prob": torch_fns[0], "nll_and_grad": torch_fns[1]}
    # warm up, and size the blocks so that one takes about 20 ms
    calls = {}
    for name, (fn, base) in paths.items():
        fn(), base()
        t = block_time(fn, 1)
        calls[name] = max(1, int(0.02 / max(t, 1e-6)))
    for fn in extra.values():
        fn()
    round_time = sum(2 * calls[k] * block_time(paths[k][0], 1) for k in paths)
    rounds = max(min_rounds, int(seconds / max(round_time, 1e-6)))
    rows = {name: ([], [], []) for name in paths}
    for r in range(rounds):
        for name, (fn, base) in paths.items():
            t_fn, t_base, t_torch = rows[name]
            pair = [(fn, t_fn), (base, t_base)]
            for f, store in (pair if r % 2 == 0 else pair[::-1]):  # alternate who goes first
                store.append(block_time(f, calls[name]))
            if name in extra:
                t_torch.append(block_time(extra[name], calls[name]))
    out = {}
    for name, (t_fn, t_base, t_torch) in rows.items():
        t_fn, t_base = np.array(t_fn), np.array(t_base)
        ratio = float(np.median(t_fn / t_base))
        torch_ratio = float(np.median(np.array(t_torch) / t_fn)) if t_torch else None
        out[name] = (float(np.median(t_fn)), float(np.median(t_base)), ratio, torch_ratio)
    return out, rounds


def main(args) -> None:
    if args.keep_freed_memory:
        nf.mlp.keep_freed_memory()
    workspace = getattr(nf, "workspace", None)  # absent in versions before it existed
    if args.workspace_mb is not None and workspace is not None:
        workspace.set_max_bytes(int(args.workspace_mb * 2**20))
    rng = np.random.default_rng(0)
    flow = nf.Flow(nf.StandardNormal(2), nf.realnvp(2, N_LAYERS, HIDDEN, rng=rng))
    for p in flow.parameters().values():  # a generic network, not the identity
        p += 0.1 * rng.standard_normal(p.shape)
    n_params = sum(p.size for p in flow.parameters().values())
    print(f"CPU: {cpu_model()}; BLAS: {blas_description()}")
    print(f"numpy {np.__version__}, Python {platform.python_version()}, "
          f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}, "
          f"keep_freed_memory {'on' if args.keep_freed_memory else 'off'}, workspace "
          + (f"{workspace._DEFAULT.max_bytes / 2**20:.0f} MiB" if workspace else "none"))
    print(f"RealNVP, {N_LAYERS} affine couplings, MLP hidden {HIDDEN}, d = 2, {n_params} "
          f"parameters; CPU time, medians over interleaved rounds of per-round ratios")
    header = f"{'batch':>8s}  {'path':15s}{'nflib ms':>11s}{'kernels ms':>12s}{'nflib/kernels':>15s}"
    print(header + ("  torch/nflib" if torch_paths(flow, np.zeros((1, 2))) else ""))
    for n in args.batches:
        x = nf.datasets.TwoMoons().sample(n, np.random.default_rng(n))
        results, rounds = measure(flow, x, args.seconds, args.min_rounds)
        for name, (t, t_base, ratio, torch_ratio) in results.items():
            line = f"{n:8d}  {name:15s}{1e3 * t:11.3f}{1e3 * t_base:12.3f}{ratio:15.2f}"
            if torch_ratio is not None:
                line += f"{torch_ratio:13.2f}"
            print(line + (f"   ({rounds} rounds)" if name == "log_prob" else ""), flush=True)
    print("Targets: nflib/kernels <= 1.15 (log_prob), <= 1.25 (nll_and_grad) at 512 and 8192.")
    if torch_paths(flow, np.zeros((1, 2))) is None:
        print("PyTorch is not installed: no comparison with it.")

    if args.profile:
        import cProfile
        import pstats
        x = nf.datasets.TwoMoons().sample(args.batches[0], rng)
        opt = nf.Adam(flow.parameters(), lr=1e-7)
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(200):
            opt.step(nf.nll_and_grad(flow, x)[1])
        prof.disable()
        pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main(ARGS)
