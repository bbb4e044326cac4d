"""The reused work arrays change where results are written, never what is computed.

The MLP, the affine coupling and Adam write into reused buffers (``nflib.workspace``); every
chapter's numbers were validated with the plain versions that allocate a new array for every
result. Here the plain versions are kept as a reference (the same operations in the same order,
each into a new array), swapped in with ``monkeypatch``, and a RealNVP, a MAF, a spline flow, a
Glow, a mixed stack and a conditional flow must give the same bits either way: log_prob,
nll_and_grad, sample, two forward passes before their backward passes, and a short ``fit``;
and ``log_prob`` and ``sample``, which release each layer's cache as they go, must give the bits
of the cached paths.
"""

from __future__ import annotations

import numpy as np
import pytest

import nflib as nf
from nflib import conditional as cnd
from nflib.coupling import AffineCoupling, _Coupling
from nflib.mlp import MLP
from nflib.train import Adam


# ---- the reference: every result in a new array ------------------------------------------
def _ref_effective_weights(self):
    if self.masks is None:
        return self.weights
    return [w * m for w, m in zip(self.weights, self.masks)]


def _ref_mlp_forward_cached(self, h):
    weights = self._effective_weights()
    h_aug = np.empty((h.shape[0], h.shape[1] + 1))
    h_aug[:, :-1] = h
    h_aug[:, -1] = 1.0
    out = h_aug @ np.concatenate([weights[0], self.biases[0][None, :]])
    acts = [h_aug]
    for w, b in zip(weights[1:], self.biases[1:]):
        self._activate(out)
        acts.append(out)
        out = out @ w
        out += b
    return out, (acts, weights)


def _ref_mlp_backward(self, cache, grad_out):
    acts, weights = cache
    grads = {}
    g = grad_out
    ones = np.ones(g.shape[0])
    for k in reversed(range(1, len(weights))):
        h = acts[k]
        grads[f"W{k}"] = h.T @ g
        grads[f"b{k}"] = ones @ g
        g = g @ weights[k].T
        if self.activation == "tanh":
            g *= 1.0 - h * h
        else:
            g *= h > 0
    grad_aug = acts[0].T @ g
    grads["W0"], grads["b0"] = grad_aug[:-1], grad_aug[-1]
    if self.masks is not None:
        for k, m in enumerate(self.masks):
            grads[f"W{k}"] *= m
    return g @ weights[0].T, {name: grads[name] for name in self.parameters()}


def _ref_merge(self, kept, moved):
    out = np.empty((kept.shape[0], self.dim))
    out[:, self._keep] = kept
    out[:, self._move] = moved
    return out


def _ref_scale_shift(self, kept):
    out, net_cache = self.net.forward_cached(kept)
    if self.clamp is None:
        return out[:, :self.n_move], out[:, self.n_move:], None, net_cache
    th = np.tanh(out[:, :self.n_move] / self.clamp)
    return self.clamp * th, out[:, self.n_move:], th, net_cache


def _ref_net_backward(self, net_cache, th, g_s, g_t):
    g_out = np.empty((g_s.shape[0], 2 * self.n_move))
    if th is None:
        g_out[:, :self.n_move] = g_s
    else:
        g_out[:, :self.n_move] = g_s * (1.0 - th * th)
    g_out[:, self.n_move:] = g_t
    g_kept, grads = self.net.backward(net_cache, g_out)
    return g_kept, self._net_grads(grads)


def _ref_forward_cached(self, z):
    kept, moved = z[:, self._keep], z[:, self._move]
    s, t, th, net_cache = self._scale_shift(kept)
    scale = np.exp(s)
    return self._merge(kept, moved * scale + t), s.sum(axis=1), (net_cache, th, moved, scale)


def _ref_inverse_cached(self, x):
    kept = x[:, self._keep]
    s, t, th, net_cache = self._scale_shift(kept)
    inv_scale = np.exp(-s)
    moved = (x[:, self._move] - t) * inv_scale
    return self._merge(kept, moved), -s.sum(axis=1), (net_cache, th, moved, inv_scale)


def _ref_forward_backward(self, cache, grad_x, grad_log_det):
    net_cache, th, z_moved, scale = cache
    g_moved = grad_x[:, self._move]
    g_z_moved = g_moved * scale
    g_s = g_z_moved * z_moved + grad_log_det[:, None]
    g_kept, grads = self._net_backward(net_cache, th, g_s, g_moved)
    return self._merge(grad_x[:, self._keep] + g_kept, g_z_moved), grads


def _ref_inverse_backward(self, cache, grad_z, grad_log_det):
    net_cache, th, z_moved, inv_scale = cache
    g_moved = grad_z[:, self._move]
    g_x_moved = g_moved * inv_scale
    g_s = -(g_moved * z_moved) - grad_log_det[:, None]
    g_kept, grads = self._net_backward(net_cache, th, g_s, -g_x_moved)
    return self._merge(grad_z[:, self._keep] + g_kept, g_x_moved), grads


def _ref_adam_step(self, grads):
    g = np.concatenate([np.ravel(grads[name]) for name in self.params])
    self.t += 1
    c2 = np.sqrt(1.0 - self.b2 ** self.t)
    lr_t = self.lr * c2 / (1.0 - self.b1 ** self.t)
    self.m *= self.b1
    self.m += (1.0 - self.b1) * g
    self.v *= self.b2
    self.v += (1.0 - self.b2) * (g * g)
    update = self.m / (np.sqrt(self.v) + self.eps * c2) * lr_t
    start = 0
    for p in self.params.values():
        if self.weight_decay:
            p *= 1.0 - self.lr * self.weight_decay
        p -= update[start:start + p.size].reshape(p.shape)
        start += p.size


REFERENCE = [(MLP, "_effective_weights", _ref_effective_weights),
             (MLP, "forward_cached", _ref_mlp_forward_cached),
             (MLP, "backward", _ref_mlp_backward),
             (_Coupling, "_merge", _ref_merge),
             (AffineCoupling, "_scale_shift", _ref_scale_shift),
             (AffineCoupling, "_net_backward", _ref_net_backward),
             (AffineCoupling, "forward_cached", _ref_forward_cached),
             (AffineCoupling, "inverse_cached", _ref_inverse_cached),
             (AffineCoupling, "forward_backward", _ref_forward_backward),
             (AffineCoupling, "inverse_backward", _ref_inverse_backward),
             (Adam, "step", _ref_adam_step)]


# ---- the models and what is compared -----------------------------------------------------
def _perturbed(flow, rng, scale=0.1):
    for p in flow.parameters().values():
        p += scale * rng.standard_normal(p.shape)
    return flow


def realnvp(rng):
    return _perturbed(nf.Flow(nf.StandardNormal(2), nf.realnvp(2, 4, (32, 32), rng=rng)), rng)


def realnvp_unclamped_relu(rng):
    return _perturbed(nf.Flow(nf.StandardNormal(5), nf.realnvp(
        5, 3, (16, 8), rng=rng, clamp=None, activation="relu")), rng)


def maf(rng):
    return _perturbed(nf.Flow(nf.StandardNormal(3), nf.Compose([
        nf.MAF(3, (16, 16), rng=rng), nf.Reverse(3),
        nf.MAF(3, (16, 16), rng=rng, activation="relu")])), rng)


def spline(rng):
    return _perturbed(nf.Flow(nf.StandardNormal(2), nf.spline_flow(2, 3, (16, 16), rng=rng)), rng)


def glow(rng):
    shape = (1, 8, 8)
    return _perturbed(nf.Flow(nf.StandardNormal(64), nf.flat_view(
        nf.glow(shape, 2, 2, (16,), rng=rng), shape)), rng, 0.02)


def mixed(rng):
    return _perturbed(nf.Flow(nf.StandardNormal(4), nf.Compose([
        nf.AdditiveCoupling(nf.alternating_mask(4, 0), (8,), rng=rng),
        nf.AffineCoupling([1, 1, 0, 0], (8, 8), rng=rng), nf.Reverse(4),
        nf.AffineCoupling([0, 1, 0, 1], (8, 8), rng=rng, clamp=2.0)])), rng)


MODELS = [realnvp, realnvp_unclamped_relu, maf, spline, glow, mixed]


def _results(make_flow) -> dict:
    """Everything a chapter might compute with a flow, as named arrays."""
    rng = np.random.default_rng(0)
    flow = make_flow(rng)
    x = flow.sample(120, np.random.default_rng(1)) if flow.dim == 64 else \
        rng.standard_normal((120, flow.dim))
    out = {"log_prob": flow.log_prob(x)}
    loss, grads = nf.nll_and_grad(flow, x)
    out["loss"] = np.array(loss)
    out.update({f"grad {k}": np.array(g) for k, g in grads.items()})
    out["sample"] = flow.sample(77, np.random.default_rng(2))
    # two forward passes before their backward passes, the later one first
    b, n = flow.bijection, x.shape[0]
    z1, _, c1 = b.inverse_cached(x)
    z2, _, c2 = b.inverse_cached(x[::-1] * 0.5)
    for tag, z, c in (("second", z2, c2), ("first", z1, c1)):
        g_x, g = b.inverse_backward(c, z / n, np.full(n, -1.0 / n))
        out[f"{tag} z"], out[f"{tag} dx"] = z, g_x
        out.update({f"{tag} grad {k}": np.array(v) for k, v in g.items()})
    history = nf.fit(flow, x, rng=np.random.default_rng(3), n_steps=6, batch_size=50,
                     val_fraction=0.2, weight_decay=0.01, clip_norm=10.0)
    out["fit loss"], out["fit val"] = np.array(history.loss), np.array(history.val_loss)
    out.update({f"fitted {k}": p.copy() for k, p in flow.parameters().items()})
    return out


def _conditional_results() -> dict:
    rng = np.random.default_rng(4)
    layers = [cnd.ConditionalAffineCoupling(nf.alternating_mask(2, k % 2), 3, (8, 8), rng=rng)
              for k in range(3)]
    flow = cnd.ConditionalFlow(nf.StandardNormal(2), cnd.ConditionalCompose(layers),
                               embedding=nf.MLP(1, 3, (8,), rng=rng))
    _perturbed(flow, rng)
    x, y = rng.standard_normal((60, 2)), rng.standard_normal((60, 1))
    out = {"log_prob": flow.log_prob(x, y)}
    loss, grads = cnd.conditional_nll_and_grad(flow, x, y)
    out["loss"] = np.array(loss)
    out.update({f"grad {k}": np.array(g) for k, g in grads.items()})
    out["fit"] = np.array(cnd.fit_conditional(flow, x, y, rng=np.random.default_rng(5),
                                              n_steps=5, batch_size=20))
    return out


def _assert_same_bits(new: dict, ref: dict) -> None:
    assert new.keys() == ref.keys()
    for k in ref:
        a, b = np.asarray(new[k]), np.asarray(ref[k])
        assert a.shape == b.shape and a.dtype == b.dtype, k
        assert a.tobytes() == b.tobytes(), f"{k}: max |diff| {np.max(np.abs(a - b))}"


@pytest.mark.parametrize("make_flow", MODELS, ids=lambda f: f.__name__)
def test_same_bits_as_allocating_reference(make_flow):
    new = _results(make_flow)
    with pytest.MonkeyPatch.context() as mp:
        for cls, name, fn in REFERENCE:
            mp.setattr(cls, name, fn)
        ref = _results(make_flow)
    _assert_same_bits(new, ref)
    assert _results(make_flow).keys() == new.keys()  # and the workspace version repeats itself
    _assert_same_bits(_results(make_flow), new)


def test_conditional_flow_same_bits():
    new = _conditional_results()
    with pytest.MonkeyPatch.context() as mp:
        for cls, name, fn in REFERENCE:
            mp.setattr(cls, name, fn)
        ref = _conditional_results()
    _assert_same_bits(new, ref)


def test_reference_is_really_swapped_in():
    """Guard: inside the context the classes run the reference code, afterwards their own."""
    with pytest.MonkeyPatch.context() as mp:
        for cls, name, fn in REFERENCE:
            mp.setattr(cls, name, fn)
        assert MLP.forward_cached is _ref_mlp_forward_cached
    assert MLP.forward_cached is not _ref_mlp_forward_cached


@pytest.mark.parametrize("make_flow", MODELS, ids=lambda f: f.__name__)
def test_passes_without_caches_give_the_bits_of_the_cached_paths(make_flow):
    """``log_prob`` and ``sample`` release each layer's cache as they go, and the losses release
    each layer's cache once its gradient is taken; the numbers are those of the bijection's
    cached paths and backward passes (the same operations, the same sums, the same names)."""
    flow = make_flow(np.random.default_rng(0))
    x = flow.sample(50, np.random.default_rng(1))
    n, b = x.shape[0], flow.bijection
    z, log_det, cache = b.inverse_cached(x)
    _, grads = b.inverse_backward(cache, -flow.base.grad_log_prob(z) / n, np.full(n, -1.0 / n))
    _, new = nf.nll_and_grad(flow, x)
    assert list(new) == list(grads)
    _assert_same_bits(new, grads)
    if "forward" in b.trained_directions:
        def log_target(v):
            return -0.5 * np.sum(v * v, axis=1)

        z = flow.base.sample(30, np.random.default_rng(3))
        v, _, cache = b.forward_cached(z)
        _, grads = b.forward_backward(cache, v / 30, np.full(30, -1.0 / 30))
        _, new = nf.reverse_kl_and_grad(flow, log_target, lambda v: -v, 30,
                                        np.random.default_rng(3))
        assert list(new) == list(grads)
        _assert_same_bits(new, grads)
    z, log_det, _ = flow.bijection.inverse_cached(x)
    _assert_same_bits({"log_prob": flow.log_prob(x)},
                      {"log_prob": flow.base.log_prob(z) + log_det})
    z = flow.base.sample(40, np.random.default_rng(2))
    x_cached, log_det, _ = flow.bijection.forward_cached(z)
    x_new, log_q = flow.sample_and_log_prob(40, np.random.default_rng(2))
    _assert_same_bits({"sample": flow.sample(40, np.random.default_rng(2)), "sample_and_log_prob":
                       x_new, "log_q": log_q},
                      {"sample": x_cached, "sample_and_log_prob": x_cached,
                       "log_q": flow.base.log_prob(z) - log_det})
