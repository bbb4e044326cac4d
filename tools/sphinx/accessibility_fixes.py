"""Small corrections to the HTML that Sphinx, docutils and the theme write, so that every reader,
with a screen reader or on a phone, can use the pages (checked by tests/browser).

* docutils writes a bibliography as ``<div role="list">`` whose entries carry
  ``role="doc-biblioentry"``, a deprecated role that is not a list item: a screen reader then
  announces an empty list. The entries are given ``role="listitem"``.
* The theme draws two table-of-contents buttons (navbar and article header) but wires only the
  first, which this layout hides: the visible one did nothing, so phones could not open the table
  of contents. ``templates/toggle-primary-sidebar.html`` makes the visible button hand
  its click to the wired one; ``templates/toggle-secondary-sidebar.html`` does the same for the
  "Contents" (on this page) button.
* A table wider than a phone scrolls sideways in its own box; a keyboard user can only scroll it
  if the box takes focus, so the box gets ``tabindex="0"`` and a name (axe
  ``scrollable-region-focusable``).
"""

from __future__ import annotations

from pathlib import Path

TEMPLATES = Path(__file__).parent / "templates"
BIBLIOGRAPHY_ENTRY = 'role="doc-biblioentry"'
LIST_ITEM = 'role="listitem"'
SCROLLING_TABLE = '<div style="overflow-x: auto"><table'
FOCUSABLE_TABLE = ('<div style="overflow-x: auto" tabindex="0" role="region" '
                   'aria-label="Table (scrolls sideways)"><table')


def fix_body(body: str) -> str:
    """Return the page body with the corrections applied."""
    return body.replace(BIBLIOGRAPHY_ENTRY, LIST_ITEM).replace(SCROLLING_TABLE, FOCUSABLE_TABLE)


def _fix_page(app, pagename, templatename, context, doctree):
    body = context.get("body")
    if isinstance(body, str):
        context["body"] = fix_body(body)


def _add_templates(app, config):
    # our templates come before the theme's, so they replace the theme's components
    config.templates_path = [str(TEMPLATES)] + list(config.templates_path or [])


def setup(app):
    app.connect("config-inited", _add_templates)
    app.connect("html-page-context", _fix_page)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
