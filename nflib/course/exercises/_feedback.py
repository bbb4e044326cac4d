"""Run a list of named properties against a learner's function and report which one failed.

A check calls the learner's function only through ``call``, so a function that still raises
``NotImplementedError`` is reported as "not implemented yet" (neither a pass nor a crash), and
any other exception is reported as a failure that names the call.
"""

from __future__ import annotations

import textwrap

import numpy as np

__all__ = ["Feedback", "Failure", "run_checks", "fail", "expect_shape", "first_mismatch"]

PASSED, FAILED, NOT_IMPLEMENTED = "passed", "failed", "not implemented"


class Failure(Exception):
    """A property does not hold; the message says what was seen and what to fix."""


class _Pending(Exception):
    """The learner's function raised NotImplementedError."""


def fail(message: str):
    """Stop the current property with ``message``."""
    raise Failure(message)


class Feedback:
    """The outcome of a check: ``status`` is "passed", "failed" or "not implemented".

    ``passed`` lists the properties that held (in order), ``failed`` names the property that did
    not, ``message`` explains it, ``notes`` holds measurements worth showing after a pass.
    """

    def __init__(self, name, status, passed=(), failed=None, message="", notes=()):
        self.name, self.status = name, status
        self.passed, self.failed = list(passed), failed
        self.message, self.notes = message, list(notes)

    @property
    def ok(self) -> bool:
        return self.status == PASSED

    def __repr__(self) -> str:
        if self.status == NOT_IMPLEMENTED:
            return _wrap(f"NOT IMPLEMENTED {self.name}: it still raises NotImplementedError. "
                         "Complete the function, run its cell, then run this check again.")
        if self.status == PASSED:
            lines = [f"PASSED {self.name}"]
        else:
            lines = [f"FAILED {self.name}: {self.failed}", _wrap(self.message, "  ")]
        lines += [_wrap(f"ok: {p}", "  ") for p in self.passed]
        lines += [_wrap(note, "  ") for note in self.notes]
        return "\n".join(lines)


def _wrap(text: str, indent: str = "") -> str:
    return textwrap.fill(text, width=72, initial_indent=indent, subsequent_indent=indent + "  ",
                         break_long_words=False, break_on_hyphens=False)


def run_checks(name: str, func, properties, notes=None) -> Feedback:
    """Evaluate ``properties`` (pairs ``(description, prop)``) in order, stopping at the first
    that fails. ``prop(call)`` receives ``call``, the learner's function guarded as described in
    the module docstring. ``notes(call)``, if given, returns lines to show after a pass.
    """
    if not callable(func):
        return Feedback(name, FAILED, failed="callable",
                        message=f"expected a function, got {type(func).__name__}")

    def call(*args):
        try:
            return func(*args)
        except NotImplementedError:
            raise _Pending from None
        except Exception as err:  # the learner's bug, reported instead of raised
            raise Failure(f"calling {name} raised {type(err).__name__}: {err}") from None

    done = []
    for description, prop in properties:
        try:
            prop(call)
        except _Pending:
            return Feedback(name, NOT_IMPLEMENTED, passed=done)
        except Failure as err:
            return Feedback(name, FAILED, passed=done, failed=description, message=str(err))
        done.append(description)
    return Feedback(name, PASSED, passed=done, notes=notes(call) if notes else ())


# ---- helpers for properties --------------------------------------------------------------

def expect_shape(value, shape, what: str) -> np.ndarray:
    """``value`` as a float array of exactly ``shape``, else a Failure naming both shapes."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        fail(f"{what} should be an array of shape {shape}; got {type(value).__name__}")
    if arr.shape != tuple(shape):
        fail(f"{what} has shape {arr.shape}; expected {tuple(shape)}")
    return arr


def first_mismatch(got, want, atol=1e-8, rtol=1e-6):
    """Index of the first entry where ``got`` and ``want`` differ beyond tolerance, or None."""
    bad = ~np.isclose(got, want, atol=atol, rtol=rtol, equal_nan=False)
    if not bad.any():
        return None
    return tuple(int(i) for i in np.argwhere(bad)[0])


def close(got, want, atol=1e-8, rtol=1e-6) -> bool:
    """True when every entry agrees within tolerance (NaN never agrees)."""
    return bool(np.all(np.isclose(got, want, atol=atol, rtol=rtol)))
