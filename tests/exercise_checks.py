"""The tests every table of exercise checks gets, shared by ``tests/test_exercises*.py``.

A chapter's test module defines ``RIGHT = {name: (check, right_answer)}`` and
``WRONG = {case: (name, wrong_answer, failed_property, phrase_in_feedback)}`` and collects::

    (test_check_accepts_a_right_answer, test_check_reports_not_implemented,
     test_check_reports_a_crash_as_a_failure,
     test_check_rejects_a_typical_wrong_answer) = check_table_tests(RIGHT, WRONG)
"""

from __future__ import annotations

import numpy as np
import pytest


def pending(*args, **kwargs):
    """A learner's function not written yet."""
    raise NotImplementedError


def check_table_tests(right: dict, wrong: dict):
    """The four parametrised tests of a table of checks (see the module docstring)."""

    @pytest.mark.parametrize("name", right, ids=list(right))
    def test_check_accepts_a_right_answer(name):
        check, answer = right[name]
        feedback = check(answer)
        assert feedback.status == "passed", repr(feedback)
        assert repr(feedback).startswith("PASSED")

    @pytest.mark.parametrize("name", right, ids=list(right))
    def test_check_reports_not_implemented(name):
        check, _ = right[name]
        feedback = check(pending)
        assert feedback.status == "not implemented", repr(feedback)
        assert repr(feedback).startswith("NOT IMPLEMENTED")

    @pytest.mark.parametrize("name", right, ids=list(right))
    def test_check_reports_a_crash_as_a_failure(name):
        check, _ = right[name]

        def crashes(*args, **kwargs):
            raise TypeError("unsupported operand")

        feedback = check(crashes)
        assert feedback.status == "failed" and "TypeError: unsupported operand" in feedback.message

    @pytest.mark.parametrize("case", wrong, ids=list(wrong))
    def test_check_rejects_a_typical_wrong_answer(case):
        name, answer, prop, phrase = wrong[case]
        check, _ = right[name]
        with np.errstate(all="ignore"):
            feedback = check(answer)
        assert feedback.status == "failed", f"{case}: accepted\n{feedback!r}"
        assert prop in feedback.failed, f"{case}: failed the wrong property\n{feedback!r}"
        assert phrase in feedback.message, f"{case}: feedback does not explain it\n{feedback!r}"

    return (test_check_accepts_a_right_answer, test_check_reports_not_implemented,
            test_check_reports_a_crash_as_a_failure, test_check_rejects_a_typical_wrong_answer)
