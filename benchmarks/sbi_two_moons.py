"""C2ST of a conditional-flow posterior against the exact two-moons posterior, by simulation budget.

For each budget (10^3, 10^4 and 10^5 simulations from the prior and the two-moons simulator of
``nflib.course.ch09_sbi``) a conditional RealNVP with an embedding network is trained by maximum
likelihood of theta given x (Adam, cosine decay) for a CPU-time budget (default 180 s of one core
each). A tenth of the simulations is held out; every ``--eval-every`` steps the validation loss
is measured and the best parameters are kept. The step count is fixed before training from the
speed of a short warm-up run, so the schedule decays over the whole budget.

The posterior is scored for the observation x_o = (0, 0) (the chapter's; exact posterior samples
come from inverting the simulator, ``tm_posterior_sample``) by the classifier two-sample test of
the chapter (k-nearest neighbours, 5-fold cross-validation) on ``--n-samples`` draws of each.
0.5 means indistinguishable. Goals: C2ST <= 0.60 at 10^4 simulations and <= 0.55 at 10^5.

The benchmark paper (Lueckmann et al. 2021) scores with a neural-network classifier and on its
own ten observations, so its C2ST values are not directly comparable with these; none are quoted
here.

    python benchmarks/sbi_two_moons.py                 # 180 s of CPU per budget, ~10 minutes
    python benchmarks/sbi_two_moons.py --seconds 20    # a quick run
    python benchmarks/sbi_two_moons.py --budgets 10000
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

import nflib as nf
from nflib.course.ch09_sbi import X_OBS, c2st, tm_flow, tm_posterior_sample, tm_prior, tm_simulate
from nflib.train import cosine_lr

GOALS = {10_000: 0.60, 100_000: 0.55}


def _parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budgets", type=int, nargs="*", default=[1_000, 10_000, 100_000])
    p.add_argument("--seconds", type=float, default=180.0, help="CPU seconds of training per budget")
    p.add_argument("--depth", type=int, default=8)
    p.add_argument("--hidden", type=int, nargs="*", default=[64, 64])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--n-samples", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def train(n_sims: int, args) -> tuple:
    """(flow, steps, best validation loss, CPU seconds) for one simulation budget."""
    rng = np.random.default_rng(args.seed)
    theta = tm_prior(n_sims, rng)
    x = tm_simulate(theta, rng)
    n_val = max(n_sims // 10, 100)
    theta_val, x_val, theta, x = theta[:n_val], x[:n_val], theta[n_val:], x[n_val:]
    flow = tm_flow(rng, depth=args.depth, hidden=tuple(args.hidden))
    batch = min(args.batch, len(theta))
    params = flow.parameters()
    opt = nf.Adam(params, lr=args.lr)

    start = time.process_time()
    warm = 50
    for _ in range(warm):                       # warm-up steps, timed, with the initial rate
        idx = rng.integers(0, len(theta), batch)
        opt.step(nf.conditional_nll_and_grad(flow, theta[idx], x[idx])[1])
    per_step = (time.process_time() - start) / warm
    n_steps = max(int(args.seconds / per_step * 0.9) - warm, args.eval_every)

    best, best_params = np.inf, None
    order, pos = rng.permutation(len(theta)), 0
    for step in range(n_steps):
        if pos + batch > len(theta):
            order, pos = rng.permutation(len(theta)), 0
        idx = order[pos:pos + batch]
        pos += batch
        opt.lr = cosine_lr(args.lr, step / n_steps)
        opt.step(nf.conditional_nll_and_grad(flow, theta[idx], x[idx])[1])
        if (step + 1) % args.eval_every == 0 or step + 1 == n_steps:
            val = float(-np.mean(flow.log_prob(theta_val, x_val)))
            if val < best:
                best, best_params = val, {k: v.copy() for k, v in params.items()}
    for k, v in best_params.items():
        params[k][...] = v
    return flow, warm + n_steps, best, time.process_time() - start


def main():
    args = _parse()
    exact = tm_posterior_sample(X_OBS, args.n_samples, np.random.default_rng(1234))
    print(f"two moons, x_o = ({X_OBS[0]:g}, {X_OBS[1]:g}); {args.seconds:.0f} s of CPU per budget; "
          f"C2ST on {args.n_samples} samples each")
    print(f"{'simulations':>12} {'steps':>7} {'val NLL':>8} {'CPU s':>6} {'C2ST':>6}  goal")
    for n_sims in args.budgets:
        flow, steps, val, seconds = train(n_sims, args)
        samples = flow.sample(args.n_samples, X_OBS, np.random.default_rng(99))
        score = c2st(exact, samples)
        goal = GOALS.get(n_sims)
        verdict = "" if goal is None else (f"<= {goal:.2f} " + ("met" if score <= goal
                                                                else "NOT met"))
        print(f"{n_sims:>12} {steps:>7} {val:>8.3f} {seconds:>6.0f} {score:>6.3f}  {verdict}",
              flush=True)


if __name__ == "__main__":
    threadpool_limits(limits=1, user_api="blas")
    main()
