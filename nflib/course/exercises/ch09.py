"""Checks for the exercises of chapter 9 (conditional flows and simulation-based inference).

* ``conditional_coupling(z, c, mask, conditioner)``: the conditional affine coupling
  x_kept = z_kept, x_moved = z_moved exp(s) + t with ``(s, t) = conditioner(z[:, mask], c)``;
  returns ``(x, log_det)`` with log_det = sum s, shape (n,).
* ``two_moons_log_likelihood(x, theta)``: log p(x | theta) of the two-moons simulator,
  u = x - (0.25, 0) - (-|theta_1 + theta_2|, theta_2 - theta_1) / sqrt 2,
  log N(|u|; 0.1, 0.01^2) - log(pi |u|) where u_1 > 0, -inf elsewhere.
* ``sbc_ranks(theta_star, draws)``: for each row, the number of posterior draws below theta*.
* ``c2st_accuracy(a, b, seed)``: the 5-fold cross-validated accuracy of scikit-learn's
  ``KNeighborsClassifier(15)`` telling two equal-sized samples apart, both standardised by the
  mean and standard deviation of ``a``.

Each check passes copies of its arrays, compares with an independent reference, and recognises
the typical mistakes (a sign, a missing Jacobian, counting the wrong side, training accuracy).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from nflib.conditional import ConditionalAffineCoupling
from ._feedback import close, expect_shape, fail, first_mismatch, run_checks

__all__ = ["check_conditional_coupling", "check_two_moons_log_likelihood", "check_sbc_ranks",
           "check_c2st_accuracy", "example_conditional_layer", "conditioner_of"]


# ---- a conditional affine coupling -------------------------------------------------------------

def example_conditional_layer(seed: int = 0, d: int = 4, context_dim: int = 2):
    """An ``nflib`` conditional affine coupling (keeps coordinates 0, 2, ...) with random weights."""
    rng = np.random.default_rng(seed)
    layer = ConditionalAffineCoupling(np.arange(d) % 2 == 0, context_dim, (8,), rng=rng)
    for p in layer.parameters().values():
        p += 0.6 * rng.standard_normal(p.shape)
    return layer


def conditioner_of(layer):
    """``conditioner(kept, c) -> (s, t)`` of an ``nflib`` conditional affine coupling, each
    (n, number of transformed coordinates)."""
    inner = layer.inner

    def conditioner(kept, c):
        kept, c = np.asarray(kept, dtype=np.float64), np.asarray(c, dtype=np.float64)
        s, t, _, _ = inner._scale_shift(np.concatenate([kept, c], axis=1))
        return s, t
    return conditioner


def check_conditional_coupling(conditional_coupling):
    """Shapes, kept coordinates, the transformed values, the log-determinant."""
    layer = example_conditional_layer(1)
    mask, cond = layer.mask, conditioner_of(layer)
    rng = np.random.default_rng(2)
    z, c = rng.standard_normal((7, 4)), rng.standard_normal((7, 2))
    want_x, want_ld = layer.forward(z, c)
    s, t = cond(z[:, mask], c)
    moved = z[:, ~mask]

    def result(call):
        out = call(z.copy(), c.copy(), mask.copy(), cond)
        if not (isinstance(out, tuple) and len(out) == 2):
            fail("return the pair (x, log_det)")
        return out

    def shapes(call):
        x, log_det = result(call)
        expect_shape(x, z.shape, "x")
        if np.shape(log_det) == ():
            fail("log_det is one number; it must be one per sample, shape (n,): sum s over the "
                 "transformed coordinates only (axis=1)")
        expect_shape(log_det, (z.shape[0],), "log_det")

    def kept(call):
        x = np.asarray(result(call)[0], dtype=np.float64)
        if not close(x[:, mask], z[:, mask]):
            fail("the kept coordinates (mask True) must pass through unchanged")

    def values(call):
        x = np.asarray(result(call)[0], dtype=np.float64)
        if close(x, want_x):
            return
        got = x[:, ~mask]
        s0, t0 = cond(z[:, mask], np.zeros_like(c))
        hint = "x_moved = z_moved * exp(s) + t with (s, t) = conditioner(z[:, mask], c)"
        if close(got, moved * np.exp(-s) + t):
            hint = "the scale has the wrong sign: the forward pass multiplies by exp(+s)"
        elif close(got, (moved + t) * np.exp(s)):
            hint = "the order is wrong: scale first, then add the shift, z * exp(s) + t"
        elif close(got, moved * np.exp(s0) + t0):
            hint = ("the context is not used: pass the layer's context c to the conditioner, "
                    "conditioner(z[:, mask], c)")
        elif close(got, moved * s + t):
            hint = "s is a log-scale: multiply by exp(s), not by s"
        i = first_mismatch(x, want_x)
        fail(f"entry {i}: got {x[i]:.6g}, expected {want_x[i]:.6g}; {hint}")

    def log_det(call):
        ld = np.asarray(result(call)[1], dtype=np.float64)
        if close(ld, want_ld):
            return
        hint = "log|det dx/dz| = sum of s over the transformed coordinates"
        if close(ld, -want_ld):
            hint = ("the sign is reversed: -sum s is the inverse's log-determinant; the forward "
                    "pass scales by exp(+s)")
        elif close(ld, t.sum(axis=1)):
            hint = "the shift t does not change volume: the log-determinant is sum s, not sum t"
        elif close(ld, np.exp(s).sum(axis=1)):
            hint = "the scale is exp(s), so its logarithm is s: sum s, not sum exp(s)"
        elif close(ld, s.mean(axis=1)):
            hint = "sum the log-scales, do not average them"
        elif close(ld, np.log(np.abs(s)).sum(axis=1)):
            hint = "s already is the log-scale: sum s itself"
        fail(f"log_det = {np.round(ld[:3], 4).tolist()}..., expected "
             f"{np.round(want_ld[:3], 4).tolist()}...: {hint} (no derivative with respect to the "
             "context enters: it is held fixed)")

    return run_checks("conditional_coupling", conditional_coupling, [
        ("returns x of shape (n, d) and log_det of shape (n,) (shapes)", shapes),
        ("leaves the kept coordinates unchanged", kept),
        ("transforms the other coordinates with the context (values)", values),
        ("returns the log-determinant sum s (log-det)", log_det)])


# ---- the two-moons likelihood ------------------------------------------------------------------

def _tm_parts(x, theta):
    g = np.stack([-np.abs(theta[:, 0] + theta[:, 1]), theta[:, 1] - theta[:, 0]], 1) / np.sqrt(2)
    u = np.asarray(x) - np.array([0.25, 0.0]) - g
    return u, np.hypot(u[:, 0], u[:, 1])


def _tm_log_likelihood(x, theta):
    u, r = _tm_parts(x, theta)
    with np.errstate(divide="ignore"):
        value = stats.norm.logpdf(r, 0.1, 0.01) - np.log(np.pi * r)
    return np.where(u[:, 0] > 0, value, -np.inf)


def check_two_moons_log_likelihood(two_moons_log_likelihood):
    """Shape, -inf off the half-plane, the values (with the usual slips), normalisation."""
    rng = np.random.default_rng(5)
    theta = rng.uniform(-1, 1, (40, 2))
    # data from the simulator for these theta (u_1 > 0), plus points on the wrong side
    a, r = rng.uniform(-np.pi / 2, np.pi / 2, 40), 0.1 + 0.01 * rng.standard_normal(40)
    g = np.stack([-np.abs(theta.sum(axis=1)), theta[:, 1] - theta[:, 0]], 1) / np.sqrt(2)
    x = np.stack([r * np.cos(a) + 0.25, r * np.sin(a)], 1) + g
    x_back = x.copy()
    x_back[:8, 0] -= 2 * r[:8] * np.cos(a[:8])           # mirror u_1 to the other side
    want = _tm_log_likelihood(x, theta)
    u, radius = _tm_parts(x, theta)

    def shape(call):
        expect_shape(call(x.copy(), theta.copy()), (40,), "two_moons_log_likelihood(x, theta)")

    def half_plane(call):
        got = np.asarray(call(x_back[:8].copy(), theta[:8].copy()), dtype=np.float64)
        if not np.all(got == -np.inf):
            fail("where u_1 = x_1 - 0.25 + |theta_1 + theta_2| / sqrt 2 <= 0 the simulator cannot "
                 "produce x (the angle a lies in (-pi/2, pi/2), so cos a > 0): return -inf there")

    def values(call):
        got = np.asarray(call(x.copy(), theta.copy()), dtype=np.float64)
        if close(got, want):
            return
        hint = "log N(|u|; 0.1, 0.01^2) - log(pi |u|)"
        if close(got, want + np.log(radius)):
            hint = ("the polar Jacobian is missing: the density of u = r (cos a, sin a) is the "
                    "density of (r, a) divided by r, so subtract log |u|")
        elif close(got, want + np.log(np.pi)):
            hint = "the density 1/pi of the angle a on (-pi/2, pi/2) is missing: subtract log pi"
        elif close(got, want - np.log(2.0)):
            hint = "the angle lies in an interval of length pi, not 2 pi: its density is 1/pi"
        elif close(got, stats.norm.logpdf(radius, 0.1, 0.01)):
            hint = "that is only the density of the radius: divide by pi |u| as well"
        else:
            u_plain = x - np.array([0.25, 0.0]) - np.stack(
                [-(theta[:, 0] + theta[:, 1]), theta[:, 1] - theta[:, 0]], 1) / np.sqrt(2)
            r_plain = np.hypot(u_plain[:, 0], u_plain[:, 1])
            if close(np.where(np.isfinite(got), got, 0.0), np.where(
                    u_plain[:, 0] > 0, stats.norm.logpdf(r_plain, 0.1, 0.01)
                    - np.log(np.pi * r_plain), 0.0)):
                hint = "the absolute value is missing: the first component is -|theta_1 + theta_2|"
        i = first_mismatch(got, want)
        fail(f"sample {i[0]}: got {got[i]:.6g}, expected {want[i]:.6g}; {hint}")

    def normalised(call):
        grid = np.linspace(-0.15, 0.15, 301) + 0.0
        h = grid[1] - grid[0]
        th = np.array([[0.3, -0.1]])
        centre = np.array([0.25, 0.0]) + np.array([-abs(th.sum()), th[0, 1] - th[0, 0]]) / np.sqrt(2)
        x1, x2 = np.meshgrid(centre[0] + grid, centre[1] + grid, indexing="ij")
        pts = np.stack([x1.ravel(), x2.ravel()], 1)
        mass = float(np.exp(np.asarray(call(pts, np.repeat(th, len(pts), 0)))).sum() * h * h)
        if abs(mass - 1.0) > 0.02:
            fail(f"p(x | theta) integrates over x to {mass:.4f}, not 1")

    return run_checks("two_moons_log_likelihood", two_moons_log_likelihood, [
        ("returns one log-likelihood per row, shape (n,) (shape)", shape),
        ("is -inf where u_1 <= 0 (half-plane)", half_plane),
        ("gives the closed-form log-likelihood (values)", values),
        ("integrates to 1 over x (normalised)", normalised)])


# ---- SBC ranks ---------------------------------------------------------------------------------

def check_sbc_ranks(sbc_ranks):
    """Shape and integer type, the counts, and uniform ranks for an exact posterior."""
    rng = np.random.default_rng(8)
    theta_star = rng.standard_normal(30)
    draws = rng.standard_normal((30, 19)) + 0.3
    want = (draws < theta_star[:, None]).sum(axis=1)

    def shape(call):
        got = expect_shape(call(theta_star.copy(), draws.copy()), (30,), "sbc_ranks(theta_star, "
                                                                          "draws)")
        if not np.all(got == np.round(got)):
            fail("a rank is a whole number of draws (0 to L), not a fraction: count, do not "
                 "average")

    def counts(call):
        got = np.asarray(call(theta_star.copy(), draws.copy()), dtype=np.float64)
        if close(got, want):
            return
        hint = "count the draws below theta*: (draws < theta_star[:, None]).sum(axis=1)"
        if close(got, draws.shape[1] - want):
            hint = "that counts the draws above theta*; count those below it"
        elif close(got, (draws < theta_star[None, :]).sum(axis=0)[:30]
                   if draws.shape[1] >= 30 else np.full(30, np.nan)):
            hint = "compare each theta* with the draws of its own row: theta_star[:, None]"
        i = first_mismatch(got, want)
        fail(f"row {i[0]}: got {got[i]:.6g}, expected {want[i]}; {hint}")

    def uniform(call):
        rng_u = np.random.default_rng(9)
        ts = rng_u.standard_normal(2000)
        # the exact posterior of theta* here is its prior, N(0, 1): its ranks must be uniform
        got = np.asarray(call(ts, rng_u.standard_normal((2000, 19))), dtype=np.int64)
        p = stats.chisquare(np.bincount(got, minlength=20)).pvalue
        if p < 1e-4:
            fail(f"ranks of an exact posterior should be uniform on 0..19; chi-square p = {p:.1e}")

    return run_checks("sbc_ranks", sbc_ranks, [
        ("returns one whole-number rank per data set (shape)", shape),
        ("counts the draws below theta* (counts)", counts),
        ("gives uniform ranks for an exact posterior (uniform)", uniform)])


# ---- C2ST ----------------------------------------------------------------------------------------

def _c2st(a, b, seed):
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    mean, sd = a.mean(axis=0), a.std(axis=0)
    data = (np.concatenate([a, b]) - mean) / sd
    labels = np.concatenate([np.zeros(len(a)), np.ones(len(b))])
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    return float(cross_val_score(KNeighborsClassifier(15), data, labels, cv=folds).mean())


def check_c2st_accuracy(c2st_accuracy):
    """A number in [0, 1]; ~0.5 for identical distributions, ~Phi(1) for a shift of 2, high for
    a shift hidden next to a coordinate of huge scale (standardisation); the exact value."""
    rng = np.random.default_rng(12)
    same_a, same_b = rng.standard_normal((600, 2)), rng.standard_normal((600, 2))
    shift_b = rng.standard_normal((600, 2)) + np.array([2.0, 0.0])
    scale = np.array([1.0, 1000.0])
    wide_a = rng.standard_normal((600, 2)) * scale
    wide_b = (rng.standard_normal((600, 2)) + np.array([3.0, 0.0])) * scale

    def number(call):
        value = call(same_a.copy(), same_b.copy(), 0)
        if np.ndim(value) != 0:
            fail("return one accuracy (the mean over the folds), not one per fold")
        if not 0.0 <= float(value) <= 1.0:
            fail(f"an accuracy lies in [0, 1]; got {float(value):.4g}")

    def identical(call):
        value = float(call(same_a.copy(), same_b.copy(), 0))
        if value > 0.56:
            fail(f"two samples of the same distribution scored {value:.3f}: that is accuracy on "
                 "the points the classifier was trained on; score held-out points (cross-"
                 "validation, e.g. cross_val_score with StratifiedKFold)")
        if value < 0.44:
            fail(f"two samples of the same distribution scored {value:.3f}, well below chance")

    def shifted(call):
        value = float(call(same_a.copy(), shift_b.copy(), 0))
        bayes = stats.norm.cdf(1.0)
        if value < 0.5 and abs((1 - value) - bayes) < 0.05:
            fail(f"got {value:.3f}, about 1 - Phi(1): that is the error rate; return the accuracy")
        if abs(value - bayes) > 0.05:
            fail(f"N(0, 1) against N(2, 1) scored {value:.3f}; expected near Phi(1) = {bayes:.3f}")

    def standardised(call):
        value = float(call(wide_a.copy(), wide_b.copy(), 0))
        if value < 0.8:
            fail(f"samples shifted by 3 in a coordinate next to one of scale 1000 scored "
                 f"{value:.3f}: standardise both samples by the mean and standard deviation of "
                 "the first, so the large coordinate does not swamp the distances")

    def exact(call):
        value = float(call(same_a.copy(), shift_b.copy(), 3))
        want = _c2st(same_a, shift_b, 3)
        if abs(value - want) > 1e-9:
            fail(f"got {value:.6f}, the reference gives {want:.6f}: use KNeighborsClassifier(15), "
                 "StratifiedKFold(5, shuffle=True, random_state=seed), labels 0 for a and 1 for b")

    return run_checks("c2st_accuracy", c2st_accuracy, [
        ("returns one accuracy in [0, 1] (number)", number),
        ("scores about 0.5 for identical distributions (held-out)", identical),
        ("scores about Phi(1) for a shift of two standard deviations (accuracy)", shifted),
        ("standardises the coordinates (standardised)", standardised),
        ("matches the reference implementation (exact)", exact)])
