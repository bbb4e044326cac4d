"""A browser for the built site, shared by the browser tests and the tools that print or
photograph pages (``make_pdf.py``, ``screenshots.py``).

Drive Debian's Chromium against the built site, served on 127.0.0.1, and record what a reader
would meet: console errors, failed requests, requests to other hosts, bytes transferred.

    with open_tab(browser, site, viewport=DESKTOP) as tab:
        tab.goto("chapters/01_change_of_variables.html")
        tab.page.locator("mjx-container").count()
        tab.problems()          # console errors, failed and external requests, as text lines

Every request whose host is not the local server is aborted and recorded: the site must work
with no network.
"""

from __future__ import annotations

import os
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import book

# The book's source folder (its _toc.yml and quiz data). BOOK_SOURCE points elsewhere when
# BOOK_HTML is the build of another copy of the book.
REPO = Path(__file__).resolve().parents[1]
ROOT = Path(os.environ.get("BOOK_SOURCE") or REPO).resolve()

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

# Files every page shares (theme, icon fonts, MathJax, the search index): loaded once, then cached.
SHARED_ASSET = re.compile(r"^/(?:_static/|searchindex\.js$)")


# --------------------------------------------------------------------------- pages of the book

def toc_entries() -> list[dict]:
    """Every page of _toc.yml in reading order: {'file', 'html', 'part', 'numbered'}."""
    entries = book.toc_entries(ROOT)
    for entry in entries:
        entry["html"] = entry["file"] + ".html"
    return entries


def toc_html_pages() -> list[str]:
    """The built page of every _toc.yml entry, e.g. 'chapters/01_change_of_variables.html'."""
    return [entry["html"] for entry in toc_entries()]


# --------------------------------------------------------------------------- local web server

@dataclass
class Site:
    root: Path
    base_url: str  # ends with "/"

    def url(self, path: str) -> str:
        return self.base_url + path.lstrip("/")

    def is_local(self, url: str) -> bool:
        parsed = urlparse(url)
        if parsed.scheme in ("data", "blob", "about"):
            return True
        return f"{parsed.scheme}://{parsed.netloc}/" == self.base_url

    def path_of(self, url: str) -> str:
        """'chapters/x.html' for a local URL (query and fragment dropped)."""
        return urlparse(url).path.lstrip("/")


@contextmanager
def serve(root: Path):
    """Serve ``root`` over HTTP on 127.0.0.1 (a free port), as :func:`book.serve`."""
    with book.serve(root) as base_url:
        yield Site(root=root, base_url=base_url)


@contextmanager
def chromium_on(html: Path):
    """Serve the built site in ``html`` and launch Debian's Chromium headless; yields
    ``(browser, site)`` and closes both afterwards (for the tools; tests use their fixtures)."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise SystemExit("Chromium is not installed: run `apt-get install -y chromium`")
    with serve(html) as site, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser, site
        finally:
            browser.close()


# --------------------------------------------------------------------------- browser

def chromium_path() -> str | None:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    return shutil.which("chromium")


@dataclass
class Tab:
    """One page in a fresh browser context, with everything it requested recorded."""

    page: object
    site: Site
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)

    def goto(self, path: str, wait_until: str = "load"):
        response = self.page.goto(self.site.url(path), wait_until=wait_until)
        if response is None or response.status >= 400:
            status = None if response is None else response.status
            raise AssertionError(f"{path}: the server answered {status}")
        return response

    @property
    def path(self) -> str:
        return self.site.path_of(self.page.url)

    def problems(self) -> list[str]:
        return ([f"console error: {e}" for e in self.console_errors]
                + [f"failed request: {r}" for r in self.failed_requests]
                + [f"request to another host: {r}" for r in self.external_requests])

    # ---- waiting for the page to settle

    def wait_for_math(self, timeout_ms: int = 15000) -> None:
        """Wait until MathJax has typeset the page (and the quizzes, which typeset 0.5 s late)."""
        self.page.wait_for_function(
            "() => !document.querySelector('script[src*=\"tex-chtml\"]')"
            " || (window.MathJax && MathJax.startup && MathJax.startup.document"
            "     && MathJax.startup.promise)", timeout=timeout_ms)
        self.page.evaluate("async () => { if (window.MathJax && MathJax.startup)"
                           " await MathJax.startup.promise; }")
        if self.page.locator(".Quiz").count():
            self.page.wait_for_timeout(700)
            self.page.evaluate("async () => { if (window.MathJax && MathJax.startup)"
                               " await MathJax.startup.promise; }")

    def load_all_images(self, scroll: bool = False) -> None:
        """Load every image now, lazy ones too, and wait for each to load or fail (at most 5 s).
        With ``scroll``, by scrolling through the page as a reader would, which also draws every
        part of it: about 1 s slower on a chapter, but printing the page afterwards is about 2 s
        quicker (chapter 3's page.pdf: 1.3 s against 3.4 s). Without, by making the lazy images
        eager."""
        self.page.evaluate("""async (scroll) => {
            if (scroll) {
                const step = Math.max(400, window.innerHeight);
                for (let y = 0; y < document.body.scrollHeight; y += step) {
                    window.scrollTo(0, y);
                    await new Promise(r => setTimeout(r, 20));
                }
                window.scrollTo(0, 0);
            } else {
                document.querySelectorAll('img[loading="lazy"]').forEach(img => { img.loading = 'eager'; });
            }
            await Promise.all(Array.from(document.images).map(img => img.complete ? null :
                new Promise(r => { img.addEventListener('load', r); img.addEventListener('error', r);
                                   setTimeout(r, 5000); })));
        }""", scroll)

    def loaded_files(self) -> list[str]:
        """Site paths of the page and everything it fetched so far, in order (data: URLs are
        inside their page)."""
        names = self.page.evaluate("""() => performance.getEntriesByType('navigation')
            .concat(performance.getEntriesByType('resource')).map(e => e.name)""")
        paths = []
        for name in names:
            parsed = urlparse(name)
            if parsed.scheme in ("http", "https") and self.site.is_local(name):
                path = unquote(parsed.path)
                paths.append(path + "index.html" if path.endswith("/") else path)
        return list(dict.fromkeys(paths))

    def transfer_bytes(self) -> dict:
        """Bytes transferred for this page: the page itself plus every resource it loaded,
        split into the page's own files and the assets every page shares."""
        entries = self.page.evaluate("""() => performance.getEntriesByType('navigation')
            .concat(performance.getEntriesByType('resource'))
            .map(e => ({name: e.name, size: e.transferSize || e.encodedBodySize || 0}))""")
        own, shared, files = 0, 0, []
        for entry in entries:
            parsed = urlparse(entry["name"])
            if parsed.scheme == "data":
                continue  # counted inside the document that holds it
            if SHARED_ASSET.match(parsed.path):
                shared += entry["size"]
            else:
                own += entry["size"]
                files.append((entry["size"], parsed.path))
        return {"own": own, "shared": shared, "files": sorted(files, reverse=True)}


@contextmanager
def open_tab(browser, site: Site, viewport=DESKTOP, color_scheme: str = "light",
             skip_scripts: tuple[str, ...] = (), **options):
    """A page in a fresh context (no cache, no stored theme choice) that may only talk to
    the local server. Local scripts whose URL contains one of ``skip_scripts`` are answered
    with an empty script (a test of links need not typeset every formula)."""
    context = browser.new_context(viewport=viewport, color_scheme=color_scheme,
                                  service_workers="block", **options)
    page = context.new_page()
    tab = Tab(page=page, site=site)

    def route(route):
        url = route.request.url
        if site.is_local(url) and any(part in url for part in skip_scripts):
            route.fulfill(status=200, content_type="text/javascript", body="")
        elif site.is_local(url):
            route.continue_()
        else:
            tab.external_requests.append(url)
            route.abort("blockedbyclient")

    page.route("**/*", route)
    page.on("console", lambda msg: tab.console_errors.append(_describe_console(msg))
            if msg.type == "error" else None)
    page.on("pageerror", lambda exc: tab.console_errors.append(f"uncaught: {exc}"))
    # ERR_ABORTED: the reader moved on to another page before the request finished
    page.on("requestfailed", lambda req: tab.failed_requests.append(f"{req.url} ({req.failure})")
            if site.is_local(req.url) and "ERR_ABORTED" not in (req.failure or "") else None)
    page.on("response", lambda resp: tab.failed_requests.append(f"{resp.url} (HTTP {resp.status})")
            if resp.status >= 400 else None)
    try:
        yield tab
    finally:
        context.close()


def _describe_console(msg) -> str:
    location = msg.location or {}
    where = location.get("url", "")
    if where:
        where = f" [{where}:{location.get('lineNumber', '?')}]"
    return f"{msg.text}{where}"


# --------------------------------------------------------------------------- axe-core

def axe_source() -> str:
    """axe-core's browser bundle, as shipped inside the pinned axe-playwright-python wheel."""
    from axe_playwright_python.base import AXE_FILE_PATH

    return Path(AXE_FILE_PATH).read_text(encoding="utf-8")


def run_axe(page, options: dict | None = None, context: str | None = None,
            outcome: str | None = "violations"):
    """Run axe-core in the page (or only in the elements ``context`` selects); return its
    violations (or its results of another ``outcome``: "incomplete", "passes"; all of them, as
    axe's result object, for None)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe_source())
    # no preload: axe would re-fetch stylesheets and resolve their @imports against the page.
    # "region" (best practice, at most moderate) is the slowest rule on long pages and can never
    # give the serious or critical violations the tests count.
    options = options or {"resultTypes": ["violations"], "preload": False,
                          "rules": {"region": {"enabled": False}}}
    return page.evaluate(
        "async ([context, options, outcome]) => { const result = await axe.run(context ?"
        " {include: [context]} : document, options); return outcome ? result[outcome] : result; }",
        [context, options, outcome])


#: the axe-core rules whose outcome depends on the screen's width or on touch, run on the phone
#: visit of the browser suite (every rule runs on its desktop visit; the dark theme's contrast is
#: checked by DARK_CONTRAST_JS in tests/browser/reader_checks.py)
PHONE_AXE_RULES = ["target-size", "scrollable-region-focusable", "meta-viewport",
                   "meta-viewport-large"]


# What axe-core reads of a page. Most of its time went to nodes that carry nothing it can judge
# page by page: over the book's 25 pages (idle machine), every rule at desktop width took 81 s on
# the whole pages and 32 s on the pages as read here, the phone's rules 32 s and 14 s, and the
# violations found (of any impact) were the same on every page (benchmarks/axe_time.py).
# - The code's token spans (some 7,000 on chapter 3) take their colours from one stylesheet on
#   every page: every token kind the book uses is checked once for contrast, in both themes
#   (test_pages.py::test_every_code_token_kind_is_legible). Here each code block is one plain text
#   in the block's own colour.
# - A formula's drawn glyphs (mjx-math, some 17,000 nodes on chapter 3) are hidden from assistive
#   technology, which reads the MathML beside them, and their glyphs are CSS content that axe
#   cannot judge for contrast. Here each is an empty box of the same size, so that the page keeps
#   its layout (what scrolls, what is wide); the formula's container and its MathML stay.
# Both are put back once axe is done.
LEAN_FOR_AXE_JS = r"""() => {
    const kept = [];
    for (const pre of document.querySelectorAll('div.highlight pre')) {
        kept.push([pre, pre.innerHTML]);
        pre.textContent = pre.textContent;
    }
    for (const math of document.querySelectorAll('mjx-container > mjx-math')) {
        const r = math.getBoundingClientRect();
        const shell = math.cloneNode(false);
        Object.assign(shell.style, {display: 'inline-block', width: `${r.width}px`,
                                    height: `${r.height}px`});
        math.replaceWith(shell);
        kept.push([shell, math]);
    }
    window.__axeKept = kept;
}"""
RESTORE_AFTER_AXE_JS = r"""() => {
    for (const [now, before] of (window.__axeKept || []).reverse()) {
        if (typeof before === 'string') now.innerHTML = before; else now.replaceWith(before);
    }
    delete window.__axeKept;
}"""


def run_axe_lean(page, options: dict | None = None) -> list[dict]:
    """axe-core's violations on the page (every rule, or as ``options`` say), with code blocks as
    plain text and formulas' glyphs as empty boxes while it runs (LEAN_FOR_AXE_JS)."""
    page.evaluate(LEAN_FOR_AXE_JS)
    try:
        return run_axe(page, options)
    finally:
        page.evaluate(RESTORE_AFTER_AXE_JS)


def describe_violations(violations: list[dict], impacts=("serious", "critical")) -> list[str]:
    lines = []
    for violation in violations:
        if violation.get("impact") not in impacts:
            continue
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} "
                     f"- {len(violation['nodes'])} element(s)")
        for node in violation["nodes"][:4]:
            lines.append(f"    {' '.join(map(str, node['target']))}: {node['html'][:160]}")
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            if summary:
                lines.append(f"      {summary[:240]}")
    return lines
