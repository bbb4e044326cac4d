"""Turn the MyST Markdown of a notebook page into Markdown that plain Jupyter renders.

A downloaded notebook must stand alone: Jupyter (or VS Code, or Colab) knows neither MyST roles
nor directives, and has no book to take glued values from. :func:`convert_markdown` rewrites
one Markdown cell:

* ``{glue:text}`key:fmt``` and ``{glue}`key``` become the value the book computed, formatted as
  on the page;
* ``{ref}``, ``{numref}``, ``{doc}``, ``{eq}``, ``{term}`` become links to the published page
  (or the equation number), ``{cite:p}``/``{cite:t}`` become "(Author, year)" / "Author (year)";
* ``{math}`` blocks become ``$$ ... $$`` (with ``\\tag{}`` for a numbered equation), dropdowns
  and solutions become ``<details>``, admonitions become quotations with a bold title,
  ``{exercise-start}`` becomes a heading, code blocks become fenced code;
* definition lists (the chapters' "Key terms") become bulleted lists with the term in bold;
* ``{exercise}`` and ``{exercise-start}`` carry the number the site shows ("Exercise 3.2");
* target labels ``(name)=`` and ``%`` comments are dropped; any other role keeps its text.

:func:`caption_markdown` gives the Markdown shown under a figure a code cell draws ("**Fig. 3.1**
caption"): on the site the caption lives in the cell's metadata, which Jupyter does not show.

Code cells are kept as they are: they import ``glue`` from ``nflib.course.glue``, which runs
without myst-nb (it then only shows a value when asked to). The resolver passed in knows the
book (see ``notebook_downloads.BookResolver``); :class:`Resolver` is the interface, and resolves
nothing.
"""

from __future__ import annotations

import re

ROLE = re.compile(r"\{(?P<name>[\w:+-]+)\}`(?P<body>[^`]*)`")
EXPLICIT = re.compile(r"^(?P<title>.*?)\s*<(?P<target>[^<>]+)>\s*$", re.S)
FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|:{3,}|~{3,})\s*"
                        r"(?:\{(?P<directive>[\w:-]+)\})?\s*(?P<argument>.*?)\s*$")
TARGET = re.compile(r"^\s*\([\w:./-]+\)=\s*$")
COMMENT = re.compile(r"^\s*%")
OPTION = re.compile(r"^:(?P<key>[\w-]+):\s*(?P<value>.*)$")
DEFINITION = re.compile(r"^:\s+(?P<text>.*)$")

ADMONITIONS = {"note", "tip", "hint", "important", "warning", "caution", "attention",
               "danger", "error", "seealso", "admonition", "margin", "sidebar", "topic"}
CODE_BLOCKS = {"code-block", "code", "sourcecode"}
# roles whose text is shown as it is
PLAIN_ROLES = {"abbr", "sub", "sup", "kbd", "guilabel", "menuselection", "command", "file",
               "samp", "program", "dfn", "index"}

MYST_LEFTOVER = re.compile(r"\{[\w:+-]+\}`|^\s*(`{3,}|:{3,})\s*\{[\w:-]+\}|^\s*\([\w:./-]+\)=\s*$",
                           re.M)

class Resolver:
    """What the conversion needs to know about the book. This one knows nothing: every
    reference keeps its text, every glued value is reported missing."""

    def glue(self, key: str, fmt: str) -> str:
        raise KeyError(f"no glued value {key!r}")

    def link(self, kind: str, target: str, title: str | None) -> tuple[str, str | None]:
        """``(text, url or None)`` for a ``ref``, ``numref``, ``doc``, ``term`` or ``download``."""
        return (title or target), None

    def equation(self, label: str) -> str | None:
        """The number shown for equation ``label`` (e.g. "1.2"), or None."""
        return None

    def cite(self, keys: list[str], kind: str) -> str:
        return ", ".join(keys)

    def number(self, label: str) -> str | None:
        """What the site calls the numbered figure, table or exercise ``label`` ("Fig. 3.1",
        "Exercise 3.2"), or None."""
        return None


def leftover_myst(text: str) -> list[str]:
    """MyST roles, directives and target labels left in ``text`` (empty when there are none)."""
    return [m.group(0).strip() for m in MYST_LEFTOVER.finditer(text)]


# --------------------------------------------------------------------------- inline roles

def _explicit(body: str) -> tuple[str | None, str]:
    match = EXPLICIT.match(body)
    if match and match.group("title"):
        return match.group("title").strip(), match.group("target").strip()
    return None, body.strip()


def _markdown_link(text: str, url: str | None) -> str:
    return f"[{text}]({url})" if url else text


def convert_roles(text: str, resolver: Resolver) -> str:
    """Replace every MyST role of ``text``."""

    def replace(match: re.Match) -> str:
        name, body = match.group("name"), match.group("body")
        if name in ("glue", "glue:", "glue:any", "glue:text", "glue:md"):
            key, fmt = body, ""
            if name == "glue:text" and ":" in body.replace("::", ""):
                key, fmt = body.rsplit(":", 1)
            return resolver.glue(key.split("::")[-1].strip(), fmt)
        if name == "math":
            return f"${body}$"
        if name == "eq":
            number = resolver.equation(body.strip())
            return f"({number})" if number else body
        if name in ("ref", "numref", "doc", "term", "download", "any", "std:ref", "std:doc"):
            title, target = _explicit(body)
            text, url = resolver.link(name.split(":")[-1], target, title)
            return _markdown_link(text, url)
        if name.startswith("cite"):
            keys = [k.strip() for k in body.split(",") if k.strip()]
            return resolver.cite(keys, name.partition(":")[2] or "p")
        if name == "sub":
            return f"<sub>{body}</sub>"
        if name == "sup":
            return f"<sup>{body}</sup>"
        if name in ("abbr",):
            if "(" in body:
                title, target = _explicit(body.replace("(", "<").replace(")", ">"))
            else:
                title, target = None, body
            return target if title is None else title
        title, target = _explicit(body)
        return title or target

    return ROLE.sub(replace, text)


# --------------------------------------------------------------------------- directives

def _find_close(lines: list[str], start: int, fence: str, indent: str) -> int:
    """Index of the line closing the fence opened at ``start`` (nested fences skipped)."""
    char = fence[0]
    depth = 0
    for i in range(start + 1, len(lines)):
        stripped = lines[i].strip()
        opened = FENCE_OPEN.match(lines[i])
        if stripped and set(stripped) == {char} and len(stripped) >= len(fence) and depth == 0:
            return i
        if opened and opened.group("fence")[0] == char and opened.group("fence") == fence and \
                (opened.group("directive") or opened.group("argument")):
            depth += 1
        elif stripped == fence and depth:
            depth -= 1
    raise ValueError(f"line {start + 1}: the fence {fence!r} is never closed")


def _dedent(lines: list[str], indent: str) -> list[str]:
    return [line[len(indent):] if line.startswith(indent) else line.lstrip() for line in lines]


def _split_options(body: list[str]) -> tuple[dict, list[str]]:
    options, i = {}, 0
    if body and body[0].strip() == "---":   # YAML block of options
        end = next((j for j in range(1, len(body)) if body[j].strip() == "---"), None)
        if end is not None:
            for line in body[1:end]:
                key, _, value = line.partition(":")
                options[key.strip()] = value.strip()
            return options, body[end + 1:]
    while i < len(body):
        match = OPTION.match(body[i].strip())
        if not match:
            break
        options[match.group("key")] = match.group("value")
        i += 1
    return options, body[i:]


MATH_ENV = re.compile(r"^\\begin\{(?P<env>equation|align|gather|multline|alignat|flalign)\*?\}")
DOLLARS_CLOSE = re.compile(r"^\s*\$\$\s*(?:\((?P<label>[\w:.-]+)\))?\s*$")


def display_math(body: list[str], number: str | None) -> list[str]:
    """A display formula as ``$$ ... $$`` holding a starred environment, with ``\\tag{3.2}`` when
    the book numbers it. Plain Jupyter (MathJax) shows it as the site does; so does
    jupyterlab-myst, which would otherwise number every ``$$`` formula by itself (1), (2), ..."""
    lines = [line for line in body if line.strip()]
    tag = [rf"\tag{{{number}}}"] if number else []
    first = MATH_ENV.match(lines[0].strip()) if lines else None
    if first and lines[-1].strip().startswith(rf"\end{{{first.group('env')}"):
        env = first.group("env")
        head = lines[0].replace(rf"\begin{{{env}}}", rf"\begin{{{env}*}}", 1)
        tail = lines[-1].replace(rf"\end{{{env}}}", rf"\end{{{env}*}}", 1)
        return ["$$", head, *lines[1:-1], *tag, tail, "$$"]
    return ["$$", r"\begin{equation*}", *lines, *tag, r"\end{equation*}", "$$"]


def _quote(lines: list[str]) -> list[str]:
    return [("> " + line).rstrip() for line in lines]


def _directive(name: str, argument: str, options: dict, body: list[str],
               resolver: Resolver) -> list[str]:
    """The Jupyter Markdown lines for one directive (its body already converted)."""
    if name == "math":
        label = options.get("label")
        return display_math(body, resolver.equation(label) if label else None)
    if name in CODE_BLOCKS:
        return [f"```{argument}".rstrip(), *body, "```"]
    if name in ("dropdown", "solution", "toggle"):
        title = argument or ("Solution" if name == "solution" else "Show")
        if name == "solution":
            title = "Solution"
        return ["<details>", f"<summary>{title}</summary>", "", *body, "", "</details>"]
    if name == "exercise":
        number = resolver.number(options["label"]) if options.get("label") else None
        heading = f"**{number or 'Exercise'}{': ' + argument if argument else ''}**"
        return _quote([heading, "", *body])
    if name == "exercise-start":
        number = resolver.number(options["label"]) if options.get("label") else None
        return [f"## {number or 'Exercise'}: {argument}".rstrip().rstrip(":")]
    if name == "solution-start":
        return ["### Solution"]
    if name in ("exercise-end", "solution-end"):
        return []
    if name in ADMONITIONS or name.startswith("admonition"):
        suffix = f": {argument}" if argument else ""
        title = argument if name == "admonition" else name.capitalize() + suffix
        return _quote([f"**{title}**", "", *body])
    if name in ("figure", "image"):
        caption = " ".join(line.strip() for line in body if line.strip())
        alt = options.get("alt", caption or "figure")
        text, url = resolver.link("download", argument, alt)
        lines = [f"![{alt}]({url or argument})"]
        return lines + (["", f"*{caption}*"] if caption and name == "figure" else [])
    if name.startswith("glue"):
        return ["*(This figure or value is shown in the notebook's output above.)*"]
    if name in ("only", "raw", "tableofcontents", "bibliography", "glossary", "contents"):
        return body if name == "glossary" else []
    # unknown directive: keep what it says
    return ([f"**{argument}**", ""] if argument else []) + body


def _definition_item(lines: list[str], i: int, out: list[str], resolver: Resolver) -> int:
    """Append the definition-list item whose term is ``lines[i]`` as a bulleted item (term in
    bold, definitions after a colon, continuation lines indented); return the next line's index."""
    term = convert_roles(lines[i].strip(), resolver)
    definitions, j = [], i + 1
    while j < len(lines) and (DEFINITION.match(lines[j]) or
                              (lines[j].startswith("  ") and lines[j].strip())):
        match = DEFINITION.match(lines[j])
        if match:
            definitions.append([match.group("text")])
        else:
            definitions[-1].append(lines[j].strip())
        j += 1
    text = " ".join(" ".join(d) for d in definitions)
    out.append(convert_roles(f"- **{term}**: {text}", resolver))
    return j


def convert_markdown(text: str, resolver: Resolver) -> str:
    """The Jupyter Markdown of one MyST Markdown cell."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        opened = FENCE_OPEN.match(line)
        if opened and (opened.group("directive") or opened.group("fence")[0] == "`"
                       or opened.group("fence")[0] == "~"):
            indent, fence = opened.group("indent"), opened.group("fence")
            close = _find_close(lines, i, fence, indent)
            body = _dedent(lines[i + 1:close], indent)
            directive = opened.group("directive")
            if directive is None:   # plain code fence: verbatim
                out += lines[i:close + 1]
            else:
                options, body = _split_options(body)
                if directive not in ("math",) and directive not in CODE_BLOCKS:
                    body = convert_markdown("\n".join(body), resolver).split("\n")
                converted = _directive(directive, opened.group("argument"), options, body, resolver)
                out += [(indent + c) if c else "" for c in converted]
            i = close + 1
            continue
        if opened and opened.group("fence")[0] == ":" and not opened.group("directive"):
            out.append(line)
            i += 1
            continue
        if TARGET.match(line) or COMMENT.match(line):
            i += 1
            continue
        if line.strip() == "$$":
            close = next((j for j in range(i + 1, len(lines)) if DOLLARS_CLOSE.match(lines[j])), None)
            if close is not None:
                label = DOLLARS_CLOSE.match(lines[close]).group("label")
                indent = line[:len(line) - len(line.lstrip())]
                math = display_math(lines[i + 1:close], resolver.equation(label) if label else None)
                out += [m if m.startswith(indent) else indent + m for m in math]
                i = close + 1
                continue
        if line.strip() and i + 1 < len(lines) and DEFINITION.match(lines[i + 1]):
            i = _definition_item(lines, i, out, resolver)
            continue
        out.append(convert_roles(line, resolver))
        i += 1
    # a role may span two lines: a second pass over the joined text
    result = convert_roles("\n".join(_join_broken_math(out)), resolver)
    return re.sub(r"\n{3,}", "\n\n", result).strip("\n")


INLINE_DOLLAR = re.compile(r"(?<![\\$])\$(?!\$)")
LIST_START = re.compile(r"^\s*[-+*]\s")


def _join_broken_math(lines: list[str]) -> list[str]:
    """Join a line that starts like a list item ("- \\log p") to the line before when it
    continues an inline formula opened there: Jupyter's Markdown would start a list inside the
    formula."""
    out: list[str] = []
    open_math = False
    for line in lines:
        if open_math and out and LIST_START.match(line):
            out[-1] = out[-1] + " " + line.strip()
        else:
            out.append(line)
            if not line.strip():
                open_math = False
        open_math = (open_math != (len(INLINE_DOLLAR.findall(line)) % 2 == 1)) if line.strip() else False
    return out


def caption_markdown(caption: str, label: str | None, resolver: Resolver) -> str:
    """The Markdown under a figure drawn by a code cell: "**Fig. 3.1** caption" (the number and
    a link to the figure on the site when the book knows ``label``)."""
    text = convert_markdown(" ".join(caption.split()), resolver)
    number = resolver.number(label) if label else None
    if not number:
        return text
    _, url = resolver.link("numref", label, None)
    return f"**{_markdown_link(number, url)}** {text}"
