"""Checks for the course's exercises, one module per chapter: each check names the property
that failed.

A check takes the learner's function and returns a :class:`Feedback` whose ``status`` is
"passed", "failed" (with the property that failed and why: shape, round trip, log-det sign,
normalisation, ...) or "not implemented" (the function still raises ``NotImplementedError``).
In a notebook the feedback prints itself::

    from nflib.course.exercises import ch01 as ex
    ex.check_density_exp(density_exp)
"""

from ._feedback import Feedback

__all__ = ["Feedback"]
