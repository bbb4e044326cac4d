"""Quiz answers of chapter 09, recomputed with nflib (registered in ``quiz_answers.ANSWERS``)."""

from __future__ import annotations

import numpy as np

from nflib.course.ch09_sbi import SIGMA, lg_posterior

from . import answer


@answer("09-lg-sd")
def _():
    # the posterior standard deviation with K = 3 measurements of noise 0.5
    assert SIGMA == 0.5
    return float(lg_posterior(np.zeros((1, 3)))[1][0])
