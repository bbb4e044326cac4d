"""How close nflib comes to the numpy kernels its network needs, and to PyTorch and zuko.

Model: ``nf.realnvp(2, 8, (64, 64))``, an 8-layer RealNVP on 2-D data (64x64 tanh conditioners,
35,344 parameters), moved away from its identity initialisation. For batch 512, 8192 and 100,000
it prints the time of four paths and their ratio to a floor:

* ``log_prob``: ``flow.log_prob(x)``;
* ``nll_and_grad``: ``nf.nll_and_grad(flow, x)``;
* ``training step``: ``nll_and_grad`` plus an ``Adam`` update;
* ``sample``: ``flow.sample(n, rng)``;

* the floor, "kernels": only the numpy calls the network cannot do without, each writing into
  an output allocated once beforehand. For ``log_prob`` and ``sample``, per layer: the three
  matrix products of the MLP, its two tanh activations, the tanh of the soft clamp and the exp
  of the log-scale; for the gradient paths also the backward products (weight gradients h^T G,
  bias gradients 1^T G, input gradients G W^T). No bias additions, no elementwise algebra, no
  bookkeeping: a floor that no numpy code can reach, so the ratio is the cost of everything else.

When PyTorch is importable (it is not a dependency of nflib: install it in a separate
environment, with nflib installed there by ``pip install -e .``), the same network is timed in
PyTorch CPU: the same weights, the same soft clamp, float64, one thread, log-densities equal to
nflib's to rounding (the header prints the largest difference); the training step uses
``torch.optim.Adam``. With zuko installed too, ``zuko.flows.RealNVP(2, transforms=8,
hidden_features=(64, 64), activation=Tanh)`` in float64 is timed as well: the same architecture
and parameter count, with zuko's own initialisation and its own bound on the log-scale. The
columns ``torch/nflib`` and ``zuko/nflib`` are their times over nflib's: above 1, nflib is faster.

Rounds are interleaved in one process (each round runs every contender once, in an order that
rotates from round to round), so a busy machine slows all alike; each figure is the median over
rounds of the per-round ratio (CPU time of this process). BLAS and PyTorch run on one thread.

``--keep-freed-memory`` calls ``nflib.mlp.keep_freed_memory()`` first (a process-wide allocator
setting); compare a run with and without it to see what it is still worth. ``--workspace-mb``
sets how much memory ``nflib.workspace`` may keep for reuse: at batch 100,000 one training step
holds about 1 GB of work arrays, more than the default 256 MiB keeps, so the rest is allocated
afresh (and pays a page fault per 4 kB); ``log_prob`` and ``sample`` need one layer's arrays at a
time, about 110 MB, and reuse them with the default.

    python benchmarks/nflib_perf.py [--batches 512 8192 100000] [--seconds 20]
                                    [--keep-freed-memory] [--workspace-mb 2048] [--no-torch]
                                    [--profile]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
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
    p.add_argument("--no-torch", action="store_true",
                   help="leave PyTorch and zuko out even when they are installed")
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


def _import_torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work already started
        pass
    return torch


def _torch_realnvp(torch, flow):
    """nflib's RealNVP written in PyTorch with the same weights: (log_prob, sample, params)."""
    layers = []
    for layer in flow.bijection:
        tensors = [torch.tensor(a, requires_grad=True)
                   for a in (*layer.net.weights, *layer.net.biases)]
        keep, move = (int(np.flatnonzero(m)[0]) for m in (layer.mask, ~layer.mask))
        layers.append((tensors, keep, move, layer.clamp))
    log_2pi = float(np.log(2 * np.pi))

    def conditioner(tensors, kept, c):
        w0, w1, w2, b0, b1, b2 = tensors
        out = torch.tanh(torch.tanh(kept @ w0 + b0) @ w1 + b1) @ w2 + b2
        return c * torch.tanh(out[:, 0] / c), out[:, 1]    # s = c tanh(raw / c), t

    def place(kept, moved, keep):
        return torch.stack([kept, moved] if keep == 0 else [moved, kept], dim=1)

    def log_prob(x):
        z, log_det = x, torch.zeros(x.shape[0], dtype=torch.float64)
        for tensors, keep, move, c in reversed(layers):
            s, t = conditioner(tensors, z[:, keep:keep + 1], c)
            z = place(z[:, keep], (z[:, move] - t) * torch.exp(-s), keep)
            log_det = log_det - s
        return -0.5 * (z * z).sum(1) - log_2pi + log_det

    def sample(n):
        x = torch.randn(n, 2, dtype=torch.float64)
        for tensors, keep, move, c in layers:
            s, t = conditioner(tensors, x[:, keep:keep + 1], c)
            x = place(x[:, keep], x[:, move] * torch.exp(s) + t, keep)
        return x

    return log_prob, sample, [t for tensors, *_ in layers for t in tensors]


def torch_contenders(flow, x):
    """{"torch": {path: fn}, "zuko": {path: fn}} for what is installed (may be empty), and a
    line for the header."""
    torch = _import_torch()
    if torch is None:
        return {}, "PyTorch is not installed: no comparison with it."
    n = x.shape[0]
    xt = torch.tensor(x)
    log_prob, sample, params = _torch_realnvp(torch, flow)
    with torch.no_grad():
        diff = float(np.max(np.abs(log_prob(xt).numpy() - flow.log_prob(x))))
    out = {"torch": _torch_paths(torch, log_prob, lambda: sample(n), params, xt)}
    config = torch.__config__.show()
    blas = re.search(r"BLAS_INFO=(\w+)", config)
    blas = blas.group(1) if blas else "unknown"
    capability = next((ln.split(":", 1)[1].strip() for ln in config.splitlines()
                       if "CPU capability" in ln), "unknown")
    line = (f"PyTorch {torch.__version__} (CPU, float64, {torch.get_num_threads()} thread, BLAS "
            f"{blas}, CPU capability {capability}); its log_prob differs from nflib's by at "
            f"most {diff:.1e}")
    try:
        import zuko
    except ImportError:
        return out, line + "; zuko is not installed"
    torch.manual_seed(0)
    model = zuko.flows.RealNVP(2, transforms=N_LAYERS, hidden_features=HIDDEN,
                               activation=torch.nn.Tanh).double()
    n_zuko = sum(p.numel() for p in model.parameters())
    out["zuko"] = _torch_paths(torch, lambda v: model().log_prob(v),
                               lambda: model().sample((n,)), list(model.parameters()), xt)
    return out, line + f"; zuko {zuko.__version__} RealNVP ({n_zuko} parameters)"


def _torch_paths(torch, log_prob, sample, params, xt):
    opt = torch.optim.Adam(params, lr=1e-7)

    def log_prob_no_grad():
        with torch.no_grad():
            log_prob(xt)

    def nll_and_grad():
        for p in params:
            p.grad = None
        (-log_prob(xt).mean()).backward()

    def training_step():
        opt.zero_grad(set_to_none=True)
        (-log_prob(xt).mean()).backward()
        opt.step()

    def sample_no_grad():
        with torch.no_grad():
            sample()

    return {"log_prob": log_prob_no_grad, "nll_and_grad": nll_and_grad,
            "training step": training_step, "sample": sample_no_grad}


def measure(flow, x, seconds: float, min_rounds: int, others: dict):
    """Per path: median times, and median per-round ratios nflib/kernels and other/nflib."""
    rng = np.random.default_rng(1)
    n = x.shape[0]
    floor = Kernels(flow, n, rng)
    opt = nf.Adam(flow.parameters(), lr=1e-7)
    sample_rng = np.random.default_rng(2)

    def train_step():
        _, grads = nf.nll_and_grad(flow, x)
        opt.step(grads)

    paths = {"log_prob": (lambda: flow.log_prob(x), floor.forward),
             "nll_and_grad": (lambda: nf.nll_and_grad(flow, x), floor.forward_backward),
             "training step": (train_step, floor.forward_backward),
             "sample": (lambda: flow.sample(n, sample_rng), floor.forward)}
    contenders = {name: {"nflib": fn, "kernels": base,
                         **{other: fns[name] for other, fns in others.items()}}
                  for name, (fn, base) in paths.items()}
    # warm up, and size the blocks so that one block of nflib calls takes about 20 ms
    calls, round_time = {}, 0.0
    for name, fns in contenders.items():
        for fn in fns.values():
            fn()
        t = block_time(fns["nflib"], 1)
        calls[name] = max(1, int(0.02 / max(t, 1e-6)))
        round_time += sum(calls[name] * block_time(fn, 1) for fn in fns.values())
    rounds = max(min_rounds, int(seconds / max(round_time, 1e-6)))
    times = {name: {who: [] for who in fns} for name, fns in contenders.items()}
    for r in range(rounds):
        for name, fns in contenders.items():
            order = list(fns)
            order = order[r % len(order):] + order[:r % len(order)]  # rotate who goes first
            for who in order:
                times[name][who].append(block_time(fns[who], calls[name]))
    out = {}
    for name, by_who in times.items():
        t = {who: np.array(v) for who, v in by_who.items()}
        out[name] = {"nflib ms": 1e3 * float(np.median(t["nflib"])),
                     "kernels ms": 1e3 * float(np.median(t["kernels"])),
                     "nflib/kernels": float(np.median(t["nflib"] / t["kernels"]))}
        for other in others:
            out[name][f"{other} ms"] = 1e3 * float(np.median(t[other]))
            out[name][f"{other}/nflib"] = float(np.median(t[other] / t["nflib"]))
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
    probe = nf.datasets.TwoMoons().sample(64, np.random.default_rng(0))
    others, torch_line = ({}, "PyTorch left out (--no-torch)") if args.no_torch else \
        torch_contenders(flow, probe)
    print(f"CPU: {cpu_model()}; BLAS: {blas_description()}")
    print(f"numpy {np.__version__}, Python {platform.python_version()}, "
          f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}, "
          f"keep_freed_memory {'on' if args.keep_freed_memory else 'off'}, workspace "
          + (f"{workspace._DEFAULT.max_bytes / 2**20:.0f} MiB" if workspace else "none"))
    print(torch_line)
    print(f"RealNVP, {N_LAYERS} affine couplings, MLP hidden {HIDDEN}, d = 2, {n_params} "
          f"parameters; CPU time, medians over interleaved rounds of per-round ratios")
    columns = ["nflib ms", "kernels ms", "nflib/kernels"]
    for other in others:
        columns += [f"{other} ms", f"{other}/nflib"]
    print(f"{'batch':>8s}  {'path':15s}" + "".join(f"{c:>14s}" for c in columns))
    for n in args.batches:
        x = nf.datasets.TwoMoons().sample(n, np.random.default_rng(n))
        if others:
            others, _ = torch_contenders(flow, x)
        results, rounds = measure(flow, x, args.seconds, args.min_rounds, others)
        for name, row in results.items():
            line = f"{n:8d}  {name:15s}" + "".join(
                f"{row[c]:14.3f}" if c.endswith("ms") else f"{row[c]:14.2f}" for c in columns)
            print(line + (f"   ({rounds} rounds)" if name == "log_prob" else ""), flush=True)
    print(f"load average at the end {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print("Targets: nflib/kernels <= 1.15 (log_prob), <= 1.25 (nll_and_grad) at 512 and 8192.")

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
