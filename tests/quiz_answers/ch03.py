"""Quiz answers of chapter 03, recomputed with nflib (registered in ``quiz_answers.ANSWERS``)."""

from __future__ import annotations

import numpy as np

import nflib as nf

from . import answer


@answer("03-hand-logdet")
def _():
    # the worked example's MAF (mu and alpha set by hand in its MADE) at z = 0
    from nflib.course.ch03_autoregressive import hand_maf

    return float(hand_maf().forward(np.zeros((1, 3)))[1][0])


@answer("03-passes-784")
def _():
    # count the MADE passes of one MAF sample in d = 784
    maf = nf.MAF(784, (4,), rng=np.random.default_rng(0))
    calls = []
    original = maf.made.forward_cached
    maf.made.forward_cached = lambda x: calls.append(1) or original(x)
    maf.forward(np.zeros((1, 784)))
    return float(len(calls))


@answer("03-inverse-logdet")
def _():
    # a MAF whose MADE outputs the constant alpha (bias of the log-scale half; the clamp is so
    # wide that c tanh(a / c) = a to machine precision)
    maf = nf.MAF(4, (4,), rng=np.random.default_rng(0), clamp=1e8)
    maf.parameters()["made.b1"][4:] = [0.3, -0.1, 0.6, -0.2]
    return float(maf.inverse(np.ones((1, 4)))[1][0])
