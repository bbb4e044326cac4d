"""The page checks of the browser suite find what they are meant to find: each is run on a small
page made to break it (and on one that must pass), without the book."""

from __future__ import annotations

import pytest

from browsing import PHONE
from reader_checks import OVERFLOW_JS

pytestmark = pytest.mark.browser

_OVERFLOWING = """<!doctype html><html><body style="margin:0"><main><article class="bd-article">
<p>fits</p>
<div id="wide" style="width:600px;background:#fff">wider than the phone</div>
<div id="clipper" style="overflow-x:hidden;width:200px"><p id="cut" style="width:300px">cut off</p></div>
<div id="scroller" style="overflow-x:auto;width:300px"><pre style="width:800px">scrolls, as it may</pre></div>
<div id="card" style="width:200px;background:#eee"><span id="out" style="display:inline-block;width:260px">off the card</span></div>
</article></main></body></html>"""


@pytest.fixture
def phone_tab(browser):
    context = browser.new_context(viewport=PHONE)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_overflow_check_finds_what_is_wider_than_its_box(phone_tab):
    phone_tab.set_content(_OVERFLOWING)
    found = phone_tab.evaluate(OVERFLOW_JS)
    assert any(line.startswith("div#wide") and "wider than the screen" in line for line in found), found
    assert any(line.startswith("p#cut") and "cut off by div#clipper" in line for line in found), found
    assert any(line.startswith("span#out") and "off its background" in line for line in found), found
    assert found[0] == "the page scrolls sideways: 600px wide on a 390px screen", found
    assert not [line for line in found if "scrolls, as it may" in line], found
    assert len(found) == 4, found


def test_overflow_check_passes_a_page_that_fits(phone_tab):
    phone_tab.set_content("<main><article class='bd-article'><p>short</p>"
                          "<div style='overflow-x:auto'><pre style='width:900px'>x</pre></div>"
                          "</article></main>")
    assert phone_tab.evaluate(OVERFLOW_JS) == []
