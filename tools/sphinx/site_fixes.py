"""Small Sphinx extension that keeps the built site self-contained, free of console errors, and
kind to readers (checked by tests/browser).

* Sphinx 7.4 can register the same inline script twice (sphinx-thebe's ``THEBE_JS_URL``
  declaration), which makes the browser throw "Identifier has already been declared" on every
  page. Identical script entries are kept once.
* ``static/reader.js`` fits display equations to the column (or marks the ones that scroll),
  makes every sideways-scrolling box reachable by keyboard, and opens every solution before the
  page is printed.
* Every page gets a ``<meta name="description">`` from its first paragraph.
* A code cell tagged ``remove-output`` that builds live ipywidgets only works in Jupyter or
  Binder: on the static site (which shows the kernel-free version of the figure) it is left out.
  It stays in the notebook downloads and in Binder. The paragraph just before it that introduces
  it ("In Jupyter or Binder, the next cell gives ...") is left out with it: on the site it would
  describe a cell the reader cannot see.
* The ``# BEGIN SOLUTION`` / ``# END SOLUTION`` lines that mark the solution in an exercise's
  code (the learner versions are cut along them) are left out of the exercise pages' code.
* A chapter's quiz (a cell calling ``show_quiz("<stem>")``) gets an answer key after it, hidden
  on screen and printed instead of the quiz's controls.
* The arrow that unfolds a chapter's follow-up pages in the navigation is a ``<summary>`` that
  the theme leaves without a name (axe-core: "summary-name", serious): it is named after its
  chapter ("Pages of 5. Glow ...").
"""

from __future__ import annotations

import html
import re
from pathlib import Path

STATIC = Path(__file__).parent / "static"
DESCRIPTION_LENGTH = 160
SHOW_QUIZ = re.compile(r"""show_quiz\(\s*["']([\w-]+)["']""")
WIDGET_CODE = re.compile(r"^\s*(import ipywidgets|from ipywidgets import)", re.M)
WIDGET_INTRO = re.compile(r"^\s*In Jupyter or Binder\b")
SOLUTION_MARKER = re.compile(r"^[ \t]*# (?:BEGIN|END) SOLUTION[ \t]*\n?", re.M)
EXERCISE_DOCS = "exercises/"


def _script_key(script):
    filename = getattr(script, "filename", script) or ""  # inline scripts: None or ""
    attributes = getattr(script, "attributes", {}) or {}
    return (str(filename), tuple(sorted((k, str(v)) for k, v in attributes.items())))


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


# --------------------------------------------------------------------------- meta description

def description(doctree) -> str:
    """The first paragraph of the page, as plain text of at most 160 characters."""
    from docutils import nodes

    for paragraph in doctree.findall(nodes.paragraph):
        if paragraph.next_node(nodes.Invisible) is not None and not paragraph.astext().strip():
            continue
        text = " ".join(paragraph.astext().split())
        if len(text) < 40:
            continue
        if len(text) > DESCRIPTION_LENGTH:
            text = text[:DESCRIPTION_LENGTH - 1].rsplit(" ", 1)[0] + "\u2026"
        return text
    return ""


def _add_description(app, pagename, templatename, context, doctree):
    if doctree is None:
        return
    text = description(doctree) or str(app.config.project)
    tag = f'<meta name="description" content="{html.escape(text, quote=True)}" />\n'
    context["metatags"] = context.get("metatags", "") + tag


# --------------------------------------------------------------------------- widget-only cells

def is_widget_only_cell(node) -> bool:
    """A code cell tagged remove-output whose code builds ipywidgets."""
    from docutils import nodes

    classes = node.get("classes", [])
    if "cell" not in classes or "tag_remove-output" not in classes:
        return False
    code = "\n".join(block.astext() for block in node.findall(nodes.literal_block))
    return bool(WIDGET_CODE.search(code))


def widget_intro(node):
    """The paragraph just before a widget-only cell that introduces it, or None."""
    from docutils import nodes

    parent = node.parent
    index = parent.index(node)
    if index == 0:
        return None
    before = parent[index - 1]
    if isinstance(before, nodes.paragraph) and WIDGET_INTRO.match(before.astext()):
        return before
    return None


def _drop_widget_cells(app, doctree):
    from docutils import nodes

    for node in list(doctree.findall(nodes.container)):
        if is_widget_only_cell(node):
            intro = widget_intro(node)
            if intro is not None:
                intro.parent.remove(intro)
            node.parent.remove(node)


# --------------------------------------------------------------------------- solution markers

def strip_solution_markers(code: str) -> str:
    """The code without its ``# BEGIN SOLUTION`` and ``# END SOLUTION`` lines."""
    return SOLUTION_MARKER.sub("", code)


def _strip_solution_markers(app, doctree):
    from docutils import nodes

    if not app.env.docname.startswith(EXERCISE_DOCS):
        return
    for block in list(doctree.findall(nodes.literal_block)):
        text = block.astext()
        if not SOLUTION_MARKER.search(text):
            continue
        stripped = strip_solution_markers(text)
        block.rawsource = stripped
        block.children = []
        block += nodes.Text(stripped)


# --------------------------------------------------------------------------- quiz answer key

def _math_html(text: str) -> str:
    """Quiz text (HTML with $...$ math) for the page, with math the site's MathJax typesets."""
    text = re.sub(r"\$\$(.+?)\$\$",
                  lambda m: rf'<span class="math notranslate nohighlight">\[{m.group(1)}\]</span>',
                  text, flags=re.S)
    text = re.sub(r"(?<![\\$])\$([^$]+?)(?<!\\)\$",
                  lambda m: rf'<span class="math notranslate nohighlight">\({m.group(1)}\)</span>', text)
    return text.replace(r"\$", "$")


def answer_key_html(questions: list[dict]) -> str:
    """An ordered list of the questions with their correct answers (for print)."""
    items = []
    for question in questions:
        if question.get("type") == "numeric":
            ranges = [a for a in question["answers"] if a.get("correct")]
            answers = []
            for a in ranges:
                if "value" in a:
                    answers.append(f"{a['value']}")
                elif "range" in a:
                    low, high = a["range"]
                    answers.append(f"between {low} and {high}")
            answer = " or ".join(answers)
        else:
            answer = "; ".join(_math_html(a["answer"]) for a in question["answers"] if a.get("correct"))
        items.append(f'<li><p>{_math_html(question["question"])}</p>'
                     f'<p class="reader-answer">Answer: {answer}</p></li>')
    return ('<section class="reader-answer-key" aria-hidden="true">'
            '<h2>Quiz: answer key</h2><ol>' + "".join(items) + "</ol></section>")


def quiz_stems(source: Path) -> list[str]:
    try:
        return SHOW_QUIZ.findall(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return []


def _add_answer_key(app, pagename, templatename, context, doctree):
    body = context.get("body")
    if doctree is None or not isinstance(body, str):
        return
    stems = quiz_stems(Path(app.env.doc2path(pagename)))
    if not stems:
        return
    from nflib.course.quiz import load_quiz, quiz_path

    keys = "".join(answer_key_html(load_quiz(quiz_path(stem))) for stem in stems)
    context["body"] = body + keys


_TOC_TOGGLE = re.compile(r'(<a class="[^"]*\breference\b[^"]*" href="[^"]*">(?P<title>[^<]*)</a>'
                         r'<details[^>]*>)<summary>(?=<span class="toctree-toggle")')


def name_toc_toggles(nav_html: str) -> str:
    """Give each navigation arrow (the theme's nameless ``<summary>``) the name of its chapter."""
    def named(match):
        title = html.escape(html.unescape(match.group("title")).strip(), quote=True)
        return f'{match.group(1)}<summary aria-label="Pages of {title}">'

    return _TOC_TOGGLE.sub(named, nav_html)


def _name_toc_toggles(app, pagename, templatename, context, doctree):
    """Wrap the theme's ``generate_toctree_html`` (set by pydata-sphinx-theme in this event,
    before this handler runs) so that the navigation it writes has named arrows."""
    generate = context.get("generate_toctree_html")
    if generate is None:
        return

    def generate_named(*args, **kwargs):
        return name_toc_toggles(str(generate(*args, **kwargs)))

    context["generate_toctree_html"] = generate_named


def _add_static(app, config):
    config.html_static_path = list(config.html_static_path or []) + [str(STATIC)]


def setup(app):
    app.connect("config-inited", _add_static)
    app.add_js_file("reader.js", defer="defer")
    app.connect("doctree-read", _drop_widget_cells)
    app.connect("doctree-read", _strip_solution_markers)
    app.connect("html-page-context", _add_description)
    app.connect("html-page-context", _add_answer_key)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("html-page-context", _name_toc_toggles, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
