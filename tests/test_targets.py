"""The library's target densities: values, gradients against finite differences, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from nflib import targets


def test_ring_target_and_gradient():
    x = np.random.default_rng(2).standard_normal((30, 2)) * 2
    log_p = targets.ring_log_prob(x)
    np.testing.assert_allclose(log_p, -0.5 * ((np.linalg.norm(x, axis=1) - 2.0) / 0.4) ** 2)
    eps = 1e-6
    numerical = np.stack([(targets.ring_log_prob(x + eps * e) - targets.ring_log_prob(x - eps * e))
                          / (2 * eps) for e in np.eye(2)], axis=1)
    np.testing.assert_allclose(targets.ring_grad(x), numerical, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(targets.ring_grad(np.zeros((1, 2))), [[0.0, 0.0]])
    with pytest.raises(ValueError, match="positive"):
        targets.ring_log_prob(x, width=0.0)
