"""Exercises of chapter 9: every check accepts a right answer written independently of the
notebook, reports a stub as "not implemented" and a crash as a failure, and rejects the typical
wrong answers (exp(-s), the context ignored, -sum s or sum t as log-determinant, a missing polar
Jacobian or 1/pi, no half-plane, draws above instead of below, training accuracy, the error rate,
no standardisation) naming the property that failed and giving the specific hint."""

from __future__ import annotations

import math

import numpy as np

from exercise_checks import check_table_tests
from nflib.course.exercises import ch09


# ---- right answers, written independently of the instructor solutions ----------------------------

def _coupling(z, c, mask, conditioner, variant="right"):
    z = np.array(z, dtype=float)
    keep = np.flatnonzero(mask)
    move = np.flatnonzero(~np.asarray(mask, dtype=bool))
    s, t = conditioner(z[:, keep], np.zeros_like(c) if variant == "no context" else c)
    x = z.copy()
    x[:, move] = {"right": z[:, move] * np.exp(s) + t, "no context": z[:, move] * np.exp(s) + t,
                  "minus": z[:, move] * np.exp(-s) + t, "order": (z[:, move] + t) * np.exp(s),
                  "times s": z[:, move] * s + t}.get(variant, z[:, move] * np.exp(s) + t)
    log_det = {"neg": -s.sum(axis=1), "t": t.sum(axis=1), "exp": np.exp(s).sum(axis=1),
               "mean": s.mean(axis=1), "scalar": s.sum()}.get(variant, s.sum(axis=1))
    return x, log_det


def _likelihood(x, theta, variant="right"):
    x, theta = np.asarray(x, float), np.asarray(theta, float)
    plus = theta[:, 0] + theta[:, 1]
    first = -(plus if variant == "no abs" else np.abs(plus)) / math.sqrt(2)
    u1 = x[:, 0] - 0.25 - first
    u2 = x[:, 1] - (theta[:, 1] - theta[:, 0]) / math.sqrt(2)
    r = np.maximum(np.sqrt(u1 ** 2 + u2 ** 2), 1e-300)
    log_r = -0.5 * ((r - 0.1) / 0.01) ** 2 - math.log(0.01 * math.sqrt(2 * math.pi))
    value = {"no jacobian": log_r - math.log(math.pi), "no pi": log_r - np.log(r),
             "two pi": log_r - np.log(2 * math.pi * r), "radius only": log_r}.get(
        variant, log_r - np.log(math.pi * r))
    if variant == "no half-plane":
        return value
    return np.where(u1 > 0, value, -np.inf)


def _ranks(theta_star, draws, variant="right"):
    below = np.sum(np.asarray(draws) < np.asarray(theta_star).reshape(-1, 1), axis=1)
    if variant == "above":
        return np.asarray(draws).shape[1] - below
    if variant == "fraction":
        return below / np.asarray(draws).shape[1]
    return below


def _c2st(a, b, seed=0, variant="right"):
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    a, b = np.asarray(a, float), np.asarray(b, float)
    both = np.vstack([a, b])
    if variant != "raw":
        both = (both - a.mean(0)) / a.std(0)
    y = np.r_[np.zeros(len(a)), np.ones(len(b))]
    knn = KNeighborsClassifier(n_neighbors=15)
    if variant == "train":
        return float(knn.fit(both, y).score(both, y))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    scores = cross_val_score(knn, both, y, cv=folds)
    if variant == "per fold":
        return scores
    if variant == "error":
        return float(1 - scores.mean())
    if variant == "other folds":
        return float(cross_val_score(knn, both, y, cv=KFold(5, shuffle=True,
                                                             random_state=seed + 1)).mean())
    return float(scores.mean())


RIGHT = {
    "conditional_coupling": (ch09.check_conditional_coupling, _coupling),
    "two_moons_log_likelihood": (ch09.check_two_moons_log_likelihood, _likelihood),
    "sbc_ranks": (ch09.check_sbc_ranks, _ranks),
    "c2st_accuracy": (ch09.check_c2st_accuracy, _c2st),
}

WRONG = {
    # conditional coupling
    "coupling scale sign": ("conditional_coupling",
                            lambda z, c, m, f: _coupling(z, c, m, f, "minus"),
                            "values", "exp(+s)"),
    "coupling order": ("conditional_coupling", lambda z, c, m, f: _coupling(z, c, m, f, "order"),
                       "values", "scale first"),
    "coupling ignores context": ("conditional_coupling",
                                 lambda z, c, m, f: _coupling(z, c, m, f, "no context"),
                                 "values", "context is not used"),
    "coupling times s": ("conditional_coupling",
                         lambda z, c, m, f: _coupling(z, c, m, f, "times s"), "values",
                         "multiply by exp(s)"),
    "coupling inverse log-det": ("conditional_coupling",
                                 lambda z, c, m, f: _coupling(z, c, m, f, "neg"), "log-det",
                                 "sign is reversed"),
    "coupling log-det of t": ("conditional_coupling",
                              lambda z, c, m, f: _coupling(z, c, m, f, "t"), "log-det",
                              "does not change volume"),
    "coupling log-det exp": ("conditional_coupling",
                             lambda z, c, m, f: _coupling(z, c, m, f, "exp"), "log-det",
                             "not sum exp(s)"),
    "coupling log-det mean": ("conditional_coupling",
                              lambda z, c, m, f: _coupling(z, c, m, f, "mean"), "log-det",
                              "do not average"),
    "coupling scalar log-det": ("conditional_coupling",
                                lambda z, c, m, f: _coupling(z, c, m, f, "scalar"), "shapes",
                                "one per sample"),
    "coupling returns x only": ("conditional_coupling", lambda z, c, m, f: _coupling(z, c, m, f)[0],
                                "shapes", "(x, log_det)"),
    # likelihood
    "likelihood no polar jacobian": ("two_moons_log_likelihood",
                                     lambda x, t: _likelihood(x, t, "no jacobian"), "values",
                                     "polar Jacobian"),
    "likelihood no 1/pi": ("two_moons_log_likelihood", lambda x, t: _likelihood(x, t, "no pi"),
                           "values", "1/pi"),
    "likelihood 1/(2 pi)": ("two_moons_log_likelihood", lambda x, t: _likelihood(x, t, "two pi"),
                            "values", "length pi"),
    "likelihood radius only": ("two_moons_log_likelihood",
                               lambda x, t: _likelihood(x, t, "radius only"), "values",
                               "only the density of the radius"),
    "likelihood no half-plane": ("two_moons_log_likelihood",
                                 lambda x, t: _likelihood(x, t, "no half-plane"), "half-plane",
                                 "return -inf"),
    "likelihood no abs": ("two_moons_log_likelihood", lambda x, t: _likelihood(x, t, "no abs"),
                          "values", "absolute value"),
    "likelihood sum": ("two_moons_log_likelihood", lambda x, t: float(np.sum(_likelihood(x, t))),
                       "shape", "shape"),
    # SBC ranks
    "ranks above": ("sbc_ranks", lambda t, d: _ranks(t, d, "above"), "counts", "above"),
    "ranks fraction": ("sbc_ranks", lambda t, d: _ranks(t, d, "fraction"), "shape",
                       "whole number"),
    "ranks wrong axis": ("sbc_ranks", lambda t, d: (np.asarray(d) < np.asarray(t)[:, None]).sum(),
                         "shape", "shape"),
    # C2ST
    "c2st training accuracy": ("c2st_accuracy", lambda a, b, s=0: _c2st(a, b, s, "train"),
                               "held-out", "cross-validation"),
    "c2st error rate": ("c2st_accuracy", lambda a, b, s=0: _c2st(a, b, s, "error"), "accuracy",
                        "error rate"),
    "c2st per fold": ("c2st_accuracy", lambda a, b, s=0: _c2st(a, b, s, "per fold"), "number",
                      "one accuracy"),
    "c2st not standardised": ("c2st_accuracy", lambda a, b, s=0: _c2st(a, b, s, "raw"),
                              "standardised", "standardise"),
    "c2st other folds": ("c2st_accuracy", lambda a, b, s=0: _c2st(a, b, s, "other folds"),
                         "exact", "StratifiedKFold"),
}

(test_check_accepts_a_right_answer, test_check_reports_not_implemented,
 test_check_reports_a_crash_as_a_failure,
 test_check_rejects_a_typical_wrong_answer) = check_table_tests(RIGHT, WRONG)
