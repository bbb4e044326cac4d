"""Adam, the training loops, early stopping, and two smoke tests of real training."""

from __future__ import annotations

import numpy as np
import pytest

import nflib as nf
from nflib import datasets
from nflib.train import clip_gradients


# ---- Adam ------------------------------------------------------------------------------------

def test_adam_matches_the_textbook_update():
    rng = np.random.default_rng(0)
    p = {"a": rng.standard_normal((3, 2)), "b": rng.standard_normal(4)}
    ref = {k: v.copy() for k, v in p.items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v2 = {k: np.zeros_like(v) for k, v in p.items()}
    live = dict(p)
    opt = nf.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-6)
    for t in range(1, 6):
        grads = {k: rng.standard_normal(v.shape) for k, v in p.items()}
        opt.step(grads)
        for k, g in grads.items():
            m[k] = 0.8 * m[k] + 0.2 * g
            v2[k] = 0.99 * v2[k] + 0.01 * g * g
            m_hat, v_hat = m[k] / (1 - 0.8 ** t), v2[k] / (1 - 0.99 ** t)
            ref[k] -= 0.01 * m_hat / (np.sqrt(v_hat) + 1e-6)
    for k in p:
        assert p[k] is live[k], "Adam must update the live arrays in place"
        np.testing.assert_allclose(p[k], ref[k], rtol=1e-12, atol=1e-14)


def test_adam_minimises_a_quadratic():
    x = {"x": np.array([3.0, -2.0])}
    opt = nf.Adam(x, lr=0.05)
    for _ in range(2000):
        opt.step({"x": 2.0 * (x["x"] - np.array([1.0, 0.5]))})
    np.testing.assert_allclose(x["x"], [1.0, 0.5], atol=1e-4)


def test_adam_rejects_mismatched_gradients():
    opt = nf.Adam({"a": np.zeros(2), "b": np.zeros(3)})
    with pytest.raises(ValueError, match="missing"):
        opt.step({"a": np.zeros(2)})
    with pytest.raises(ValueError, match="shape"):
        opt.step({"a": np.zeros(2), "b": np.zeros(4)})
    with pytest.raises(ValueError, match="learning rate"):
        nf.Adam({"a": np.zeros(2)}, lr=-1.0)
    with pytest.raises(ValueError, match="float64"):
        nf.Adam({"a": np.zeros(2, dtype=int)})


def test_clip_gradients_caps_the_joint_norm():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    assert clip_gradients(grads, 10.0) == 5.0 and grads["a"][0] == 3.0
    assert clip_gradients(grads, 1.0) == 5.0
    norm = np.sqrt(sum(np.sum(g ** 2) for g in grads.values()))
    assert norm == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(grads["a"], [0.6, 0.0])


# ---- fit -------------------------------------------------------------------------------------

def _moons_flow(rng, layers=4, hidden=(32, 32)):
    return nf.Flow(nf.StandardNormal(2), nf.realnvp(2, layers, hidden, rng=rng))


def test_likelihood_training_beats_the_standard_normal_on_two_moons():
    rng = np.random.default_rng(1)
    moons = datasets.TwoMoons()
    x_train, x_test = moons.sample(20_000, rng), moons.sample(20_000, rng)
    flow = _moons_flow(rng)
    baseline = -float(np.mean(nf.StandardNormal(2).log_prob(x_test)))   # about 2.34 nats
    np.testing.assert_allclose(-np.mean(flow.log_prob(x_test)), baseline, rtol=1e-12)  # identity
    history = nf.fit(flow, x_train, rng=rng, n_steps=500, batch_size=256, lr=3e-3,
                     schedule="cosine")
    nll = -float(np.mean(flow.log_prob(x_test)))
    assert history.steps == 500 and len(history.loss) == 500
    assert nll < baseline - 0.9, (nll, baseline)
    assert moons.kl_from_nll(nll) < 0.4                                 # H(moons) about 1.008
    assert np.mean(history.loss[-50:]) < history.loss[0] - 0.9


def test_fit_is_reproducible_with_the_same_seed():
    x = datasets.EightGaussians().sample(2000, np.random.default_rng(2))
    runs = []
    for _ in range(2):
        rng = np.random.default_rng(3)
        flow = _moons_flow(rng, layers=2, hidden=(8,))
        runs.append(nf.fit(flow, x, rng=rng, n_steps=20, batch_size=100).loss)
    assert runs[0] == runs[1]


def test_validation_restores_the_best_parameters():
    rng = np.random.default_rng(4)
    moons = datasets.TwoMoons()
    x, x_val = moons.sample(3000, rng), moons.sample(1000, rng)
    flow = _moons_flow(rng, layers=2, hidden=(16,))
    history = nf.fit(flow, x, rng=rng, n_epochs=6, batch_size=200, lr=1e-2, x_val=x_val)
    assert len(history.val_loss) == 6 and history.val_step[-1] == history.steps == 6 * 15
    best = int(np.argmin(history.val_loss))
    assert history.best_step == history.val_step[best]
    assert -np.mean(flow.log_prob(x_val)) == pytest.approx(history.val_loss[best], abs=1e-12)


def test_validation_fraction_holds_out_that_share():
    rng = np.random.default_rng(4)
    x = datasets.TwoMoons().sample(1000, rng)
    history = nf.fit(_moons_flow(rng, 2, (8,)), x, rng=rng, n_epochs=2, batch_size=100,
                     val_fraction=0.2)
    assert history.steps == 2 * 8 and len(history.val_loss) == 2   # 800 training points


def test_early_stopping_when_validation_gets_worse():
    """Validation data far from the training data: fitting the training data makes the
    validation loss grow, so training stops after `patience` evaluations without improvement
    and the parameters of the best evaluation come back."""
    rng = np.random.default_rng(5)
    x = 0.3 * rng.standard_normal((2000, 2))
    x_val = 3.0 + 0.3 * rng.standard_normal((500, 2))
    flow = _moons_flow(rng, layers=2, hidden=(16,))
    history = nf.fit(flow, x, rng=rng, n_steps=5000, batch_size=100, lr=1e-2, x_val=x_val,
                     eval_every=5, patience=3)
    assert history.stopped_early and history.steps < 5000
    assert len(history.val_loss) - 1 - int(np.argmin(history.val_loss)) == 3
    assert -np.mean(flow.log_prob(x_val)) == pytest.approx(min(history.val_loss), abs=1e-12)


def test_time_limit_and_bad_settings():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((500, 2))
    history = nf.fit(_moons_flow(rng, 2, (8,)), x, rng=rng, time_limit=0.3, batch_size=50)
    # the run lasts until the limit and stops within a few steps of it; how long a step takes is a
    # property of the machine, so the overshoot is measured in this run's own mean step
    assert 0 < history.steps and history.seconds >= 0.3
    mean_step = history.seconds / history.steps
    assert history.seconds - 0.3 <= 3 * mean_step + 0.5, (history.seconds, history.steps)
    flow = _moons_flow(rng, 2, (8,))
    for kwargs, message in [({}, "n_steps"),
                            ({"n_steps": 5, "batch_size": 0}, "batch_size"),
                            ({"n_steps": 5, "val_fraction": 1.0}, "val_fraction"),
                            ({"n_steps": 5, "schedule": "step"}, "schedule"),
                            ({"n_steps": 5, "clock": "gpu"}, "clock"),
                            ({"n_steps": 5, "val_fraction": 0.1, "x_val": x}, "not both")]:
        with pytest.raises(ValueError, match=message):
            nf.fit(flow, x, rng=rng, **kwargs)
    with pytest.raises(ValueError, match="columns"):
        nf.fit(flow, np.zeros((10, 3)), rng=rng, n_steps=1)


def test_diverging_training_raises():
    flow = nf.Flow(nf.StandardNormal(2), nf.Affine(2))
    x = np.full((10, 2), 1e200)
    with pytest.raises(FloatingPointError, match="not finite|inf|nan"):
        with np.errstate(over="ignore"):
            nf.fit(flow, x, rng=np.random.default_rng(0), n_steps=3)


def test_gradient_clipping_option_runs_and_limits_steps():
    rng = np.random.default_rng(7)
    x = datasets.TwoMoons().sample(1000, rng)
    flow = _moons_flow(rng, 2, (8,))
    history = nf.fit(flow, x, rng=rng, n_steps=10, batch_size=100, clip_norm=1e-3)
    assert history.steps == 10 and np.all(np.isfinite(history.loss))


def test_training_is_quiet_by_default_and_shows_one_line_when_asked(capsys):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((200, 2))
    nf.fit(_moons_flow(rng, 2, (8,)), x, rng=rng, n_steps=5, batch_size=50)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    nf.fit(_moons_flow(rng, 2, (8,)), x, rng=rng, n_steps=5, batch_size=50, progress=True)
    err = capsys.readouterr().err
    assert err.startswith("\r") and err.count("\n") == 1 and "step 5/5" in err


# ---- reverse KL --------------------------------------------------------------------------------

def test_reverse_kl_on_a_correlated_gaussian_approaches_minus_log_z():
    """Target p~(x) = exp(-x^T A x / 2) with log Z = log(2 pi) - log det(A) / 2 (d = 2).
    The loss estimates KL(q || p) - log Z >= -log Z, with equality when q = p."""
    a = np.array([[2.0, 1.2], [1.2, 1.0]])
    log_z = np.log(2 * np.pi) - 0.5 * np.linalg.slogdet(a)[1]

    def log_target(x):
        return -0.5 * np.einsum("ni,ij,nj->n", x, a, x)

    def grad_log_target(x):
        return -x @ a

    rng = np.random.default_rng(9)
    flow = nf.Flow(nf.StandardNormal(2),
                   nf.Compose([nf.realnvp(2, 4, (16,), rng=rng), nf.Affine(2)]))
    start = nf.reverse_kl_and_grad(flow, log_target, grad_log_target, 20_000, rng)[0]
    history = nf.fit_reverse_kl(flow, log_target, grad_log_target, rng=rng, n_steps=600,
                                batch_size=128, lr=1e-2, schedule="cosine")
    x, log_q = flow.sample_and_log_prob(50_000, rng)
    estimate = float(np.mean(log_q - log_target(x)))       # KL(q || p) - log Z
    assert history.steps == 600
    assert start > -log_z + 0.2                            # far from the optimum at the start
    assert -log_z - 0.01 < estimate < -log_z + 0.02, (estimate, -log_z)


def test_adam_leaves_the_gradients_alone_and_reuses_its_buffers():
    rng = np.random.default_rng(5)
    p = {"a": rng.standard_normal((4, 3)), "b": rng.standard_normal(5)}
    opt = nf.Adam(p, lr=0.01)
    buffers = (opt._grad, opt._update, opt.m, opt.v)
    for _ in range(3):
        grads = {k: rng.standard_normal(v.shape) for k, v in p.items()}
        kept = {k: g.copy() for k, g in grads.items()}
        opt.step(grads)
        assert all(np.array_equal(grads[k], kept[k]) for k in grads)
    assert all(a is b for a, b in zip(buffers, (opt._grad, opt._update, opt.m, opt.v)))


def test_fit_leaves_the_process_allocator_alone_unless_asked(monkeypatch):
    calls = []
    monkeypatch.setattr(nf.train, "keep_freed_memory", lambda: calls.append(1) or True)
    rng = np.random.default_rng(6)
    flow = nf.Flow(nf.StandardNormal(2), nf.realnvp(2, 2, (8,), rng=rng))
    x = rng.standard_normal((40, 2))
    nf.fit(flow, x, rng=rng, n_steps=2, batch_size=20)
    assert calls == []
    nf.fit(flow, x, rng=rng, n_steps=2, batch_size=20, keep_memory=True)
    assert calls == [1]


def test_shuffled_batches_visit_each_epoch_in_a_new_order():
    from itertools import islice

    from nflib.train import shuffled_batches

    batches = list(islice(shuffled_batches(10, 3, np.random.default_rng(0)), 6))
    assert all(b.shape == (3,) for b in batches)
    first, second = np.concatenate(batches[:3]), np.concatenate(batches[3:])
    rng = np.random.default_rng(0)
    assert first.tolist() == rng.permutation(10)[:9].tolist()     # the 10th row waits an epoch
    assert second.tolist() == rng.permutation(10)[:9].tolist()
    assert len(set(first.tolist())) == 9
    with pytest.raises(ValueError, match="batch_size"):
        next(shuffled_batches(4, 5, np.random.default_rng(0)))
