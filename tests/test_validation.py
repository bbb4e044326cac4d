"""Bad input gets a ValueError that names the problem, at the public edge, and never a NaN, a
bare numpy error or state changed by a failed call; the library loads none of the course layer."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import nflib as nf
from nflib import optim, validation


def _flow(d=2, seed=0):
    rng = np.random.default_rng(seed)
    return nf.Flow(nf.StandardNormal(d), nf.realnvp(d, n_layers=2, hidden=(8,), rng=rng))


def _snapshot(flow):
    return {k: p.copy() for k, p in flow.parameters().items()}


def _unchanged(flow, before):
    return all(np.array_equal(p, before[k]) for k, p in flow.parameters().items())


# ---- the library stands alone ----------------------------------------------------------------

def test_import_nflib_loads_no_course_module_and_no_heavy_dependency():
    code = ("import sys, nflib; "
            "heavy = ('matplotlib', 'IPython', 'jupyterquiz', 'jsonschema', 'sklearn', 'myst_nb'); "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in heavy "
            "or m.startswith('nflib.course')); print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


BUILD_TOOLING = ("sphinx", "jupyter_book", "myst_nb", "myst_parser", "nbclient", "jupytext",
                 "jupyter_cache", "playwright", "yaml")


def test_the_course_layer_loads_no_build_tooling():
    """Readers install ``nflib[course]`` to run a notebook: no module of the package may need the
    book's build, execution or serving machinery (that lives in tools/book)."""
    code = ("import sys, pkgutil, importlib, nflib.course, nflib.course.exercises; "
            "[importlib.import_module(m.name) for pkg in (nflib.course, nflib.course.exercises) "
            " for m in pkgutil.iter_modules(pkg.__path__, pkg.__name__ + '.')]; "
            f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {BUILD_TOOLING!r}); "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_the_course_extra_installs_no_build_tooling():
    import re
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    extras = project["project"]["optional-dependencies"]
    names = {re.split(r"[<>=\[ ;]", req)[0].lower().replace("-", "_")
             for reqs in extras.values() for req in reqs}
    forbidden = {"sphinx", "jupyter_book", "myst_nb", "nbclient", "jupytext", "jupyter_cache",
                 "playwright", "pyyaml"}
    assert not names & forbidden, sorted(names & forbidden)


def test_import_nflib_does_not_tune_the_allocator():
    """``keep_freed_memory`` (mallopt through ctypes) changes the whole process: never on import."""
    code = ("import ctypes\n"
            "calls = []\n"
            "class Fake:\n"
            "    def __init__(self, *a, **k): calls.append(a)\n"
            "    def __getattr__(self, name): return lambda *a: calls.append(name) or 1\n"
            "ctypes.CDLL = Fake\n"
            "import nflib\n"
            "print(len(calls))\n"
            "nflib.mlp.keep_freed_memory()\n"
            "print(len(calls) > 0)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "True"], out.stdout


# ---- arrays --------------------------------------------------------------------------------

def test_complex_input_is_refused_not_cut_to_its_real_part():
    flow = _flow()
    x = np.ones((3, 2)) + 1j
    with pytest.raises(ValueError, match="real"):
        flow.log_prob(x)
    with pytest.raises(ValueError, match="real"):
        flow.bijection.forward(x)
    with pytest.raises(ValueError, match="real"):
        nf.Affine(2).inverse(x)


def test_strings_are_refused():
    with pytest.raises(ValueError, match="numbers"):
        nf.Affine(2).forward(np.array([["a", "b"]]))


def test_an_empty_batch_gives_empty_results():
    flow = _flow()
    assert flow.log_prob(np.zeros((0, 2))).shape == (0,)
    x, log_det = flow.bijection.forward(np.zeros((0, 2)))
    assert x.shape == (0, 2) and log_det.shape == (0,)
    assert flow.sample(0, np.random.default_rng(0)).shape == (0, 2)


def test_made_checks_its_input():
    made = nf.MADE(3, hidden=(8,), rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="shape"):
        made(np.zeros(3))
    with pytest.raises(ValueError, match="non-finite"):
        made(np.full((1, 3), np.nan))
    mu, s = made(np.zeros((2, 3)))
    assert mu.shape == s.shape == (2, 3)


def test_compose_with_mismatched_dimensions_fails_when_built():
    with pytest.raises(ValueError, match="layer 0 acts on dimension 2 but layer 1 on dimension 3"):
        nf.Compose([nf.Affine(2), nf.Affine(3)])
    with pytest.raises(ValueError, match="not a Bijection"):
        nf.Compose([nf.Affine(2), np.eye(2)])


def test_a_composition_checks_its_input_once_at_its_edge():
    calls = []

    class Counting(nf.Affine):
        def check_z(self, z):
            calls.append("z")
            return super().check_z(z)

    model = nf.Compose([Counting(2), Counting(2), Counting(2)])
    model.forward(np.zeros((4, 2)))
    assert calls == ["z"]


# ---- counts ----------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [2.5, -1, "3", True, None])
def test_sample_counts_must_be_whole_numbers(n):
    with pytest.raises(ValueError, match="whole number"):
        _flow().sample(n, np.random.default_rng(0))


def test_sample_needs_a_generator():
    with pytest.raises(ValueError, match="Generator"):
        _flow().sample(3, 0)


@pytest.mark.parametrize("v", [0, -2, 2.5, "4", True])
def test_positive_int_names_what_it_checks(v):
    with pytest.raises(ValueError, match="hidden width must be a positive integer"):
        validation.positive_int(v, "hidden width")


# ---- losses ----------------------------------------------------------------------------------

def test_nll_of_an_empty_batch_is_an_error_not_a_zero_division():
    flow = _flow()
    with pytest.raises(ValueError, match="empty batch"):
        nf.nll_and_grad(flow, np.zeros((0, 2)))


def test_fit_refuses_empty_training_or_validation_data():
    flow = _flow()
    before = _snapshot(flow)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="empty"):
        nf.fit(flow, np.zeros((0, 2)), rng=rng, n_steps=3)
    with pytest.raises(ValueError, match="x_val is an empty batch"):
        nf.fit(flow, rng.standard_normal((20, 2)), x_val=np.zeros((0, 2)), rng=rng, n_steps=3)
    assert _unchanged(flow, before)


def _ring():
    return nf.targets.ring_log_prob, nf.targets.ring_grad


def test_reverse_kl_needs_at_least_one_sample():
    log_p, grad = _ring()
    with pytest.raises(ValueError, match="at least 1"):
        nf.reverse_kl_and_grad(_flow(), log_p, grad, 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="whole number"):
        nf.reverse_kl_and_grad(_flow(), log_p, grad, 2.5, np.random.default_rng(0))


def test_reverse_kl_refuses_a_target_that_returns_nan():
    _, grad = _ring()
    with pytest.raises(ValueError, match="log_target.*non-finite"):
        nf.reverse_kl_and_grad(_flow(), lambda x: np.full(x.shape[0], np.nan), grad, 8,
                               np.random.default_rng(0))
    with pytest.raises(ValueError, match="grad_log_target.*non-finite"):
        nf.reverse_kl_and_grad(_flow(), nf.targets.ring_log_prob,
                               lambda x: np.full(x.shape, np.inf), 8, np.random.default_rng(0))


def test_reverse_kl_refuses_a_column_shaped_target_instead_of_broadcasting_it():
    log_p, grad = _ring()
    with pytest.raises(ValueError, match=r"shape \(8,\); got \(8, 1\)"):
        nf.reverse_kl_and_grad(_flow(), lambda x: log_p(x)[:, None], grad, 8,
                               np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"grad_log_target\(x\) must return an array of shape"):
        nf.reverse_kl_and_grad(_flow(), log_p, lambda x: grad(x)[:, :1], 8,
                               np.random.default_rng(0))


def test_reverse_kl_fit_with_a_bad_target_leaves_the_flow_unchanged():
    flow = _flow()
    before = _snapshot(flow)
    with pytest.raises(ValueError):
        nf.fit_reverse_kl(flow, lambda x: np.full(x.shape[0], np.nan), nf.targets.ring_grad,
                          rng=np.random.default_rng(0), n_steps=5)
    assert _unchanged(flow, before)


# ---- optimisers ------------------------------------------------------------------------------

def _quadratic(theta, hessian):
    """J = -1/2 ||theta - 1||^2: gradient 1 - theta, Hessian -I."""
    g = 1.0 - theta
    return -0.5 * float(g @ g), g, (-np.eye(theta.size) if hessian else None)


@pytest.mark.parametrize("method", [optim.newton, optim.damped_newton, optim.gradient_ascent])
def test_generic_optimisers_find_the_maximum_of_any_objective(method):
    result = method(_quadratic, np.zeros(3))
    assert result.converged
    np.testing.assert_allclose(result.theta, np.ones(3), atol=1e-8)


@pytest.mark.parametrize("method", [optim.newton, optim.damped_newton, optim.gradient_ascent])
def test_generic_optimisers_check_their_input(method):
    with pytest.raises(ValueError, match="non-finite"):
        method(_quadratic, [np.nan, 0.0])
    with pytest.raises(ValueError, match="vector"):
        method(_quadratic, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="callable"):
        method("not a function", np.zeros(2))
    with pytest.raises(ValueError, match="gradient of shape"):
        method(lambda t, h: (0.0, np.zeros(5), np.eye(5)), np.zeros(2))
    with pytest.raises(ValueError, match="not finite at theta0"):
        method(lambda t, h: (np.inf, np.zeros(2), -np.eye(2)), np.zeros(2))
