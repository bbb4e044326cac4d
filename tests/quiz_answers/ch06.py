"""Quiz answers of chapter 06, recomputed with nflib (registered in ``quiz_answers.ANSWERS``)."""

from __future__ import annotations

import numpy as np  # noqa: F401  (used by the entries)

import nflib as nf  # noqa: F401
from nflib.course import newton as nt

from . import answer


@answer("06-residual-kl")
def _():
    # Newton on Gauss-Hermite nodes (the population objective), then the KL estimate there
    nodes, weights = nt.gauss_hermite_nodes(10)
    theta = nt.newton(np.zeros(4), nodes, weights, tol=1e-12).theta
    return nt.reverse_kl(theta, nodes, weights)
