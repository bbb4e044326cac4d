"""Test bits/dim reached on the 8x8 digits in a fixed CPU budget (chapter 5's models).

The model of chapter 5 (``nflib.course.ch05_digits``: a two-level Glow, or the flat RealNVP of
similar size) is trained by maximum likelihood on the chapter's split (1,293 images to fit, 144
for validation, 360 for the test) with fresh dequantisation noise for every batch, weight decay,
a cosine learning-rate decay over the budget and early stopping on the validation set (the best
parameters are restored). The budget is CPU time of this process, on one BLAS thread, or a
number of steps (``--steps``), which gives the same result on every machine. Printed: the
validation curve (every ``--eval-every`` steps), the best step, the test bits/dim of the
discrete pixels with the baselines (the full Gaussian and the diagonal Gaussian in logit space),
and the importance-weighted estimates of the discrete cost with K = 1, 8, 64 dequantisation
draws per test image (how loose the dequantised bound is for the trained model).

The goal for the Glow is 2.30 bits/dim. A CPU-time budget makes the number of steps, and so the
result, a property of the machine: a slower CPU trains fewer steps in 180 s. Compare machines
with ``--steps``.

    python benchmarks/digits_bpd.py                  # Glow, 180 s of CPU
    python benchmarks/digits_bpd.py --steps 20000    # Glow, a fixed number of steps
    python benchmarks/digits_bpd.py --model realnvp  # the flat RealNVP
    python benchmarks/digits_bpd.py --seconds 30     # a quick run
"""

from __future__ import annotations

import argparse

import time

import numpy as np
from threadpoolctl import threadpool_limits

import nflib as nf
from nflib import datasets
from nflib.course import ch05_digits as c5


def _parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=["glow", "realnvp"], default="glow")
    p.add_argument("--seconds", type=float, default=180.0, help="CPU seconds of training")
    p.add_argument("--steps", type=int, default=None,
                   help="train for this many steps instead of a CPU-time budget")
    p.add_argument("--hidden", type=int, default=None,
                   help="hidden units of the conditioners (default: 64 Glow, 48 RealNVP)")
    p.add_argument("--depth", type=int, default=4, help="Glow steps per level")
    p.add_argument("--layers", type=int, default=8, help="RealNVP coupling layers")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=0.5)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--progress", action="store_true")
    return p.parse_args()


N_VAL = 144
GOAL = 2.30


def main(args) -> float:
    train_pixels, test_pixels, _, _ = c5.split_digits(seed=0)
    x_train = datasets.dequantize(train_pixels, np.random.default_rng(1))
    x_test = datasets.dequantize(test_pixels, np.random.default_rng(2))
    x_fit, x_val = x_train[:-N_VAL], x_train[-N_VAL:]
    rng = np.random.default_rng(args.seed)
    if args.model == "glow":
        flow = c5.digits_glow(rng=rng, depth=args.depth, hidden=(args.hidden or 64,))
    else:
        flow = c5.digits_realnvp(rng=rng, n_layers=args.layers, hidden=(args.hidden or 48,))
    start = c5.bpd(flow, x_fit[:512])                   # ActNorm initialisation
    budget = (f"{args.steps} steps" if args.steps else f"{args.seconds:.0f} s of CPU")
    print(f"{args.model}: {c5.n_parameters(flow)} parameters, {start:.3f} bits/dim untrained; "
          f"training for {budget}")
    cpu = time.process_time()
    history = nf.fit(flow, x_fit, x_val=x_val, rng=np.random.default_rng(args.seed + 100),
                     n_steps=args.steps, time_limit=None if args.steps else args.seconds,
                     clock="cpu", batch_size=args.batch, lr=args.lr,
                     schedule="cosine", eval_every=args.eval_every,
                     weight_decay=args.weight_decay, augment=c5.fresh_noise,
                     progress=args.progress)
    cpu = time.process_time() - cpu
    for step, loss in zip(history.val_step, history.val_loss):
        print(f"  step {step:6d}  validation {datasets.bits_per_dim(loss, c5.D):.4f} bits/dim")
    test = c5.bpd(flow, x_test)
    print(f"{history.steps} steps in {cpu:.1f} s of CPU; best validation at step "
          f"{history.best_step}: {datasets.bits_per_dim(history.best_val_loss, c5.D):.4f}")
    verdict = "meets" if test <= GOAL else "misses"
    print(f"test bits/dim {test:.4f} ({verdict} the goal {GOAL:.2f}; uniform "
          f"{datasets.bpd_offset():.3f}, full Gaussian "
          f"{c5.gaussian_bpd(x_train, x_test, diagonal=False):.3f}, diagonal Gaussian in logit "
          f"space {c5.logit_gaussian_bpd(x_train, x_test):.3f})")
    estimates = {k: c5.iw_bits(flow.log_prob, test_pixels, k, np.random.default_rng(10))
                 for k in (1, 8, 64)}
    print("importance-weighted discrete bits/dim: " + ", ".join(
        f"K = {k}: {v:.4f}" for k, v in estimates.items())
          + f" (the dequantised bound is at least {estimates[1] - estimates[64]:.3f} loose)")
    return test


if __name__ == "__main__":
    # one BLAS thread: the CPU budget is then the CPU time of this process
    threadpool_limits(limits=1, user_api="blas")
    main(_parse())
