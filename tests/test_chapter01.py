"""Chapter 1 (change of variables): every glued number against an independent computation, the
chapter's claims, and the numbers its quiz feedback states.

The chapter computes its numbers with nflib and its own code; these tests recompute them in
closed form or with scipy, so a wrong formula on the page cannot pass by agreeing with itself.
(Execution budget, glue references, template order, quiz and exercise references are checked for
every chapter by tests/test_chapters.py.)
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from scipy import integrate, stats

from quiz_answers import feedback
from notebooks import ROOT
from section_checks import assert_one_report_per_section

CHAPTER = "chapters/01_change_of_variables.md"
QUIZ = ROOT / "nflib" / "course" / "quizzes" / "01_change_of_variables.json"


@pytest.mark.slow
def test_uniform_stretch(glued):
    # Z ~ U[0, 2], X = 4Z: X ~ U[0, 8]
    assert glued["ch1_px4"] == pytest.approx(1 / 8, abs=1e-14)
    assert glued["ch1_px4"] == pytest.approx(stats.uniform(0, 8).pdf(4.0))


@pytest.mark.slow
def test_second_affine_map(glued):
    # Y = 2X + 1 = 8Z + 1 ~ U[1, 17]
    assert glued["ch1_py9"] == pytest.approx(stats.uniform(1, 16).pdf(9.0), abs=1e-14)


@pytest.mark.slow
def test_exponential_of_uniform_is_log_uniform(glued):
    # X = exp(Z), Z ~ U[0, 2]: the log-uniform distribution on [1, e^2]
    expected = stats.loguniform(1.0, math.exp(2.0)).pdf(2.0)
    assert glued["ch1_pexp2"] == pytest.approx(expected, rel=1e-12)
    assert glued["ch1_pexp2"] == pytest.approx(0.25)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ch1_pval_x", "ch1_pval_y", "ch1_pval_exp"])
def test_histograms_agree_with_densities(glued, name):
    assert 1e-3 < glued[name] <= 1.0


@pytest.mark.slow
def test_inverse_cdf_sampling(glued):
    n = 20_000
    critical = 1.358 / math.sqrt(n)        # Kolmogorov-Smirnov 5% critical value
    assert 0 < glued["ch1_invcdf_ks"] < critical
    assert glued["ch1_invcdf_p"] > 0.01


@pytest.mark.slow
def test_parallelogram_area(glued):
    a, b, c, d = 2.0, 1.0, 0.5, 1.5
    # the box minus two triangles ac/2, two triangles bd/2 and two rectangles bc (as in the text)
    area = (a + b) * (c + d) - a * c - b * d - 2 * b * c
    assert glued["ch1_detA"] == pytest.approx(a * d - b * c, abs=1e-12)
    assert glued["ch1_area"] == pytest.approx(area, abs=1e-12)
    assert glued["ch1_area"] == pytest.approx(2.5)


@pytest.mark.slow
def test_numerical_checks_are_reported_once_per_section(nb):
    """The round-off checks (integrals, finite differences, scipy) are collected per section and
    shown once, folded, with a plain-text fallback; a failing one would have stopped the page."""
    expected = {"Densities on the line": 4, "Determinants, Jacobians and volume": 15,
                "Worked examples 3 and 4": 4}
    assert_one_report_per_section(nb, expected)
    # the prose no longer repeats agreements to rounding error
    text = (ROOT / CHAPTER).read_text()
    assert not re.search(r"agree[s]? (with `?scipy`? )?to \{glue", text)


@pytest.mark.slow
def test_volume_preserving_maps_change_the_shape_but_keep_density_values(glued):
    """The old text said a shape change needs |det J| != 1; the shear and the banana map have
    det J = 1 everywhere and change the shape (issue item 1)."""
    S = np.array([[1.0, 1.5], [0.0, 1.0]])
    assert np.linalg.det(S) == pytest.approx(1.0, abs=1e-15)
    # det of the banana map's Jacobian [[1, 0], [-2 k z1, 1]] is 1 for every z1 (symbolically);
    # the page checks it by finite differences and the density values against the closed forms
    # N(0, I) -> N(0, S S^T): eigenvalues (4.25 -+ 3.75) / 2 = 0.25 and 4, closed form
    tr, det = np.trace(S @ S.T), np.linalg.det(S @ S.T)
    small, large = (tr - math.sqrt(tr ** 2 - 4 * det)) / 2, (tr + math.sqrt(tr ** 2 - 4 * det)) / 2
    assert (small, large) == pytest.approx((0.25, 4.0))
    n = 20_000            # sample covariance eigenvalues: relative error about sqrt(2 / n)
    assert glued["ch1_shear_eig_small"] == pytest.approx(small, rel=0.05)
    assert glued["ch1_shear_eig_large"] == pytest.approx(large, rel=0.05)
    assert abs(glued["ch1_shear_eig_large"] - 1) > 1 and abs(glued["ch1_shear_eig_small"] - 1) > 0.5
    # banana x2 = z2 - k z1^2 with k = 0.5: E[x2] = -k, standard error sqrt(1 + 2 k^2) / sqrt(n)
    k = 0.5
    standard_error = math.sqrt(1 + 2 * k * k) / math.sqrt(n)
    assert glued["ch1_banana_mean_x2"] == pytest.approx(-k, abs=5 * standard_error)


@pytest.mark.slow
def test_composition_log_dets_add(glued):
    # Affine(log_scale [0.3, -0.2], shift [1, 0]) -> coupling log-det sin(v1) -> Affine(-0.5, 0.1)
    v1 = 0.4 * math.exp(0.3) + 1.0
    expected = (0.3 - 0.2) + math.sin(v1) + (-0.5 + 0.1)
    assert glued["ch1_comp_logdet"] == pytest.approx(expected, abs=1e-12)


@pytest.mark.slow
def test_scalar_affine_flow_is_gaussian(glued):
    assert glued["ch1_affine_logp"] == pytest.approx(stats.norm(1.0, 2.0).logpdf(2.5), abs=1e-12)


@pytest.mark.slow
def test_determinant_underflow_pitfall(glued):
    assert glued["ch1_det_underflow"] == 0.0
    assert glued["ch1_logdet_stable"] == pytest.approx(1100 * math.log(0.5), rel=1e-12)


def animation_frame_counts(nb):
    """Number of frames of each scrubbable animation among the notebook's HTML outputs."""
    counts = []
    for html in nb.html_outputs():
        if 'type="range"' in html and "_anim_slider" in html:
            frames = [int(k) for k in re.findall(r"frames\[(\d+)\]\s*=", html)]
            counts.append(max(frames) + 1 if frames else 0)
    return counts


@pytest.mark.slow
def test_practice_answers(glued):
    # log|det(R A R^T)| = log det A for a rotation R;  log p_X = log p_Z - sum of log-dets
    assert glued["ch1_practice_rot"] == pytest.approx(math.log(3.0 * 0.5), abs=1e-12)
    assert glued["ch1_practice_logp"] == pytest.approx(-1.6, abs=1e-12)


@pytest.mark.slow
def test_interactive_figures_work_without_a_kernel(nb):
    counts = animation_frame_counts(nb)
    assert len(counts) == 2, f"expected two scrubbable animations; found {len(counts)}"
    assert all(10 <= c <= 40 for c in counts), counts
    html = "\n".join(nb.html_outputs())
    assert "font-awesome" not in html.lower()
    assert 'aria-label="' in html


@pytest.mark.slow
def test_page_outputs_stay_small(nb):
    size = sum(len(h) for h in nb.html_outputs())
    assert size < 2_500_000, f"HTML outputs are {size / 1e6:.2f} MB"


def test_numbers_in_prose_are_not_typed_where_glued():
    """The worked answers appear through glue, not as typed numbers."""
    text = (ROOT / CHAPTER).read_text()
    examples = {label: text[text.index(f"({label})="):] for label in
                ["ch1-ex-shift", "ch1-ex-exp", "ch1-ex-affine-flow", "ch1-ex-polar"]}
    answers = {label: body[:body.index("*Answer.*") + 200] for label, body in examples.items()}
    assert "{glue:text}`ch1_py9" in answers["ch1-ex-shift"]
    assert "{glue:text}`ch1_pexp2" in answers["ch1-ex-exp"]
    assert "{glue:text}`ch1_affine_logp" in answers["ch1-ex-affine-flow"]
    assert "$p_X = \\mathcal N(0, I_2)$" in answers["ch1-ex-polar"]


# ---- numbers stated in the quiz's feedback -------------------------------------------------------

def _feedback(question_id: str, start: str) -> str:
    return feedback("01_change_of_variables", question_id, start)


def test_quiz_feedback_numbers():
    # 01-exp-density, the distractor p_Z alone: 1/2 on [1, e^2] integrates to (e^2 - 1) / 2
    text = _feedback("01-exp-density", "That is $p_Z(\\log 2)")
    mass = integrate.quad(lambda x: 0.5, 1.0, math.exp(2.0))[0]
    assert "(e^2 - 1)/2 \\approx 3.19" in text and round(mass, 2) == 3.19
    # 01-composition-logdet, the distractor 0.693: dropping one log 2 of f1 gives log 2
    question = {q["id"]: q for q in json.loads(QUIZ.read_text())}["01-composition-logdet"]
    value = 2 * math.log(2.0) + math.log(0.5)              # two of f1's three terms, plus f2
    ranges = [a for a in question["answers"] if a.get("range") and not a["correct"]
              and a["range"][0] <= value < a["range"][1]]
    assert len(ranges) == 1 and "one of the three" in ranges[0]["feedback"]
    # 01-uniform-stretch: multiplying by f' = 4 gives 2 on [0, 8], which integrates to 16
    assert integrate.quad(lambda x: 0.5 * 4.0, 0.0, 8.0)[0] == pytest.approx(16.0)
    assert "integrate to 16" in _feedback("01-uniform-stretch", "You multiplied")
    # 01-composition-logdet, the right answer: 3 log 2 + log 1/2 = 2 log 2 = 1.386
    value = 3 * math.log(2.0) + math.log(0.5)
    assert f"{value:.3f}" in _feedback("01-composition-logdet", "Right:")
    # 01-volume-shape: S S^T = [[2, 1], [1, 1]], eigenvalues 2.62 and 0.38; peak 1 / (2 pi) = 0.159
    S = np.array([[1.0, 1.0], [0.0, 1.0]])
    np.testing.assert_allclose(S @ S.T, [[2.0, 1.0], [1.0, 1.0]])
    eigs = np.linalg.eigvalsh(S @ S.T)
    text = _feedback("01-volume-shape", "Right: $SS^")
    assert f"{eigs[1]:.2f}" in text and f"{eigs[0]:.2f}" in text
    peak = stats.multivariate_normal(np.zeros(2), S @ S.T).pdf(np.zeros(2))
    assert peak == pytest.approx(1 / (2 * math.pi))
    assert f"{peak:.3f}" in _feedback("01-volume-shape", "No: the density values")


def test_box_decomposition_figure(glued):
    a, b, c, d = 2.0, 1.0, 0.5, 1.5
    assert glued["ch1_box_left"] == pytest.approx(a * d - b * c, abs=1e-12)


def test_one_dimensional_examples_precede_the_d_dimensional_material():
    text = (ROOT / CHAPTER).read_text()
    for label in ["(ch1-ex-shift)=", "(ch1-ex-exp)="]:
        assert text.index("eq-ch1-monotone-log") < text.index(label) < text.index("(ch1-volume)=")
    # the Knothe-Rosenblatt map comes after the Jacobian is defined
    assert text.index("(ch1-jacobian)=") < text.index("(ch1-knothe-rosenblatt)=")
    assert "for a target with a positive density" in text.lower()
    assert "for a continuous target it always exists" not in text.lower()


def test_every_learning_objective_is_exercised():
    from objectives import check_mapping

    check_mapping(CHAPTER, {
        1: ["label:ch1-ex-shift", "label:ch1-ex-exp", "practice:1", "practice:2",
            "quiz:01-uniform-stretch", "quiz:01-exp-density", "exercise:ex-01-density"],
        2: ["label:ch1-ex-shift", "label:ch1-ex-exp", "exercise:ex-01-density"],
        3: ["practice:3", "quiz:01-inverse-cdf", "exercise:ex-01-inverse-cdf"],
        4: ["label:ch1-area", "quiz:01-det-area", "exercise:ex-01-linear"],
        5: ["label:ch1-ex-affine-flow", "label:ch1-ex-polar", "quiz:01-formula-form"],
        6: ["practice:4", "practice:5", "quiz:01-composition-logdet", "quiz:01-rotation",
            "exercise:ex-01-composition"],
    })
