"""Exercises of chapter 4: the instructor notebook passes every check, the learner notebook
reports "not implemented", and every check rejects the typical wrong answers, naming the
property that failed."""

from __future__ import annotations


import numpy as np

from nflib.course.exercises import ch04


def _pending(*args):
    raise NotImplementedError


def _failed(feedback, prop_words, message_words=()):
    assert feedback.status == "failed", repr(feedback)
    assert all(w in feedback.failed for w in prop_words), feedback.failed
    assert all(w in feedback.message for w in message_words), feedback.message


# ---- masks --------------------------------------------------------------------------------------

def _board(shape, parity=0, layout="chw", flip=False, first_only=False):
    c, h, w = shape
    i, j = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    board = ((i + j + parity) % 2 == 0) ^ flip
    full = np.zeros((c, h, w), dtype=bool)
    full[:] = board
    if first_only:
        full[1:] = False
    return np.moveaxis(full, 0, -1).reshape(-1) if layout == "hwc" else full.reshape(-1)


def test_checkerboard_check():
    assert ch04.check_checkerboard(_board).ok
    assert ch04.check_checkerboard(_pending).status == "not implemented"
    _failed(ch04.check_checkerboard(lambda s, p=0: _board(s, p)[:-1]), ["shape"])
    _failed(ch04.check_checkerboard(lambda s, p=0: _board(s, p, flip=True)),
            ["pattern"], ["inverted"])
    _failed(ch04.check_checkerboard(lambda s, p=0: _board(s, p, layout="hwc")),
            ["channel"], ["channel-major"])
    _failed(ch04.check_checkerboard(lambda s, p=0: _board(s, 0)), ["parity"], ["parity"])
    _failed(ch04.check_checkerboard(lambda s, p=0: _board(s, p, first_only=True)),
            ["every channel"])


# ---- inverse ------------------------------------------------------------------------------------

def _inverse(x, mask, conditioner, variant="right"):
    x = np.asarray(x, dtype=float)
    mask = np.asarray(mask, dtype=bool)
    s, t = conditioner(x[:, mask])
    z = x if variant == "in place" else x.copy()
    moved = x[:, ~mask]
    z[:, ~mask] = {"right": (moved - t) * np.exp(-s), "plus": (moved - t) * np.exp(s),
                   "order": moved * np.exp(-s) - t, "shift": (moved + t) * np.exp(-s),
                   "kept": (moved - t) * np.exp(-s), "in place": (moved - t) * np.exp(-s)}[variant]
    if variant == "kept":
        z[:, mask] += 0.1
    return z


def test_coupling_inverse_check():
    assert ch04.check_coupling_inverse(_inverse).ok
    assert ch04.check_coupling_inverse(_pending).status == "not implemented"
    _failed(ch04.check_coupling_inverse(lambda x, m, c: _inverse(x, m, c)[:, :3]), ["shape"])
    _failed(ch04.check_coupling_inverse(lambda x, m, c: _inverse(x, m, c, "kept")), ["kept"])
    _failed(ch04.check_coupling_inverse(lambda x, m, c: _inverse(x, m, c, "plus")),
            ["round trip"], ["exp(-s)"])
    _failed(ch04.check_coupling_inverse(lambda x, m, c: _inverse(x, m, c, "order")),
            ["round trip"], ["order"])
    _failed(ch04.check_coupling_inverse(lambda x, m, c: _inverse(x, m, c, "shift")),
            ["round trip"], ["shift"])
    # right values computed in the caller's array: every other property holds (the check passes
    # copies), and the last one says what is wrong
    feedback = ch04.check_coupling_inverse(lambda x, m, c: _inverse(x, m, c, "in place"))
    _failed(feedback, ["input x unchanged"], ["in place", "x.copy()"])
    assert len(feedback.passed) == 4, feedback


def test_helpers_give_an_invertible_layer():
    layer = ch04.example_layer()
    z = np.random.default_rng(0).standard_normal((4, 5))
    x, ld = ch04.coupling_forward(z, layer.mask, ch04.conditioner_of(layer))
    want_x, want_ld = layer.forward(z)
    np.testing.assert_allclose(x, want_x, atol=1e-12)
    np.testing.assert_allclose(ld, want_ld, atol=1e-12)


# ---- log-det of a stack --------------------------------------------------------------------------

def _stack(z, layers, sign=1.0, at_input=False, reduce="sum", scale=False, in_place=False):
    v = np.asarray(z, dtype=float) if in_place else np.array(z, dtype=float)
    z = np.array(z, dtype=float)
    total = np.zeros(v.shape[0])
    for mask, cond in layers:
        mask = np.asarray(mask, dtype=bool)
        s, t = cond((np.asarray(z) if at_input else v)[:, mask])
        v[:, ~mask] = v[:, ~mask] * np.exp(s) + t
        value = np.exp(s) if scale else s
        total += sign * (value.mean(axis=1) if reduce == "mean" else value.sum(axis=1))
    return total


def test_stack_log_det_check():
    assert ch04.check_stack_log_det(_stack).ok
    assert ch04.check_stack_log_det(_pending).status == "not implemented"
    _failed(ch04.check_stack_log_det(lambda z, L: _stack(z, L)[:3]), ["shape"])
    _failed(ch04.check_stack_log_det(lambda z, L: _stack(z, L, sign=-1.0)),
            ["single layer"], ["sign"])
    _failed(ch04.check_stack_log_det(lambda z, L: _stack(z, L, reduce="mean")),
            ["single layer"], ["average"])
    _failed(ch04.check_stack_log_det(lambda z, L: _stack(z, L, scale=True)),
            ["single layer"], ["exp(s)"])
    _failed(ch04.check_stack_log_det(lambda z, L: _stack(z, L, at_input=True)),
            ["stack"], ["evaluated at the input"])
    feedback = ch04.check_stack_log_det(lambda z, L: _stack(z, L, in_place=True))
    _failed(feedback, ["input z unchanged"], ["in place", "z.copy()"])
    assert len(feedback.passed) == 4, feedback


# ---- NICE with scaling ---------------------------------------------------------------------------

def _nice(x, layers, log_scale, ld_sign=-1.0, order="right", reverse=True, with_ld=True,
          scale_sign=-1.0, in_place=False):
    log_scale = np.asarray(log_scale, dtype=float)
    v = np.asarray(x, dtype=float)
    if in_place:
        v *= np.exp(scale_sign * log_scale)
    elif order == "right":
        v = v * np.exp(scale_sign * log_scale)
    for layer in (reversed(layers) if reverse else layers):
        v = layer.inverse(v)[0]
    if order == "wrong":
        v = v * np.exp(-log_scale)
    base = -0.5 * np.sum(v ** 2, axis=1) - np.log(2 * np.pi)
    return base + (ld_sign * log_scale.sum() if with_ld else 0.0)


def test_nice_log_prob_check():
    assert ch04.check_nice_log_prob(_nice).ok
    assert ch04.check_nice_log_prob(_pending).status == "not implemented"
    _failed(ch04.check_nice_log_prob(lambda x, L, s: _nice(x, L, s)[:2]), ["shape"])
    _failed(ch04.check_nice_log_prob(lambda x, L, s: _nice(x, L, s, reverse=False)),
            ["volume"], ["last layer first"])
    _failed(ch04.check_nice_log_prob(lambda x, L, s: _nice(x, L, s, ld_sign=+1.0)),
            ["normalisation"], ["sign"])
    _failed(ch04.check_nice_log_prob(lambda x, L, s: _nice(x, L, s, with_ld=False)),
            ["normalisation"], ["missing"])
    _failed(ch04.check_nice_log_prob(lambda x, L, s: _nice(x, L, s, order="wrong")),
            ["nflib.Flow"], ["undo it first"])
    # the scaling undone with exp(+sigma): with the right log-det the density is not normalised;
    # with the log-det flipped too it is another flow's density (the grid check may still see
    # its tails cut off); either way the hint names the flipped scaling
    _failed(ch04.check_nice_log_prob(lambda x, L, s: _nice(x, L, s, scale_sign=+1.0)),
            ["normalisation"], ["exp(+log_scale)", "x exp(-log_scale)"])
    _failed(ch04.check_nice_log_prob(lambda x, L, s: _nice(x, L, s, scale_sign=+1.0,
                                                           ld_sign=+1.0)),
            ["normalisation"], ["exp(+log_scale)", "sign was flipped"])
    feedback = ch04.check_nice_log_prob(lambda x, L, s: _nice(x, L, s, in_place=True))
    _failed(feedback, ["inputs x and log_scale unchanged"], ["in place"])
    assert len(feedback.passed) == 4, feedback
