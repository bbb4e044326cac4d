"""A reader finds their way: previous/next links and the table of contents reach every page,
search works offline, notebook pages can be downloaded as .ipynb and opened in Binder, and the
execution statistics page lists every notebook."""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from urllib.parse import parse_qs, urljoin, urlparse

import pytest

from browsing import PHONE, REPO, ROOT, open_tab, toc_entries, toc_html_pages


pytestmark = pytest.mark.browser

PAGES = toc_html_pages()


def _is_notebook_source(name: str) -> bool:
    path = ROOT / (re.sub(r"\.(md|ipynb)$", "", name) + ".md")
    if not path.exists():
        return (ROOT / (name + ".ipynb")).exists()
    head = path.read_text(encoding="utf-8").split("\n---", 1)[0]
    return head.startswith("---") and "jupytext:" in head and "kernelspec:" in head


NOTEBOOK_PAGES = [e for e in toc_entries() if _is_notebook_source(e["file"])]
CHAPTERS = [e for e in toc_entries() if e["numbered"]]


def test_next_and_previous_links_walk_every_page_in_order(browser, site):
    """Clicking 'next' from the first page visits every page in table-of-contents order, and
    on each page 'previous' leads back to the page before."""
    visited, previous_links = [], []
    with open_tab(browser, site, skip_scripts=("tex-chtml.js",)) as tab:
        tab.goto(PAGES[0], wait_until="domcontentloaded")
        for _ in range(len(PAGES) + 2):
            visited.append(tab.path)
            back = tab.page.locator(".prev-next-area a.left-prev")
            previous_links.append(
                tab.site.path_of(urljoin(tab.page.url, back.first.get_attribute("href")))
                if back.count() else None)
            forward = tab.page.locator(".prev-next-area a.right-next")
            if forward.count() == 0:
                break
            forward.first.click()
            tab.page.wait_for_load_state("domcontentloaded")
        problems = tab.problems()
    assert visited == PAGES, f"'next' links visit {visited}, the table of contents is {PAGES}"
    assert previous_links == [None] + PAGES[:-1], f"'previous' links lead to {previous_links}"
    assert not problems, "\n".join(problems)


def _sidebar_targets(tab) -> set[str]:
    hrefs = tab.page.eval_on_selector_all(
        "nav.bd-docs-nav a.reference.internal, .navbar-brand",
        "links => links.filter(a => a.offsetParent !== null || a.closest('nav'))"
        ".map(a => a.href)")
    return {urlparse(h).path.lstrip("/") for h in hrefs if tab.site.is_local(h)}


@pytest.mark.parametrize("start", [PAGES[0], PAGES[-1]])
def test_table_of_contents_links_every_page(browser, site, start):
    with open_tab(browser, site) as tab:
        tab.goto(start, wait_until="domcontentloaded")
        targets = _sidebar_targets(tab)
        missing = [p for p in PAGES[1:] if p not in targets]
        assert not missing, f"the table of contents on {start} has no link to {missing}"


def test_table_of_contents_opens_on_a_phone_and_reaches_every_chapter(browser, site):
    with open_tab(browser, site, viewport=PHONE, is_mobile=True, has_touch=True,
                  skip_scripts=("tex-chtml.js",)) as tab:
        for entry in CHAPTERS or toc_entries()[1:]:
            tab.goto(PAGES[0], wait_until="domcontentloaded")
            tab.page.locator("button.primary-toggle:visible").first.click()
            link = tab.page.locator(
                f"#pst-primary-sidebar-modal a.reference.internal[href$='{entry['html']}']")
            link.first.wait_for(state="attached", timeout=5000)
            # a follow-up page sits under its chapter, folded: the reader taps the chapter's arrow
            folded = link.first.locator(
                "xpath=ancestor::details[not(@open)]/summary/span[contains(@class, 'toctree-toggle')]")
            for k in range(folded.count()):
                folded.nth(k).click()
            link.first.wait_for(state="visible", timeout=5000)
            link.first.click()
            tab.page.wait_for_load_state("domcontentloaded")
            assert tab.path == entry["html"], f"the phone menu link led to {tab.path}"
        assert not tab.problems(), "\n".join(tab.problems())


def test_menu_button_folds_the_sidebar_on_a_wide_screen(browser, site):
    with open_tab(browser, site) as tab:
        tab.goto(PAGES[0], wait_until="domcontentloaded")
        sidebar = tab.page.locator("#pst-primary-sidebar")
        button = tab.page.locator("button.primary-toggle:visible").first
        assert sidebar.is_visible()
        button.click()
        tab.page.wait_for_function(
            "() => document.querySelector('#pst-primary-sidebar').classList.contains('pst-sidebar-hidden')",
            timeout=3000)
        button.click()
        tab.page.wait_for_function(
            "() => !document.querySelector('#pst-primary-sidebar').classList.contains('pst-sidebar-hidden')",
            timeout=3000)
        assert not tab.problems(), "\n".join(tab.problems())


def _title_word(site, path: str) -> str:
    html = (site.root / path).read_text(encoding="utf-8")
    title = re.sub(r"<[^>]+>", " ", re.search(r"<h1>(.*?)</h1>", html, re.DOTALL).group(1))
    words = [w for w in re.findall(r"[A-Za-z]{4,}", title)]
    assert words, f"{path}: no word to search for in its title {title!r}"
    return max(words, key=len).lower()


def test_search_finds_every_chapter_offline(browser, site):
    """A word of each chapter's title, searched on the site's search page (one reader's tab, so
    the search index is fetched once), lists that chapter."""
    missing = []
    with open_tab(browser, site) as tab:
        for entry in CHAPTERS or toc_entries()[1:2]:
            word = _title_word(site, entry["html"])
            tab.goto(f"search.html?q={word}")
            tab.page.wait_for_function(
                "() => /Search finished|did not match/.test("
                "(document.querySelector('#search-results .search-summary') || {}).textContent || '')",
                timeout=15000)
            hrefs = tab.page.eval_on_selector_all("#search-results ul.search li a",
                                                  "as => as.map(a => a.href)")
            found = {urlparse(h).path.lstrip("/") for h in hrefs}
            if entry["html"] not in found:
                missing.append(f"searching {word!r} does not list {entry['html']}: {sorted(found)}")
        problems = tab.problems()
    assert not missing, "\n".join(missing)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("entry", NOTEBOOK_PAGES, ids=lambda e: e["html"])
def test_notebook_page_downloads_as_ipynb_and_launches_in_binder(site, page_report, entry):
    """The download menu of the page's desktop visit (``page_report``) offers the page as a
    notebook holding the code that was built, and its Binder link opens the page's notebook."""
    from notebook_downloads import lab_notebook_path
    from notebooks import read_notebook

    menu = page_report(entry["html"]).downloads
    url = menu["ipynb"]
    assert url, f"{entry['html']}: no .ipynb download in the download menu"
    assert menu["shown"], f"{entry['html']}: the .ipynb link does not show when the menu opens"
    assert site.is_local(url), f"{entry['html']}: the .ipynb download leaves the site: {url}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            notebook = json.loads(response.read())
    except urllib.error.HTTPError as error:
        pytest.fail(f"{entry['html']}: the .ipynb download {url} answers {error.code}")
    assert notebook.get("nbformat") == 4, f"{url} is not a Jupyter notebook"
    # the source exactly as it was built (Sphinx keeps a copy beside the page); an exercise
    # page offers its learner version
    folder, name = os.path.split(entry["file"])
    learner = ROOT / folder / "learner" / (name + ".md")
    source = site.root / "_sources" / (entry["file"] + ".md")
    if learner.exists():
        source = learner
    elif not source.exists():
        source = ROOT / (entry["file"] + ".md")
    expected = [c.source for c in read_notebook(source).cells if c.cell_type == "code"]
    got = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
           for c in notebook["cells"] if c["cell_type"] == "code"]
    assert got == expected, f"{url}: its code cells differ from {source.name}"

    assert menu["binder"], f"{entry['html']}: no Binder launch link"
    query = parse_qs(urlparse(menu["binder"][0]).query)
    target = query.get("urlpath", [""])[0].split("/tree/", 1)[-1]
    assert target == lab_notebook_path(entry["file"]), f"the Binder link opens {target!r}"
    # binder/postBuild writes it from the build's download of the page (tools/lab_notebooks.py)
    assert (site.root / "_sources" / (entry["file"] + ".ipynb")).is_file(), entry["file"]


def test_binder_uses_the_repository_environment():
    requirements = (REPO / "requirements.txt").read_text()
    assert re.search(r"^jupytext==", requirements, re.MULTILINE), \
        "requirements.txt must pin jupytext so Binder opens .md chapters as notebooks"
    runtime = (REPO / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.(1[1-9])", runtime), f"runtime.txt says {runtime!r}"


def test_execution_statistics_list_every_notebook(browser, site):
    page = next((e["html"] for e in toc_entries() if e["file"] == "execution_statistics"), None)
    assert page, "execution_statistics is not in _toc.yml"
    with open_tab(browser, site) as tab:
        tab.goto(page, wait_until="domcontentloaded")
        rows = tab.page.eval_on_selector_all(
            "article table tbody tr",
            "rows => rows.map(r => Array.from(r.cells).map(c => c.innerText.trim()))")
    documents = {row[0]: row for row in rows}
    for entry in NOTEBOOK_PAGES:
        name = re.sub(r"\.(md|ipynb)$", "", entry["file"])
        assert name in documents, f"execution statistics have no row for {name}: {list(documents)}"
        seconds = float(documents[name][3])
        assert seconds >= 0 and documents[name][4] == "✅", f"{name}: {documents[name]}"
