"""Measurements of a page that the phone and desktop visits share (tests/browser): search in view,
boxes that scroll sideways without saying so, controls too small to touch, quiz cards and slider
panels that stay light on the dark theme, code lines that scroll at desktop width, text that must
not reach the site."""

from __future__ import annotations

# Texts that belong to the sources only (solution markers cut the learner versions; the sentence
# introduces a cell that only runs in Jupyter or Binder).
SOURCE_ONLY = ["# BEGIN SOLUTION", "# END SOLUTION", "it shows nothing on this static page"]

# ``phone``: touch-target sizes are measured. Quiz and slider controls need 44 px each way, every
# other control 24 px (WCAG 2.5.5 and 2.5.8); a control is as large as its label when it has one.
# Links inside running text are exempt (WCAG 2.5.8), as are hidden controls.
# Colour parsing, relative luminance and contrast ratio (WCAG 2), shared by the pages' checks.
CONTRAST_HELPERS_JS = r"""
    const parse = c => { const m = c.match(/[\d.]+/g) || ['0', '0', '0', '0'];
                         return m.map(Number).concat([1]).slice(0, 4); };
    const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255;
        return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); })
        .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
    const ratio = (a, b) => { const l1 = lum(a), l2 = lum(b);
                              return (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05); };
"""

READER_CHECKS_JS = r"""([phone, sourceOnly]) => {
    const vw = document.documentElement.clientWidth, vh = window.innerHeight;
    const shown = el => el.checkVisibility({visibilityProperty: true, opacityProperty: true});
    const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
        + (typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\s+/).slice(0, 3).join('.') : '');
    const article = document.querySelector('article.bd-article') || document.querySelector('main');

    // a search control in view when the page opens
    const search = Array.from(document.querySelectorAll('.search-button__button, form.bd-search input'))
        .filter(el => { if (!shown(el)) return false; const r = el.getBoundingClientRect();
            return r.width >= 24 && r.height >= 24 && r.top >= 0 && r.bottom <= vh
                && r.left >= 0 && r.right <= vw; })
        .map(name);

    // a box that scrolls sideways must say so (.reader-scrolls); code blocks are exempt
    const unmarked = [];
    for (const el of article.querySelectorAll('*')) {
        const s = getComputedStyle(el);
        if (s.overflowX !== 'auto' && s.overflowX !== 'scroll') continue;
        if (el.scrollWidth <= el.clientWidth + 1 || !shown(el)) continue;
        if (el.matches('pre') || el.closest('pre, div.highlight')
            || (el.querySelector('pre') && !el.querySelector('table, mjx-container'))) continue;
        if (el.classList.contains('reader-scrolls')) continue;
        if (unmarked.length < 6)
            unmarked.push(`${name(el)} (${el.scrollWidth} px in ${el.clientWidth} px): ${el.textContent.trim().slice(0, 50)}`);
    }

    // touch targets
    const small = [];
    if (phone) {
        const controls = document.querySelectorAll('button, input:not([type=hidden]), select, '
            + 'textarea, summary, [role="button"], .Quiz label.MCButton');
        for (const el of controls) {
            if (!shown(el) || el.matches('label.MCButton > input')) continue;   // its label counts
            let r = el.getBoundingClientRect();
            const label = el.closest('label') || (el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`));
            if (label && shown(label)) {
                const l = label.getBoundingClientRect();
                r = {width: Math.max(r.width, l.width), height: Math.max(r.height, l.height)};
            }
            if (r.width <= 2 && r.height <= 2) continue;   // visually hidden, its label is the target
            const big = el.closest('.Quiz, div.animation') ? 44 : 24;
            if ((r.width < big - 0.5 || r.height < big - 0.5) && small.length < 8)
                small.push(`${name(el)} ${el.getAttribute('aria-label') || el.textContent.trim().slice(0, 30)}: `
                           + `${Math.round(r.width)} x ${Math.round(r.height)} px (needs ${big})`);
        }
    }

    // quiz cards and slider panels: dark on the dark theme, their text at 4.5:1
""" + CONTRAST_HELPERS_JS + r"""    const paint = el => { for (let e = el; e; e = e.parentElement) {
        const c = parse(getComputedStyle(e).backgroundColor); if (c[3] > 0.5) return c; }
        return parse(getComputedStyle(document.body).backgroundColor); };
    const dark = document.documentElement.dataset.theme === 'dark';
    const panels = [];
    let panelCount = 0;
    if (dark) {
        for (const panel of article.querySelectorAll('.Quiz, div.animation')) {
            if (!shown(panel)) continue;
            panelCount++;
            const bg = paint(panel);
            if (lum(bg) > 0.2 && panels.length < 6)
                panels.push(`${name(panel)} stays light on the dark theme (luminance ${lum(bg).toFixed(2)})`);
            const parts = panel.querySelectorAll('label.MCButton, .InpLabel, .QuizCheck, .Feedback, .anim-buttons button, .anim-state label');
            for (const part of parts) {
                if (!shown(part) || !part.textContent.trim() && !part.querySelector('i, svg')) continue;
                const fg = parse(getComputedStyle(part.querySelector('i') || part).color);
                const r = ratio(fg, paint(part));
                if (r < 4.5 && panels.length < 6)
                    panels.push(`${name(part)} "${part.textContent.trim().slice(0, 30)}" in ${name(panel)}: ${r.toFixed(2)}:1`);
            }
        }
    }

    // code lines of up to 100 characters do not scroll at desktop width
    const scrollingCode = [];
    if (!phone) {
        for (const pre of article.querySelectorAll('pre')) {
            if (!shown(pre) || pre.scrollWidth <= pre.clientWidth + 1) continue;
            const longest = Math.max(...pre.textContent.split('\n').map(l => l.length));
            if (longest <= 100 && scrollingCode.length < 4)
                scrollingCode.push(`${longest}-character line scrolls: ${pre.textContent.trim().slice(0, 50)}`);
        }
    }

    const text = article.textContent;
    const leaked = sourceOnly.filter(t => text.includes(t));
    return {search, unmarked, small, panels, panelCount, scrollingCode, leaked};
}"""


def reader_checks(page, phone: bool) -> dict:
    """Run the shared checks in an open, typeset page (reader.js has laid it out)."""
    page.wait_for_timeout(300)   # reader.js marks the scrolling boxes 150 ms after MathJax
    page.evaluate("() => window.readerLayout && window.readerLayout()")
    return page.evaluate(READER_CHECKS_JS, [phone, SOURCE_ONLY])


# Elements of the article that a reader cannot see whole: wider than the screen, cut off by a box
# that hides its overflow, or sticking out of a coloured box (white text leaving its dark card),
# and not inside a box that scrolls sideways (and itself fits).
# Hidden helpers (clipped on purpose, MathJax's speech text) do not count.
OVERFLOW_JS = r"""() => {
    const vw = document.documentElement.clientWidth;
    const found = [];
    const page = document.documentElement.scrollWidth;
    if (page > vw + 1) found.push(`the page scrolls sideways: ${page}px wide on a ${vw}px screen`);
    const article = document.querySelector('article.bd-article') || document.querySelector('main');
    const within = (r, box) => r.right <= box.right + 1 && r.left >= box.left - 1;
    const screen = {left: 0, right: vw};
    const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
        + (typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\s+/).slice(0, 3).join('.') : '');
    const reported = [];
    // what the walk up from each element reads of a box, read once per box (boxes are shared by
    // thousands of elements: a formula's glyphs, a code block's tokens)
    const boxes = new Map();
    const boxFacts = box => {
        let facts = boxes.get(box);
        if (!facts) {
            const s = getComputedStyle(box);
            const paint = (s.backgroundColor.match(/[\d.]+/g) || []).map(Number);
            facts = {overflowX: s.overflowX, rect: box.getBoundingClientRect(),
                     painted: paint.length > 0 && (paint.length < 4 || paint[3] > 0.5)};
            boxes.set(box, facts);
        }
        return facts;
    };
    for (const el of article.querySelectorAll('*')) {
        const r = el.getBoundingClientRect();
        if (r.width === 0 || r.height === 0) continue;
        if (el.closest('mjx-assistive-mml')) continue;
        if (reported.some(p => p.contains(el))) continue;
        let problem = null, shown = r;   // shown: the part that must fit further out
        for (let box = el.parentElement; box && box !== document.body; box = box.parentElement) {
            const {overflowX, rect: b, painted} = boxFacts(box);
            if (overflowX === 'auto' || overflowX === 'scroll') { shown = b; continue; }
            if ((overflowX === 'hidden' || overflowX === 'clip') && !within(shown, b)) {
                problem = `cut off by ${name(box)} (${Math.round(b.left)}..${Math.round(b.right)}px)`;
                break;
            }
            if (painted && !within(shown, b)) {
                problem = `sticks out of ${name(box)} (${Math.round(b.left)}..${Math.round(b.right)}px), off its background`;
                break;
            }
            if (box === article) {
                if (!within(shown, screen)) problem = 'wider than the screen';
                break;
            }
        }
        if (!problem) continue;
        const style = getComputedStyle(el);
        if (style.visibility === 'hidden' || style.position === 'fixed'
            || (style.clip && style.clip !== 'auto') || style.clipPath !== 'none') continue;
        reported.push(el);
        found.push(`${name(el)} spans ${Math.round(r.left)}..${Math.round(r.right)}px, ${problem}: `
                   + el.textContent.trim().slice(0, 60));
        if (found.length >= 6) break;
    }
    return found;
}"""


# Share of pixels that are not fully opaque, for every image in the article, drawn on a canvas.
TRANSPARENCY_JS = r"""async () => {
    const article = document.querySelector('article.bd-article') || document.querySelector('main');
    const out = [];
    for (const img of article.querySelectorAll('img')) {
        if (!img.complete || img.naturalWidth === 0) continue;
        const scale = Math.min(1, 300 / img.naturalWidth);
        const w = Math.max(1, Math.round(img.naturalWidth * scale));
        const h = Math.max(1, Math.round(img.naturalHeight * scale));
        const canvas = document.createElement('canvas');
        canvas.width = w; canvas.height = h;
        const ctx = canvas.getContext('2d');
        ctx.drawImage(img, 0, 0, w, h);
        const data = ctx.getImageData(0, 0, w, h).data;
        let clear = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] < 250) clear++;
        out.push({src: (img.getAttribute('src') || '').slice(0, 90), clear: clear / (w * h)});
    }
    return out;
}"""

# Contrast in the article, computed from the styles (fast enough for long pages; axe-core checks
# the light theme on the desktop visit). Text needs 4.5:1 (3:1 when large); the icon or label of
# a button needs 3:1 against the button (WCAG 1.4.3 and 1.4.11). Code blocks are left out (every
# token kind is checked in both themes by test_pages.py::test_every_code_token_kind_is_legible),
# as is text over a picture.
DARK_CONTRAST_JS = r"""() => {
""" + CONTRAST_HELPERS_JS + r"""    const background = el => {       // null when the text sits on a picture
        for (let e = el; e; e = e.parentElement) {
            const s = getComputedStyle(e);
            if (s.backgroundImage !== 'none') return null;
            const c = parse(s.backgroundColor);
            if (c[3] > 0.5) return c;
        }
        return parse(getComputedStyle(document.body).backgroundColor);
    };
    const name = el => el.tagName.toLowerCase()
        + (typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\s+/).slice(0, 2).join('.') : '');
    const article = document.querySelector('article.bd-article') || document.querySelector('main');
    const text = [], controls = [];
    for (const el of article.querySelectorAll('*')) {
        if (el.closest('pre, .highlight, mjx-container, svg, script, style')) continue;
        const own = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
        if (!own || !el.checkVisibility({visibilityProperty: true, opacityProperty: true})) continue;
        const bg = background(el);
        if (!bg) continue;
        const s = getComputedStyle(el);
        const size = parseFloat(s.fontSize), bold = parseInt(s.fontWeight, 10) >= 700;
        const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
        const r = ratio(parse(s.color), bg);
        if (r < need && text.length < 6)
            text.push(`${name(el)} "${el.textContent.trim().slice(0, 40)}": ${r.toFixed(2)}:1`);
    }
    for (const button of article.querySelectorAll('button, label.MCButton')) {
        if (!button.checkVisibility()) continue;
        const bg = background(button);
        if (!bg) continue;
        const fg = parse(getComputedStyle(button.querySelector('i, span, svg') || button).color);
        const r = ratio(fg, bg);
        if (r < 3) controls.push(`${button.getAttribute('aria-label') || button.textContent.trim().slice(0, 40)}: ${r.toFixed(2)}:1`);
    }
    return {text, controls};
}"""

# Figures (their drawn and natural shapes, where they sit in the column, the text size they record)
# and display equations (whether they scroll, say so, keep their number clear)
LAYOUT_JS = r"""() => {
    const article = document.querySelector('article.bd-article');
    const column = article.getBoundingClientRect();
    const figures = [];
    for (const img of article.querySelectorAll('img')) {
        if (!img.complete || img.naturalWidth === 0 || img.clientWidth === 0) continue;
        const r = img.getBoundingClientRect(), s = getComputedStyle(img);
        // the picture's own box: the dark theme pads figures with a white frame
        const across = ['Left', 'Right'].reduce((t, side) => t + parseFloat(s['padding' + side])
                                                  + parseFloat(s['border' + side + 'Width']), 0);
        const down = ['Top', 'Bottom'].reduce((t, side) => t + parseFloat(s['padding' + side])
                                                + parseFloat(s['border' + side + 'Width']), 0);
        figures.push({src: (img.getAttribute('alt') || img.getAttribute('src') || '').slice(0, 60),
                      url: img.currentSrc || img.src || '',
                      record: img.getAttribute('data-nflib-text-size'),
                      naturalWidth: img.naturalWidth,
                      natural: img.naturalWidth / img.naturalHeight,
                      shown: (r.width - across) / (r.height - down), width: r.width,
                      drawnWidth: r.width - across,
                      left: r.left - column.left, right: column.right - r.right});
    }
    const equations = [];
    for (const box of article.querySelectorAll('div.math > mjx-container[display="true"]')) {
        const r = box.getBoundingClientRect();
        if (r.width === 0) continue;
        const number = box.parentElement.querySelector(':scope > .eqno');
        const n = number ? number.getBoundingClientRect() : null;
        equations.push({text: (number ? number.textContent.replace('#', '') + ' ' : '')
                              + box.textContent.slice(0, 40),
                        scrolls: box.scrollWidth > box.clientWidth + 1,
                        marked: box.classList.contains('reader-scrolls'),
                        focusable: box.getAttribute('tabindex') === '0',
                        numberOverlaps: n ? n.left < r.right - 1 && n.right > r.left + 1 : false,
                        outside: r.right > column.right + 1 || r.left < column.left - 1});
    }
    return {figures, equations};
}"""


def layout_facts(page) -> dict:
    """The figures and display equations of an open, typeset page (``LAYOUT_JS``)."""
    page.wait_for_timeout(300)   # reader.js lays the equations out after MathJax
    return page.evaluate(LAYOUT_JS)
