"""Exercises: the instructor notebooks pass every check, the learner notebooks are exactly the
generated stubs and report "not implemented", and every check rejects typical wrong answers.

One exercise page per chapter; a follow-up page of chapter NN (``chapters/NNx_name.md``) has none
of its own: its tasks are in ``exercises/NN_name.md``, and each task there is referenced from the
chapter or from one of its follow-up pages."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from nflib.course.exercises import ch01, ch02, ch06
from nflib.course import newton as nt
from nflib.checks import numerical_jacobian
import book
from book.toc import parent_chapter
from exercise_checks import check_table_tests
from notebooks import ROOT, execute_notebook

import make_learner

INSTRUCTOR = sorted((ROOT / "exercises").glob("[0-9][0-9]_*.md"))
LEARNER_DIR = ROOT / "exercises" / "learner"
CHECK_CELL = re.compile(r"^ex\.check_\w+\(\w+\)\s*$")
LABEL = re.compile(r"```\{exercise-start\}[^\n]*\n:label: (ex-\d\d-[a-z0-9-]+)")


def _names(paths):
    return [p.name for p in paths]


def _check_outputs(nb):
    """The text each check cell printed, in order."""
    return [nb.outputs_text(i) for i, cell in enumerate(nb.cells)
            if cell.cell_type == "code" and CHECK_CELL.match(cell.source.strip())]


# ---- structure ---------------------------------------------------------------------------------

def test_one_exercise_notebook_per_chapter():
    chapters = {p.stem for p in (ROOT / "chapters").glob("[0-9][0-9]_*.md")}
    assert {p.stem for p in INSTRUCTOR} == chapters


@pytest.mark.parametrize("path", INSTRUCTOR, ids=_names(INSTRUCTOR))
def test_exercises_are_labelled_solved_and_checked(path):
    text = path.read_text(encoding="utf-8")
    labels = LABEL.findall(text)
    assert len(labels) >= 4, f"{path.name} has {len(labels)} exercises; at least 4 expected"
    assert all(label.startswith(f"ex-{path.stem[:2]}-") for label in labels), labels
    assert len(set(labels)) == len(labels)
    for label in labels:
        assert f"```{{solution-start}} {label}\n" in text, f"{label} has no gated solution"
    assert text.count("```{exercise-end}") == len(labels)
    assert text.count("```{solution-end}") == len(labels)
    assert text.count("# BEGIN SOLUTION") == len(labels)
    checks = [line for line in text.splitlines() if CHECK_CELL.match(line)]
    assert len(checks) == len(labels), f"{path.name}: one check cell per exercise expected"


@pytest.mark.parametrize("path", INSTRUCTOR, ids=_names(INSTRUCTOR))
def test_chapter_cross_references_its_exercises(path):
    pages = [p for p in book.chapters(ROOT) if parent_chapter(p).name == path.name]
    text = "\n".join(p.read_text(encoding="utf-8") for p in pages)
    missing = [label for label in LABEL.findall(path.read_text(encoding="utf-8"))
               if not re.search(r"\{(?:ref|numref)\}`(?:[^`<]*<)?" + label + r">?`", text)]
    assert not missing, (f"{', '.join(p.name for p in pages)} do not reference the exercises "
                         f"{missing}")


# ---- learner versions --------------------------------------------------------------------------

def test_committed_learner_versions_are_exactly_what_the_script_generates():
    committed = sorted(LEARNER_DIR.glob("*.md"))
    assert _names(committed) == _names(INSTRUCTOR), "one learner file per instructor notebook"
    for source in INSTRUCTOR:
        expected = make_learner.learner_text(source.read_text(encoding="utf-8"), source.name)
        assert (LEARNER_DIR / source.name).read_text(encoding="utf-8") == expected, (
            f"exercises/learner/{source.name} is out of date: run python tools/make_learner.py")


def test_make_learner_check_mode_agrees():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "make_learner.py"), "--check"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("path", INSTRUCTOR, ids=_names(INSTRUCTOR))
def test_learner_version_has_no_solution_left(path):
    learner = (LEARNER_DIR / path.name).read_text(encoding="utf-8")
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "{solution-start}", "{solution-end}",
                   "{exercise-start}", "book-only", "{download}", "{doc}"):
        assert marker not in learner, f"learner/{path.name} still contains {marker!r}"
    assert learner.count("raise NotImplementedError") == path.read_text().count("# BEGIN SOLUTION")


def test_stubbing_keeps_indentation_and_rejects_unbalanced_markers():
    code = ["def f(x):", '    """doc"""', "    # BEGIN SOLUTION", "    return x",
            "    # END SOLUTION"]
    assert make_learner.stub_solutions(code) == ["def f(x):", '    """doc"""',
                                                 "    raise NotImplementedError"]
    with pytest.raises(ValueError, match="never closed"):
        make_learner.stub_solutions(code[:4])
    with pytest.raises(ValueError, match="without BEGIN"):
        make_learner.stub_solutions(["    # END SOLUTION"])


# ---- executing the notebooks -------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("path", INSTRUCTOR, ids=_names(INSTRUCTOR))
def test_instructor_notebook_passes_every_check(path, built_book):
    """As the strict build executed it (so it is executed once per run)."""
    if built_book.returncode != 0:
        pytest.fail(f"the book did not build:\n{built_book.log[-4000:]}")
    outputs = _check_outputs(book.executed(built_book, path.relative_to(ROOT), ROOT))
    assert len(outputs) >= 4
    failing = [text for text in outputs if not text.startswith("PASSED")]
    assert not failing, "\n\n".join(failing)


@pytest.mark.slow
@pytest.mark.parametrize("path", INSTRUCTOR, ids=_names(INSTRUCTOR))
def test_learner_notebook_runs_and_reports_not_implemented(path):
    outputs = _check_outputs(execute_notebook(LEARNER_DIR / path.name))
    assert len(outputs) >= 4
    wrong = [text for text in outputs if not text.startswith("NOT IMPLEMENTED")]
    assert not wrong, "\n\n".join(wrong)


# ---- every check rejects typical wrong answers -------------------------------------------------

def _density(x):
    return stats.norm.pdf(np.log(x)) / x


def _log_prob_linear(x, A):
    z = np.linalg.solve(A, x.T).T
    return -0.5 * np.sum(z ** 2, axis=1) - np.log(2 * np.pi) - np.linalg.slogdet(A)[1]


def _sample_exponential(n, rate, rng):
    return -np.log1p(-rng.uniform(size=n)) / rate


def _composition(z, layers, at_z=False):
    total, y = np.zeros_like(z), z
    for f, df in layers:
        total = total + np.log(np.abs(df(z if at_z else y)))
        y = f(y)
    return total


def _planar(z, w, u, b):
    return np.log(np.abs(1 + (1 - np.tanh(z @ w + b) ** 2) * (w @ u)))


def _coupling_inverse(x, m, s, t, shift_sign=-1.0, scale_sign=-1.0, ld_sign=-1.0):
    kept = m * x
    z = kept + (1 - m) * (x + shift_sign * t(kept)) * np.exp(scale_sign * s(kept))
    return z, ld_sign * np.sum((1 - m) * s(kept), axis=1)


def _flow_log_prob(x, base, layers, log_det_sign=1.0, order=reversed):
    total = 0.0
    for layer in order(layers):
        x, log_det = layer.inverse(x)
        total = total + log_det
    return base.log_prob(x) + log_det_sign * total


def _numerical_log_det(f, z, eps=1e-6):
    return np.linalg.slogdet(numerical_jacobian(f, z, eps))[1]


def _composition_no_abs(z, layers):
    total, y = np.zeros_like(z), z
    with np.errstate(invalid="ignore"):
        for f, df in layers:
            total = total + np.log(df(y))
            y = f(y)
    return total


def _newton_step(theta, g, h, sign=-1.0):
    return theta + sign * np.linalg.solve(h, g)


RIGHT = {
    "density_exp": (ch01.check_density_exp, _density),
    "log_prob_linear": (ch01.check_log_prob_linear, _log_prob_linear),
    "sample_exponential": (ch01.check_sample_exponential, _sample_exponential),
    "log_abs_det_composition": (ch01.check_log_abs_det_composition, _composition),
    "planar_log_det": (ch02.check_planar_log_det, _planar),
    "coupling_inverse": (ch02.check_coupling_inverse, _coupling_inverse),
    "flow_log_prob": (ch02.check_flow_log_prob, _flow_log_prob),
    "numerical_log_det": (ch02.check_numerical_log_det, _numerical_log_det),
    "objective": (ch06.check_objective, nt.objective),
    "gradient": (ch06.check_gradient, nt.gradient),
    "hessian": (ch06.check_hessian, nt.hessian),
    "newton_step": (ch06.check_newton_step, _newton_step),
}

# (check, wrong answer, the property that must fail, a phrase the feedback must contain)
WRONG = {
    # a forgotten log-det
    "density without 1/x": (
        "density_exp", lambda x: stats.norm.pdf(np.log(x)), "normalisation", "forgotten"),
    "linear map without log|det A|": (
        "log_prob_linear", lambda x, A: _log_prob_linear(x, A) + np.linalg.slogdet(A)[1],
        "normalisation", "-log|det A| term is missing"),
    "coupling inverse without log-det": (
        "coupling_inverse", lambda *a: _coupling_inverse(*a, ld_sign=0.0), "log-det sign",
        "forgotten"),
    "flow without log-det": (
        "flow_log_prob", lambda *a: _flow_log_prob(*a, log_det_sign=0.0), "normalisation",
        "forgotten"),
    "objective without log-det": (
        "objective", lambda th, z: nt.objective(th, z) - nt.coupling_forward(th, z)[1].mean(),
        "J(theta)", "log-det term"),
    # the wrong sign in an inverse
    "coupling inverse adds the shift": (
        "coupling_inverse", lambda *a: _coupling_inverse(*a, shift_sign=1.0), "round trip",
        "shift has the wrong sign"),
    "coupling inverse multiplies by exp(s)": (
        "coupling_inverse", lambda *a: _coupling_inverse(*a, scale_sign=1.0), "round trip",
        "scale has the wrong sign"),
    "flow inverted first layer first": (
        "flow_log_prob", lambda *a: _flow_log_prob(*a, order=list), "nflib.Flow",
        "wrong order"),
    "newton step uphill": (
        "newton_step", lambda *a: _newton_step(*a, sign=1.0), "maximiser", "wrong sign"),
    # log-det of f where log-det of f^{-1} was asked (and the reverse)
    "coupling inverse returns the forward log-det": (
        "coupling_inverse", lambda *a: _coupling_inverse(*a, ld_sign=1.0), "log-det sign",
        "log|det df/dz| of the forward map"),
    "flow uses forward log-dets": (
        "flow_log_prob", lambda *a: _flow_log_prob(*a, log_det_sign=-1.0), "normalisation",
        "wrong sign"),
    "planar returns the inverse's log-det": (
        "planar_log_det", lambda *a: -_planar(*a), "determinant lemma", "sign is flipped"),
    "density multiplied by x": (
        "density_exp", lambda x: stats.norm.pdf(np.log(x)) * x, "normalisation", "log-det sign"),
    "linear map adds log|det A|": (
        "log_prob_linear", lambda x, A: _log_prob_linear(x, A) + 2 * np.linalg.slogdet(A)[1],
        "normalisation", "log-det sign"),
    # a density that does not integrate to 1
    "density scaled by 2": (
        "density_exp", lambda x: 2 * _density(x), "normalisation", "integral over (0, inf)"),
    "flow log-prob off by a constant": (
        "flow_log_prob", lambda *a: _flow_log_prob(*a) + 0.5, "normalisation",
        "integrates to"),
    # a wrong shape
    "density as a column": (
        "density_exp", lambda x: _density(x)[:, None], "shape", "(5, 1)"),
    "linear map summed over the batch": (
        "log_prob_linear", lambda x, A: _log_prob_linear(x, A).sum(), "shape", "expected (6,)"),
    "samples as a column": (
        "sample_exponential", lambda n, r, rng: _sample_exponential(n, r, rng)[:, None],
        "shape", "(1000, 1)"),
    "planar log-det as a column": (
        "planar_log_det", lambda *a: _planar(*a)[:, None], "shape", "(7, 1)"),
    "coupling inverse returns z only": (
        "coupling_inverse", lambda *a: _coupling_inverse(*a)[0], "shapes", "pair"),
    "numerical log-det per matrix entry": (
        "numerical_log_det", lambda f, z: numerical_jacobian(f, z).reshape(len(z), -1),
        "shape", "expected (5,)"),
    "hessian flattened": (
        "hessian", lambda th, z: nt.hessian(th, z).ravel(), "shape", "(25,)"),
    # other typical mistakes
    "linear map without absolute value": (
        "log_prob_linear",
        lambda x, A: _log_prob_linear(x, A) + np.linalg.slogdet(A)[1] - np.log(np.linalg.det(A)),
        "det A < 0", "absolute value"),
    "sampler scales by the rate": (
        "sample_exponential", lambda n, r, rng: -np.log1p(-rng.uniform(size=n)) * r,
        "mean 1/rate", "divide by the rate"),
    "sampler ignores the generator": (
        "sample_exponential",
        lambda n, r, rng: -np.log1p(-np.random.default_rng().uniform(size=n)) / r,
        "generator passed in", "rng argument"),
    "composition differentiated at z": (
        "log_abs_det_composition", lambda z, layers: _composition(z, layers, at_z=True),
        "chain rule", "evaluated at z"),
    "composition without |f'|": (
        "log_abs_det_composition", lambda z, layers: _composition_no_abs(z, layers),
        "decreasing layer", "absolute value"),
    "planar with tanh instead of tanh'": (
        "planar_log_det", lambda z, w, u, b: np.log(np.abs(1 + np.tanh(z @ w + b) * (w @ u))),
        "determinant lemma", "derivative"),
    "numerical log-det returns det": (
        "numerical_log_det", lambda f, z: np.linalg.det(numerical_jacobian(f, z)),
        "linear map", "det J itself"),
    "gradient of -J": ("gradient", lambda th, z: -nt.gradient(th, z), "grad J", "sign"),
    "hessian without curvature term": (
        "hessian", lambda th, z: -(nt._pieces(np.asarray(th, float), z)[4].T
                                   @ nt._pieces(np.asarray(th, float), z)[4]) / len(z),
        "Hessian of J", "only -mean(v v^T)"),
    "gradient step instead of newton": (
        "newton_step", lambda th, g, h: th + g, "maximiser", "gradient step"),
}


(test_check_accepts_a_right_answer, test_check_reports_not_implemented,
 test_check_reports_a_crash_as_a_failure,
 test_check_rejects_a_typical_wrong_answer) = check_table_tests(RIGHT, WRONG)
