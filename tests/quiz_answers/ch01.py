"""Quiz answers of chapter 01, recomputed with nflib (registered in ``quiz_answers.ANSWERS``)."""

from __future__ import annotations

import numpy as np  # noqa: F401  (used by the entries)

import nflib as nf  # noqa: F401

from . import answer


@answer("01-uniform-stretch")
def _():
    # Z ~ U[0, 2], X = 4 Z: p_X(4)
    flow = nf.Flow(nf.Uniform(1, low=0.0, high=2.0), nf.Affine(1, log_scale=[np.log(4.0)]))
    return float(np.exp(flow.log_prob([[4.0]])[0]))


@answer("01-exp-density")
def _():
    # Z ~ U[0, 2], X = exp(Z): p_X(2) = p_Z(log 2) |d log x / dx| at x = 2
    log_pz = nf.Uniform(1, low=0.0, high=2.0).log_prob([[np.log(2.0)]])[0]
    return float(np.exp(log_pz - np.log(2.0)))


@answer("01-det-area")
def _():
    # area of the image of the unit square = |det J| of z -> A z (finite differences)
    A = np.array([[1.0, 2.0], [3.0, 4.0]])
    log_det = nf.checks.numerical_log_det(lambda z: z @ A.T, np.zeros((1, 2)))[0]
    return float(np.exp(log_det))


@answer("01-composition-logdet")
def _():
    # f1 doubles all three coordinates, f2 halves the first: log-dets add
    f = nf.Compose([nf.Affine(3, log_scale=np.full(3, np.log(2.0))),
                    nf.Affine(3, log_scale=[np.log(0.5), 0.0, 0.0])])
    return float(f.forward(np.zeros((1, 3)))[1][0])
