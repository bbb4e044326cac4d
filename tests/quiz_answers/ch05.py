"""Quiz answers of chapter 05, recomputed with nflib (registered in ``quiz_answers.ANSWERS``)."""

from __future__ import annotations

import numpy as np

import nflib as nf

from . import answer


@answer("05-bpd-convert")
def _():
    return nf.datasets.bits_per_dim(-60.0, 64, levels=17)


@answer("05-conv-logdet")
def _():
    # det W = 2 * 0.5 * 0.8 = 0.8, applied at every pixel of a 32 x 32 image
    layer = nf.InvConv1x1(3, weight=np.diag([2.0, 0.5, 0.8]))
    return float(layer.forward(np.zeros((1, 3, 32, 32)))[1][0])


@answer("05-multiscale-count")
def _():
    # the channels passed on by level 1 of glow((1, 8, 8)) are Split.keep of the 4 squeezed ones
    model = nf.glow((1, 8, 8), n_levels=2, depth=1, hidden=(4,), rng=np.random.default_rng(0))
    split = model[1]
    return 64 - split.keep * 4 * 4
