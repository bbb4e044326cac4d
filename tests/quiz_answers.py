"""The answers of the quizzes, recomputed with nflib, keyed by question id.

``ANSWERS["<question id>"]`` is a function of no arguments returning the value the question's
correct answer must match: for a ``numeric`` question the exact value (the test checks that a
reader typing it, or typing it to 3 significant digits, is marked correct, and that no distractor
range catches it); for a choice question, the number written on its correct choice (a list of
numbers if several numeric choices are correct). tests/test_quizzes.py fails for a numeric
question, or a correct numeric choice, whose id has no entry here.

Add an entry under your chapter's marker line:

    @answer("01-scale-density")
    def _():
        x, log_det = nf.Affine(1, log_scale=[np.log(10.0)]).forward(np.zeros((1, 1)))
        return float(np.exp(nf.StandardNormal(1).log_prob(np.zeros((1, 1)))[0] - log_det[0]))
"""

from __future__ import annotations

import numpy as np  # noqa: F401  (used by the entries)

import nflib as nf  # noqa: F401

ANSWERS: dict = {}


def answer(question_id: str):
    """Register the decorated function as the recomputation of ``question_id``'s answer."""
    def register(fn):
        if question_id in ANSWERS:
            raise ValueError(f"two recomputations registered for quiz question {question_id}")
        ANSWERS[question_id] = fn
        return fn
    return register


# ---- chapter 01: change of variables -----------------------------------------------------------

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



# ---- chapter 02: normalizing flows --------------------------------------------------------------

@answer("02-glow-count")
def _():
    # W = diag(2, 0.5, 0.8) at every pixel of a 32x32 image = an elementwise scale of 3072 numbers
    log_scale = np.repeat(np.log([2.0, 0.5, 0.8]), 32 * 32)
    return float(nf.Affine(log_scale.size, log_scale=log_scale).forward(
        np.zeros((1, log_scale.size)))[1][0])


@answer("02-planar-logdet")
def _():
    # u = (1, 0), w = (1, 2), b = 0 at z = (1, 0), with nf.Planar's constrained vector set to u
    from nflib.demos import planar_layer

    layer = planar_layer(w=[1.0, 2.0], u_hat=[1.0, 0.0], b=0.0)
    return float(layer.forward(np.array([[1.0, 0.0]]))[1][0])



# ---- chapter 06: fitting a coupling layer by Newton's method ------------------------------------

@answer("06-residual-kl")
def _():
    # Newton on Gauss-Hermite nodes (the population objective), then the KL estimate there
    nodes, weights = nf.newton.gauss_hermite_nodes(10)
    theta = nf.newton.newton(np.zeros(4), nodes, weights, tol=1e-12).theta
    return nf.newton.reverse_kl(theta, nodes, weights)
