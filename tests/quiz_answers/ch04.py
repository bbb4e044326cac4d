"""Quiz answers of chapter 04, recomputed with nflib (registered in ``quiz_answers.ANSWERS``)."""

from __future__ import annotations

import numpy as np

import nflib as nf

from . import answer


@answer("04-logdet-number")
def _():
    # a d = 5 coupling layer keeping coordinates 0 and 2; its conditioner outputs the raw
    # log-scales (0.4, -1.1, 0.3) as constant biases (the clamp c = 50 barely changes them, so
    # set the raw values to c artanh(s / c) to get exactly s)
    layer = nf.AffineCoupling([1, 0, 1, 0, 0], hidden=(2,), rng=np.random.default_rng(0),
                              clamp=50.0)
    s = np.array([0.4, -1.1, 0.3])
    layer.net.biases[-1][:3] = 50.0 * np.arctanh(s / 50.0)
    x, _ = layer.forward(np.ones((1, 5)))
    return float(layer.inverse(x)[1][0])


@answer("04-leak-bound")
def _():
    # KL >= sum over the partition {support, rest} of p log(p / q) with p = (1, 0), q = (0.9, 0.1)
    p, q = np.array([1.0, 0.0]), np.array([0.9, 0.1])
    return float(np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0) / q), 0.0)))
