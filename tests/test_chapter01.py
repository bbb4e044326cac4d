"""Chapter 1 (change of variables): every glued number against an independent computation.

The chapter computes its numbers with nflib and its own code; these tests recompute them in
closed form or with scipy, so a wrong formula on the page cannot pass by agreeing with itself.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from scipy import stats

from notebooks import ROOT

pytestmark = pytest.mark.slow

CHAPTER = "chapters/01_change_of_variables.md"
#: seconds the chapter may take to execute (issue: under 20 s on the 2-core machine)
BUDGET = 20.0


def test_executes_within_budget(nb):
    assert nb.seconds < BUDGET, f"{CHAPTER} took {nb.seconds:.1f} s (budget {BUDGET} s)"


def test_every_glue_reference_in_the_text_is_glued(glued):
    text = (ROOT / CHAPTER).read_text()
    used = set(re.findall(r"\{glue:text\}`([A-Za-z0-9_]+)", text))
    assert used, "the chapter glues no numbers into its text"
    assert not used - set(glued), f"referenced but never glued: {sorted(used - set(glued))}"
    assert all(name.startswith("ch1_") for name in glued), sorted(glued)


def test_uniform_stretch(glued):
    # Z ~ U[0, 2], X = 4Z: X ~ U[0, 8]
    assert glued["ch1_px4"] == pytest.approx(1 / 8, abs=1e-14)
    assert glued["ch1_px4"] == pytest.approx(stats.uniform(0, 8).pdf(4.0))


def test_second_affine_map(glued):
    # Y = 2X + 1 = 8Z + 1 ~ U[1, 17]
    assert glued["ch1_py9"] == pytest.approx(stats.uniform(1, 16).pdf(9.0), abs=1e-14)


def test_exponential_of_uniform_is_log_uniform(glued):
    # X = exp(Z), Z ~ U[0, 2]: the log-uniform distribution on [1, e^2]
    expected = stats.loguniform(1.0, math.exp(2.0)).pdf(2.0)
    assert glued["ch1_pexp2"] == pytest.approx(expected, rel=1e-12)
    assert glued["ch1_pexp2"] == pytest.approx(0.25)


@pytest.mark.parametrize("name", ["ch1_int_x", "ch1_int_y", "ch1_int_exp"])
def test_densities_integrate_to_one(glued, name):
    assert glued[name] == pytest.approx(1.0, abs=1e-8)


@pytest.mark.parametrize("name", ["ch1_pval_x", "ch1_pval_y", "ch1_pval_exp"])
def test_histograms_agree_with_densities(glued, name):
    assert 1e-3 < glued[name] <= 1.0


def test_inverse_cdf_sampling(glued):
    n = 20_000
    critical = 1.358 / math.sqrt(n)        # Kolmogorov-Smirnov 5% critical value
    assert 0 < glued["ch1_invcdf_ks"] < critical
    assert glued["ch1_invcdf_p"] > 0.01
    assert glued["ch1_invcdf_err"] < 1e-6


def test_parallelogram_area(glued):
    a, b, c, d = 2.0, 1.0, 0.5, 1.5
    # the box minus two triangles ac/2, two triangles bd/2 and two rectangles bc (as in the text)
    area = (a + b) * (c + d) - a * c - b * d - 2 * b * c
    assert glued["ch1_detA"] == pytest.approx(a * d - b * c, abs=1e-12)
    assert glued["ch1_area"] == pytest.approx(area, abs=1e-12)
    assert glued["ch1_area"] == pytest.approx(2.5)


def test_linear_map_density_matches_gaussian(glued):
    assert glued["ch1_linear_err"] < 1e-10


def test_both_forms_of_the_formula(glued):
    assert glued["ch1_forms_diff"] < 1e-6
    assert glued["ch1_int_2d"] == pytest.approx(1.0, abs=1e-4)


def test_rotation_preserves_volume_and_eigenvalues(glued):
    assert abs(glued["ch1_rot_logdet"]) < 1e-12
    assert glued["ch1_rot_eig_err"] < 1e-12


def test_composition_log_dets_add(glued):
    # Affine(log_scale [0.3, -0.2], shift [1, 0]) -> coupling log-det sin(v1) -> Affine(-0.5, 0.1)
    v1 = 0.4 * math.exp(0.3) + 1.0
    expected = (0.3 - 0.2) + math.sin(v1) + (-0.5 + 0.1)
    assert glued["ch1_comp_logdet"] == pytest.approx(expected, abs=1e-12)
    assert glued["ch1_comp_numerical"] == pytest.approx(expected, abs=1e-7)


def test_scalar_affine_flow_is_gaussian(glued):
    assert glued["ch1_affine_logp"] == pytest.approx(stats.norm(1.0, 2.0).logpdf(2.5), abs=1e-12)
    assert glued["ch1_affine_err"] < 1e-12


def test_polar_coordinates(glued):
    assert glued["ch1_polar_logdet_err"] < 1e-6
    assert glued["ch1_polar_density_err"] < 1e-10


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


def test_practice_answers(glued):
    # log|det(R A R^T)| = log det A for a rotation R;  log p_X = log p_Z - sum of log-dets
    assert glued["ch1_practice_rot"] == pytest.approx(math.log(3.0 * 0.5), abs=1e-12)
    assert glued["ch1_practice_logp"] == pytest.approx(-1.6, abs=1e-12)


def test_interactive_figures_work_without_a_kernel(nb):
    counts = animation_frame_counts(nb)
    assert len(counts) == 2, f"expected two scrubbable animations; found {len(counts)}"
    assert all(10 <= c <= 40 for c in counts), counts
    html = "\n".join(nb.html_outputs())
    assert "font-awesome" not in html.lower()
    assert 'aria-label="' in html


def test_live_widgets_are_hidden_on_the_static_site():
    text = (ROOT / CHAPTER).read_text()
    cell = text[text.index("import ipywidgets"):]
    header = text[:text.index("import ipywidgets")].rsplit("```{code-cell}", 1)[1]
    assert "remove-output" in header
    assert "widgets.interact" in cell


def test_template_sections_in_order():
    text = (ROOT / CHAPTER).read_text()
    headings = [h.strip() for h in re.findall(r"^## (.+)$", text, flags=re.M)]
    required = ["Learning objectives", "Worked examples", "Pitfalls", "Practice problems",
                "Quiz", "Key terms", "Summary", "References"]
    positions = [next(i for i, h in enumerate(headings) if h.startswith(r)) for r in required]
    assert positions == sorted(positions), headings
    interactive = next(i for i, h in enumerate(headings) if h.startswith("Interactive figure"))
    assert positions[1] < interactive < positions[2]
    assert "{bibliography}" not in text
    assert 'show_quiz("01_change_of_variables")' in text


def test_page_outputs_stay_small(nb):
    size = sum(len(h) for h in nb.html_outputs())
    assert size < 2_500_000, f"HTML outputs are {size / 1e6:.2f} MB"


def test_numbers_in_prose_are_not_typed_where_glued():
    """The worked answers appear through glue, not as typed numbers."""
    text = (ROOT / CHAPTER).read_text()
    answers = text[text.index("## Worked examples"):text.index("## Interactive figure")]
    assert "{glue:text}`ch1_py9" in answers and "{glue:text}`ch1_pexp2" in answers
