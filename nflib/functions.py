"""Elementwise functions the layers share, written to stay finite for any real input.

* softplus(a) = log(1 + e^a), computed as logaddexp(0, a) (no overflow for large a);
* sigmoid(a) = 1 / (1 + e^{-a}) = (1 + tanh(a/2)) / 2, the derivative of softplus;
* sech2(a) = 1 - tanh^2(a) = 4 e^{-2|a|} / (1 + e^{-2|a|})^2, the derivative of tanh, accurate
  where 1 - tanh^2 would round to 0.
"""

from __future__ import annotations

import numpy as np

__all__ = ["softplus", "sigmoid", "sech2"]


def softplus(a):
    """log(1 + e^a)."""
    return np.logaddexp(0.0, a)


def sigmoid(a):
    """1 / (1 + e^{-a}), via tanh so that neither tail overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def sech2(a):
    """sech^2(a) = 1 - tanh^2(a), accurate (and without overflow) for large |a|."""
    e = np.exp(-2.0 * np.abs(a))
    return 4.0 * e / (1.0 + e) ** 2
