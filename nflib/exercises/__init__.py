"""Checks for the course's exercises: each names the property that failed.

A check takes the learner's function and returns a :class:`Feedback` whose ``status`` is
"passed", "failed" (with the property that failed and why: shape, round trip, log-det sign,
normalisation, ...) or "not implemented" (the function still raises ``NotImplementedError``).
In a notebook the feedback prints itself::

    from nflib.exercises import check_density_exp
    check_density_exp(density_exp)
"""

from ._feedback import Feedback
from .ch01 import (check_density_exp, check_log_abs_det_composition, check_log_prob_linear,
                   check_sample_exponential, LAYERS)
from .ch02 import (check_coupling_inverse, check_flow_log_prob, check_numerical_log_det,
                   check_planar_log_det, coupling_forward, example_flow, example_s, example_t)
from .ch06 import (base_points, check_gradient, check_hessian, check_newton_step,
                   check_objective)

__all__ = ["Feedback", "check_density_exp", "check_log_prob_linear", "check_sample_exponential",
           "check_log_abs_det_composition", "LAYERS", "check_planar_log_det",
           "check_coupling_inverse", "check_flow_log_prob", "check_numerical_log_det",
           "coupling_forward", "example_flow", "example_s", "example_t", "base_points",
           "check_objective", "check_gradient", "check_hessian", "check_newton_step"]
