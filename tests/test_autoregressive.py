"""nflib.autoregressive additions: a custom autoregressive order for MADE, MAF and IAF, and the
pass-by-pass view of the sequential direction (``passes``)."""

from __future__ import annotations

import numpy as np
import pytest

import nflib as nf
from nflib.checks import check_log_det, check_round_trip, numerical_jacobian
from bijection_registry import perturbed


ORDERS = [[2, 0, 3, 1], [3, 2, 1, 0], [0, 1, 2, 3]]


@pytest.mark.parametrize("order", ORDERS)
def test_custom_order_masks_are_autoregressive_in_that_order(order):
    made = nf.MADE(4, (9, 7), rng=np.random.default_rng(0), order=order)
    np.testing.assert_array_equal(made.order, order)
    # input order[k] has degree k + 1
    np.testing.assert_array_equal(made.degrees[0][order], np.arange(1, 5))
    c = made.connectivity()
    permuted = c[np.ix_(order, order)]          # rows and columns in autoregressive order
    assert np.all(np.tril(permuted) == 0)
    assert np.all(permuted[0, 1:] > 0) and np.all(np.triu(permuted, 1)[:, 1:].sum(axis=0) > 0)


@pytest.mark.parametrize("order", ORDERS)
def test_output_depends_exactly_on_the_inputs_before_it_in_the_order(order):
    """Perturb one input at a time: output i moves iff that input precedes i in ``order``."""
    rng = np.random.default_rng(1)
    made = perturbed(nf.MADE(4, (16, 16), rng=rng, order=order), rng, scale=0.5)
    x = rng.standard_normal((6, 4))
    mu, s = made(x)
    rank = np.argsort(order)                      # rank[i] = position of coordinate i
    for j in range(4):
        moved = x.copy()
        moved[:, j] += 2.0
        mu2, s2 = made(moved)
        changed = (np.max(np.abs(mu2 - mu), axis=0) > 1e-9) | (np.max(np.abs(s2 - s), axis=0) > 1e-9)
        np.testing.assert_array_equal(changed, rank[j] < rank, err_msg=f"input {j}")


@pytest.mark.parametrize("cls", [nf.MAF, nf.IAF])
def test_custom_order_layers_invert_with_a_triangular_jacobian(cls):
    rng = np.random.default_rng(2)
    order = [2, 0, 3, 1]
    layer = perturbed(cls(4, (12,), rng=rng, order=order), rng, scale=0.4)
    z = rng.standard_normal((7, 4))
    assert check_round_trip(layer, z) < 1e-10
    errors = check_log_det(layer, z)
    assert max(errors.values()) < 1e-6, errors
    jac = numerical_jacobian(lambda v: layer.forward(v)[0], z)
    permuted = jac[:, order][:, :, order]
    assert np.max(np.abs(np.triu(permuted, 1))) < 1e-8   # lower triangular in that order
    # log|det| = sum of log-scales: the diagonal of the permuted Jacobian is exp(s)
    np.testing.assert_allclose(np.log(np.abs(np.diagonal(jac, axis1=1, axis2=2))).sum(axis=1),
                               layer.forward(z)[1], atol=1e-7)


def test_maf_with_reversed_order_equals_reverse_maf_reverse():
    """MAF(order=reversed) = Reverse o MAF o Reverse with the same weights (inputs relabelled)."""
    rng = np.random.default_rng(3)
    d = 3
    custom = perturbed(nf.MAF(d, (8,), rng=rng, order=[2, 1, 0]), rng, scale=0.5)
    natural = nf.MAF(d, (8,), rng=np.random.default_rng(0))
    rev = np.arange(d)[::-1]
    params = natural.parameters()
    params["made.W0"][...] = custom.parameters()["made.W0"][rev]
    params["made.b0"][...] = custom.parameters()["made.b0"]
    params["made.W1"][...] = custom.parameters()["made.W1"][:, np.r_[rev, d + rev]]
    params["made.b1"][...] = custom.parameters()["made.b1"][np.r_[rev, d + rev]]
    # the relabelled degrees agree, so the masks agree too
    np.testing.assert_array_equal(natural.made.masks[0], custom.made.masks[0][rev])
    sandwich = nf.Compose([nf.Reverse(d), natural, nf.Reverse(d)])
    z = rng.standard_normal((5, d))
    for a, b in zip(custom.forward(z), sandwich.forward(z)):
        np.testing.assert_allclose(a, b, atol=1e-12)
    for a, b in zip(custom.inverse(z), sandwich.inverse(z)):
        np.testing.assert_allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("cls", [nf.MAF, nf.IAF])
def test_custom_order_gradients(cls):
    from nflib.checks import check_backward

    rng = np.random.default_rng(4)
    layer = perturbed(cls(3, (6,), rng=rng, order=[1, 2, 0]), rng, scale=0.4)
    direction = "inverse" if cls is nf.MAF else "forward"
    errors = check_backward(layer, rng.standard_normal((4, 3)), direction, rng=rng)
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("cls, direction", [(nf.MAF, "forward"), (nf.IAF, "inverse")])
@pytest.mark.parametrize("order", [None, [1, 3, 0, 2]])
def test_passes_fill_one_coordinate_per_pass_in_order(cls, direction, order):
    rng = np.random.default_rng(5)
    layer = perturbed(cls(4, (10,), rng=rng, order=order), rng, scale=0.4)
    u = rng.standard_normal((6, 4))
    trace = layer.passes(u)
    assert len(trace) == 5
    np.testing.assert_array_equal(trace[0], np.zeros_like(u))
    final = getattr(layer, direction)(u)[0]
    np.testing.assert_allclose(trace[-1], final, atol=1e-12)
    visit = np.arange(4) if order is None else np.array(order)
    for k in range(1, 5):
        done = visit[:k]
        np.testing.assert_allclose(trace[k][:, done], final[:, done], atol=1e-12)
        np.testing.assert_array_equal(trace[k][:, visit[k:]], 0.0)
    with pytest.raises(ValueError, match="4 columns"):
        layer.passes(np.zeros((2, 3)))


def test_default_order_is_unchanged():
    """Without ``order`` the degrees and masks are those of the natural order."""
    made = nf.MADE(5, (8,), rng=np.random.default_rng(6))
    np.testing.assert_array_equal(made.order, np.arange(5))
    np.testing.assert_array_equal(made.degrees[0], np.arange(1, 6))
    assert repr(made) == "MADE(5, hidden=(8,))"
    assert "order=[1, 0]" in repr(nf.MAF(2, (4,), rng=np.random.default_rng(0), order=[1, 0]))


@pytest.mark.parametrize("order, message", [
    ([0, 1], "permutation of 0..2"), ([0, 1, 1], "permutation"), ([0.0, 1.0, 2.0], "integer"),
    ([[0, 1, 2]], "1-D"), ([0, 1, 3], "permutation")])
def test_bad_order_is_refused(order, message):
    with pytest.raises(ValueError, match=message):
        nf.MADE(3, (4,), rng=np.random.default_rng(0), order=order)
    with pytest.raises(ValueError, match=message):
        nf.MAF(3, (4,), rng=np.random.default_rng(0), order=order)
