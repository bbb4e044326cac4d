"""Chapter 6 (Newton's method on an affine coupling layer): every glued value against an
independent computation, every claim the page makes, and the numbers its quiz feedback states.
(Execution budget, glue references, template order, quiz and exercise references are checked for
every chapter by tests/test_chapters.py.)

Independent here means: the objective, its one-sample derivatives, the Adam and gradient-ascent
loops and the worked example are written out again in this file from the formulas; the optimum
is found by scipy on that transcription. nflib.course.newton's derivatives are checked against central
differences in tests/test_newton.py, so loops below may use them.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from scipy.optimize import minimize

from quiz_answers import feedback
from notebooks import ROOT, read_notebook

from nflib.course import newton as nt
from section_checks import assert_one_report_per_section

CHAPTER = "chapters/06_newton_fitting.md"
QUIZ = ROOT / "nflib" / "course" / "quizzes" / "06_newton_fitting.json"
K = 0.1
TOL = 1e-8


@pytest.fixture(scope="module")
def source():
    return (ROOT / CHAPTER).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def z_fix():
    return np.random.default_rng(0).standard_normal((1000, 2))


def direct_objective(theta, z):
    a, b, c, d = theta
    z1, z2 = z[:, 0], z[:, 1]
    x2 = z2 * np.exp(a * z1 + b) + c * z1 + d
    return float(np.mean(-0.5 * (z1 ** 2 + (x2 + K * z1 ** 2) ** 2) + a * z1 + b))


def own_newton(theta0, z, tol=TOL, max_iter=100):
    """theta <- theta - H^{-1} g; returns the gradient norms."""
    theta, norms = np.array(theta0, dtype=float), []
    for _ in range(max_iter):
        g = nt.gradient(theta, z)
        norms.append(np.linalg.norm(g))
        if norms[-1] <= tol:
            break
        theta = theta - np.linalg.solve(nt.hessian(theta, z), g)
    return theta, norms


def iterations_to(norms, tol=TOL):
    return next(k for k, v in enumerate(norms) if v <= tol)


# ---- the page as a whole -----------------------------------------------------------------------------

def test_citations_exist_in_references(source):
    bib = (ROOT / "references.bib").read_text(encoding="utf-8")
    keys = set(re.findall(r"^@\w+\{([^,]+),", bib, flags=re.MULTILINE))
    cited = {k.strip() for group in re.findall(r"\{cite:[tp]\}`([^`]+)`", source)
             for k in group.split(",")}
    assert cited and cited <= keys, f"unknown keys: {sorted(cited - keys)}"


def test_glossary_terms_exist(source):
    glossary = (ROOT / "glossary.md").read_text(encoding="utf-8").lower()
    terms = set(re.findall(r"\{term\}`([^`<]+)`", source))
    defined = set(re.findall(r"^([A-Za-z][^\n]*)\n  \S", glossary, flags=re.MULTILINE))
    missing = sorted(t for t in terms if t.lower() not in defined)
    assert not missing, f"{{term}} targets not in glossary.md: {missing}"


def test_practice_links_the_exercise_notebook(source):
    exercises = (ROOT / "exercises" / "06_newton_fitting.md").read_text(encoding="utf-8")
    for label in re.findall(r"\{ref\}`[^`]*<(ex-06-[a-z-]+)>`", source):
        assert f":label: {label}" in exercises
    assert source.count(":class: dropdown") >= 5


def test_figures_have_alt_text_captions_and_names():
    notebook = read_notebook(ROOT / CHAPTER)
    figures = [c for c in notebook.cells if c.cell_type == "code"
               and "mystnb" in c.metadata and "figure" in c.metadata["mystnb"]]
    assert len(figures) >= 3
    for cell in figures:
        meta = cell.metadata["mystnb"]
        assert len(meta["image"]["alt"]) > 40
        assert len(meta["figure"]["caption"]) > 40
        assert meta["figure"]["name"].startswith("fig-ch6-")
        assert "set_xlabel" in cell.source and "set_ylabel" in cell.source


def test_page_stays_small(nb):
    total = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            total += sum(len(str(v)) for v in out.get("data", {}).values())
    assert total < 2_500_000, f"outputs weigh {total / 1e6:.2f} MB"


# ---- the numerical checks shown on the page ---------------------------------------------------------

def test_numerical_checks_are_reported_once_per_section(nb, source):
    """The log-det, the banana's derivatives and normaliser, the objective's closed form, the
    gradient and Hessian against central differences, the Gauss-Hermite fits and Sigma = -H are
    collected per section and shown once, folded, with a plain-text fallback; a failing check
    (error above its tolerance) would have stopped the page."""
    expected = {"The model, the target and the objective": 5, "Gradient and Hessian in theta": 14,
                "The exact map, model error and sampling error": 4}
    assert_one_report_per_section(nb, expected)
    for name in ("logdet_err", "banana_grad_err", "banana_hess_err", "Z_rel_err", "jpop_err",
                 "we_grad_err", "we_hess_err", "gh_err", "gh_kl", "gh4_err", "sigma_err"):
        assert f"ch6_{name}" not in source, name


def test_central_differences_are_as_accurate_as_the_text_says(glued):
    # "the size expected of central differences with step 1e-6": relative errors of 1e-6 or less
    assert glued["ch6_fd_grad_err_max"] < 1e-6
    assert glued["ch6_fd_hess_err_max"] < 1e-6


def test_worked_example_by_hand(glued):
    a, b, c, d = 0.3, -0.2, 0.5, 0.1
    z1, z2 = 0.8, -1.1
    s = a * z1 + b
    y = z2 * np.exp(s)
    u = y + c * z1 + d + K * z1 ** 2
    g2 = -u
    assert glued["ch6_we_s"] == pytest.approx(0.04, abs=1e-15)
    assert glued["ch6_we_u"] == pytest.approx(u, rel=1e-13)
    assert glued["ch6_we_ga"] == pytest.approx(g2 * z1 * y + z1, rel=1e-13)
    assert glued["ch6_we_gb"] == pytest.approx(g2 * y + 1, rel=1e-13)
    assert glued["ch6_we_gc"] == pytest.approx(g2 * z1, rel=1e-13)
    assert glued["ch6_we_gd"] == pytest.approx(g2, rel=1e-13)
    assert glued["ch6_we_Hbb"] == pytest.approx(g2 * y - y ** 2, rel=1e-13)
    assert g2 > 0


def test_single_sample_newton_wanders(glued):
    """Newton in (b, d) on one point, with the derivatives written out: no convergence."""
    z1, z2 = 0.8, -1.1
    b = d = 0.0
    norms, values = [], []
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(12):
            y = z2 * np.exp(b)
            u = y + d + K * z1 ** 2
            g = np.array([1 - u * y, -u])
            H = np.array([[-u * y - y ** 2, -y], [-y, -1.0]])
            norms.append(np.linalg.norm(g))
            values.append(-0.5 * z1 ** 2 - 0.5 * u ** 2 + b)
            b, d = np.array([b, d]) - np.linalg.solve(H, g)
            if abs(b) > 50:
                break
    assert glued["ch6_one_steps"] == len(norms)
    assert glued["ch6_one_min_gnorm"] == pytest.approx(min(norms), rel=1e-6)
    assert glued["ch6_one_max_J"] == pytest.approx(max(values), rel=1e-6)
    assert glued["ch6_one_b_final"] == pytest.approx(b, rel=1e-6)
    assert min(norms) > 0.3 and max(values) > 5 and abs(b) > 50
    # the 4 x 4 Hessian at one point: g2 z2 e^s w w^T - v v^T has rank 2
    a, bb, c, dd = 0.3, -0.2, 0.5, 0.1
    e_s = np.exp(a * z1 + bb)
    u = z2 * e_s + c * z1 + dd + K * z1 ** 2
    w, v = np.array([z1, 1, 0, 0]), np.array([z1 * z2 * e_s, z2 * e_s, z1, 1])
    H4 = -u * z2 * e_s * np.outer(w, w) - np.outer(v, v)
    assert glued["ch6_one_rank"] == np.linalg.matrix_rank(H4) == 2


# ---- Newton's method on the fixed sample -------------------------------------------------------------

def test_sample_optimum(glued, z_fix):
    res = minimize(lambda t: -direct_objective(t, z_fix), np.zeros(4), method="BFGS",
                   options={"gtol": 1e-10})
    theta_hat = np.array([glued[f"ch6_that_{n}"] for n in "abcd"])
    np.testing.assert_allclose(theta_hat, res.x, atol=2e-6)
    assert glued["ch6_that_dist"] == pytest.approx(
        np.linalg.norm(theta_hat - [0, 0, 0, -K]), rel=1e-9)
    assert glued["ch6_hat_maxeig"] < 0


def test_quadratic_convergence(glued, z_fix):
    errors = glued["ch6_quad_errors"]
    pairs = [(errors[k], errors[k + 1]) for k in range(len(errors) - 1)
             if errors[k] < 0.1 and errors[k + 1] > 1e-10]
    assert len(pairs) >= 2
    ratios = [e1 / e0 ** 2 for e0, e1 in pairs]
    assert max(ratios) / min(ratios) < 1.5               # settles: e_{k+1} ~ C e_k^2
    assert glued["ch6_quad_ratio"] == pytest.approx(ratios[-1], rel=1e-9)
    assert 0.5 < glued["ch6_quad_ratio"] < 3
    assert all(e1 < e0 ** 1.8 for e0, e1 in pairs)        # digits (almost) double
    assert errors[0] > 1 and errors[1] > 0.5 * errors[0]  # slow far away
    _, norms = own_newton(np.ones(4), z_fix)
    assert glued["ch6_newton_iters_ones"] == iterations_to(norms)


def test_starts_and_the_indefinite_hessian(glued, z_fix):
    maxeig, slope = glued["ch6_starts_maxeig"], glued["ch6_starts_slope"]
    J0, J1 = glued["ch6_starts_J0"], glued["ch6_starts_J1"]
    status = glued["ch6_starts_status"]
    for label, theta0 in [("(0, 0, 0, 0)", (0, 0, 0, 0)), ("(2, 0, 0, 0)", (2, 0, 0, 0)),
                          ("(0, −2, 0, 0)", (0, -2, 0, 0)), ("(0, −4, 3, 3)", (0, -4, 3, 3)),
                          ("(0, −3, 4, −4)", (0, -3, 4, -4))]:
        theta0 = np.array(theta0, dtype=float)
        H = nt.hessian(theta0, z_fix)
        assert maxeig[label] == pytest.approx(np.linalg.eigvalsh(H).max(), rel=1e-9)
        assert J0[label] == pytest.approx(direct_objective(theta0, z_fix), rel=1e-12)
    for label in ("(0, 0, 0, 0)", "(2, 0, 0, 0)", "(0, −2, 0, 0)"):
        assert maxeig[label] < 0 and status[label] == "converged"
    assert -0.1 < maxeig["(0, −2, 0, 0)"] < 0                      # nearly singular
    assert J1["(0, −2, 0, 0)"] < -1e10                              # far too long a step
    assert glued["ch6_slow_iters"] > 3 * glued["ch6_damped_iters"]["(0, −2, 0, 0)"]
    for label in ("(0, −4, 3, 3)", "(0, −3, 4, −4)"):
        assert maxeig[label] > 0 and status[label] != "converged"
    assert slope["(0, −4, 3, 3)"] < 0 and J1["(0, −4, 3, 3)"] < J0["(0, −4, 3, 3)"]
    assert status["(0, −4, 3, 3)"] == "singular"
    assert slope["(0, −3, 4, −4)"] > 0 and status["(0, −3, 4, −4)"] == "max_iter"
    start = np.array([0, -3, 4, -4.0])
    landing = start - np.linalg.solve(nt.hessian(start, z_fix), nt.gradient(start, z_fix))
    assert glued["ch6_runaway_a"] == pytest.approx(landing[0], rel=1e-9)
    assert glued["ch6_runaway_b"] == pytest.approx(landing[1], rel=1e-9)
    assert glued["ch6_runaway_J1"] == pytest.approx(direct_objective(landing, z_fix), rel=1e-9)
    assert glued["ch6_runaway_J1"] < -1e200
    assert glued["ch6_runaway_iters"] == 100 and glued["ch6_runaway_J_last"] < -1e100
    assert glued["ch6_runaway_J_last"] > glued["ch6_runaway_J1"]   # creeping back
    assert glued["ch6_damped_all_converged"] is True
    assert all(s in ("converged", "singular", "max_iter") for s in status.values())


def test_comparison_table(glued, z_fix):
    iters, ms = glued["ch6_cmp_iters"], glued["ch6_cmp_ms"]
    assert len(iters) == len(ms) == 6
    newton = iters["pure Newton"]
    _, norms = own_newton(np.ones(4), z_fix)
    assert newton == iterations_to(norms) == glued["ch6_it_newton"]
    assert iters["damped Newton"] == glued["ch6_it_damped"] <= newton + 2
    assert iters["trust region (trust-exact)"] == glued["ch6_it_trust"] <= newton + 3
    assert iters["BFGS"] == glued["ch6_it_bfgs"] > newton
    assert glued["ch6_it_ga"] > 10 * newton and glued["ch6_it_adam"] > 10 * newton
    assert all(np.isfinite(v) and v > 0 for v in ms.values())
    # wall times are a property of the machine: the text takes its verdict from them (glued),
    # and only what follows from the work done is asserted: a few Newton steps on four
    # parameters against hundreds of gradient steps, with a wide margin
    others = {name: v for name, v in ms.items()
              if not name.endswith("Newton") and "trust" not in name}
    fastest = ms["pure Newton"] < min(others.values())
    assert glued["ch6_time_verdict"].startswith("was also the fastest") == fastest
    hundreds = [v for name, v in others.items() if name.startswith(("gradient", "Adam"))]
    assert len(hundreds) == 2 and ms["pure Newton"] < min(hundreds) / 3


def test_gradient_ascent_step_and_linear_rate(glued, z_fix):
    assert glued["ch6_ga_step"] == 0.02 and glued["ch6_ga_diverged_min"] == 0.05
    theta, norms, thetas = np.ones(4), [], []
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(5000):                       # the loop written out again
            g = nt.gradient(theta, z_fix)
            norms.append(np.linalg.norm(g))
            thetas.append(theta.copy())
            if norms[-1] <= TOL:
                break
            theta = theta + 0.02 * g
    assert abs(iterations_to(norms) - glued["ch6_it_ga"]) <= 1
    q = np.array(norms[1:]) / np.array(norms[:-1])
    assert q[-200:].std() < 1e-3 * q[-200:].mean()   # a constant factor per step: linear
    theta = np.ones(4)
    with np.errstate(over="ignore", invalid="ignore"):
        theta = theta + 0.05 * nt.gradient(theta, z_fix)
        x2 = z_fix[:, 1] * np.exp(theta[0] * z_fix[:, 0] + theta[1])
    assert not np.all(np.isfinite(x2)) or direct_objective(theta, z_fix) < -1e6


def test_two_over_l_is_a_local_condition(glued, z_fix):
    """The old text said steps above 2/L diverge with L the curvature at the start. The step 0.02
    is far above 2/L there and converges; 2/L at the optimum is far above 0.05, which diverges."""
    def curvature(theta):
        return -np.linalg.eigvalsh(nt.hessian(theta, z_fix)).min()

    L0 = curvature(np.ones(4))
    assert glued["ch6_start_curvature"] == pytest.approx(L0, rel=1e-9)
    assert 0.02 > 2 / L0                                   # above 2/L at the start ...
    assert glued["ch6_ga_step"] == 0.02                     # ... and it converges
    res = minimize(lambda t: -direct_objective(t, z_fix), np.zeros(4), method="BFGS",
                   options={"gtol": 1e-10})
    L_opt = curvature(res.x)
    assert glued["ch6_opt_curvature"] == pytest.approx(L_opt, rel=1e-5)
    assert 1.5 < L_opt < 2.5
    assert glued["ch6_opt_step_bound"] == pytest.approx(2 / L_opt, rel=1e-5)
    assert 2 / L_opt > glued["ch6_ga_diverged_min"]       # 0.05 diverges for another reason
    # the 0.02 path: its largest curvature is at the start; after the first step the step is
    # below 2/L all the way
    theta, curv = np.ones(4), []
    for _ in range(glued["ch6_it_ga"] + 1):
        curv.append(curvature(theta))
        theta = theta + 0.02 * nt.gradient(theta, z_fix)
    assert glued["ch6_path_max_curvature"] == pytest.approx(max(curv), rel=1e-9)
    assert int(np.argmax(curv)) == 0
    assert glued["ch6_after_first_curvature"] == pytest.approx(max(curv[1:]), rel=1e-9)
    assert 0.02 * max(curv[1:]) < 2
    # the first step overshoots a past its optimum (about 0) and lowers b
    first = np.ones(4) + 0.02 * nt.gradient(np.ones(4), z_fix)
    assert glued["ch6_ga_first_a"] == pytest.approx(first[0], rel=1e-9) and first[0] < 0
    assert glued["ch6_ga_first_b"] == pytest.approx(first[1], rel=1e-9) and first[1] < 1
    # the step 0.05 lands at a much larger |a|, where e^{2 a^2} makes the curvature enormous
    big = np.ones(4) + 0.05 * nt.gradient(np.ones(4), z_fix)
    assert glued["ch6_big_first_a"] == pytest.approx(big[0], rel=1e-9) and abs(big[0]) > 2
    with np.errstate(over="ignore", invalid="ignore"):
        assert glued["ch6_big_first_curvature"] == pytest.approx(curvature(big), rel=1e-6)
    assert 0.05 * glued["ch6_big_first_curvature"] > 1e3


def test_adam_iterations(glued, z_fix):
    """Adam with the textbook bias corrections, written out again."""
    theta, m, v, norms = np.ones(4), np.zeros(4), np.zeros(4), []
    for t in range(1, 5001):
        g = -nt.gradient(theta, z_fix)              # Adam minimises -J_N
        norms.append(np.linalg.norm(g))
        if norms[-1] <= TOL:
            break
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        theta = theta - 0.1 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    assert abs(iterations_to(norms) - glued["ch6_it_adam"]) <= 3


def test_bfgs_end_game_gains_fewer_digits_than_newton(z_fix):
    path = [np.ones(4)]
    minimize(lambda t: -direct_objective(t, z_fix), np.ones(4),
             jac=lambda t: -nt.gradient(t, z_fix), method="BFGS",
             callback=lambda intermediate_result: path.append(intermediate_result.x.copy()),
             options={"gtol": TOL, "norm": 2})
    bfgs = np.array([np.linalg.norm(nt.gradient(t, z_fix)) for t in path])
    _, newton = own_newton(np.ones(4), z_fix)
    gain_bfgs = np.log10(bfgs[:-1] / bfgs[1:])[-5:]
    gain_newton = np.log10(np.array(newton[:-1]) / np.array(newton[1:]))[-2:]
    assert gain_bfgs.max() < gain_newton.min()
    assert len(bfgs) > len(newton)


# ---- exact map, model error, sampling error -----------------------------------------------------------

def test_gauss_hermite_results(glued):
    assert glued["ch6_gh_nodes"] == 100
    assert glued["ch6_kl4"] == pytest.approx(K ** 2, abs=1e-10)
    # the 4-parameter KL at (0, 0, 0, -k) by 1-D quadrature of (1/2) k^2 (z^2 - 1)^2
    nodes, w = np.polynomial.hermite_e.hermegauss(20)
    w = w / w.sum()
    assert glued["ch6_kl4"] == pytest.approx(0.5 * K ** 2 * w @ (nodes ** 2 - 1) ** 2, abs=1e-10)
    assert glued["ch6_gh_iters"] <= 15


def test_sample_fit_true_kl(glued):
    a, b, c, d = (glued[f"ch6_that_{n}"] for n in "abcd")
    closed = -1 + 0.5 + 0.5 * np.exp(2 * b + 2 * a ** 2) - b + 0.5 * (c ** 2 + (d + K) ** 2
                                                                      + 2 * K ** 2)
    assert glued["ch6_kl4_sample"] == pytest.approx(closed, rel=1e-10)
    assert glued["ch6_kl4_sample"] > glued["ch6_kl4"]


def test_quadrature_is_exact_here_because_the_gradient_is_a_cubic():
    """The page says quadrature removes the sampling error for this problem because the gradient
    at the exact map is a polynomial of degree 3 in z: a 2 x 2 Gauss-Hermite rule (exact to
    degree 3) already makes it vanish, and random points do not."""
    nodes, w = np.polynomial.hermite_e.hermegauss(2)
    w = w / w.sum()
    z = np.stack(np.meshgrid(nodes, nodes, indexing="ij"), axis=-1).reshape(-1, 2)
    weights = np.outer(w, w).ravel()
    assert np.max(np.abs(nt.gradient(nt.EXACT_THETA, z, weights))) < 1e-14
    z_random = np.random.default_rng(3).standard_normal((1000, 2))
    assert np.max(np.abs(nt.gradient(nt.EXACT_THETA, z_random))) > 1e-3


def test_root_n_shift(glued):
    rms = glued["ch6_rate_rms"]
    assert len(rms) == 5 and all(r1 < r0 for r0, r1 in zip(rms, rms[1:]))
    Ns = np.array([100, 300, 1000, 3000, 10000])
    assert glued["ch6_rate_slope"] == pytest.approx(np.polyfit(np.log(Ns), np.log(rms), 1)[0])
    assert -0.6 < glued["ch6_rate_slope"] < -0.4
    assert 1.5 < glued["ch6_rate_const"] < 2.5          # theory: 2


# ---- pitfalls -------------------------------------------------------------------------------------------

def test_pitfall_demonstrations(nb, glued, z_fix):
    text = nb.all_text_output()
    assert glued["ch6_fresh_gnorm"] > 1e-2                # stalls far above 1e-8
    assert glued["ch6_wrong_hess_nit"] > glued["ch6_it_trust"]
    assert glued["ch6_wrong_hess_gnorm"] > TOL
    assert "A bad approximation caused failure to predict improvement" in text
    assert glued["ch6_wrong_grad_gnorm"] > 1
    assert text.count("precision loss") >= 2
    assert TOL > glued["ch6_tight_gnorm"] > 1e-13
    assert glued["ch6_gain_last"] < glued["ch6_J_spacing"]
    theta = np.ones(4)
    for _ in range(20):
        g = nt.gradient(theta, z_fix)
        if np.linalg.norm(g) <= TOL:
            break
        theta = theta - np.linalg.solve(nt.hessian(theta, z_fix), g)
    assert glued["ch6_J_spacing"] == np.spacing(abs(direct_objective(theta, z_fix)))


# ---- interactive figure and quiz -------------------------------------------------------------------------

def test_interactive_figure(nb):
    html = [h for h in nb.html_outputs() if "_anim_slider" in h]
    assert len(html) == 1, "expected one scrubbable animation"
    frames = len(re.findall(r"frames\[\d+\] = ", html[0]))
    assert 2 <= frames <= 40
    assert "font-awesome" not in html[0].lower()
    assert len(html[0]) < 1_500_000
    widget_cells = [c for c in nb.cells if c.cell_type == "code" and "FloatSlider" in c.source]
    assert len(widget_cells) == 1
    assert "remove-output" in widget_cells[0].metadata.get("tags", [])
    assert all(f'"{p}"' in widget_cells[0].source or "zip(\"abcd\"" in widget_cells[0].source
               for p in "abcd")


def test_quiz(nb, source):
    from nflib.course.quiz import load_quiz

    questions = load_quiz(QUIZ)
    assert len(questions) >= 5
    assert all(q["id"].startswith("06-") for q in questions)
    assert 'show_quiz("06_newton_fitting")' in source
    assert any("jq-" in h or "quiz" in h.lower() for h in nb.html_outputs())
    numeric = [q for q in questions if q["type"] == "numeric"]
    assert numeric
    from quiz_answers import ANSWERS
    for q in numeric:
        value = ANSWERS[q["id"]]()
        correct = [a for a in q["answers"] if a.get("correct")]
        assert any(a["range"][0] <= value < a["range"][1] for a in correct if "range" in a)
    data = json.loads(QUIZ.read_text(encoding="utf-8"))
    assert all(a.get("feedback") for q in data for a in q["answers"])


# ---- numbers stated in the quiz's feedback ------------------------------------------------------------

def _feedback(question_id: str, start: str) -> str:
    return feedback("06_newton_fitting", question_id, start)


def test_quiz_feedback_numbers():
    from scipy import integrate, stats

    # 06-one-sample: theta = 0 is not the exact map; the identity's KL to the banana is 3/2 k^2
    text = _feedback("06-one-sample", "No. In the four-parameter model")
    nodes, w = np.polynomial.hermite_e.hermegauss(20)
    w = w / w.sum()
    z = np.stack(np.meshgrid(nodes, nodes, indexing="ij"), axis=-1).reshape(-1, 2)
    weights = np.outer(w, w).ravel()
    # KL(q || p) for q = N(0, I): E[log N(z) - log p~(z)] + log 2 pi, by quadrature
    log_q = -0.5 * (z ** 2).sum(1) - np.log(2 * np.pi)
    log_p = -0.5 * (z[:, 0] ** 2 + (z[:, 1] + K * z[:, 0] ** 2) ** 2) - np.log(2 * np.pi)
    kl_identity = weights @ (log_q - log_p)
    assert kl_identity == pytest.approx(1.5 * K ** 2, abs=1e-12)
    assert f"{kl_identity:.3f}" in text and kl_identity > K ** 2
    # 06-residual-kl: 1/2 k^2 Var(z1^2) = k^2 = 0.01, with Var(z1^2) = 2 by quadrature
    var_z2 = w @ nodes ** 4 - (w @ nodes ** 2) ** 2
    assert var_z2 == pytest.approx(2.0, abs=1e-12)
    assert 0.5 * K ** 2 * var_z2 == pytest.approx(0.01)
    assert "k^2 = 0.01" in _feedback("06-residual-kl", "Right:")
    # 06-forward-reverse: KL(N(0,1) || N(0,4)) = 0.318 and KL(N(0,4) || N(0,1)) = 0.807
    def kl(q, p):
        return integrate.quad(lambda x: q.pdf(x) * (q.logpdf(x) - p.logpdf(x)), -40, 40)[0]

    narrow, wide = stats.norm(0, 1), stats.norm(0, 2)
    text = _feedback("06-forward-reverse", "KL is not symmetric")
    assert f"{kl(narrow, wide):.3f}" in text and f"{kl(wide, narrow):.3f}" in text


def test_corrected_sentences_and_notation():
    text = (ROOT / CHAPTER).read_text()
    # the global 2/L rule and the local statement are separate
    assert "no such bound exists here" in text and "local statement at the optimum" in text
    # the normaliser is not called Z, the entropy is H as on the background page
    assert "\\log Z" not in text and "\\mathcal H" not in text
    assert "wins in iterations and\nin time" not in text
    exercise = (ROOT / "exercises" / "06_newton_fitting.md").read_text()
    assert "would agree only" not in exercise and "would agree\nif the residuals" in exercise


def test_every_learning_objective_is_exercised():
    from objectives import check_mapping

    check_mapping(CHAPTER, {
        1: ["quiz:06-reverse-kl-facts", "quiz:06-forward-reverse", "exercise:ex-06-objective"],
        2: ["quiz:06-residual-kl", "practice:ch6-ex-population", "practice:ch6-ex-sigma"],
        3: ["label:ch6-worked", "practice:ch6-ex-hbb", "exercise:ex-06-gradient",
            "exercise:ex-06-hessian"],
        4: ["quiz:06-fixed-samples", "quiz:06-one-sample", "practice:ch6-ex-rank"],
        5: ["quiz:06-quadratic-digits", "quiz:06-indefinite-step", "exercise:ex-06-newton-step"],
        6: ["practice:ch6-ex-cost", "quiz:06-scipy-signs"],
    })
