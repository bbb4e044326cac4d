"""Glue a computed value into the text, with its type kept for the tests.

Every chapter imports ``glue`` from here instead of from myst-nb::

    from nflib.course.glue import glue
    glue("ch2_det_ratio", ratio, display=False)       # {glue:text}`ch2_det_ratio:.0f` in the text

It calls ``myst_nb.glue`` with the value wrapped so that the glued output carries, beside the
``text/plain`` that ``{glue:text}`` formats (exactly the text ``myst_nb.glue`` gives the bare
value), the value itself as JSON under :data:`JSON_MIME`. The tests read that JSON back
(``tools/book/executed.py``), so a glued number is a number again, not its repr parsed back.

Plain data and what it comes back as:

* ``bool``, ``int``, ``float``, ``str``, ``None`` and numpy scalars: the Python number, bool or
  string (a numpy scalar comes back as the Python type; its ``text/plain`` stays
  ``np.float64(...)``, which ``{glue:text}`` cannot format, so glue ``float(x)`` for the text);
* lists and tuples: lists (JSON has one sequence type; compare with lists in the tests);
* numpy arrays of booleans, integers, floats or strings: nested lists (``array.tolist()``);
* dicts with string keys: dicts.

Refused with a ``ValueError`` or ``TypeError`` that names the glue, because JSON would change
them silently: NaN and infinities (not JSON; ``json`` would write a token other readers reject
and the kernel's messages turn into the string ``"nan"``; a number in the prose should be finite,
so glue a word such as ``"diverged"``), dicts with keys that are not strings (JSON keys are
strings, so ``{3: x}`` would come back as ``{"3": x}``: use ``str(k)`` keys or a list of
pairs), sets, complex numbers and bytes.

Anything else (a figure, an HTML table, an animation) passes to ``myst_nb.glue`` unchanged: it is
pasted with ``{glue:figure}`` or ``{glue}``, not read as a value.

Why :data:`JSON_MIME` and not ``application/json``: with ``display=False`` myst-nb stores every
mime type under the prefix ``application/papermill.record/``, and the notebook format admits any
JSON value only under keys matching ``application/(...+)json``; the prefixed
``application/papermill.record/application/json`` must be a string or a list of strings (a
number or a dict there makes the kernel's output invalid, and nbclient rejects it), while the
prefixed ``...+json`` key of a vendor type is valid. Nothing renders that vendor type: myst-nb's
render priority for the HTML and LaTeX builders picks ``text/plain``, and JupyterLab, which would
show ``application/json`` as a tree, has no renderer for it. So the site, the notebooks in
JupyterLab and the downloads show what they showed before.

``display=True`` shows the value as a plain output (exactly what ``myst_nb.glue`` shows) and
glues the typed value hidden: myst-nb renders every mime type of an output left in a cell and
warns about one it does not know ("skipping unknown output mime type", an error in the strict
build), so the JSON never sits in a shown output. For the same reason paste plain values with
``{glue:text}``, not with the ``{glue}`` role, which renders every mime type of the glued output.

Without myst-nb (a notebook downloaded from the site and run with ``pip install nflib[course]``,
whose text already holds the glued values), ``glue`` only shows the value when asked to.

This module imports neither myst-nb nor IPython until ``glue`` is called: the course layer loads
no build tooling (``tests/test_validation.py``).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = ["JSON_MIME", "glue", "to_json"]

#: the mime type under which the glued value is stored as JSON (prefixed by myst-nb with
#: ``application/papermill.record/`` when ``display=False``)
JSON_MIME = "application/vnd.nflib.glue+json"


def is_plain(value: Any) -> bool:
    """Whether ``value`` is plain data, which ``glue`` stores as JSON (or refuses)."""
    import numpy as np

    return value is None or isinstance(value, (bool, numbers.Number, str, bytes, list, tuple,
                                               dict, set, frozenset, np.ndarray, np.generic))


def to_json(name: str, value: Any) -> Any:
    """``value`` as a JSON value (see the module docstring); ``name`` is the glue's, for errors."""
    import numpy as np

    def convert(item, where):
        at = f" at {where}" if where else ""
        if item is None or isinstance(item, bool):
            return item
        if isinstance(item, str):
            return str(item)
        if isinstance(item, np.bool_):
            return bool(item)
        if isinstance(item, (numbers.Integral, np.integer)):
            return int(item)
        if isinstance(item, (float, np.floating)):
            number = float(item)
            if not math.isfinite(number):
                raise ValueError(f"glue {name!r}: {number!r}{at} has no JSON form; a number in "
                                 "the text should be finite (glue a word instead, e.g. "
                                 "'diverged')")
            return number
        if isinstance(item, (list, tuple)):
            return [convert(x, f"{where}[{i}]") for i, x in enumerate(item)]
        if isinstance(item, np.ndarray):
            if item.dtype.kind not in "biufUO":
                raise TypeError(f"glue {name!r}: an array of dtype {item.dtype}{at} has no JSON "
                                "form")
            return convert(item.tolist(), where)
        if isinstance(item, dict):
            out = {}
            for key, x in item.items():
                if not isinstance(key, str):
                    raise TypeError(f"glue {name!r}: dict key {key!r} ({type(key).__name__})"
                                    f"{at} is not a string, and JSON keys are strings (it would "
                                    "come back as a string): use str keys or a list of pairs")
                out[str(key)] = convert(x, f"{where}[{key!r}]")
            return out
        raise TypeError(f"glue {name!r}: a {type(item).__name__}{at} has no faithful JSON form "
                        "(glue a list, a number or a string)")

    return convert(value, "")


class _Typed:
    """A glued plain value: shown as the value itself, plus the value as JSON."""

    def __init__(self, value, json_value):
        self.value, self.json_value = value, json_value

    def _repr_pretty_(self, printer, cycle):
        # the printer IPython's formatter made (its width, float precision and type printers):
        # the text/plain is the one the bare value gets
        printer.pretty(self.value)

    def __repr__(self):  # the text when IPython's pretty printing is off (%pprint)
        return repr(self.value)

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {JSON_MIME: self.json_value}


def glue(name: str, value: Any, display: bool = True) -> None:
    """``myst_nb.glue(name, value, display)`` with plain values stored as JSON as well (module
    docstring); refuses a plain value that JSON would change, naming ``name``."""
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # outside the book: the glued values are already in the text
        myst_glue = None
    if not is_plain(value):
        if myst_glue is not None:
            myst_glue(name, value, display=display)
        elif display:
            _show(value)
        return
    typed = _Typed(value, to_json(name, value))
    if display:
        _show(value)
    if myst_glue is not None:
        myst_glue(name, typed, display=False)


def _show(value: Any) -> None:
    from IPython.display import display

    display(value)
