"""Glued values keep their types: ``nflib.course.glue.glue`` stores plain values as JSON beside the
text/plain that ``myst_nb.glue`` gives them (unchanged, since ``{glue:text}`` and the downloads
format it), and ``book.glued_value`` reads the JSON back; what JSON would change is refused with
the glue's name, and a value glued as text only is an error, never its repr parsed back."""

from __future__ import annotations

import json
import sys

import nbformat
import numpy as np
import pytest

import book
from nflib.course.glue import JSON_MIME, glue

PREFIX = "application/papermill.record/"


@pytest.fixture
def shown(monkeypatch):
    """Every bundle the glue calls publish, as (data, metadata), instead of a kernel's display."""
    import IPython.display
    import myst_nb.ext.glue

    published = []
    monkeypatch.setattr(myst_nb.ext.glue, "ipy_display",
                        lambda data, raw, metadata: published.append((data, metadata)))

    def display(value):
        data, metadata = IPython.core.formatters.format_display_data(value)
        published.append((data, metadata))

    monkeypatch.setattr(IPython.display, "display", display)
    return published


def _outputs(published):
    """The published bundles as the notebook stores them: through the kernel's JSON messages and
    nbformat's output validation (which rejects mime data the notebook format does not admit)."""
    return [nbformat.v4.new_output("display_data", **json.loads(json.dumps(
        {"data": data, "metadata": metadata}))) for data, metadata in published]


def _read_back(name, value, display=False, published=None):
    glue(name, value, display=display)
    (output,) = [o for o in _outputs(published) if "scrapbook" in o.metadata]
    return book.glued_value(name, output, "page.md")


PLAIN = [
    (0.1, 0.1), (np.float64(0.58), 0.58), (np.float32(0.25), 0.25), (3, 3), (np.int64(-7), -7),
    (np.uint8(200), 200), (True, True), (np.bool_(False), False), ("diverged", "diverged"),
    (None, None), ([1.5, 2.0], [1.5, 2.0]), ((1, 2), [1, 2]), ([], []),
    ({"K2": [0.1, 0.2], "K4": {"mean": 0.05}}, {"K2": [0.1, 0.2], "K4": {"mean": 0.05}}),
    (np.array([[1.0, 2.5], [3.0, 4.0]]), [[1.0, 2.5], [3.0, 4.0]]),
    (np.arange(3), [0, 1, 2]), (np.array([True, False]), [True, False]),
    (np.array(["a", "b"]), ["a", "b"]), ([np.float64(0.5), (np.int32(1), "x")], [0.5, [1, "x"]]),
    (list(np.linspace(0, 1, 50)), list(np.linspace(0, 1, 50).tolist())),
    (2 ** 70, 2 ** 70), (1e-300, 1e-300),
]


@pytest.mark.parametrize("value, expected", PLAIN, ids=lambda v: type(v).__name__)
def test_plain_values_come_back_with_their_types(value, expected, shown):
    back = _read_back("v", value, published=shown)
    assert back == expected and _types(back) == _types(expected)


def _types(value):
    """The type of a value and of everything in it (2 == 2.0, but int is not float)."""
    if isinstance(value, list):
        return [list, [_types(x) for x in value]]
    if isinstance(value, dict):
        return [dict, {k: _types(x) for k, x in value.items()}]
    return type(value)


def test_numbers_come_back_exactly(shown):
    values = np.random.default_rng(0).normal(size=20) * 10.0 ** np.arange(-10, 10)
    assert _read_back("v", values, published=shown) == values.tolist()
    shown.clear()
    assert _read_back("third", 1 / 3, published=shown) == 1 / 3


@pytest.mark.parametrize("value, expected", PLAIN, ids=lambda v: type(v).__name__)
def test_the_text_is_the_one_myst_nb_gives_the_bare_value(value, expected, shown):
    import myst_nb

    for display in (False, True):
        shown.clear()
        myst_nb.glue("v", value, display=display)
        ((plain, plain_meta),) = shown
        shown.clear()
        glue("v", value, display=display)
        if display:    # shown as a plain output (no JSON in it), and glued hidden with its JSON
            (visible, _), (data, metadata) = shown
            assert visible == plain and set(visible) == {"text/plain"}
            assert data[PREFIX + "text/plain"] == plain["text/plain"]
        else:
            ((data, metadata),) = shown
            assert {k: v for k, v in data.items() if k != PREFIX + JSON_MIME} == plain
            assert metadata == plain_meta
        assert set(data) == {PREFIX + "text/plain", PREFIX + JSON_MIME}
        assert metadata["scrapbook"] == {"name": "v", "mime_prefix": PREFIX}


def test_the_text_keeps_ipythons_formatting_of_long_lists_and_arrays(shown):
    import myst_nb

    for value in (list(range(200)), {"a" * 40: list(range(30)), "b": "x" * 90},
                  np.linspace(0, 1, 400).reshape(20, 20)):
        shown.clear()
        myst_nb.glue("v", value, display=False)
        glue("v", value, display=False)
        assert shown[0][0][PREFIX + "text/plain"] == shown[1][0][PREFIX + "text/plain"]
        assert "\n" in shown[1][0][PREFIX + "text/plain"]


def test_the_notebook_file_keeps_the_json_value(shown, tmp_path):
    """nbformat joins the lines of a text mime type but leaves a ...+json one alone."""
    glue("pair", ["line one\n", "line two\n"], display=False)
    glue("table", {"a": [1, 2]}, display=False)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "", outputs=_outputs(shown))])
    path = tmp_path / "page.ipynb"
    nbformat.write(notebook, str(path))
    again = nbformat.read(str(path), as_version=4)
    nbformat.validate(again)
    assert book.glued_values(again, "page.ipynb") == {"pair": ["line one\n", "line two\n"],
                                                      "table": {"a": [1, 2]}}


def test_a_prefixed_application_json_would_be_an_invalid_notebook_output():
    """Why the JSON goes under a ...+json vendor type: myst-nb prefixes every mime type of a
    hidden glue, and the notebook format admits a number or a dict only under JSON mime types."""
    with pytest.raises(nbformat.ValidationError):
        nbformat.v4.new_output("display_data", data={PREFIX + "text/plain": "0.5",
                                                     PREFIX + "application/json": {"v": 0.5}})
    nbformat.v4.new_output("display_data", data={PREFIX + "text/plain": "0.5",
                                                 PREFIX + JSON_MIME: {"v": 0.5}})


def test_myst_nb_renders_the_text_not_the_json():
    """The site shows text/plain: myst-nb's render priority has no JSON mime type."""
    from myst_nb.core.render import get_mime_priority

    for builder in ("html", "latex", "epub"):
        priority = get_mime_priority(builder, [])
        assert "text/plain" in priority and JSON_MIME not in priority


@pytest.mark.parametrize("value, message", [
    (float("nan"), "glue 'bad': nan"),
    ([1.0, float("inf")], "glue 'bad': inf at [1]"),
    (np.array([0.5, -np.inf]), "glue 'bad': -inf at [1]"),
    ({"x": {"y": np.float64("nan")}}, "glue 'bad': nan at ['x']['y']"),
    ({3: 0.5}, "glue 'bad': dict key 3 (int) is not a string"),
    ({"runs": {2: [0.1]}}, "glue 'bad': dict key 2 (int) at ['runs'] is not a string"),
    ({1.5, 2.5}, "glue 'bad': a set has no faithful JSON form"),
    (1 + 2j, "glue 'bad': a complex has no faithful JSON form"),
    (np.array([1j]), "glue 'bad': an array of dtype complex128 has no JSON form"),
    (b"bytes", "glue 'bad': a bytes has no faithful JSON form"),
], ids=["nan", "inf-in-list", "inf-in-array", "nested-nan", "int-key", "nested-int-key", "set",
        "complex", "complex-array", "bytes"])
def test_what_json_would_change_is_refused_with_the_glue_name(value, message, shown):
    with pytest.raises((ValueError, TypeError)) as info:
        glue("bad", value, display=False)
    assert message in str(info.value)
    assert shown == []


def test_rich_objects_pass_through_unchanged(shown):
    import myst_nb

    class Table:
        def _repr_html_(self):
            return "<table><tr><td>1</td></tr></table>"

    table = Table()
    for display in (False, True):
        shown.clear()
        myst_nb.glue("t", table, display=display)
        glue("t", table, display=display)
        assert shown[0] == shown[1]
    (output,) = _outputs(shown[:1])
    assert book.glued_value("t", output, "page.md") == book.RichGlue(("text/html",))


def test_a_value_glued_as_text_only_is_an_error_naming_glue_and_page(shown):
    import myst_nb

    myst_nb.glue("ch1_kl", 0.25, display=False)
    (output,) = _outputs(shown)
    with pytest.raises(book.GlueError) as info:
        book.glued_value("ch1_kl", output, "chapters/01_x.md")
    message = str(info.value)
    assert "chapters/01_x.md" in message and "'ch1_kl'" in message and "'0.25'" in message
    assert "from nflib.course.glue import glue" in message


def test_a_shown_application_json_is_read_too():
    output = nbformat.v4.new_output("display_data", data={"text/plain": "x",
                                                          "application/json": {"a": 1}},
                                    metadata={"scrapbook": {"name": "j", "mime_prefix": ""}})
    assert book.glued_value("j", output) == {"a": 1}


def test_the_glue_json_of_a_built_page_is_read(tmp_path, shown):
    """myst-nb moves the glued outputs of a built page into <page>.glue.json, prefix removed."""
    glue("ch1_kl", np.float64(0.25), display=False)
    (output,) = _outputs(shown)
    prefix = output.metadata.scrapbook.mime_prefix
    output.data = {k[len(prefix):]: v for k, v in output.data.items()}
    stored = json.loads(json.dumps({"ch1_kl": output}))
    assert book.glued_value("ch1_kl", stored["ch1_kl"], "chapters/01_x") == 0.25


def test_without_myst_nb_glue_only_shows_when_asked(monkeypatch, shown):
    """A downloaded notebook run with ``nflib[course]`` alone: its text already holds the values."""
    monkeypatch.setitem(sys.modules, "myst_nb", None)   # importing myst_nb now raises
    glue("x", 0.5, display=False)
    assert shown == []
    glue("x", [0.5], display=True)
    assert shown == [({"text/plain": "[0.5]"}, {})]
    with pytest.raises(ValueError, match="glue 'x'"):
        glue("x", float("nan"), display=False)



def test_the_site_hides_the_course_glue_import_as_it_hid_myst_nbs():
    from glue_lines import strip_glue

    for module in ("nflib.course.glue", "myst_nb"):
        source = f"import numpy as np\nfrom {module} import glue\nglue('ch1_x', 1.0, display=False)\n"
        assert strip_glue(source) == "import numpy as np"
