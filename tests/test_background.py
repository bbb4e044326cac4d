"""The background page ("What you need"): every glued number against an independent computation
(closed forms, other quadrature rules, other optimisers, other implementations), and the claims
its sentences make. The page is not a numbered chapter: ``book.chapters`` does not
list it, and its glue names start with ``bg_``.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from scipy import integrate, optimize, special, stats

import book
from notebooks import ROOT

CHAPTER = "background.md"
SOURCE = ROOT / CHAPTER

#: the labels other pages link to, one per item
LABELS = ["background", "bg-entropy-kl", "bg-forward-reverse", "bg-max-likelihood", "bg-pit",
          "bg-conditional-gaussian", "bg-monte-carlo", "bg-adam", "bg-validation"]


def _gauss_kl(m1, s1, m2, s2):
    return math.log(s2 / s1) + (s1 ** 2 + (m1 - m2) ** 2) / (2 * s2 ** 2) - 0.5


def _mixture_pdf(x):
    return 0.5 * stats.norm.pdf(x, -2.0, 0.6) + 0.5 * stats.norm.pdf(x, 2.0, 0.6)


# ---- the page's place in the book --------------------------------------------------------------

def test_background_comes_before_chapter_one_and_is_not_a_chapter():
    pages = [p.relative_to(ROOT).as_posix() for p in book.toc_pages(ROOT)]
    assert "background.md" in pages
    assert pages.index("background.md") < pages.index("chapters/01_change_of_variables.md")
    assert SOURCE not in book.chapters(ROOT)
    assert book.is_notebook(SOURCE)
    entry = next(e for e in book.toc_entries(ROOT) if e["file"] == "background")
    assert entry["part"] == "Start here" and not entry["numbered"]


def test_the_items_have_their_labels():
    text = SOURCE.read_text(encoding="utf-8")
    for label in LABELS:
        assert f"({label})=" in text, label


def test_every_glued_reference_uses_the_bg_prefix():
    used = set(re.findall(r"\{glue(?::\w+)?\}`([A-Za-z0-9_]+)", SOURCE.read_text()))
    assert used and all(name.startswith("bg_") for name in used), sorted(used)


def test_intro_and_chapters_link_the_page():
    assert "{doc}`background`" in (ROOT / "intro.md").read_text() or \
        "(background.md)" in (ROOT / "intro.md").read_text()
    for chapter in ["01_change_of_variables", "02_normalizing_flows", "06_newton_fitting"]:
        text = (ROOT / "chapters" / f"{chapter}.md").read_text()
        assert re.search(r"\{ref\}`[^`]*<?bg-[\w-]+>?`", text), chapter


# ---- the numbers -------------------------------------------------------------------------------

@pytest.mark.slow
def test_entropy_and_kl_both_ways(glued):
    assert glued["bg_kl_pq"] == pytest.approx(_gauss_kl(0, 1, 1, 2), abs=1e-9)
    assert glued["bg_kl_qp"] == pytest.approx(_gauss_kl(1, 2, 0, 1), abs=1e-9)
    assert glued["bg_kl_pq"] == pytest.approx(math.log(2) + 2 / 8 - 0.5, abs=1e-9)
    assert glued["bg_entropy_q"] == pytest.approx(0.5 * math.log(2 * math.pi * math.e * 4), abs=1e-9)
    assert glued["bg_kl_qp"] > glued["bg_kl_pq"]     # "the second direction punishes"
    assert glued["bg_kl_check_err"] < 1e-8


@pytest.mark.slow
def test_forward_kl_matches_moments_and_reverse_kl_seeks_one_mode(glued):
    sd = math.sqrt(0.6 ** 2 + 4.0)                   # mixture variance: component + spread
    assert glued["bg_p_sd"] == pytest.approx(sd, abs=1e-6)
    assert glued["bg_fwd_mu"] == pytest.approx(0.0, abs=1e-4)
    assert glued["bg_fwd_sigma"] == pytest.approx(sd, abs=1e-4)

    # the reverse fit by a different quadrature (scipy.quad) and optimiser (BFGS), from the
    # right-hand mode
    def reverse(params):
        mu, log_s = params
        s = math.exp(log_s)
        return integrate.quad(lambda x: stats.norm.pdf(x, mu, s) * (
            stats.norm.logpdf(x, mu, s) - math.log(_mixture_pdf(x))),
            mu - 12 * s, mu + 12 * s, limit=200)[0]

    best = optimize.minimize(reverse, [2.0, math.log(0.6)], method="BFGS")
    assert glued["bg_rev_mu"] == pytest.approx(best.x[0], abs=1e-3)
    assert glued["bg_rev_sigma"] == pytest.approx(math.exp(best.x[1]), abs=1e-3)
    assert glued["bg_rev_kl"] == pytest.approx(best.fun, abs=1e-5)
    assert glued["bg_rev_mu"] > 1.5                   # the alt text: "the right-hand peak"
    assert abs(glued["bg_rev_kl"] - math.log(2)) < 0.01   # "close to log 2"
    # the forward KL at its optimum, by quadrature
    fwd = integrate.quad(lambda x: _mixture_pdf(x) * (math.log(_mixture_pdf(x))
                                                      - stats.norm.logpdf(x, 0.0, sd)),
                         -12, 12, limit=200)[0]
    assert glued["bg_fwd_kl"] == pytest.approx(fwd, abs=1e-5)


@pytest.mark.slow
def test_maximum_likelihood_is_forward_kl_plus_entropy(glued):
    assert glued["bg_ml_entropy"] == pytest.approx(1 + math.log(2))
    # the Gaussian with the Laplace's mean 0 and variance 2: KL = -H(p) - E_p[log q]
    expected_kl = -(1 + math.log(2)) + 0.5 * math.log(2 * math.pi * 2.0) + 0.5
    assert glued["bg_ml_kl"] == pytest.approx(expected_kl, abs=2e-3)   # fitted sd vs sqrt 2
    assert glued["bg_ml_sum"] == pytest.approx(glued["bg_ml_kl"] + 1 + math.log(2))
    # the mean NLL agrees up to Monte Carlo error: sd of the per-sample NLL / sqrt(n)
    rng = np.random.default_rng(0)
    x = rng.laplace(size=200_000)
    se = np.std(x ** 2 / 4.0) / math.sqrt(x.size)     # NLL = const + x^2 / (2 sigma^2), sigma^2 = 2
    assert abs(glued["bg_ml_nll"] - glued["bg_ml_sum"]) < 4 * se


@pytest.mark.slow
def test_probability_integral_transform(glued):
    assert 0 < glued["bg_pit_ks"] < 1.358 / math.sqrt(10_000)
    assert glued["bg_pit_p"] > 0.01
    # the same samples, uniformised with the error function instead of scipy.stats.norm.cdf
    z = np.random.default_rng(4).standard_normal(10_000)
    u = np.sort(0.5 * (1 + special.erf(z / math.sqrt(2))))
    ks = max(np.max(np.arange(1, u.size + 1) / u.size - u), np.max(u - np.arange(u.size) / u.size))
    assert glued["bg_pit_ks"] == pytest.approx(ks, abs=1e-12)


@pytest.mark.slow
def test_conditional_gaussian(glued):
    # by the precision matrix: x2 | x1 has variance 1 / (Sigma^-1)_22 and mean -P21/P22 x1
    precision = np.linalg.inv(np.array([[4.0, 1.2], [1.2, 1.0]]))
    assert glued["bg_cond_var"] == pytest.approx(1 / precision[1, 1], abs=1e-12)
    assert glued["bg_cond_coef"] == pytest.approx(-precision[1, 0] / precision[1, 1], abs=1e-12)
    assert glued["bg_cond_err"] < 1e-10


@pytest.mark.slow
def test_monte_carlo_error_over_seeds(glued):
    n, seeds = 1000, 400
    assert glued["bg_mc_seeds"] == seeds
    assert glued["bg_mc_se_pred"] == pytest.approx(math.sqrt(2 / n))
    estimates = np.array([np.sum(np.random.default_rng(s).standard_normal(n) ** 2) / n
                          for s in range(seeds)])
    assert glued["bg_mc_sd_seeds"] == pytest.approx(np.std(estimates, ddof=1), rel=1e-9)
    assert glued["bg_mc_range_lo"] == pytest.approx(estimates.min(), rel=1e-12)
    assert glued["bg_mc_range_hi"] == pytest.approx(estimates.max(), rel=1e-12)
    covered = int(np.sum(np.abs(estimates - 1) <= 2 * math.sqrt(2 / n)))
    assert glued["bg_mc_covered"] == covered
    # "about 95 % are expected to": within binomial noise of 95 % of 400 (sd 4.4)
    assert abs(covered - 0.954 * seeds) < 4 * math.sqrt(seeds * 0.05 * 0.95)
    # the spread over seeds matches the predicted standard error (chi-square noise, 3.5 %)
    assert glued["bg_mc_sd_seeds"] == pytest.approx(math.sqrt(2 / n), rel=0.15)


def _adam_reference(schedule, seed, n_steps=400, lr=0.05):
    """Adam as in Kingma & Ba's Algorithm 1, written independently of the page."""
    curv = np.array([100.0, 1.0])
    noise = np.random.default_rng(seed).normal(scale=1.0, size=(n_steps, 2))
    theta, m, v = np.ones(2), np.zeros(2), np.zeros(2)
    for t in range(1, n_steps + 1):
        rate = lr if schedule == "constant" else lr * (1 + math.cos(math.pi * (t - 1) / n_steps)) / 2
        g = curv * theta + noise[t - 1]
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        theta = theta - rate * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    return float(0.5 * np.sum(curv * theta ** 2))


@pytest.mark.slow
def test_adam_and_the_cosine_schedule(glued):
    assert glued["bg_adam_diff"] < 1e-12
    seeds = range(glued["bg_adam_seeds"])
    assert glued["bg_adam_seeds"] >= 3
    const = [_adam_reference("constant", s) for s in seeds]
    cos = [_adam_reference("cosine", s) for s in seeds]
    assert glued["bg_adam_loss_const"] == pytest.approx(np.median(const), rel=1e-6)
    assert glued["bg_adam_loss_cos"] == pytest.approx(np.median(cos), rel=1e-6)
    wins = sum(c < k for c, k in zip(cos, const))
    assert glued["bg_adam_wins"] == wins
    # the sentence explains why cosine decay ends lower: it must, in most seeds and in the median
    assert wins > len(cos) / 2 and np.median(cos) < np.median(const)


@pytest.mark.slow
def test_validation_and_early_stopping(glued):
    rng = np.random.default_rng(8)
    edges = np.linspace(-4.0, 4.0, 201)
    width = edges[1] - edges[0]
    train, valid = rng.standard_normal(60), rng.standard_normal(10_000)
    n_train = np.histogram(train, edges)[0].astype(float)
    n_valid = np.histogram(valid, edges)[0].astype(float)
    logits, valid_curve, train_curve = np.zeros(200), [], []
    for _ in range(1500):
        prob = special.softmax(logits)
        with np.errstate(divide="ignore"):
            log_density = np.log(prob) - np.log(width)
        train_curve.append(-np.dot(n_train, log_density) / 60)
        valid_curve.append(-np.dot(n_valid, log_density) / 10_000)
        logits = logits + 2.0 * (n_train / 60 - prob)
    best = int(np.argmin(valid_curve))
    assert glued["bg_es_best_step"] == best
    assert glued["bg_es_steps"] == 1500
    assert glued["bg_es_valid_best"] == pytest.approx(valid_curve[best], rel=1e-9)
    assert glued["bg_es_valid_last"] == pytest.approx(valid_curve[-1], rel=1e-9)
    assert glued["bg_es_train_best"] == pytest.approx(train_curve[best], rel=1e-9)
    assert glued["bg_es_train_last"] == pytest.approx(train_curve[-1], rel=1e-9)
    assert glued["bg_es_entropy"] == pytest.approx(stats.norm.entropy())
    # the sentences: training loss falls below the entropy, validation loss rises after the best
    assert glued["bg_es_train_last"] < glued["bg_es_entropy"]
    assert glued["bg_es_train_last"] < glued["bg_es_train_best"]
    assert glued["bg_es_valid_last"] > glued["bg_es_valid_best"]
    assert 0 < best < 1499


@pytest.mark.slow
def test_glued_numbers_are_python_numbers(nb):
    """myst-nb formats {glue:text}`name:.3f` from the value's repr: a numpy scalar's repr
    (``np.float64(0.5)``) cannot be formatted and the strict build fails."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            scrap = output.get("metadata", {}).get("scrapbook")
            if scrap:
                data = output.get("data", {})
                text = data.get(scrap.get("mime_prefix", "") + "text/plain", "")
                assert not text.startswith("np."), (scrap["name"], text)
