"""Unit tests of nflib.course.newton: the coupling layer, the banana, the objective's derivatives,
Gauss-Hermite nodes and the optimisers.

Derivatives are compared with central differences written here (independent of nflib.checks);
the objective is compared with a direct transcription of its formula.
"""

from __future__ import annotations

import numpy as np
import pytest

from nflib.course import newton as nt

K = 0.1


def central_gradient(f, x, eps=1e-6):
    x = np.asarray(x, dtype=float)
    out = np.empty(x.size)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = eps
        out[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return out


def central_jacobian(f, x, eps=1e-6):
    x = np.asarray(x, dtype=float)
    cols = []
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = eps
        cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * eps))
    return np.stack(cols, axis=-1)


def direct_objective(theta, z, w=None):
    """J(theta) transcribed from the formula, with no shared code."""
    w = np.full(len(z), 1 / len(z)) if w is None else w
    a, b, c, d = theta[:4]
    e = theta[4] if len(theta) == 5 else 0.0
    z1, z2 = z[:, 0], z[:, 1]
    x2 = z2 * np.exp(a * z1 + b) + c * z1 + d + e * z1 ** 2
    log_p = -0.5 * (z1 ** 2 + (x2 + K * z1 ** 2) ** 2)
    return float(np.sum(w * (log_p + a * z1 + b)))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def z(rng):
    return rng.standard_normal((300, 2))


# ---- the target --------------------------------------------------------------------------------

def test_banana_log_prob_formula(rng):
    x = rng.standard_normal((10, 2)) * 2
    want = -0.5 * (x[:, 0] ** 2 + (x[:, 1] + 0.1 * x[:, 0] ** 2) ** 2)
    np.testing.assert_allclose(nt.banana_log_prob(x), want, rtol=1e-14)
    assert nt.BANANA_K == 0.1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_banana_gradient_and_hessian_against_central_differences(seed):
    x = np.random.default_rng(seed).standard_normal((8, 2)) * 2
    grads, hessians = nt.banana_grad(x), nt.banana_hessian(x)
    for i in range(len(x)):
        g_num = central_gradient(lambda v: nt.banana_log_prob(v[None])[0], x[i])
        h_num = central_jacobian(lambda v: nt.banana_grad(v[None])[0], x[i])
        np.testing.assert_allclose(grads[i], g_num, atol=1e-7)
        np.testing.assert_allclose(hessians[i], h_num, atol=1e-7)
        np.testing.assert_allclose(hessians[i], hessians[i].T)


def test_banana_hessian_h11_h12_are_not_zero_and_not_constant(rng):
    h = nt.banana_hessian(rng.standard_normal((20, 2)) * 2)
    for entry in (h[:, 0, 0], h[:, 0, 1]):
        assert np.all(np.abs(entry) > 0)
        assert np.ptp(entry) > 0.1
    np.testing.assert_array_equal(h[:, 1, 1], -1.0)


def test_banana_normaliser_is_two_pi():
    g1, g2 = np.linspace(-9, 9, 541), np.linspace(-20, 10, 901)
    X1, X2 = np.meshgrid(g1, g2, indexing="ij")
    p = np.exp(nt.banana_log_prob(np.column_stack([X1.ravel(), X2.ravel()])))
    Z = p.sum() * (g1[1] - g1[0]) * (g2[1] - g2[0])
    assert Z == pytest.approx(2 * np.pi, rel=1e-10)
    assert nt.BANANA_LOG_Z == pytest.approx(np.log(2 * np.pi), rel=1e-15)


# ---- the model -----------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [4, 5])
def test_coupling_forward_and_log_det(p, rng):
    theta = rng.standard_normal(p) * 0.5
    z = rng.standard_normal((6, 2))
    x, log_det = nt.coupling_forward(theta, z)
    np.testing.assert_array_equal(x[:, 0], z[:, 0])
    np.testing.assert_allclose(log_det, theta[0] * z[:, 0] + theta[1])
    for i in range(len(z)):
        jac = central_jacobian(lambda v: nt.coupling_forward(theta, v[None])[0][0], z[i])
        assert np.linalg.slogdet(jac)[1] == pytest.approx(log_det[i], abs=1e-8)


def test_exact_theta_pushes_base_onto_banana(rng):
    z = rng.standard_normal((50, 2))
    x, log_det = nt.coupling_forward(nt.EXACT_THETA, z)
    np.testing.assert_allclose(x[:, 1], z[:, 1] - K * z[:, 0] ** 2)
    np.testing.assert_array_equal(log_det, 0.0)
    # log q(x) = log p_Z(z) - log_det equals log p(x) = log p~(x) - log 2 pi, point by point
    log_q = -0.5 * np.sum(z ** 2, axis=1) - np.log(2 * np.pi)
    np.testing.assert_allclose(log_q, nt.banana_log_prob(x) - np.log(2 * np.pi), atol=1e-12)


# ---- objective, gradient and Hessian -------------------------------------------------------------

@pytest.mark.parametrize("p", [4, 5])
def test_objective_matches_its_formula(p, rng, z):
    for _ in range(3):
        theta = rng.standard_normal(p) * 0.5
        assert nt.objective(theta, z) == pytest.approx(direct_objective(theta, z), rel=1e-13)
    w = rng.uniform(size=len(z))
    w /= w.sum()
    assert nt.objective(theta, z, w) == pytest.approx(direct_objective(theta, z, w), rel=1e-13)


@pytest.mark.parametrize("p", [4, 5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_and_hessian_against_central_differences(p, seed, z):
    theta = np.random.default_rng(seed).standard_normal(p) * 0.6
    g, H = nt.gradient(theta, z), nt.hessian(theta, z)
    assert g.shape == (p,) and H.shape == (p, p)
    g_num = central_gradient(lambda t: direct_objective(t, z), theta)
    H_num = central_jacobian(lambda t: nt.gradient(t, z), theta)
    np.testing.assert_allclose(g, g_num, atol=1e-7 * max(1, np.abs(g).max()))
    np.testing.assert_allclose(H, H_num, atol=1e-6 * max(1, np.abs(H).max()))
    np.testing.assert_allclose(H, H.T, atol=1e-14)


def test_weighted_derivatives_against_central_differences(rng):
    nodes, w = nt.gauss_hermite_nodes(6)
    theta = rng.standard_normal(5) * 0.5
    g_num = central_gradient(lambda t: direct_objective(t, nodes, w), theta)
    np.testing.assert_allclose(nt.gradient(theta, nodes, w), g_num, atol=1e-7)
    H_num = central_jacobian(lambda t: nt.gradient(t, nodes, w), theta)
    np.testing.assert_allclose(nt.hessian(theta, nodes, w), H_num, atol=1e-6)


def test_hessian_structure_gauss_newton_plus_curvature(rng, z):
    """H = mean[g2 d2x2/dtheta2] - mean[v v^T]: only the (a, b) block differs from -mean v v^T."""
    theta = rng.standard_normal(4) * 0.5
    x, s = nt.coupling_forward(theta, z)
    e_s = np.exp(s)
    v = np.column_stack([z[:, 0] * z[:, 1] * e_s, z[:, 1] * e_s, z[:, 0], np.ones(len(z))])
    diff = nt.hessian(theta, z) + v.T @ v / len(z)
    assert np.abs(diff[2:, :]).max() < 1e-13 and np.abs(diff[:, 2:]).max() < 1e-13
    u = x[:, 1] + K * x[:, 0] ** 2
    assert diff[1, 1] == pytest.approx(np.mean(-u * z[:, 1] * e_s), rel=1e-12)


def test_gauss_newton_is_not_the_hessian_at_the_optimum():
    """Exercise 6's solution: keeping only -mean(v v^T) (Gauss-Newton) is wrong even at the exact
    map. There u = z2 and e^s = 1, so the dropped term -u z2 e^s [[z1^2, z1], [z1, 1]] has mean
    -I: the population Hessian's (a, b) block is -2I, Gauss-Newton's is -I."""
    nodes, w = np.polynomial.hermite_e.hermegauss(10)       # exact for these polynomial moments
    w = w / w.sum()
    z = np.stack(np.meshgrid(nodes, nodes, indexing="ij"), axis=-1).reshape(-1, 2)
    weights = np.outer(w, w).ravel()
    theta = np.array([0.0, 0.0, 0.0, 0.0, -K])
    z1, z2 = z[:, 0], z[:, 1]
    v = np.column_stack([z1 * z2, z2, z1, np.ones_like(z1), z1 ** 2])   # dx2/dtheta at theta*
    gauss_newton = -(v * weights[:, None]).T @ v
    hessian = nt.hessian(theta, z, weights)
    np.testing.assert_allclose(gauss_newton[:2, :2], -np.eye(2), atol=1e-12)
    np.testing.assert_allclose(hessian[:2, :2], -2 * np.eye(2), atol=1e-12)
    np.testing.assert_allclose(hessian[2:, :], gauss_newton[2:, :], atol=1e-12)
    assert np.abs(hessian - gauss_newton).max() > 0.5
    # and the same on a large random sample (the sample optimum, not the population one)
    zs = np.random.default_rng(5).standard_normal((20_000, 2))
    fit = nt.newton(theta, zs, tol=1e-10).theta
    x, s = nt.coupling_forward(fit, zs)
    e_s = np.exp(s)
    vs = np.column_stack([zs[:, 0] * zs[:, 1] * e_s, zs[:, 1] * e_s, zs[:, 0],
                          np.ones(len(zs)), zs[:, 0] ** 2])
    block = nt.hessian(fit, zs)[:2, :2]
    np.testing.assert_allclose(block, -2 * np.eye(2), atol=0.1)
    np.testing.assert_allclose(-(vs.T @ vs)[:2, :2] / len(zs), -np.eye(2), atol=0.1)


def test_single_sample_has_no_maximiser():
    """d-condition u = 0 forces dJ/db = 1; along u = 0, J grows one-for-one with b."""
    z1 = np.array([[0.8, -1.1]])
    for b in (0.0, 2.0, 5.0):
        d = -z1[0, 1] * np.exp(b) - K * z1[0, 0] ** 2          # u = 0 with a = c = 0
        theta = np.array([0.0, b, 0.0, d])
        g = nt.gradient(theta, z1)
        assert g[3] == pytest.approx(0.0, abs=1e-11)
        assert g[1] == pytest.approx(1.0, abs=1e-9)
        assert nt.objective(theta, z1) == pytest.approx(b - 0.5 * 0.64, abs=1e-11)
    H = nt.hessian(np.array([0.3, -0.2, 0.5, 0.1]), z1)
    assert np.linalg.matrix_rank(H) == 2


# ---- population objective and KL ------------------------------------------------------------------

@pytest.mark.parametrize("p", [4, 5])
def test_population_objective_against_quadrature(p, rng):
    nodes, w = nt.gauss_hermite_nodes(40)
    for _ in range(4):
        theta = rng.standard_normal(p) * 0.5
        assert nt.population_objective(theta) == pytest.approx(
            direct_objective(theta, nodes, w), abs=1e-12)
        assert nt.population_kl(theta) == pytest.approx(nt.reverse_kl(theta, nodes, w), abs=1e-12)


def test_population_optima_and_residual_kl():
    assert nt.population_kl(nt.EXACT_THETA) == pytest.approx(0.0, abs=1e-15)
    assert nt.population_kl(np.array([0, 0, 0, -K])) == pytest.approx(K ** 2, rel=1e-12)
    # concave: the Hessian of the closed form (central differences) is negative definite
    for theta in (np.zeros(4), np.array([0.5, -1.0, 2.0, 1.0])):
        H = central_jacobian(lambda t: central_gradient(nt.population_objective, t, 1e-4),
                             theta, 1e-4)
        assert np.linalg.eigvalsh((H + H.T) / 2).max() < 0


def test_reverse_kl_identity(rng, z):
    theta = rng.standard_normal(4) * 0.3
    log_base = -0.5 * np.sum(z ** 2, axis=1) - np.log(2 * np.pi)
    want = -nt.objective(theta, z) + log_base.mean() + np.log(2 * np.pi)
    assert nt.reverse_kl(theta, z) == pytest.approx(want, rel=1e-12)
    assert nt.reverse_kl(nt.EXACT_THETA, z) == pytest.approx(0.0, abs=1e-13)


# ---- Gauss-Hermite nodes --------------------------------------------------------------------------

@pytest.mark.parametrize("n", [3, 6, 10])
def test_gauss_hermite_nodes_are_symmetric_and_exact(n):
    nodes, w = nt.gauss_hermite_nodes(n)
    assert nodes.shape == (n * n, 2) and w.shape == (n * n,)
    assert w.sum() == pytest.approx(1.0, abs=1e-14) and np.all(w > 0)
    one_d = np.unique(np.round(nodes[:, 0], 12))
    np.testing.assert_allclose(np.sort(one_d), np.sort(-one_d), atol=1e-12)
    moments = {0: 1, 1: 0, 2: 1, 3: 0, 4: 3, 5: 0, 6: 15, 7: 0, 8: 105}
    for k, want in moments.items():
        if k <= 2 * n - 1:
            assert w @ nodes[:, 0] ** k == pytest.approx(want, abs=1e-10)
            assert w @ (nodes[:, 0] ** k * nodes[:, 1] ** 2) == pytest.approx(want, abs=1e-10)


def test_exact_map_recovered_with_gauss_hermite_nodes():
    nodes, w = nt.gauss_hermite_nodes(10)
    res = nt.newton(np.array([1.0, 1.0, 1.0, 1.0, 0.0]), nodes, w, tol=1e-12)
    assert res.converged
    assert np.max(np.abs(res.theta - nt.EXACT_THETA)) < 1e-8
    assert abs(nt.reverse_kl(res.theta, nodes, w)) < 1e-10
    np.testing.assert_allclose(nt.gradient(nt.EXACT_THETA, nodes, w), 0.0, atol=1e-13)


def test_four_parameter_optimum_on_gauss_hermite_nodes():
    nodes, w = nt.gauss_hermite_nodes(10)
    res = nt.newton(np.ones(4), nodes, w, tol=1e-12)
    np.testing.assert_allclose(res.theta, [0, 0, 0, -K], atol=1e-8)
    assert nt.reverse_kl(res.theta, nodes, w) == pytest.approx(K ** 2, abs=1e-10)


def test_random_samples_move_the_optimum_by_root_n():
    """rms ||theta_N - theta*|| ~ C N^-1/2 with C ~ 2 (the trace of Sigma^-1 is 4)."""
    Ns, rms = np.array([200, 800, 3200]), []
    for n in Ns:
        shifts = []
        for seed in range(16):
            z = np.random.default_rng(5000 + seed).standard_normal((n, 2))
            assert np.linalg.norm(nt.gradient(nt.EXACT_THETA, z)) > 0  # not optimal here
            res = nt.newton(nt.EXACT_THETA, z, tol=1e-10)
            assert res.converged
            shifts.append(res.theta - nt.EXACT_THETA)
        rms.append(np.sqrt(np.mean(np.sum(np.square(shifts), axis=1))))
    slope = np.polyfit(np.log(Ns), np.log(rms), 1)[0]
    assert -0.65 < slope < -0.35
    const = np.exp(np.mean(np.log(rms) + 0.5 * np.log(Ns)))
    assert 1.4 < const < 2.8


# ---- optimisers -------------------------------------------------------------------------------------

def test_newton_converges_quadratically(z):
    res = nt.newton(np.ones(4), z, tol=1e-13)
    assert res.converged and res.n_iter < 20
    errors = [np.linalg.norm(t - res.theta) for t in res.iterates]
    pairs = [(errors[k], errors[k + 1]) for k in range(len(errors) - 1)
             if errors[k] < 0.05 and errors[k + 1] > 1e-11]
    assert len(pairs) >= 2
    ratios = [e1 / e0 ** 2 for e0, e1 in pairs]
    assert max(ratios) < 5 and max(ratios) / min(ratios) < 3
    assert res.grad_norms[-1] <= 1e-13
    assert len(res.values) == len(res.iterates) == len(res.grad_norms)


def test_pure_newton_steps_the_wrong_way_where_hessian_is_indefinite():
    z = np.random.default_rng(0).standard_normal((1000, 2))
    theta0 = np.array([0.0, -4.0, 3.0, 3.0])
    g, H = nt.gradient(theta0, z), nt.hessian(theta0, z)
    assert np.linalg.eigvalsh(H).max() > 0
    step = np.linalg.solve(H, -g)
    assert g @ step < 0
    assert nt.objective(theta0 + step, z) < nt.objective(theta0, z)
    res = nt.newton(theta0, z, max_iter=100)
    assert not res.converged and res.status in ("diverged", "singular")
    damped = nt.damped_newton(theta0, z)
    assert damped.converged
    assert np.all(np.diff(damped.values) >= -1e-12)     # the line search never loses ground


def test_ascent_direction_on_indefinite_hessian(rng):
    H = np.diag([1.0, -2.0, -0.5])
    g = rng.standard_normal(3)
    p, tau = nt.ascent_direction(g, H)
    assert tau > 1.0 and g @ p > 0
    p0, tau0 = nt.ascent_direction(g, -np.eye(3) * 2)
    assert tau0 == 0 and np.allclose(p0, g / 2)


def test_gradient_ascent_converges_or_reports_divergence(z):
    ok = nt.gradient_ascent(np.zeros(4), z, step=0.3, tol=1e-8)
    ref = nt.newton(np.zeros(4), z, tol=1e-12)
    assert ok.converged and np.allclose(ok.theta, ref.theta, atol=1e-7)
    bad = nt.gradient_ascent(np.ones(4), z, step=0.5, tol=1e-8)
    assert bad.status == "diverged"


def test_newton_reports_failure_without_raising():
    z = np.random.default_rng(0).standard_normal((1000, 2))
    res = nt.newton(np.array([0.0, -3.0, 4.0, -4.0]), z, max_iter=100)
    assert res.status == "max_iter" and res.n_iter == 100
    assert res.values[1] < -1e200 and np.isfinite(res.grad_norms[1])   # norm without overflow
    bad_start = np.array([0.0, 400.0, 0.0, 0.0])                          # exp(2s) overflows
    for optimiser in (nt.newton, nt.damped_newton, nt.gradient_ascent):
        with pytest.raises(ValueError, match="not finite at theta0"):
            optimiser(bad_start, z)


# ---- bad input ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("theta, match", [
    (np.zeros(3), "length 4 or 5"),
    (np.zeros((2, 2)), "length 4 or 5"),
    (np.array([0.0, np.nan, 0.0, 0.0]), "non-finite"),
])
def test_bad_theta(theta, match, z):
    with pytest.raises(ValueError, match=match):
        nt.objective(theta, z)


def test_bad_inputs_raise_value_errors_naming_the_problem(z):
    theta = np.zeros(4)
    with pytest.raises(ValueError, match="z must"):
        nt.gradient(theta, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="z contains"):
        nt.hessian(theta, np.array([[0.0, np.inf]]))
    with pytest.raises(ValueError, match="x must"):
        nt.banana_log_prob(np.zeros(2))
    with pytest.raises(ValueError, match="weights must have shape"):
        nt.objective(theta, z, np.ones(3) / 3)
    with pytest.raises(ValueError, match="non-negative"):
        nt.objective(theta, z[:2], np.array([1.5, -0.5]))
    with pytest.raises(ValueError, match="sum to 1"):
        nt.objective(theta, z[:2], np.array([0.5, 0.6]))
    with pytest.raises(ValueError, match="positive integer"):
        nt.gauss_hermite_nodes(0)
    with pytest.raises(ValueError, match="tol must be positive"):
        nt.newton(theta, z, tol=0)
    with pytest.raises(ValueError, match="max_iter"):
        nt.damped_newton(theta, z, max_iter=-1)
    with pytest.raises(ValueError, match="c1"):
        nt.damped_newton(theta, z, c1=2.0)
    with pytest.raises(ValueError, match="step must be positive"):
        nt.gradient_ascent(theta, z, step=0.0)
    with pytest.raises(ValueError, match="Hessian must be finite"):
        nt.ascent_direction(np.ones(2), np.array([[np.nan, 0], [0, 1]]))
