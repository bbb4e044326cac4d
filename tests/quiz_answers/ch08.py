"""Quiz answers of chapter 08, recomputed with nflib (registered in ``quiz_answers.ANSWERS``)."""

from __future__ import annotations

import numpy as np  # noqa: F401  (used by the entries)

import nflib as nf  # noqa: F401

from . import answer


@answer("08-hutchinson-variance")
def _():
    # the exact variance by enumerating the four Rademacher probes
    J = np.array([[2.0, 1.0], [3.0, -1.0]])
    eps = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    estimates = nf.ode.hutchinson_trace(nf.ode.LinearField(J), 0.0, np.zeros((4, 2)), eps)
    return float(estimates.var())


@answer("08-linear-logdensity")
def _():
    # log p changes by -log|det dz(2)/dz(0)|, the trace integral along the RK4 flow
    A = np.array([[0.3, 0.5], [0.0, 0.1]])
    _, log_det = nf.ode.flow_map(nf.ode.LinearField(A), np.ones((1, 2)), 0.0, 2.0, 40)
    return float(-log_det[0])
