"""Quiz answers of chapter 02, recomputed with nflib (registered in ``quiz_answers.ANSWERS``)."""

from __future__ import annotations

import numpy as np  # noqa: F401  (used by the entries)

import nflib as nf  # noqa: F401

from . import answer


@answer("02-glow-count")
def _():
    # W = diag(2, 0.5, 0.8) at every pixel of a 32x32 image = an elementwise scale of 3072 numbers
    log_scale = np.repeat(np.log([2.0, 0.5, 0.8]), 32 * 32)
    return float(nf.Affine(log_scale.size, log_scale=log_scale).forward(
        np.zeros((1, log_scale.size)))[1][0])


@answer("02-planar-logdet")
def _():
    # u = (1, 0), w = (1, 2), b = 0 at z = (1, 0), with nf.Planar's constrained vector set to u
    from nflib.course.demos import planar_layer

    layer = planar_layer(w=[1.0, 2.0], u_hat=[1.0, 0.0], b=0.0)
    return float(layer.forward(np.array([[1.0, 0.0]]))[1][0])
