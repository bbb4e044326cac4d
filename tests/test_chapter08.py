"""Chapter 8 (beyond affine layers): every glued number against an independent computation
(closed forms, scipy quadrature and eigenvalues, the formulas written out again here), the
chapter's claims (the counts of toys and seeds where splines beat affine couplings at equal size
and steps, recomputed from the glued runs; the residual block's fixed-point rate and its
log-determinant series from the eigenvalues of the glued Jacobians, the truncated series biased
and the Russian roulette not; the gradient through RK4 against central differences and the
adjoint's gap shrinking at fourth order; the discrete log-determinant converges at first order;
the RK4 map's solver errors shrink with the step; reflow straightens the trajectories and
lowers the few-step binned KL in the glued seeds; too few solver steps lose the normalisation),
the benchmark the page describes, the learning objectives each backed by an example, a practice
problem, an exercise or a quiz question, and the page's structure. Timings are only checked for
being measured (positive, consistent), never against a machine-dependent constant.
"""

from __future__ import annotations

import ast
import json
import math
import re

import numpy as np
import pytest
from scipy import integrate, special, stats

from nflib import datasets, spline
from nflib.course.ch08_demos import TOY_CONFIGS, train_toy
from notebooks import ROOT, read_notebook
from section_checks import assert_one_report_per_section

CHAPTER = "chapters/08_beyond_affine.md"
QUIZ = ROOT / "nflib" / "course" / "quizzes" / "08_beyond_affine.json"
LOG_2PI = math.log(2 * math.pi)


@pytest.fixture(scope="module")
def source():
    return (ROOT / CHAPTER).read_text(encoding="utf-8")


# ---- the page as a whole -----------------------------------------------------------------------

@pytest.mark.slow
def test_every_glue_reference_has_a_value(glued, source):
    names = set(re.findall(r"\{glue(?::text)?\}`([A-Za-z0-9_]+)", source))
    assert names, "the chapter glues no numbers into its text"
    assert not names - set(glued), sorted(names - set(glued))
    assert all(name.startswith("ch8_") for name in glued), sorted(glued)


@pytest.mark.slow
def test_numerical_checks_are_reported_once_per_section(nb, source):
    """Agreements to rounding error (or to a stated tolerance) are collected per section and
    shown once, folded; a failing check would have stopped the page. The prose no longer quotes
    those agreements."""
    expected = {"Rational-quadratic spline": 4, "Residual block": 6,
                "Log-determinant estimators": 2, "Continuous flows": 3, "Adjoint method": 1,
                "Continuity equation": 1}
    assert_one_report_per_section(nb, expected)
    for name in ("rq_knot_err", "rq_roundtrip", "rq_logdet_err", "rq_bneg_roundtrip",
                 "lin_state_err", "lin_logdet_err", "continuity_residual"):
        assert f"{{glue:text}}`ch8_{name}" not in source, name


def test_template_sections_in_order(source):
    headings = [h.strip() for h in re.findall(r"^## (.+)$", source, flags=re.M)]
    wanted = ["Learning objectives", "Spline flows", "Continuous normalizing flows",
              "Flow matching", "Worked examples", "Interactive figure", "Pitfalls",
              "Where to go next", "Practice problems", "Quiz", "Key terms", "Summary",
              "References"]
    positions = [next(i for i, h in enumerate(headings) if h.startswith(w)) for w in wanted]
    assert positions == sorted(positions), headings
    assert 'show_quiz("08_beyond_affine")' in source
    assert "{bibliography}" not in source


def test_citations_exist_in_references(source):
    bib = (ROOT / "references.bib").read_text(encoding="utf-8")
    keys = set(re.findall(r"^@\w+\{([^,]+),", bib, flags=re.M))
    cited = {k.strip() for group in re.findall(r"\{cite:[tp]\}`([^`]+)`", source)
             for k in group.split(",")}
    assert cited and cited <= keys, sorted(cited - keys)


def test_glossary_terms_exist(source):
    glossary = (ROOT / "glossary.md").read_text(encoding="utf-8").lower()
    defined = set(re.findall(r"^([A-Za-z][^\n]*)\n  \S", glossary, flags=re.M))
    terms = set(re.findall(r"\{term\}`([^`<]+)`", source))
    assert len(terms) >= 5
    assert not sorted(t for t in terms if t.lower() not in defined)


def test_links_only_to_existing_labels_and_chapter_files(source):
    """{ref} targets are this page's labels, the exercises', labels of chapters 1, 2, 6 or of the
    background page; other chapters are linked as files with {doc}."""
    own = set(re.findall(r"^\(([a-z0-9-]+)\)=", source, flags=re.M))
    allowed = set(own)
    for page in ("chapters/01_change_of_variables", "chapters/02_normalizing_flows",
                 "chapters/06_newton_fitting", "background"):
        text = (ROOT / f"{page}.md").read_text(encoding="utf-8")
        allowed |= set(re.findall(r"^\(([a-z0-9-]+)\)=", text, flags=re.M))
    exercises = (ROOT / "exercises" / "08_beyond_affine.md").read_text(encoding="utf-8")
    allowed |= set(re.findall(r":label: (ex-08-[a-z0-9-]+)", exercises))
    refs = set(re.findall(r"\{ref\}`(?:[^`<]*<)?([a-z0-9-]+)>?`", source))
    assert refs and refs <= allowed, sorted(refs - allowed)
    docs = set(re.findall(r"\{doc\}`(?:[^`<]*<)?([^`>]+)>?`", source))
    stems = {"01_change_of_variables", "02_normalizing_flows", "03_autoregressive_flows",
             "04_coupling_flows", "05_glow", "06_newton_fitting", "07_variational_inference",
             "08_beyond_affine"}
    for doc in docs:
        folder, stem = doc.split("/")[-2:]
        assert folder in ("chapters", "exercises") and stem in stems, doc
    for stem in ("03_autoregressive_flows", "04_coupling_flows", "05_glow",
                 "07_variational_inference"):
        assert f"{{doc}}`../chapters/{stem}`" in source, stem


def test_figures_have_alt_text_captions_and_names():
    notebook = read_notebook(ROOT / CHAPTER)
    figures = [c for c in notebook.cells if c.cell_type == "code"
               and "mystnb" in c.metadata and "figure" in c.metadata["mystnb"]]
    assert len(figures) >= 2
    for cell in figures:
        meta = cell.metadata["mystnb"]
        assert len(meta["image"]["alt"]) > 40
        assert len(meta["figure"]["caption"]) > 40
        assert meta["figure"]["name"].startswith("fig-ch8-")
        assert "set_xlabel" in cell.source and "set_ylabel" in cell.source


@pytest.mark.slow
def test_interactive_figure_and_page_size(nb):
    html = [h for h in nb.html_outputs() if "_anim_slider" in h]
    assert len(html) == 1, "expected one scrubbable animation"
    assert len(re.findall(r"frames\[\d+\] = ", html[0])) == 11      # t = 0, 0.1, ..., 1
    assert "font-awesome" not in html[0].lower()
    widget_cells = [c for c in nb.cells if c.cell_type == "code" and "IntSlider" in c.source]
    assert len(widget_cells) == 1
    assert "remove-output" in widget_cells[0].metadata.get("tags", [])
    total = sum(len(str(v)) for cell in nb.cells for out in cell.get("outputs", [])
                for v in out.get("data", {}).values())
    assert total < 2_500_000, f"outputs weigh {total / 1e6:.2f} MB"


def test_quiz_and_exercise_links(source):
    from nflib.course.quiz import load_quiz

    questions = load_quiz(QUIZ)
    assert len(questions) >= 8
    assert all(q["id"].startswith("08-") for q in questions)
    assert all(a.get("feedback") for q in json.loads(QUIZ.read_text()) for a in q["answers"])
    labels = re.findall(r":label: (ex-08-[a-z0-9-]+)",
                        (ROOT / "exercises" / "08_beyond_affine.md").read_text())
    assert len(labels) >= 4
    for label in labels:
        assert f"{{ref}}`{label}`" in source, label
    assert source.count(":class: dropdown") >= 5 or source.count("{dropdown}") >= 5


# ---- spline flows ------------------------------------------------------------------------------

def _mixture_logpdf(x):
    return np.logaddexp(stats.norm.logpdf(x, -1.5, 0.5), stats.norm.logpdf(x, 1.5, 0.5)) \
        + math.log(0.5)


def _transport_knots():
    """The chapter's 8-bin spline: inner knots at x = -2.5 .. 2.5 placed on the exact transport
    z = Phi^{-1}(F(x)), slopes p(x)/phi(z) there, and identity ends at +-6."""
    cdf = lambda x: 0.5 * (stats.norm.cdf(x, -1.5, 0.5) + stats.norm.cdf(x, 1.5, 0.5))  # noqa
    x_in = np.linspace(-2.5, 2.5, 7)
    z_in = special.ndtri(cdf(x_in))
    d_in = np.exp(stats.norm.logpdf(z_in) - _mixture_logpdf(x_in))
    return (np.concatenate([[-6.0], z_in, [6.0]]), np.concatenate([[-6.0], x_in, [6.0]]),
            np.concatenate([[1.0], d_in, [1.0]]))


@pytest.mark.slow
def test_one_dimensional_affine_against_spline(glued):
    entropy = -integrate.quad(lambda x: math.exp(_mixture_logpdf(x)) * _mixture_logpdf(x),
                              -np.inf, np.inf, limit=200)[0]
    assert glued["ch8_entropy_bimodal"] == pytest.approx(entropy, abs=1e-6)
    # best Gaussian in KL(p || q): moment matching; KL = -H + log(2 pi e sigma^2) / 2
    variance = 0.5 ** 2 + 1.5 ** 2
    kl_gauss = -entropy + 0.5 * math.log(2 * math.pi * math.e * variance)
    assert glued["ch8_kl_affine_1d"] == pytest.approx(kl_gauss, abs=1e-6)
    # the spline: knots on the exact transport, KL by quadrature in z (x = g(z))
    zk, xk, dk = _transport_knots()

    def integrand(z):
        g, log_dg, _ = spline.rq_spline(np.array([z]), zk, xk, dk)
        log_p = _mixture_logpdf(g[0])
        log_q = stats.norm.logpdf(z) - log_dg[0]
        return math.exp(log_p + log_dg[0]) * (log_p - log_q)

    kl_spline = sum(integrate.quad(integrand, a, b, limit=200)[0]
                    for a, b in zip(zk[:-1], zk[1:]))
    kl_spline += sum(integrate.quad(lambda x: math.exp(_mixture_logpdf(x))
                                    * (_mixture_logpdf(x) - stats.norm.logpdf(x)), a, b)[0]
                     for a, b in ((-np.inf, -6.0), (6.0, np.inf)))
    assert glued["ch8_kl_spline_1d"] == pytest.approx(kl_spline, abs=2e-5)
    assert glued["ch8_kl_spline_1d"] < 0.05 * glued["ch8_kl_affine_1d"]


@pytest.mark.slow
def test_one_dimensional_spline_overshoots_the_peaks(glued):
    """The spline's density, followed along z (x = g(z), q = phi(z) / g'(z)): its highest point,
    its local maxima (two peaks and two bumps beside the inner knots)."""
    zk, xk, dk = _transport_knots()
    z = np.linspace(-3.5, 3.5, 400_001)
    x, log_dg, _ = spline.rq_spline(z, zk, xk, dk)
    q = np.exp(stats.norm.logpdf(z) - log_dg)
    p_max = math.exp(max(_mixture_logpdf(v) for v in np.linspace(1.4, 1.6, 20001)))
    assert glued["ch8_spline_overshoot"] == pytest.approx(q.max() / p_max - 1, abs=2e-3)
    assert 0.10 < glued["ch8_spline_overshoot"] < 0.20                  # "rises 14 % above"
    peaks = np.flatnonzero((q[1:-1] > q[:-2]) & (q[1:-1] > q[2:])) + 1
    assert glued["ch8_spline_n_peaks"] == len(peaks) == 4
    bump = np.abs(x[peaks]).min()
    assert glued["ch8_spline_bump_x"] == pytest.approx(bump, abs=2e-3)
    x_in = xk[1:-1]
    nearest_knot = x_in[np.argmin(np.abs(x_in - bump))]
    assert glued["ch8_knot_near_bump"] == pytest.approx(nearest_knot, abs=1e-12)
    assert abs(bump - nearest_knot) < 0.1                               # "beside the knots"
    i = peaks[np.argmin(np.abs(x[peaks]))]
    assert glued["ch8_spline_bump_ratio"] == pytest.approx(
        q[i] / math.exp(_mixture_logpdf(x[i])), rel=1e-2)
    assert glued["ch8_spline_bump_ratio"] > 1                           # excess density


@pytest.mark.slow
def test_spline_checks_on_the_page(glued):
    assert glued["ch8_rq_knot_err"] < 1e-12
    assert glued["ch8_rq_roundtrip"] < 1e-10
    assert glued["ch8_rq_logdet_err"] < 1e-6


@pytest.mark.slow
def test_inverse_denominator_mixes_signs_over_part_of_a_bin(glued):
    """s = 1, (d0, d1) = (0.5, 3): b = h d0 - Delta c' < 0 once Delta / h > d0 / c' = 1/3, that is
    where (0.5 xi^2 + 0.5 xi) / (1 + 1.5 xi (1 - xi)) > 1/3, i.e. xi > 1/sqrt(3)."""
    assert glued["ch8_rq_bneg_share"] == pytest.approx(1 - 1 / math.sqrt(3), abs=1e-4)
    assert glued["ch8_rq_bneg_roundtrip"] < 1e-12
    xi = np.linspace(0, 1, 1001)
    _, dg = _rq_bin(xi, 0.0, 1.0, 0.0, 1.0, 0.5, 3.0)
    assert np.all(dg > 0)


def test_spline_docstring_states_its_derivative_parametrisation():
    doc = spline.__doc__
    assert "softplus(u^d_k) / log 2" in doc and "m_d + softplus(u^d_k)" in doc
    assert "nflows" in doc and "never zero" in doc and "avoids cancellation" not in doc


def _rq_bin(z, x0, w, y0, h, d0, d1):
    s, xi = h / w, (z - x0) / w
    q = xi * (1 - xi)
    den = s + (d0 + d1 - 2 * s) * q
    return (y0 + h * (s * xi ** 2 + d0 * q) / den,
            s ** 2 * (d1 * xi ** 2 + 2 * s * q + d0 * (1 - xi) ** 2) / den ** 2)


@pytest.mark.slow
def test_worked_example_spline_bin(glued):
    g, dg = _rq_bin(0.5, 0.0, 1.0, -1.0, 2.0, 1.0, 3.0)
    assert glued["ch8_ex_g"] == pytest.approx(g, abs=1e-14) and round(g, 2) == -0.25
    assert glued["ch8_ex_dg"] == pytest.approx(dg, abs=1e-14) and dg == pytest.approx(2.0)
    # the inverse by bisection on the written-out bin
    lo, hi = 0.0, 1.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _rq_bin(mid, 0.0, 1.0, -1.0, 2.0, 1.0, 3.0)[0] < g else (lo, mid)
    assert glued["ch8_ex_z_back"] == pytest.approx(0.5 * (lo + hi), abs=1e-12)
    assert glued["ch8_ex_z_back"] == pytest.approx(0.5, abs=1e-12)


def test_toy_configurations_have_about_the_same_size():
    affine = TOY_CONFIGS["affine"]
    spl = TOY_CONFIGS["spline"]

    def mlp(widths):
        return sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))

    n_affine = affine["n_layers"] * mlp([1, *affine["hidden"], 2])
    n_spline = spl["n_layers"] * mlp([1, *spl["hidden"], 3 * spl["bins"] - 1])
    assert abs(n_affine - n_spline) / n_affine < 0.05
    assert (n_affine, n_spline) == (9488, 9230)


@pytest.mark.slow
def test_toy_table_and_the_verdict_over_seeds(glued):
    """The table's means, the per-toy counts and the page's verdict (spline lower in N of M
    runs, on K toys in every seed) are recomputed from the glued per-seed KLs."""
    assert glued["ch8_params_affine"] == 9488 and glued["ch8_params_spline"] == 9230
    assert glued["ch8_params_affine_layer"] * 8 == 9488
    assert glued["ch8_params_spline_layer"] * 2 == 9230
    se = glued["ch8_toy_se_max"]
    assert 0 < se < 0.02
    seeds = glued["ch8_toy_seeds"]
    assert seeds >= 3                                             # rule 2: three seeds or more
    wins_total = every_seed = 0
    for name in datasets.TOYS:
        runs = {kind: glued[f"ch8_kl_runs_{name}_{kind}"] for kind in ("affine", "spline")}
        for kind in ("affine", "spline"):
            assert len(runs[kind]) == seeds
            assert glued[f"ch8_kl_{name}_{kind}"] == pytest.approx(np.mean(runs[kind]), abs=1e-12)
            for kl in runs[kind]:
                assert -3 * se < kl < datasets.toy(name).entropy() + 5, (name, kind, kl)
        wins = sum(s < a for s, a in zip(runs["spline"], runs["affine"]))
        assert glued[f"ch8_wins_{name}"] == wins, name
        wins_total += wins
        every_seed += wins == seeds
    assert glued["ch8_toy_runs"] == len(datasets.TOYS) * seeds
    assert glued["ch8_spline_wins"] == wins_total
    assert glued["ch8_toys_every_seed"] == every_seed
    # the gaps are large against the Monte Carlo error where the splines win
    for name in ("eight_gaussians", "checkerboard", "rings"):
        assert glued[f"ch8_kl_{name}_spline"] < glued[f"ch8_kl_{name}_affine"] - 5 * se, name


@pytest.mark.slow
def test_cpu_times_are_measured_not_compared_to_constants(glued):
    cpu_affine, cpu_spline = glued["ch8_cpu_affine"], glued["ch8_cpu_spline"]
    assert cpu_affine > 0 and cpu_spline > 0
    assert glued["ch8_cpu_ratio"] == pytest.approx(cpu_spline / cpu_affine, rel=1e-12)
    assert glued["ch8_fm_cpu"] > 0


@pytest.mark.slow
def test_a_glued_run_is_reproduced(glued):
    """One (toy, seed) pair retrained here gives the KLs the page glued (same seeds, same steps)."""
    toy = datasets.toy("two_moons")
    for kind in ("affine", "spline"):
        flow, _ = train_toy("two_moons", kind, seed=1, n_steps=600)
        kl, _ = toy.kl_divergence(flow.log_prob, 20_000, np.random.default_rng(101))
        assert kl == pytest.approx(glued[f"ch8_kl_runs_two_moons_{kind}"][1], abs=1e-6), kind


def test_benchmark_is_the_larger_comparison_the_page_describes(source):
    """The page: 16 affine against 4 spline couplings with 16 bins, fresh batches of 512, a fixed
    CPU time per flow, 200 000 test points for the Monte Carlo check. Read from the script's
    argument defaults."""
    tree = ast.parse((ROOT / "benchmarks" / "toy_kl.py").read_text(encoding="utf-8"))
    defaults = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument"
                and node.args and isinstance(node.args[0], ast.Constant)):
            for kw in node.keywords:
                if kw.arg == "default":
                    defaults[node.args[0].value] = ast.literal_eval(kw.value)
    assert defaults["--layers"] == 16 and defaults["--spline-layers"] == 4
    assert defaults["--batch"] == 512 and defaults["--n-test"] == 200_000
    assert defaults["--bins"] == 16 and defaults["--data"] == "fresh"
    assert "--seconds" in defaults                                 # trained for a CPU budget
    assert re.search(r"16 affine\s+couplings against 4 spline couplings", source)
    assert "runs the same comparison" not in source


# ---- residual flows ----------------------------------------------------------------------------

def _log_det_series_by_eigenvalues(J, n_terms):
    """sum_{k<=n} (-1)^(k+1) tr(J^k) / k from the eigenvalues of J (tr J^k = sum lambda^k)."""
    lam = np.linalg.eigvals(np.asarray(J))
    k = np.arange(1, n_terms + 1)
    return float(np.real(np.sum((-1.0) ** (k + 1) * lam[:, None] ** k / k)))


@pytest.mark.slow
def test_residual_fixed_point_contracts_at_the_local_rate(glued):
    """The fixed-point errors shrink at least by c = 0.9 per step, on average by about the
    spectral radius of J_g at the answer (recomputed from the glued Jacobian)."""
    errors = np.array(glued["ch8_res_fp_err"])
    assert len(errors) == 41
    assert np.all(errors <= 0.9 ** np.arange(41) * errors[0] * (1 + 1e-9))
    rho = float(np.max(np.abs(np.linalg.eigvals(np.array(glued["ch8_res_jac_star"])))))
    assert glued["ch8_res_rho_star"] == pytest.approx(rho, rel=1e-12)
    rate = (errors[30] / errors[0]) ** (1 / 30)
    assert glued["ch8_res_fp_rate"] == pytest.approx(rate, rel=1e-12)
    assert rate < 0.9 and rate == pytest.approx(rho, rel=0.05)      # "close to", "below c"
    assert errors[40] / errors[39] == pytest.approx(rho, rel=0.02)   # the asymptotic rate
    assert 0 < glued["ch8_res_lip"] <= 0.9 * (1 + 1e-12)
    # from errors[0] ~ 0.3 to the stopping step 1e-14 at the local rate, roughly
    predicted = math.log(1e-14 / errors[0]) / math.log(rho)
    assert 0.7 * predicted < glued["ch8_res_fp_steps"] < 1.3 * predicted


@pytest.mark.slow
def test_residual_log_det_series_bias_and_roulette(glued):
    J = np.array(glued["ch8_res_jac0"])
    lam = np.linalg.eigvals(J)
    exact = float(np.sum(np.log(np.abs(1 + lam))))
    assert glued["ch8_res_exact"] == pytest.approx(exact, abs=1e-12)
    assert glued["ch8_res_eig0"] == pytest.approx(float(np.min(lam.real)), abs=1e-12)
    assert glued["ch8_res_eig_abs"] == pytest.approx(-float(np.min(lam.real)), abs=1e-12)
    assert np.min(lam.real) < 0 and np.all(np.abs(lam.imag) < 1e-12)  # a real, negative one
    assert np.max(np.abs(lam)) <= 0.9                                # the series converges
    biases = []
    for n in (1, 2, 4, 8):
        bias = _log_det_series_by_eigenvalues(J, n) - exact
        assert glued[f"ch8_res_bias_{n}"] == pytest.approx(bias, abs=1e-12), n
        biases.append(bias)
    assert all(b > 0 for b in biases) and biases == sorted(biases, reverse=True)
    # Hutchinson's four-term estimates: unbiased for the truncated sum, not for the exact value
    truncated4 = _log_det_series_by_eigenvalues(J, 4)
    for kind in ("trunc4", "roulette"):
        mean, se = glued[f"ch8_res_{kind}_mean"], glued[f"ch8_res_{kind}_se"]
        assert se > 0
        assert glued[f"ch8_res_{kind}_z"] == pytest.approx(abs(mean - exact) / se, rel=1e-12)
        z_score = glued[f"ch8_res_{kind}_z"]
        assert glued[f"ch8_res_{kind}_verdict"] == ("within" if z_score < 3 else "far outside")
    assert abs(glued["ch8_res_trunc4_mean"] - truncated4) < 4 * glued["ch8_res_trunc4_se"]
    assert glued["ch8_res_trunc4_z"] > 5                             # the page: far outside
    assert glued["ch8_res_roulette_z"] < 3                           # the page: within
    assert glued["ch8_res_mean_terms"] == pytest.approx(4.0, rel=0.05)   # E N = 1 / p


# ---- continuous flows --------------------------------------------------------------------------

@pytest.mark.slow
def test_log_det_over_h_tends_to_the_trace(glued):
    J = np.array([[0.5, 1.0], [-0.3, -0.2]])
    assert glued["ch8_trace_demo"] == pytest.approx(0.3, abs=1e-15)
    lam = np.linalg.eigvals(J)
    for h, v in zip([1e-1, 1e-2, 1e-3], glued["ch8_logdet_over_h"]):
        exact = float(np.real(np.sum(np.log(1 + h * lam))) / h)
        assert v == pytest.approx(exact, abs=1e-10)
    errors = [abs(v - 0.3) for v in glued["ch8_logdet_over_h"]]
    assert errors[0] > errors[1] > errors[2]
    assert errors[1] / errors[2] == pytest.approx(10, rel=0.05)      # error proportional to h


@pytest.mark.slow
def test_linear_and_nonlinear_field_checks(glued):
    assert glued["ch8_lin_state_err"] < 1e-6
    assert glued["ch8_lin_logdet_err"] < 1e-12
    g1, g2 = glued["ch8_nl_gap_1000"], glued["ch8_nl_gap_2000"]
    assert g2 < g1 < 0.05
    assert g1 / g2 == pytest.approx(2.0, rel=0.1)                    # first-order convergence
    lo, hi = glued["ch8_nl_logdet_range"]
    assert hi - lo > 0.1                                              # a non-trivial field


@pytest.mark.slow
def test_rk4_map_is_only_approximately_the_ode_map(glued):
    """Round trip and trace-vs-map gap are solver errors: present, and shrinking fast with h."""
    for kind in ("roundtrip", "trace_gap"):
        coarse, fine = glued[f"ch8_rk4_{kind}_10"], glued[f"ch8_rk4_{kind}_20"]
        assert 1e-9 < fine < coarse < 1e-2, kind
        assert coarse / fine > 4, kind                 # at least second order; RK4 is fourth


@pytest.mark.slow
def test_hutchinson_on_the_page(glued):
    J = np.array(glued["ch8_jacobian_point"])
    S = 0.5 * (J + J.T)
    formulas = {"gaussian": 2 * np.sum(S * S),
                "rademacher": 2 * (np.sum(S * S) - np.sum(np.diag(S) ** 2))}
    assert glued["ch8_exact_trace"] == pytest.approx(np.trace(J), abs=1e-14)
    for kind, var in formulas.items():
        assert glued[f"ch8_hutch_var_formula_{kind}"] == pytest.approx(var, rel=1e-12)
        assert glued[f"ch8_hutch_var_{kind}"] == pytest.approx(var, rel=0.03)
        assert abs(glued[f"ch8_hutch_mean_{kind}"] - np.trace(J)) < 5 * math.sqrt(var / 1e5)
        assert glued[f"ch8_hutch_se_{kind}"] == pytest.approx(
            math.sqrt(glued[f"ch8_hutch_var_{kind}"] / 1e5), rel=1e-12)
    assert formulas["rademacher"] < formulas["gaussian"]


@pytest.mark.slow
def test_worked_examples_euler_and_hutchinson(glued):
    A = np.array([[0.5, 1.0], [0.0, -0.2]])
    log_p0 = -1.0 - LOG_2PI                                           # N(0, I) at (1, 1)
    assert glued["ch8_euler_z1"] == pytest.approx([1.15, 0.98], abs=1e-14)
    assert glued["ch8_euler_logp"] == pytest.approx(log_p0 - 0.1 * 0.3, abs=1e-12)
    assert glued["ch8_step_logp"] == pytest.approx(log_p0 - math.log(1.05 * 0.98), abs=1e-12)
    assert np.linalg.det(np.eye(2) + 0.1 * A) == pytest.approx(1.029)
    assert glued["ch8_ex_hutch"] == pytest.approx(4.0, abs=1e-14)
    assert glued["ch8_ex_hutch_var"] == pytest.approx(np.var([2.0, 6.0]), abs=1e-14)


def _demo_field_and_points():
    """The page's nonlinear field and its five points, rebuilt from the same seed."""
    from nflib import ode

    rng = np.random.default_rng(3)
    field = ode.MLPField(2, (16, 16), rng=rng)
    for p in field.parameters().values():
        p += 0.6 * rng.standard_normal(p.shape)
    return field, rng.standard_normal((5, 2))


@pytest.mark.slow
def test_adjoint_against_the_gradient_through_the_solver(glued):
    """dL/dz0 through 20 RK4 steps equals central differences of the solver's output (computed
    here with nflib.ode.rk4 alone); the adjoint's gap to it shrinks at fourth order; the tape
    grows with the steps and the adjoint's state does not."""
    from nflib import ode

    field, z0 = _demo_field_and_points()

    def loss(z):
        z1 = ode.rk4(field, z, 0.0, 1.0, 20)
        return 0.5 * float(np.mean(np.sum(z1 * z1, axis=1)))

    eps, numeric = 1e-6, np.zeros_like(z0)
    for i in range(z0.shape[0]):
        for j in range(z0.shape[1]):
            step = np.zeros_like(z0)
            step[i, j] = eps
            numeric[i, j] = (loss(z0 + step) - loss(z0 - step)) / (2 * eps)
    np.testing.assert_allclose(np.array(glued["ch8_adj_grad_z0"]), numeric, atol=1e-8)
    gaps = [glued[f"ch8_adj_gap_{n}"] for n in (5, 10, 20, 40)]
    assert 0 < gaps[-1] < gaps[0] < 1e-2
    for coarse, fine in zip(gaps, gaps[1:]):
        assert coarse / fine > 8                                     # fourth order: ~16
    tape = [glued[f"ch8_adj_tape_kb_{n}"] for n in (10, 20, 40)]
    assert tape[1] == pytest.approx(2 * tape[0]) and tape[2] == pytest.approx(4 * tape[0])
    states = {glued[f"ch8_adj_state_kb_{n}"] for n in (5, 10, 20, 40)}
    n_params = sum(p.size for p in field.parameters().values())
    assert states == {(2 * z0.size + n_params) * 8 / 1e3}           # one augmented state


# ---- flow matching -----------------------------------------------------------------------------

@pytest.mark.slow
def test_flow_matching_results(glued):
    assert glued["ch8_fm_loss_last"] < glued["ch8_fm_loss_first"]
    # the conditional loss cannot reach zero: at t = 0 alone it is at least Var(x1) summed
    assert glued["ch8_fm_loss_last"] > 1.0
    assert glued["ch8_fm_mass"] == pytest.approx(1.0, abs=0.02)
    assert glued["ch8_mass_steps_20"] == glued["ch8_fm_mass"]
    se = glued["ch8_fm_kl_se"]
    assert 0 < se < 0.05 and glued["ch8_fm_kl"] > -3 * se
    assert glued["ch8_fm_kl"] < datasets.toy("eight_gaussians").entropy()
    assert glued["ch8_fm_cpu"] > 0


@pytest.mark.slow
def test_curved_trajectories_and_reflow(glued):
    """The verdicts of the reflow section recomputed from the glued runs (three seeds)."""
    before, after = glued["ch8_straight_before"], glued["ch8_straight_after"]
    assert len(after) == glued["ch8_reflow_seeds"] == 3
    assert before > 1                          # "bend as much as they travel"
    assert glued["ch8_straight_after_max"] == max(after)
    assert glued["ch8_reflow_straighter"] == sum(a < before for a in after)
    wins = 0
    for n in (1, 2, 4):
        runs = glued[f"ch8_kl_bins_after_{n}"]
        assert len(runs) == 3 and min(runs) >= 0
        assert glued[f"ch8_kl_bins_after_mean_{n}"] == pytest.approx(np.mean(runs), rel=1e-12)
        wins += sum(r < glued[f"ch8_kl_bins_before_{n}"] for r in runs)
    assert glued["ch8_reflow_wins"] == wins and glued["ch8_reflow_cases"] == 9
    # the plug-in bias of a binned KL from 20 000 exact samples: about (occupied bins - 1) / 2n
    assert 0 <= glued["ch8_kl_bins_floor"] < 576 / (2 * 20_000)
    assert glued["ch8_kl_bins_ode"] > 0 and glued["ch8_reflow_cpu"] > 0


def test_binned_kl_helper_against_quadrature():
    """The exact bin masses of the eight Gaussians (normal cdfs) against a midpoint rule on each
    cell of log p from nflib.datasets; a sampler that puts everything in one cell scores
    -log p(cell)."""
    from nflib.course.ch08_demos import bin_masses, binned_kl

    toy = datasets.toy("eight_gaussians")
    edges = np.linspace(-3.0, 3.0, 25)
    masses = bin_masses(toy, edges)
    assert masses.sum() == pytest.approx(1.0, abs=1e-12)
    fine = 40                                       # midpoints per cell side
    for i, j in [(12, 20), (20, 12), (5, 5), (12, 12), (18, 18)]:
        xs = edges[i] + (np.arange(fine) + 0.5) * 0.25 / fine
        ys = edges[j] + (np.arange(fine) + 0.5) * 0.25 / fine
        pts = np.stack(np.meshgrid(xs, ys, indexing="ij"), axis=-1).reshape(-1, 2)
        quad = np.exp(toy.log_prob(pts)).mean() * 0.25 ** 2
        assert masses[i, j] == pytest.approx(quad, rel=1e-3, abs=1e-12), (i, j)
    one_cell = np.full((100, 2), [2.1, 0.1])        # the cell [2, 2.25) x [0, 0.25)
    assert binned_kl(one_cell, toy, edges) == pytest.approx(-math.log(masses[20, 12]), rel=1e-12)


@pytest.mark.slow
def test_continuity_equation_check(glued):
    """x0 ~ N(0, 1), x1 ~ N(1.5, 0.5^2): p_t = N(t m, v_t), v_t = (1 - t)^2 + t^2 s^2, and
    u_t(x) = m + c_t (x - t m) / v_t with c_t = Cov(x1 - x0, x_t) = t s^2 - (1 - t). The terms
    of the continuity equation written out with the chain rule cancel exactly."""
    m, s, t = 1.5, 0.5, 0.4
    x = np.linspace(-4.0, 5.0, 901)
    mu, v = t * m, (1 - t) ** 2 + t ** 2 * s ** 2
    dmu, dv, c = m, -2 * (1 - t) + 2 * t * s ** 2, t * s ** 2 - (1 - t)
    p = stats.norm.pdf(x, mu, math.sqrt(v))
    u = m + c / v * (x - mu)
    dp_dt = p * ((x - mu) * dmu / v + ((x - mu) ** 2 / v - 1) * dv / (2 * v))
    dflux_dx = -p * (x - mu) / v * u + p * c / v
    assert np.max(np.abs(dp_dt + dflux_dx)) < 1e-12
    assert glued["ch8_continuity_scale"] == pytest.approx(np.max(np.abs(dp_dt)), rel=1e-6)
    assert glued["ch8_continuity_residual"] < 1e-6 * glued["ch8_continuity_scale"]


@pytest.mark.slow
def test_pitfall_demonstrations(glued):
    # share of N(0, 3^2) outside [-1, 1], within 4 standard errors of 10 000 draws
    share = 2 * stats.norm.sf(1.0 / 3.0)
    assert abs(glued["ch8_untouched"] - share) < 4 * math.sqrt(share * (1 - share) / 10_000)
    assert abs(glued["ch8_mass_steps_1"] - 1.0) > 0.1
    assert abs(glued["ch8_mass_steps_2"] - 1.0) > abs(glued["ch8_mass_steps_20"] - 1.0)


@pytest.mark.slow
def test_practice_answers(glued):
    assert glued["ch8_practice_outputs"] == 3 * 10 - 1
    assert glued["ch8_practice_trace_rot"] == 0.0
    k = glued["ch8_practice_fp_iters"]                   # fewest k with 2^-(k+1) <= 1e-6
    assert 2.0 ** -(k + 1) <= 1e-6 < 2.0 ** -k
    # and the iteration on f(z) = z + sin(z) / 2 does reach 1e-6 in that many steps
    z = np.linspace(-10, 10, 2001)
    x, it = z + 0.5 * np.sin(z), z + 0.5 * np.sin(z)
    for _ in range(k):
        it = x - 0.5 * np.sin(it)
    assert np.max(np.abs(it - z)) <= 1e-6


# ---- learning objectives -----------------------------------------------------------------------

#: objective number -> what exercises it: "label:" a target on the page, "practice:" a practice
#: problem's number, "exercise:" a label in the exercise notebook, "quiz:" a question id
OBJECTIVES = {
    1: ["label:ch8-ex-bin", "practice:1", "practice:2", "exercise:ex-08-spline-bin",
        "exercise:ex-08-spline-inverse", "quiz:08-affine-limit", "quiz:08-spline-monotone",
        "quiz:08-spline-inverse"],
    2: ["practice:6"],
    3: ["label:ch8-residual-inverse", "label:ch8-residual-logdet", "practice:7",
        "quiz:08-residual-inverse", "quiz:08-roulette"],
    4: ["label:ch8-ex-euler", "practice:3", "exercise:ex-08-rk4-logp", "quiz:08-instantaneous",
        "quiz:08-linear-logdensity"],
    5: ["label:ch8-ex-hutch", "practice:4", "exercise:ex-08-hutchinson", "quiz:08-hutchinson-why",
        "quiz:08-hutchinson-variance"],
    6: ["label:ch8-adjoint", "quiz:08-adjoint"],
    7: ["practice:5", "label:ch8-reflow", "quiz:08-flow-matching", "quiz:08-solver-steps",
        "quiz:08-reflow"],
    8: ["quiz:08-tails", "quiz:08-solver-steps"],
}


def test_every_learning_objective_is_exercised(source):
    section = source.split("## Learning objectives", 1)[1].split("\n## ", 1)[0]
    found = re.findall(r"^\d+\. ", section, flags=re.M)
    assert sorted(OBJECTIVES) == list(range(1, len(found) + 1)), (len(found), sorted(OBJECTIVES))
    practice = source.split("## Practice problems", 1)[1].split("\n## ", 1)[0]
    exercises = (ROOT / "exercises" / "08_beyond_affine.md").read_text(encoding="utf-8")
    quiz_ids = {q["id"] for q in json.loads(QUIZ.read_text(encoding="utf-8"))}
    for number, targets in OBJECTIVES.items():
        assert targets, number
        for target in targets:
            kind, _, name = target.partition(":")
            if kind == "label":
                assert f"({name})=" in source, (number, target)
            elif kind == "practice":
                assert re.search(rf"^{name}\. ", practice, flags=re.M), (number, target)
            elif kind == "exercise":
                assert f":label: {name}\n" in exercises, (number, target)
            else:
                assert kind == "quiz" and name in quiz_ids, (number, target)
