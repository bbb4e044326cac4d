"""Work arrays are reused only when nothing holds them (``nflib.workspace``)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import nflib as nf
from nflib import workspace
from nflib.workspace import Workspace


def test_an_array_is_reused_only_once_released():
    ws = Workspace()
    a = ws.empty((5, 3))
    assert a.shape == (5, 3) and a.dtype == np.float64
    b = ws.empty((5, 3))
    assert not np.shares_memory(a, b)          # a is still held
    a_id = id(a)
    del a
    assert id(ws.empty((5, 3))) == a_id        # released: handed out again
    assert not np.shares_memory(ws.empty((5, 3)), b)


@pytest.mark.parametrize("holder", [lambda a: a[:, 1], lambda a: a.T, lambda a: a.reshape(-1),
                                    lambda a: [a], lambda a: (a, 1), memoryview])
def test_a_view_or_container_keeps_an_array_in_use(holder):
    ws = Workspace()
    a = ws.empty((4, 4))
    a[...] = 7.0
    held = holder(a)
    del a
    for _ in range(3):
        ws.empty((4, 4))[...] = -1.0
    assert np.all(np.asarray(held[0] if isinstance(held, (list, tuple)) else held) == 7.0)


def test_budget_bounds_the_kept_memory():
    ws = Workspace(max_bytes=1000)
    big = ws.empty((200,))                     # 1600 bytes: over budget, not kept
    assert ws._bytes == 0
    small = ws.empty((50,))                    # 400 bytes: kept
    assert ws._bytes == 400
    del small
    ws.empty((100,))                           # 800 bytes: the free 400 are dropped for it
    assert ws._bytes == 800
    del big


def test_two_forward_passes_before_one_backward_pass():
    """Each forward pass's cache keeps its own arrays; backward passes in any order match a
    forward/backward pair done alone."""
    rng = np.random.default_rng(0)
    layer = nf.AffineCoupling([1, 0, 1, 0], (16, 16), rng=rng)
    for p in layer.parameters().values():
        p += 0.1 * rng.standard_normal(p.shape)
    xa, xb = rng.standard_normal((64, 4)), rng.standard_normal((64, 4))
    ga, gb = rng.standard_normal((64, 4)), rng.standard_normal((64, 4))
    g_ld = rng.standard_normal(64)

    def alone(x, g):
        z, ld, cache = layer.inverse_cached(x)
        dx, grads = layer.inverse_backward(cache, g, g_ld)
        return z.copy(), ld.copy(), dx.copy(), {k: v.copy() for k, v in grads.items()}

    ref_a, ref_b = alone(xa, ga), alone(xb, gb)
    za, lda, ca = layer.inverse_cached(xa)
    zb, ldb, cb = layer.inverse_cached(xb)
    net_a, net_b = ca[0][0], cb[0][0]          # the MLP activations of the two passes
    for u in net_a:
        assert not any(np.shares_memory(u, v) for v in net_b)
    dxb, grads_b = layer.inverse_backward(cb, gb, g_ld)   # the later pass first
    dxa, grads_a = layer.inverse_backward(ca, ga, g_ld)
    for got, ref in (((za, lda, dxa, grads_a), ref_a), ((zb, ldb, dxb, grads_b), ref_b)):
        for u, v in zip(got[:3], ref[:3]):
            assert np.array_equal(u, v)
        assert all(np.array_equal(got[3][k], ref[3][k]) for k in ref[3])


def test_results_held_by_the_caller_are_never_overwritten():
    rng = np.random.default_rng(1)
    made = nf.MADE(3, (8, 8), rng=rng)
    for p in made.parameters().values():
        p += 0.3 * rng.standard_normal(p.shape)
    x = rng.standard_normal((40, 3))
    mu, s = made(x)                            # views of the MLP's output array
    mu0, s0 = mu.copy(), s.copy()
    layer = nf.AffineCoupling([1, 0], (8,), rng=rng)
    for p in layer.parameters().values():
        p += 0.3 * rng.standard_normal(p.shape)
    s_kept, t_kept, _, _ = layer._scale_shift(x[:, :1])   # as the chapters' exercises use it
    s1, t1 = s_kept.copy(), t_kept.copy()
    flow = nf.Flow(nf.StandardNormal(3), nf.Compose([nf.MAF(3, (8, 8), rng=rng)]))
    lp = flow.log_prob(x)
    lp0 = lp.copy()
    for _ in range(3):
        made(x[::-1] * 2.0)
        layer._scale_shift(x[::-1, :1] * 2.0)
        flow.log_prob(-x)
        nf.nll_and_grad(flow, x * 3.0)
    assert np.array_equal(mu, mu0) and np.array_equal(s, s0)
    assert np.array_equal(s_kept, s1) and np.array_equal(t_kept, t1)
    assert np.array_equal(lp, lp0)


def test_steady_state_training_allocates_little():
    """After one step, a training step draws its large arrays from the workspace: the memory
    numpy newly allocates during a step is a small fraction of the activations it uses."""
    rng = np.random.default_rng(2)
    flow = nf.Flow(nf.StandardNormal(2), nf.realnvp(2, 4, (64, 64), rng=rng))
    x = rng.standard_normal((4096, 2))
    opt = nf.Adam(flow.parameters(), lr=1e-4)
    opt.step(nf.nll_and_grad(flow, x)[1])      # warm up: the workspace fills
    activations = 4 * 2 * x.shape[0] * 64 * 8  # one (n, 64) float64 array per hidden layer
    tracemalloc.start()
    try:
        opt.step(nf.nll_and_grad(flow, x)[1])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.25 * activations


def test_module_level_budget_can_turn_reuse_off():
    limit = workspace._DEFAULT.max_bytes
    try:
        workspace.set_max_bytes(0)
        assert workspace.kept_bytes() == 0
        rng = np.random.default_rng(3)
        flow = nf.Flow(nf.StandardNormal(2), nf.realnvp(2, 2, (8,), rng=rng))
        x = rng.standard_normal((10, 2))
        assert np.array_equal(flow.log_prob(x), flow.log_prob(x))
        assert workspace.kept_bytes() == 0
    finally:
        workspace.set_max_bytes(limit)


def test_nothing_is_dropped_when_dropping_cannot_make_room():
    ws = Workspace(max_bytes=1000)
    small = ws.empty((50,))
    del small                                  # 400 free bytes kept
    held = ws.empty((60,))                     # 480 bytes, kept: 880 in all
    big = ws.empty((100,))                     # 800 more would need 680 free: only 400 are
    assert ws._bytes == 880 and (50,) in ws._arrays
    del held, big
