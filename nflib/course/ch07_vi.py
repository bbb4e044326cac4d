"""Chapter 7 (variational inference): the models the chapter fits, in one place so that the
chapter and its tests build exactly the same objects.

* ``two_modes_*``: an equal mixture of two Gaussians N((-1.5, 0), 0.5^2 I) and
  N((2.5, 0), 0.5^2 I) in 2-D, normalised (Z = 1), and ``two_modes_flow(seed)``, the RealNVP flow
  the chapter fits to it by forward and by reverse KL (and, as a Boltzmann generator, to the
  double well).
* ``double_well_energy(x)`` and ``double_well(kT)``: the 2-D double-well energy

      u(x) = a/4 x1^4 - b/2 x1^2 + c x1 + d/2 x2^2,   (a, b, c, d) = DOUBLE_WELL = (1, 6, 1, 1),

  and the pair ``(log_target, grad)`` of its Boltzmann distribution p(x) ~ exp(-u(x) / kT),
  log_target = -u / kT and grad = -grad u / kT with grad u = (a x1^3 - b x1 + c, d x2).
* ``make_flow(family, rng)``: planar, RealNVP and IAF flows of comparable size (about 100
  parameters) for the energies U1-U4 of ``nflib.targets``; ``n_parameters`` counts them (weights
  masked to zero in an autoregressive network are not counted).
* ``set_parameters(flow, values)``: copy stored parameter values into a freshly built flow.
* The latent-variable model: prior z ~ N(0, I_2) and a fixed nonlinear decoder,

      x | z ~ N(g(z), SIGMA^2 I_2),   g(z) = (z2 + 0.8 z1^2,  tanh(z1 + z2)),   SIGMA = 0.3,

  with ``log_joint(z, x)`` = log p(z) + log p(x | z) (the unnormalised posterior over z, whose
  normaliser is the evidence p(x)) and its gradient in z,

      d/dz log p(z, x) = -z + J_g(z)^T (x - g(z)) / SIGMA^2,
      J_g = [[1.6 z1, 1], [t, t]],  t = 1 - tanh^2(z1 + z2).

* ``gaussian_posterior(rng)`` (a diagonal Gaussian: one elementwise affine layer) and
  ``flow_posterior(rng)`` (three IAF layers and an affine layer) as variational posteriors q(z | x).
* ``grid_log_integral(log_f, lim, n)``: log of the integral of exp(log_f) over a square by the
  trapezoid rule (the chapter's quadrature for normalisers and evidences).
"""

from __future__ import annotations

import numpy as np

import nflib as nf
from nflib.validation import LOG_2PI, as_batch

__all__ = ["TWO_MODES_LEFT", "TWO_MODES_RIGHT", "TWO_MODES_SD", "two_modes_log_prob",
           "two_modes_grad", "two_modes_sample", "two_modes_flow", "DOUBLE_WELL",
           "double_well_energy", "double_well", "FAMILIES", "make_flow",
           "n_parameters", "set_parameters",
           "SIGMA", "decode", "log_joint", "log_joint_grad", "posterior", "sample_data",
           "gaussian_posterior", "flow_posterior", "grid_log_integral", "grid"]

# ---- a bimodal target with a known normaliser -------------------------------------------------

#: centres of the two modes (on the x1 axis) and their common standard deviation
TWO_MODES_LEFT, TWO_MODES_RIGHT, TWO_MODES_SD = -1.5, 2.5, 0.5


def _two_modes_parts(x):
    s = TWO_MODES_SD
    la = -0.5 * ((x[:, 0] - TWO_MODES_LEFT) ** 2 + x[:, 1] ** 2) / s ** 2
    lb = -0.5 * ((x[:, 0] - TWO_MODES_RIGHT) ** 2 + x[:, 1] ** 2) / s ** 2
    total = np.logaddexp(la, lb)
    return total + np.log(0.5) - LOG_2PI - 2.0 * np.log(s), np.exp(la - total)


def two_modes_log_prob(x) -> np.ndarray:
    """log p(x) of 1/2 N((-1.5, 0), 0.25 I) + 1/2 N((2.5, 0), 0.25 I), normalised, shape (n,)."""
    return _two_modes_parts(as_batch(x, 2, "x"))[0]


def two_modes_grad(x) -> np.ndarray:
    """d log p/dx = -(x - r m_left - (1 - r) m_right) / s^2, r the left mode's responsibility."""
    x = as_batch(x, 2, "x")
    r = _two_modes_parts(x)[1]
    mean = np.stack([r * TWO_MODES_LEFT + (1.0 - r) * TWO_MODES_RIGHT, np.zeros_like(r)], axis=1)
    return -(x - mean) / TWO_MODES_SD ** 2


def two_modes_sample(n: int, rng: np.random.Generator) -> np.ndarray:
    """n exact samples of the mixture."""
    left = rng.random(n) < 0.5
    x = TWO_MODES_SD * rng.standard_normal((n, 2))
    x[:, 0] += np.where(left, TWO_MODES_LEFT, TWO_MODES_RIGHT)
    return x


def two_modes_flow(seed: int) -> nf.Flow:
    """The flow fitted both ways: four affine couplings with one hidden layer of 8 units."""
    return nf.Flow(nf.StandardNormal(2),
                   nf.realnvp(2, 4, hidden=(8,), rng=np.random.default_rng(seed)))


# ---- a double-well energy: the toy Boltzmann distribution --------------------------------------

#: (a, b, c, d) of u(x) = a/4 x1^4 - b/2 x1^2 + c x1 + d/2 x2^2: wells near x1 = -+sqrt(b/a), the
#: right one (x1 > 0) raised by the tilt c x1
DOUBLE_WELL = (1.0, 6.0, 1.0, 1.0)


def double_well_energy(x) -> np.ndarray:
    """u(x) = a/4 x1^4 - b/2 x1^2 + c x1 + d/2 x2^2 with (a, b, c, d) = DOUBLE_WELL, shape (n,)."""
    x = as_batch(x, 2, "x")
    a, b, c, d = DOUBLE_WELL
    return 0.25 * a * x[:, 0] ** 4 - 0.5 * b * x[:, 0] ** 2 + c * x[:, 0] + 0.5 * d * x[:, 1] ** 2


def double_well(kT: float):
    """``(log_target, grad)`` of the Boltzmann distribution exp(-u(x) / kT) of the double well:
    -u / kT and -(a x1^3 - b x1 + c, d x2) / kT (unnormalised)."""
    kT = float(kT)
    if not np.isfinite(kT) or kT <= 0:
        raise ValueError(f"the temperature kT must be positive; got {kT!r}")
    a, b, c, d = DOUBLE_WELL

    def grad(x):
        x = as_batch(x, 2, "x")
        return -np.stack([a * x[:, 0] ** 3 - b * x[:, 0] + c, d * x[:, 1]], axis=1) / kT

    return (lambda x: -double_well_energy(x) / kT), grad


# ---- three flow families of comparable size ---------------------------------------------------

FAMILIES = ("planar", "realnvp", "iaf")


def make_flow(family: str, rng: np.random.Generator) -> nf.Flow:
    """A 2-D flow of about 100 parameters: 20 planar layers, 4 affine couplings with one hidden
    layer of 6 units, or 4 IAF layers with one hidden layer of 6 units (the order reversed
    between them)."""
    if family == "planar":
        bijection = nf.Compose([nf.Planar(2, rng=rng) for _ in range(20)])
    elif family == "realnvp":
        bijection = nf.realnvp(2, 4, hidden=(6,), rng=rng)
    elif family == "iaf":
        layers = []
        for k in range(4):
            if k:
                layers.append(nf.Reverse(2))
            layers.append(nf.IAF(2, hidden=(6,), rng=rng))
        bijection = nf.Compose(layers)
    else:
        raise ValueError(f"unknown flow family {family!r}; expected one of {FAMILIES}")
    return nf.Flow(nf.StandardNormal(2), bijection)


def _mask_counts(bijection):
    """name -> number of weights a MADE mask lets through, for the masked weight matrices."""
    counts = {}
    layers = list(bijection) if isinstance(bijection, nf.Compose) else [bijection]
    for i, layer in enumerate(layers):
        if isinstance(layer, (nf.IAF, nf.MAF)):
            names = [n for n in layer.parameters() if n.split(".")[-1].startswith("W")]
            for name, mask in zip(sorted(names), layer.made.masks):
                counts[f"{i}.{name}"] = int(mask.sum())
    return counts


def n_parameters(flow: nf.Flow) -> int:
    """Number of trainable numbers (weights masked to zero in an autoregressive net excluded)."""
    masked = _mask_counts(flow.bijection)
    return int(sum(masked.get(name, p.size) for name, p in flow.parameters().items()))


def set_parameters(flow: nf.Flow, values: dict) -> nf.Flow:
    """Copy ``values`` (name -> array or nested list) into the flow's live parameters."""
    params = flow.parameters()
    if set(values) != set(params):
        raise ValueError("the stored parameters do not match the flow's: "
                         f"{sorted(set(values) ^ set(params))}")
    for name, p in params.items():
        p[...] = np.asarray(values[name], dtype=np.float64).reshape(p.shape)
    return flow


# ---- a latent-variable model with a fixed decoder ---------------------------------------------

SIGMA = 0.3


def decode(z) -> np.ndarray:
    """The decoder mean g(z) = (z2 + 0.8 z1^2, tanh(z1 + z2)), shape (n, 2)."""
    z = as_batch(z, 2, "z")
    return np.stack([z[:, 1] + 0.8 * z[:, 0] ** 2, np.tanh(z[:, 0] + z[:, 1])], axis=1)


def _check_x(x):
    x = np.asarray(x, dtype=np.float64)
    if x.shape != (2,) or not np.all(np.isfinite(x)):
        raise ValueError(f"a data point x must be a finite vector of shape (2,); got {x!r}")
    return x


def log_joint(z, x) -> np.ndarray:
    """log p(z) + log p(x | z) for latent points z (n, 2) and one data point x (2,), shape (n,)."""
    z, x = as_batch(z, 2, "z"), _check_x(x)
    r = x - decode(z)
    return (-0.5 * np.sum(z * z, axis=1) - LOG_2PI
            - 0.5 * np.sum(r * r, axis=1) / SIGMA ** 2 - LOG_2PI - 2.0 * np.log(SIGMA))


def log_joint_grad(z, x) -> np.ndarray:
    """d/dz [log p(z) + log p(x | z)] = -z + J_g(z)^T (x - g(z)) / SIGMA^2, shape (n, 2)."""
    z, x = as_batch(z, 2, "z"), _check_x(x)
    r = (x - decode(z)) / SIGMA ** 2
    t = 1.0 - np.tanh(z[:, 0] + z[:, 1]) ** 2
    return -z + np.stack([1.6 * z[:, 0] * r[:, 0] + t * r[:, 1], r[:, 0] + t * r[:, 1]], axis=1)


def posterior(x):
    """``(log_target, grad)`` over z for the data point x: the unnormalised posterior p(z, x)."""
    x = _check_x(x)
    return (lambda z: log_joint(z, x)), (lambda z: log_joint_grad(z, x))


def sample_data(n: int, rng: np.random.Generator):
    """``(z, x)``: n latent points from the prior and data points from the decoder."""
    z = rng.standard_normal((n, 2))
    return z, decode(z) + SIGMA * rng.standard_normal((n, 2))


def gaussian_posterior() -> nf.Flow:
    """A diagonal Gaussian q(z | x) = N(m, diag(s^2)): one elementwise affine layer on N(0, I)."""
    return nf.Flow(nf.StandardNormal(2), nf.Affine(2))


def flow_posterior(rng: np.random.Generator) -> nf.Flow:
    """An IAF posterior: three IAF layers (order reversed between them), then an affine layer."""
    layers = [nf.IAF(2, hidden=(8,), rng=rng), nf.Reverse(2), nf.IAF(2, hidden=(8,), rng=rng),
              nf.Reverse(2), nf.IAF(2, hidden=(8,), rng=rng), nf.Affine(2)]
    return nf.Flow(nf.StandardNormal(2), nf.Compose(layers))


# ---- quadrature on a grid ---------------------------------------------------------------------

def grid(lim: float, n: int):
    """``(axis, points)``: n equally spaced values on [-lim, lim] and the (n*n, 2) grid points,
    first coordinate varying slowest (``points.reshape(n, n, 2)[i, j] = (axis[i], axis[j])``)."""
    axis = np.linspace(-lim, lim, n)
    points = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
    return axis, points


def grid_log_integral(log_f, lim: float = 6.0, n: int = 401) -> float:
    """log of the integral of exp(log_f(x)) over [-lim, lim]^2, by the trapezoid rule."""
    axis, points = grid(lim, n)
    values = np.asarray(log_f(points), dtype=np.float64).reshape(n, n)
    top = values.max()
    inner = np.trapezoid(np.exp(values - top), axis, axis=1)
    return float(top + np.log(np.trapezoid(inner, axis)))
