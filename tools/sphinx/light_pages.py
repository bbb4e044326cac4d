"""Keep the built pages light: figures and slider frames loaded on demand, one icon font.

* A kernel-free slider (``nflib.course.viz.scrubber``: matplotlib's ``to_jshtml``) holds every
  frame as a base64 PNG inside the page's HTML, so a reader downloads all the frames of all the
  sliders before reading a line. When the site is written, each frame becomes a file,
  ``_images/frames/<content hash>.png``, and the animation's script names it by a relative URL
  (the site keeps working offline and from any folder). The first frame is the ``src`` of the
  slider's image (loaded lazily, like the other figures); the animation shows a frame when it is
  asked for it, and fetches all its frames as soon as the reader points at, touches or tabs into
  the slider, so scrubbing stays smooth.
* Every image of a page's article is loaded lazily (``loading="lazy"``): the browser fetches a
  figure when the reader scrolls near it, so opening a page costs its text and the figures in
  view.
* The theme loads Font Awesome twice: as a web font through its stylesheet and as
  ``scripts/fontawesome.js``, which redraws every icon as SVG (about 0.5 MB gzipped on every
  page). The web font draws every icon of the site (header, download and launch menus, slider
  buttons), so the script is left out of the pages and of the site.

The rewriting is done on the written HTML files (``build-finished``) by :func:`process_site`,
which is idempotent: run again on a site already processed, it changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from pathlib import Path

FRAMES_DIR = "_images/frames"

# frames[k] = "data:image/png;base64,...\<newline>..."; (to_jshtml breaks the text with "\")
FRAME = re.compile(r'(frames\[(\d+)\]\s*=\s*)"data:image/(png|jpeg|gif);base64,([A-Za-z0-9+/=\\\r\n]+)"')
# the animation's constructor makes an Image (a download) of every frame at once
PRELOAD = re.compile(r"for \(var i=0; i<frames\.length; i\+\+\)\s*\{\s*this\.frames\[i\] = new Image\(\);"
                     r"\s*this\.frames\[i\]\.src = frames\[i\];\s*\}")
ON_DEMAND = """for (var i=0; i<frames.length; i++)
    {
     this.frames[i] = {src: frames[i]};  // downloaded when shown
    }
    (function (anim) {  // every frame, once the reader reaches for the slider
      var img = document.getElementById(img_id);
      var box = (img && img.closest('.animation')) || img;
      if (!box) { return; }
      var fetched = false;
      function fetchAll() {
        if (fetched) { return; }
        fetched = true;
        anim.frames.forEach(function (f) { f.image = new Image(); f.image.src = f.src; });
      }
      ['pointerenter', 'touchstart', 'focusin'].forEach(function (kind) {
        box.addEventListener(kind, fetchAll, {passive: true});
      });
    })(this);"""
ANIM_IMG = re.compile(r'<img id="(_anim_img[0-9a-f]+)"(?![^>]*\ssrc=)')
INSTANCE = re.compile(r'var img_id = "(_anim_img[0-9a-f]+)";')
EAGER_IMG = re.compile(r"<img (?![^>]*\bloading=)")
FONTAWESOME_JS = re.compile(r'[ \t]*<script[^>]*src="[^"]*_static/scripts/fontawesome\.js[^"]*"[^>]*>'
                            r'\s*</script>[ \t]*\n?')
FONTAWESOME_FILES = ("fontawesome.js", "fontawesome.js.map", "fontawesome.js.LICENSE.txt")


def _frame_file(html_root: Path, kind: str, data: str) -> str:
    """Write one frame's bytes under _images/frames (named by their hash); its site path."""
    raw = base64.b64decode(data.replace("\\", "").replace("\n", "").replace("\r", ""), validate=True)
    ext = {"jpeg": "jpg"}.get(kind, kind)
    name = f"{FRAMES_DIR}/{hashlib.sha256(raw).hexdigest()[:20]}.{ext}"
    target = html_root / name
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(raw)
    return name


def externalize_frames(text: str, html_root: Path, page: Path) -> str:
    """The page's HTML with its animations' frames moved into files and loaded on demand."""
    if "frames[" not in text:
        return text
    prefix = os.path.relpath(html_root, page.parent).replace(os.sep, "/")
    prefix = "" if prefix == "." else prefix + "/"
    first = {}  # animation's img id -> URL of its first frame
    pieces, last = [], 0
    for instance in INSTANCE.finditer(text):
        # the frames of this animation follow its ids, up to the end of its script
        end = text.find("</script>", instance.end())
        end = len(text) if end < 0 else end
        pieces.append(text[last:instance.start()])
        block = text[instance.start():end]
        img_id = instance.group(1)

        def move(match, img_id=img_id):
            try:
                url = prefix + _frame_file(html_root, match.group(3), match.group(4))
            except (binascii.Error, ValueError):
                return match.group(0)
            if match.group(2) == "0":
                first[img_id] = url
            return f'{match.group(1)}"{url}"'

        pieces.append(FRAME.sub(move, block))
        last = end
    pieces.append(text[last:])
    text = "".join(pieces)
    text = PRELOAD.sub(lambda m: ON_DEMAND, text)
    # the first frame is in the page from the start (and in print), loaded like other figures
    return ANIM_IMG.sub(lambda m: (f'<img id="{m.group(1)}" src="{first[m.group(1)]}" loading="lazy"'
                                   if m.group(1) in first else m.group(0)), text)


def lazy_images(text: str) -> str:
    """Images of the page's article load when near the view (the header's, in closed menus, as
    usual: a lazy image in a hidden menu would never load)."""
    start, end = text.find("<article"), text.rfind("</article>")
    if start < 0 or end < start:
        return text
    return text[:start] + EAGER_IMG.sub('<img loading="lazy" ', text[start:end]) + text[end:]


def drop_fontawesome_js(text: str) -> str:
    return FONTAWESOME_JS.sub("", text)


def process_site(html_root) -> dict:
    """Rewrite every page of the built site in ``html_root``; return counts of what changed."""
    html_root = Path(html_root)
    counts = {"pages": 0, "frames": 0}
    for page in html_root.rglob("*.html"):
        if any(part.startswith("_") for part in page.relative_to(html_root).parts[:-1]):
            continue  # _static, _sources, _images: not pages
        text = page.read_text(encoding="utf-8")
        new = lazy_images(drop_fontawesome_js(externalize_frames(text, html_root, page)))
        if new != text:
            counts["pages"] += 1
            counts["frames"] += len(FRAME.findall(text))
            page.write_text(new, encoding="utf-8")
    for name in FONTAWESOME_FILES:
        (html_root / "_static" / "scripts" / name).unlink(missing_ok=True)
    return counts


def _build_finished(app, exception):
    if exception is None and app.builder.format == "html":
        process_site(app.outdir)


def setup(app):
    app.connect("build-finished", _build_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
