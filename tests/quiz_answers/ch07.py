"""Quiz answers of chapter 07, recomputed with nflib (registered in ``quiz_answers.ANSWERS``)."""

from __future__ import annotations

import numpy as np

import nflib as nf  # noqa: F401
from nflib import diagnostics

from . import answer


@answer("07-collapsed-kl")
def _():
    # q = N(-5, 1) and p = (N(-5, 1) + N(5, 1)) / 2, far apart: KL(q || p) by quadrature on a line
    x = np.linspace(-15.0, 5.0, 200_001)
    log_q = -0.5 * (x + 5.0) ** 2 - 0.5 * np.log(2 * np.pi)
    log_p = np.logaddexp(log_q, -0.5 * (x - 5.0) ** 2 - 0.5 * np.log(2 * np.pi)) - np.log(2.0)
    return float(np.trapezoid(np.exp(log_q) * (log_q - log_p), x))


@answer("07-ess")
def _():
    return diagnostics.effective_sample_size(np.log([1.0, 1.0, 2.0, 4.0]))


@answer("07-mean-field-gap")
def _():
    # a 2-D Gaussian posterior with correlation 0.6; fit a diagonal Gaussian by reverse KL is
    # not needed: the optimal diagonal q has s_j^2 = 1 / Lambda_jj, and the gap is the KL
    cov = np.array([[1.0, 0.6], [0.6, 1.0]])
    prec = np.linalg.inv(cov)
    s = np.diag(1.0 / np.diag(prec))
    return float(0.5 * (np.trace(prec @ s) - 2 + np.linalg.slogdet(cov)[1]
                        - np.linalg.slogdet(s)[1]))
