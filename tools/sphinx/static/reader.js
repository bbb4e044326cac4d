/* How readers meet the pages (checked by tests/browser):
 *
 * - a display equation slightly wider than the column is scaled down to fit; one that still
 *   does not fit (on a phone) scrolls inside its own box, says so, and can be scrolled with the
 *   keyboard;
 * - every box that scrolls sideways (tables, long formulas, inline ones and those in quiz
 *   feedback) can be reached with the Tab key and shows that it scrolls (.reader-scrolls: a shadow
 *   at the hidden side; tables also get a hint);
 * - a tap on a link in the phone's table-of-contents drawer closes the drawer;
 * - search results quote the page's prose, not its table of contents, code or outputs;
 * - "select all that apply" quiz choices are check boxes, not radio buttons, for screen readers;
 * - before printing (and before tools/make_pdf.py prints a page) every solution, dropdown and
 *   hidden cell is opened.
 */
(function () {
  "use strict";

  var SMALLEST_SCALE = 0.8;   // below this a formula is too small to read: it scrolls instead

  function article() {
    return document.querySelector("article.bd-article") || document.querySelector("main");
  }

  function fitEquations() {
    var root = article();
    if (!root) { return; }
    root.querySelectorAll('div.math > mjx-container[display="true"]').forEach(function (box) {
      box.style.fontSize = "";
      box.classList.remove("reader-scrolls");
      var hint = box.parentElement.querySelector(":scope > .reader-scroll-hint");
      if (hint) { hint.remove(); }
      var math = box.querySelector("mjx-math");
      if (!math) { return; }
      var needed = math.getBoundingClientRect().width;
      var available = box.clientWidth - 2;
      if (needed > available && available > 0) {
        var scale = available / needed;
        if (scale >= SMALLEST_SCALE) {
          var size = parseFloat(getComputedStyle(box).fontSize);
          box.style.fontSize = (size * scale * 0.995).toFixed(2) + "px";
        }
      }
      if (box.scrollWidth > box.clientWidth + 1) {
        box.classList.add("reader-scrolls");
        var note = document.createElement("span");
        note.className = "reader-scroll-hint";
        note.setAttribute("aria-hidden", "true");
        note.textContent = "scroll the formula sideways \u2194";
        box.parentElement.appendChild(note);
      }
    });
  }

  // a table box that scrolls says so above the table
  function tableHint(box, scrolls) {
    var hint = box.previousElementSibling;
    var has = hint && hint.classList.contains("reader-table-hint");
    if (scrolls && !has && box.querySelector("table")) {
      var note = document.createElement("span");
      note.className = "reader-table-hint";
      note.setAttribute("aria-hidden", "true");
      note.textContent = "scroll the table sideways \u2194";
      box.parentElement.insertBefore(note, box);
    } else if (!scrolls && has) {
      hint.remove();
    }
  }

  // a box the reader scrolls sideways must take keyboard focus (WCAG 2.1.1) and show that it
  // scrolls (display equations are marked by fitEquations)
  function focusableScrollBoxes() {
    var root = article();
    if (!root) { return; }
    root.querySelectorAll("div, mjx-container, span.math").forEach(function (el) {
      var style = getComputedStyle(el);
      var scrolls = (style.overflowX === "auto" || style.overflowX === "scroll")
        && el.scrollWidth > el.clientWidth + 1;
      var display = el.tagName === "MJX-CONTAINER" && el.getAttribute("display") === "true"
        && el.parentElement && el.parentElement.matches("div.math");
      if (!display && !el.closest("pre, .highlight")) {
        el.classList.toggle("reader-scrolls", scrolls);
        if (el.tagName === "DIV") { tableHint(el, scrolls); }
      }
      if (!scrolls) {
        if (el.dataset.readerScroll) {
          el.removeAttribute("tabindex");
          delete el.dataset.readerScroll;
        }
        return;
      }
      if (el.hasAttribute("tabindex") && !el.dataset.readerScroll) { return; }
      el.setAttribute("tabindex", "0");
      el.dataset.readerScroll = "1";
      if (el.tagName === "DIV" && !el.hasAttribute("role")) {
        el.setAttribute("role", "region");
        el.setAttribute("aria-label", el.querySelector("table")
          ? "Table (scrolls sideways)" : "Scrolling content");
      }
    });
  }

  // jupyterquiz draws "select all that apply" choices as radio buttons: a screen reader then
  // announces that only one may be chosen. They are check boxes.
  function quizCheckboxes() {
    document.querySelectorAll(".ManyChoiceQn input[type=radio]").forEach(function (input) {
      input.type = "checkbox";
      input.removeAttribute("name");
    });
  }

  function layout() {
    quizCheckboxes();
    fitEquations();
    focusableScrollBoxes();
  }

  function whenTypeset(callback) {
    var mj = window.MathJax;
    if (mj && mj.startup && mj.startup.promise) {
      mj.startup.promise.then(callback, callback);
    } else {
      callback();
    }
  }

  var pending = null;
  function relayout() {
    if (pending) { clearTimeout(pending); }
    pending = setTimeout(function () { pending = null; whenTypeset(layout); }, 150);
  }

  // a tap on a link in the table-of-contents drawer (a modal dialog on phones) closes the drawer,
  // then shows the place the link points to on this page
  function closeDrawerOnLink(event) {
    var link = event.target.closest && event.target.closest("a[href]");
    var drawer = link && link.closest("dialog[open]");
    if (!drawer || !/sidebar-modal/.test(drawer.id)) { return; }
    var url = new URL(link.href, location.href);
    drawer.close();
    if (url.pathname === location.pathname && url.hash) {
      var target = document.getElementById(decodeURIComponent(url.hash.slice(1)));
      if (target) { setTimeout(function () { target.scrollIntoView(); }, 0); }
    }
  }
  document.addEventListener("click", closeDrawerOnLink);

  // quiz feedback is typeset after a choice: mark its formulas that scroll once it is shown
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest(".Quiz")) { setTimeout(relayout, 300); }
  });
  document.addEventListener("keyup", function (event) {
    if (event.key === "Enter" && event.target.closest && event.target.closest(".Quiz")) {
      setTimeout(relayout, 300);
    }
  });

  // the text search results quote: the page's prose, without its table of contents, navigation,
  // code, outputs, quizzes or the printed answer key
  var NOT_PROSE = ".headerlink, script, style, nav, .bd-sidebar-secondary, .bd-header-article, "
    + ".bd-toc, .prev-next-area, footer, pre, .highlight, .cell_input, .cell_output, .output, "
    + ".Quiz, .reader-answer-key, .toctree-wrapper";
  function proseText(htmlString, anchor) {
    var doc = new DOMParser().parseFromString(htmlString, "text/html");
    doc.querySelectorAll(NOT_PROSE).forEach(function (el) { el.remove(); });
    var main = doc.querySelector("article.bd-article") || doc.querySelector('[role="main"]');
    if (!main) { return ""; }
    if (anchor) {
      var part = main.querySelector(anchor);
      if (part) { return part.textContent; }
    }
    return main.textContent;
  }

  // search results quote the page's text: show formulas without their TeX delimiters and commands
  function plainSearchSummaries() {
    if (typeof Search === "undefined" || !Search.makeSearchSummary || Search.readerPlain) { return; }
    if (Search.htmlToText) { Search.htmlToText = proseText; }
    var original = Search.makeSearchSummary;
    Search.makeSearchSummary = function () {
      var summary = original.apply(this, arguments);
      if (summary && summary.textContent) {
        summary.textContent = summary.textContent
          .replace(/\\[()\[\]]/g, "")
          .replace(/\\(?:mathrm|mathbf|operatorname|text|left|right|lvert|rvert|,|;|!)/g, "")
          .replace(/\\([a-zA-Z]+)/g, "$1");
      }
      return summary;
    };
    Search.readerPlain = true;
  }
  plainSearchSummaries();
  document.addEventListener("DOMContentLoaded", plainSearchSummaries);

  window.readerLayout = layout;
  // each quiz's answer key (written at the page's end, hidden on screen) goes right after its quiz
  function answerKeysAfterQuizzes() {
    var article = document.querySelector("article.bd-article") || document.body;
    var quizzes = Array.prototype.filter.call(article.querySelectorAll("div.cell"), function (cell) {
      return cell.querySelector('.Quiz, [id^="quiz_"]');
    });
    article.querySelectorAll(".reader-answer-key").forEach(function (key, i) {
      if (quizzes[i]) quizzes[i].after(key);
    });
  }

  window.readerPrepareForPrint = function () {
    answerKeysAfterQuizzes();
    document.querySelectorAll("details").forEach(function (d) { d.open = true; });
    document.querySelectorAll(".toggle-hidden").forEach(function (el) {
      el.classList.remove("toggle-hidden");
    });
    document.querySelectorAll(".toggle-button-hidden").forEach(function (el) {
      el.classList.remove("toggle-button-hidden");
      el.setAttribute("aria-expanded", "true");
    });
    layout();
  };

  window.addEventListener("beforeprint", window.readerPrepareForPrint);
  window.addEventListener("resize", relayout);
  if (document.readyState === "complete") { whenTypeset(layout); }
  else { window.addEventListener("load", function () { whenTypeset(layout); setTimeout(relayout, 1200); }); }
})();
