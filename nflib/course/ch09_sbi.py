"""Chapter 9 (conditional flows and simulation-based inference): simulators, exact posteriors,
the flows the chapter trains and the scores it reports, in one place so that the chapter, its
tests and ``benchmarks/sbi_two_moons.py`` use exactly the same objects.

* Linear-Gaussian model: theta ~ N(0, 1), x_j = theta + SIGMA eps_j (j = 1..K, eps ~ N(0, 1)).
  The posterior is Gaussian with precision 1 + K / SIGMA^2 and mean sum_j x_j / SIGMA^2 divided
  by that precision (``lg_posterior``).
* Two moons (the SBI benchmark task): theta ~ U[-1, 1]^2, a ~ U(-pi/2, pi/2), r ~ N(0.1, 0.01^2),

      x = (r cos a + 0.25, r sin a) + (-|theta_1 + theta_2| / sqrt 2, (theta_2 - theta_1) / sqrt 2).

  With u = x - (0.25, 0) - g(theta), g the second term, u = r (cos a, sin a) is a point in polar
  coordinates, so p(x | theta) = N(|u|; 0.1, 0.01^2) / (pi |u|) for u_1 > 0 and 0 otherwise
  (``tm_log_likelihood``; the polar Jacobian is 1/|u|, the angle density 1/pi). Exact posterior
  samples (``tm_posterior_sample``): draw (a, r) from their distributions, solve g(theta) = x - p
  for theta (two solutions, one per sign of theta_1 + theta_2, equally likely because g is an
  isometry on each half-plane and the prior is flat), keep those inside the prior's box.
* ``c2st``: the classifier two-sample test, the cross-validated accuracy of a k-nearest-neighbour
  classifier (scikit-learn) telling two samples of equal size apart; 0.5 = indistinguishable,
  1 = separated.
* ``rejection_abc``: keep the simulations whose data fall nearest the observation.
* ``sbc_ranks``: simulation-based calibration ranks; ``coverage`` the expected-coverage curve.
"""

from __future__ import annotations

import numpy as np

import nflib as nf

__all__ = ["SIGMA", "K", "lg_simulate", "lg_posterior", "lg_flow", "train_lg",
           "flow_gaussian", "gaussian_kl",
           "tm_prior", "tm_simulate", "tm_log_likelihood", "tm_posterior_sample",
           "tm_grid_posterior", "tm_flow", "train_tm", "X_OBS",
           "c2st", "rejection_abc", "sbc_ranks", "coverage", "rank_chi2",
           "train_tm_bounded", "bounded_sample", "bounded_log_prob"]

# ---- linear-Gaussian model ----------------------------------------------------------------------

#: noise of each measurement and number of measurements
SIGMA, K = 0.5, 2


def lg_simulate(n: int, rng: np.random.Generator):
    """(theta (n, 1), x (n, K)) from the prior and the simulator."""
    theta = rng.standard_normal((n, 1))
    return theta, theta + SIGMA * rng.standard_normal((n, K))


def lg_posterior(x):
    """Exact posterior mean and standard deviation for each row of x, shapes (n,) and (n,)."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    precision = 1.0 + x.shape[1] / SIGMA ** 2
    return x.sum(axis=1) / SIGMA ** 2 / precision, np.full(x.shape[0], precision ** -0.5)


def lg_flow(rng: np.random.Generator, hidden=(16, 16)) -> nf.ConditionalFlow:
    """One conditional affine layer on 1-D theta: q(theta | x) = N(mu(x), exp(2 s(x)))."""
    return nf.ConditionalFlow(nf.StandardNormal(1),
                              nf.ConditionalAffineCoupling([0], K, hidden, rng=rng))


def train_lg(n_sims: int, seed: int, n_steps: int = 600, batch_size: int = 100,
             lr: float = 5e-3) -> nf.ConditionalFlow:
    """The conditional Gaussian flow trained on ``n_sims`` simulations (seeded)."""
    rng = np.random.default_rng(seed)
    theta, x = lg_simulate(n_sims, rng)
    flow = lg_flow(rng)
    nf.fit_conditional(flow, theta, x, rng=rng, n_steps=n_steps,
                       batch_size=min(batch_size, n_sims), lr=lr)
    return flow


def flow_gaussian(flow: nf.ConditionalFlow, x):
    """Mean and standard deviation of a one-layer conditional affine flow at each row of x."""
    x = np.atleast_2d(x)
    mean, log_det = flow.bijection.forward(np.zeros((x.shape[0], 1)), x)
    return mean[:, 0], np.exp(log_det)


def gaussian_kl(m1, s1, m2, s2):
    """KL(N(m1, s1^2) || N(m2, s2^2)) = log(s2/s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2."""
    return np.log(s2 / s1) + (s1 ** 2 + (m1 - m2) ** 2) / (2 * s2 ** 2) - 0.5


# ---- two moons -----------------------------------------------------------------------------------

#: the observation the chapter conditions on
X_OBS = np.array([0.0, 0.0])
_R_MEAN, _R_SD = 0.1, 0.01


def tm_prior(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, (n, 2))


def _g(theta):
    return np.stack([-np.abs(theta[:, 0] + theta[:, 1]),
                     theta[:, 1] - theta[:, 0]], axis=1) / np.sqrt(2.0)


def _noise_points(n, rng):
    a = rng.uniform(-np.pi / 2, np.pi / 2, n)
    r = _R_MEAN + _R_SD * rng.standard_normal(n)
    return np.stack([r * np.cos(a) + 0.25, r * np.sin(a)], axis=1)


def tm_simulate(theta, rng: np.random.Generator) -> np.ndarray:
    """One simulated x per row of theta."""
    theta = np.atleast_2d(theta)
    return _noise_points(theta.shape[0], rng) + _g(theta)


def tm_log_likelihood(x, theta) -> np.ndarray:
    """log p(x | theta) in closed form (module docstring); x (2,) or (n, 2), theta (n, 2)."""
    u = np.asarray(x) - np.array([0.25, 0.0]) - _g(np.atleast_2d(theta))
    r = np.hypot(u[:, 0], u[:, 1])
    with np.errstate(divide="ignore"):
        out = (-0.5 * ((r - _R_MEAN) / _R_SD) ** 2 - np.log(_R_SD * np.sqrt(2 * np.pi))
               - np.log(np.pi * r))
    return np.where(u[:, 0] > 0, out, -np.inf)


def tm_posterior_sample(x_obs, n: int, rng: np.random.Generator) -> np.ndarray:
    """n exact posterior samples for one observation (module docstring)."""
    x_obs = np.asarray(x_obs, dtype=np.float64)
    out, have = [], 0
    for _ in range(1000):
        m = 4 * n + 100
        p = _noise_points(m, rng)
        plus = np.sqrt(2.0) * (p[:, 0] - x_obs[0])       # |theta_1 + theta_2|
        diff = np.sqrt(2.0) * (x_obs[1] - p[:, 1])       # theta_2 - theta_1
        total = rng.choice([-1.0, 1.0], m) * plus
        theta = np.stack([(total - diff) / 2, (total + diff) / 2], axis=1)
        keep = (plus >= 0) & np.all(np.abs(theta) <= 1.0, axis=1)
        out.append(theta[keep])
        have += int(keep.sum())
        if have >= n:
            return np.concatenate(out)[:n]
    raise ValueError(f"the observation {x_obs} has (almost) no posterior mass inside the prior")


def tm_grid_posterior(x_obs, n_grid: int = 401):
    """The exact posterior density on an n_grid x n_grid grid of [-1, 1]^2 (likelihood times the
    flat prior, normalised by the trapezoid rule): (axis, density[i, j] at (axis[i], axis[j]))."""
    axis = np.linspace(-1.0, 1.0, n_grid)
    t1, t2 = np.meshgrid(axis, axis, indexing="ij")
    theta = np.stack([t1.ravel(), t2.ravel()], axis=1)
    dens = np.exp(tm_log_likelihood(x_obs, theta)).reshape(n_grid, n_grid)
    mass = np.trapezoid(np.trapezoid(dens, axis, axis=1), axis)
    return axis, dens / mass


def tm_flow(rng: np.random.Generator, depth: int = 6, hidden=(32, 32),
            embedding: bool = True) -> nf.ConditionalFlow:
    """Conditional RealNVP on theta (alternating masks); the context is an embedding
    MLP(2 -> 8) of x trained jointly (or x itself with ``embedding=False``)."""
    context = 8 if embedding else 2
    layers = [nf.ConditionalAffineCoupling(nf.alternating_mask(2, k % 2), context, hidden,
                                           rng=rng) for k in range(depth)]
    emb = nf.MLP(2, context, (32,), rng=rng) if embedding else None
    return nf.ConditionalFlow(nf.StandardNormal(2), nf.ConditionalCompose(layers), emb)


def train_tm(n_sims: int, seed: int, n_steps: int = 1000, batch_size: int = 256,
             lr: float = 3e-3, **flow_kwargs):
    """(flow, losses): the two-moons posterior flow trained on ``n_sims`` simulations."""
    rng = np.random.default_rng(seed)
    theta = tm_prior(n_sims, rng)
    x = tm_simulate(theta, rng)
    flow = tm_flow(rng, **flow_kwargs)
    losses = nf.fit_conditional(flow, theta, x, rng=rng, n_steps=n_steps,
                                batch_size=min(batch_size, n_sims), lr=lr)
    return flow, losses


# ---- scores --------------------------------------------------------------------------------------

def c2st(a, b, seed: int = 0, n_folds: int = 5, neighbours: int = 15) -> float:
    """Classifier two-sample test: mean accuracy over ``n_folds`` stratified folds of a
    k-nearest-neighbour classifier on the two samples, both standardised by the mean and standard
    deviation of ``a``."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    a, b = np.atleast_2d(a), np.atleast_2d(b)
    if len(a) != len(b):
        raise ValueError(f"c2st needs two samples of the same size (else accuracy 0.5 is not "
                         f"chance level); got {len(a)} and {len(b)}")
    mean, sd = a.mean(axis=0), a.std(axis=0)
    data = (np.concatenate([a, b]) - mean) / sd
    labels = np.concatenate([np.zeros(len(a)), np.ones(len(b))])
    folds = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    return float(cross_val_score(KNeighborsClassifier(neighbours), data, labels, cv=folds).mean())


def rejection_abc(x_obs, n_sims: int, n_keep: int, rng: np.random.Generator) -> np.ndarray:
    """Rejection ABC: simulate n_sims pairs from the prior, keep the n_keep thetas whose x lies
    nearest x_obs (Euclidean distance)."""
    theta = tm_prior(n_sims, rng)
    x = tm_simulate(theta, rng)
    dist = np.linalg.norm(x - np.asarray(x_obs), axis=1)
    return theta[np.argsort(dist)[:n_keep]]


def sbc_ranks(sample_posterior, n_datasets: int, n_draws: int, rng: np.random.Generator):
    """SBC ranks for the linear-Gaussian model: for each of ``n_datasets`` pairs theta* ~ prior,
    x ~ simulator, the number of the ``n_draws`` posterior draws below theta* (0..n_draws).
    ``sample_posterior(x, n_draws, rng)`` returns (len(x), n_draws) draws, one row per dataset."""
    theta, x = lg_simulate(n_datasets, rng)
    draws = sample_posterior(x, n_draws, rng)
    return (draws < theta).sum(axis=1)


def coverage(ranks, n_draws: int, levels):
    """Expected coverage: the fraction of datasets whose theta* lies in the central credible
    interval of each level, read from the ranks (u = (rank + 1/2) / (n_draws + 1))."""
    u = (np.asarray(ranks) + 0.5) / (n_draws + 1)
    return np.array([np.mean(np.abs(u - 0.5) <= level / 2) for level in levels])


def rank_chi2(ranks, n_draws: int, n_bins: int = 10):
    """Pearson's chi-square test of uniform ranks in ``n_bins`` equal bins: (statistic, p)."""
    from scipy import stats

    counts = np.bincount(np.asarray(ranks) * n_bins // (n_draws + 1), minlength=n_bins)
    return stats.chisquare(counts)


# ---- a posterior that stays inside the prior's box ----------------------------------------------

def train_tm_bounded(n_sims: int, seed: int, n_steps: int = 1000, batch_size: int = 256,
                     lr: float = 3e-3):
    """The two-moons flow trained on phi = artanh(theta) (seeded like ``train_tm``): theta =
    tanh(phi) lies in (-1, 1)^2 by construction; see ``bounded_sample``/``bounded_log_prob``."""
    rng = np.random.default_rng(seed)
    theta = tm_prior(n_sims, rng)
    x = tm_simulate(theta, rng)
    flow = tm_flow(rng)
    losses = nf.fit_conditional(flow, np.arctanh(theta), x, rng=rng, n_steps=n_steps,
                                batch_size=min(batch_size, n_sims), lr=lr)
    return flow, losses


def bounded_sample(flow, n: int, x, rng: np.random.Generator) -> np.ndarray:
    """theta = tanh(phi), phi ~ q(phi | x)."""
    return np.tanh(flow.sample(n, x, rng))


def bounded_log_prob(flow, theta, x) -> np.ndarray:
    """log q(theta | x) = log q_phi(artanh theta | x) - sum_i log(1 - theta_i^2) (the change of
    variables through artanh, whose derivative is 1 / (1 - theta^2))."""
    theta = np.atleast_2d(theta)
    return flow.log_prob(np.arctanh(theta), x) - np.log1p(-theta ** 2).sum(axis=1)
