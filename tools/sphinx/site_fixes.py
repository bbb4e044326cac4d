"""Small Sphinx extension that keeps the built site self-contained and free of console errors.

* Sphinx 7.4 can register the same inline script twice (sphinx-thebe's ``THEBE_JS_URL``
  declaration), which makes the browser throw "Identifier has already been declared" on every
  page. Identical script entries are kept once.
"""

from __future__ import annotations


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


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
