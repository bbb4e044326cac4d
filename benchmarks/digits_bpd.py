"""Test bits/dim reached on the 8x8 digits in a fixed CPU budget (chapter 5's models).

The models of chapter 5 (``nflib.course.ch05_digits``) are trained by maximum likelihood on the
chapter's split (1,293 images to fit, 144 for validation, 360 for the test) with fresh
dequantisation noise for every batch, weight decay, a cosine learning-rate decay and early
stopping on the validation set (the best parameters are restored). The budget is CPU time of
this process, on one BLAS thread, or a number of steps (``--steps``), which gives the same
result on every machine.

By default the budget trains a *mixture* of Glows: each has a learned prior at its split
(``c5.digits_glow_variant(learned_prior=True)``) and trains for ``--model-steps`` steps (1,500)
from its own seed, as many as the budget allows, and the model is their equal-weight mixture,
log p(x) = log((1/M) sum_m p_m(x)), itself a density on the pixel box. A single Glow over-fits
the 1,293 images after 1,000 to 2,000 steps even with fresh noise and weight decay, so a longer
run of one model buys nothing; models from different seeds over-fit differently, and their
mixture generalises better than any of them. ``--single`` trains one model for the whole budget
instead (the chapter's Glow, or ``--model realnvp``, the flat RealNVP of similar size).

Printed: the validation score of each model (or the validation curve of a single model), the
test bits/dim of the discrete pixels with the baselines (the full Gaussian and the diagonal
Gaussian in logit space), and the importance-weighted estimates of the discrete cost with
K = 1, 8, 64 dequantisation draws per test image, beside it (how loose the dequantised bound is).

The goal is 2.10 bits/dim (uniform-dequantisation bound) in 180 s of one core. A CPU-time budget
makes the number of steps, and so the result, a property of the machine: a slower CPU trains
fewer models in 180 s. Compare machines with ``--steps``.

    python benchmarks/digits_bpd.py                           # mixture of Glows, 180 s of CPU
    python benchmarks/digits_bpd.py --steps 30000             # 20 models of 1,500 steps
    python benchmarks/digits_bpd.py --single                  # one Glow for 180 s
    python benchmarks/digits_bpd.py --single --model realnvp  # the flat RealNVP
    python benchmarks/digits_bpd.py --seconds 30              # a quick run
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from scipy.special import logsumexp
from threadpoolctl import threadpool_limits

import nflib as nf
from nflib import datasets
from nflib.course import ch05_digits as c5


def _parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--single", action="store_true",
                   help="one model for the whole budget instead of a mixture")
    p.add_argument("--model", choices=["glow", "realnvp"], default="glow",
                   help="with --single: the chapter's Glow or the flat RealNVP")
    p.add_argument("--seconds", type=float, default=180.0, help="CPU seconds of training")
    p.add_argument("--steps", type=int, default=None,
                   help="train for this many steps in all instead of a CPU-time budget")
    p.add_argument("--model-steps", type=int, default=1500,
                   help="steps of each model of the mixture")
    p.add_argument("--hidden", type=int, default=None,
                   help="hidden units of the conditioners (default: 64 Glow, 48 RealNVP)")
    p.add_argument("--depth", type=int, default=4, help="Glow steps per level")
    p.add_argument("--learned-prior", action="store_true",
                   help="with --single: the Glow with a learned prior at the split")
    p.add_argument("--layers", type=int, default=8, help="RealNVP coupling layers")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=0.5)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--progress", action="store_true")
    return p.parse_args()


N_VAL = 144
GOAL = 2.10


def _build(args, rng, mixture: bool):
    hidden = (args.hidden or (48 if args.model == "realnvp" and not mixture else 64),)
    if mixture or args.learned_prior:
        return c5.digits_glow_variant(rng=rng, depth=args.depth, hidden=hidden,
                                      learned_prior=True)
    if args.model == "glow":
        return c5.digits_glow(rng=rng, depth=args.depth, hidden=hidden)
    return c5.digits_realnvp(rng=rng, n_layers=args.layers, hidden=hidden)


def _train(args, flow, x_fit, x_val, seed, n_steps, time_limit):
    c5.bpd(flow, x_fit[:512])                            # ActNorm initialisation
    return nf.fit(flow, x_fit, x_val=x_val, rng=np.random.default_rng(seed + 100),
                  n_steps=n_steps, time_limit=time_limit, clock="cpu", batch_size=args.batch,
                  lr=args.lr, schedule="cosine", eval_every=args.eval_every,
                  weight_decay=args.weight_decay, augment=c5.fresh_noise,
                  progress=args.progress)


def main(args) -> float:
    train_pixels, test_pixels, _, _ = c5.split_digits(seed=0)
    x_train = datasets.dequantize(train_pixels, np.random.default_rng(1))
    x_test = datasets.dequantize(test_pixels, np.random.default_rng(2))
    x_fit, x_val = x_train[:-N_VAL], x_train[-N_VAL:]
    budget = f"{args.steps} steps" if args.steps else f"{args.seconds:.0f} s of CPU"
    cpu = time.process_time()
    flows = []
    if args.single:
        flow = _build(args, np.random.default_rng(args.seed), mixture=False)
        print(f"{args.model}: {c5.n_parameters(flow)} parameters; training for {budget}")
        history = _train(args, flow, x_fit, x_val, args.seed, args.steps,
                         None if args.steps else args.seconds)
        for step, loss in zip(history.val_step, history.val_loss):
            print(f"  step {step:6d}  validation {datasets.bits_per_dim(loss, c5.D):.4f} bits/dim")
        print(f"{history.steps} steps; best validation at step {history.best_step}: "
              f"{datasets.bits_per_dim(history.best_val_loss, c5.D):.4f}")
        flows.append(flow)
    else:
        n_models = math.ceil(args.steps / args.model_steps) if args.steps else None
        print(f"mixture of Glows with a learned prior, {args.model_steps} steps each; "
              f"training for {budget}")
        last = 0.0
        while True:
            used = time.process_time() - cpu
            if n_models is not None and len(flows) == n_models:
                break
            if n_models is None and flows and args.seconds - used < 0.5 * last:
                break                                    # not enough left for another model
            seed = args.seed + len(flows)
            flow = _build(args, np.random.default_rng(seed), mixture=True)
            start = time.process_time()
            steps = (min(args.model_steps, args.steps - len(flows) * args.model_steps)
                     if args.steps else args.model_steps)
            history = _train(args, flow, x_fit, x_val, seed, steps,
                             None if args.steps else max(args.seconds - used, 1.0))
            last = time.process_time() - start
            flows.append(flow)
            print(f"  model {len(flows):2d} (seed {seed}): {c5.n_parameters(flow)} parameters, "
                  f"{history.steps} steps, best validation "
                  f"{datasets.bits_per_dim(history.best_val_loss, c5.D):.4f} at step "
                  f"{history.best_step}, test {c5.bpd(flow, x_test):.4f}")
    cpu = time.process_time() - cpu

    def log_density(x):
        """The equal-weight mixture of the trained models (one model: that model)."""
        log_p = np.stack([f.log_prob(x) for f in flows])
        return logsumexp(log_p, axis=0) - np.log(len(flows))

    test = datasets.bits_per_dim(-float(np.mean(log_density(x_test))), c5.D)
    verdict = "meets" if test <= GOAL else "misses"
    what = "the model" if len(flows) == 1 else f"the mixture of {len(flows)} models"
    print(f"{cpu:.1f} s of CPU; test bits/dim of {what} {test:.4f} ({verdict} the goal "
          f"{GOAL:.2f}; uniform {datasets.bpd_offset():.3f}, full Gaussian "
          f"{c5.gaussian_bpd(x_train, x_test, diagonal=False):.3f}, diagonal Gaussian in logit "
          f"space {c5.logit_gaussian_bpd(x_train, x_test):.3f})")
    estimates = {k: c5.iw_bits(log_density, test_pixels, k, np.random.default_rng(10))
                 for k in (1, 8, 64)}
    print("importance-weighted discrete bits/dim: " + ", ".join(
        f"K = {k}: {v:.4f}" for k, v in estimates.items())
          + f" (the dequantised bound is at least {estimates[1] - estimates[64]:.3f} loose)")
    return test


if __name__ == "__main__":
    # one BLAS thread: the CPU budget is then the CPU time of this process
    threadpool_limits(limits=1, user_api="blas")
    main(_parse())
