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
