"""The toy benchmark's score and helpers: KL by quadrature against closed forms, the parameter
average, and a short training run scored the same way by quadrature and by Monte Carlo."""

from __future__ import annotations

import importlib.util
import types
from pathlib import Path

import numpy as np
import pytest
from scipy.special import ndtr

import nflib as nf
from nflib import datasets

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("toy_kl", ROOT / "benchmarks" / "toy_kl.py")
toy_kl = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toy_kl)


def _two_moons_second_moment(noise):
    # moon centres c, unit half circles u: E|c + u|^2 = |c|^2 + 2 c.E[u] + 1, E[u] = (0, +-2/pi)
    return 0.5 ** 2 + 0.25 ** 2 - 1.0 / np.pi + 1.0 + 2 * noise ** 2


SECOND_MOMENT = {  # E|X|^2 under each toy, in closed form
    "two_moons": lambda t: _two_moons_second_moment(t.noise),
    "eight_gaussians": lambda t: t.radius ** 2 + 2 * t.sigma ** 2,
    "checkerboard": lambda t: 2 * (4 * t.size) ** 2 / 12,          # uniform on [-2s, 2s] each
    "rings": lambda t: float(np.sum(t.weights * (t.radii ** 2 + 2 * t.noise ** 2))),
}


def _gaussian_log_prob(scale):
    return lambda x: (-0.5 * np.sum(x ** 2, axis=1) / scale ** 2
                      - np.log(2 * np.pi * scale ** 2))


@pytest.mark.parametrize("name", list(datasets.TOYS))
@pytest.mark.parametrize("scale", [0.8, 1.5])
def test_grid_kl_against_a_gaussian_model_in_closed_form(name, scale):
    """KL(p || N(0, s^2 I)) = -H(p) + log(2 pi s^2) + E|X|^2 / (2 s^2): the entropy from the toy
    (its own integration rule), the moment in closed form; the box holds all of p's mass."""
    toy = datasets.toy(name)
    exact = (-toy.entropy() + np.log(2 * np.pi * scale ** 2)
             + SECOND_MOMENT[name](toy) / (2 * scale ** 2))
    r = toy_kl.grid_kl(_gaussian_log_prob(scale), toy, panels_per_unit=12)
    assert r["p_mass"] == pytest.approx(1.0, abs=1e-7)
    assert r["kl"] == pytest.approx(exact, abs=1e-6)


def test_checkerboard_support_mass_in_closed_form():
    """Q(S) for q = N(0, I) on the checkerboard's dark squares, from products of normal cdfs."""
    toy = datasets.toy("checkerboard")
    edges = np.arange(-2.0, 3.0)
    cell = np.diff(ndtr(edges))                       # N(0, 1) mass of each unit interval
    dark = (np.add.outer(np.arange(4), np.arange(4)) % 2) == 0
    exact = float(np.sum(np.outer(cell, cell)[dark]))
    r = toy_kl.grid_kl(_gaussian_log_prob(1.0), toy, panels_per_unit=12)
    assert r["q_mass"] == pytest.approx(exact, rel=1e-10)


def test_ema_update_is_the_average_it_documents():
    rng = np.random.default_rng(0)
    series = rng.standard_normal((50, 3))
    params = {"w": series[0].copy()}
    average = {"w": series[0].copy()}
    expected = series[0].copy()
    for step in range(1, 50):
        params["w"][...] = series[step]
        toy_kl.ema_update(average, params, 0.9, step)
        beta = min(0.9, (1 + step) / (10 + step))
        expected = beta * expected + (1 - beta) * series[step]
    assert np.allclose(average["w"], expected, rtol=0, atol=1e-14)
    assert params["w"] is not average["w"]


def test_cosine_learning_rate_decays_to_the_floor():
    assert toy_kl.cosine_lr(1.0, 0.0, 0.0) == 1.0
    assert toy_kl.cosine_lr(1.0, 0.5, 0.0) == pytest.approx(0.5)
    assert toy_kl.cosine_lr(1.0, 1.0, 0.0) == pytest.approx(1e-3)
    assert toy_kl.cosine_lr(1.0, 0.01, 0.02) == pytest.approx(0.5 * toy_kl.cosine_lr(1, 0.01, 0))


def test_a_short_run_scores_the_same_by_quadrature_and_monte_carlo():
    """A spline flow trained for 1 s of CPU: the quadrature KL lies within 5 standard errors of
    the Monte Carlo estimate, and below the untrained base distribution's KL."""
    args = types.SimpleNamespace(lr=5e-3, warmup=0.02, batch=256, data="fresh", n_train=0,
                                 ema=0.99, spline_layers=2, spline_hidden=[16, 16], bins=8,
                                 bound=4.0)
    toy = datasets.toy("eight_gaussians")
    rng = np.random.default_rng(3)
    flow = nf.Flow(nf.StandardNormal(2), toy_kl.make_bijection("spline", args, rng))
    out = toy_kl.train(flow, toy, 1.0, args, rng)
    assert out["steps"] > 0 and out["seconds"] >= 1.0
    r = toy_kl.grid_kl(flow.log_prob, toy, panels_per_unit=12)
    kl_mc, se = toy_kl.monte_carlo_kl(flow.log_prob, toy, 50_000, rng)
    assert abs(r["kl"] - kl_mc) < 5 * se + 1e-4
    assert r["kl"] < toy_kl.grid_kl(nf.StandardNormal(2).log_prob, toy, panels_per_unit=12)["kl"]


def test_blurred_checkerboard_is_a_density_whose_kl_grows_with_the_blur():
    toy = datasets.toy("checkerboard")
    rng = np.random.default_rng(1)
    # it integrates to one over the plane (the blur reaches 0.2 beyond the board)
    t = np.linspace(-2.5, 2.5, 1001)
    xx, yy = np.meshgrid(t, t, indexing="ij")
    grid = np.stack([xx.ravel(), yy.ravel()], axis=1)
    log_q = toy_kl.blurred_checkerboard_log_prob(toy, 0.05)
    mass = np.exp(log_q(grid)).sum() * (t[1] - t[0]) ** 2
    assert mass == pytest.approx(1.0, abs=1e-3)
    # KL about proportional to s, and finite log q wherever the blurred board puts its samples
    kls = [toy_kl.grid_kl(toy_kl.blurred_checkerboard_log_prob(toy, s), toy)["kl"]
           for s in (0.01, 0.02)]
    assert 0 < kls[0] < kls[1] and kls[1] / kls[0] == pytest.approx(2.0, rel=0.05)
    x = toy.sample(2000, rng) + 0.05 * rng.standard_normal((2000, 2))
    assert np.all(np.isfinite(log_q(x)))
