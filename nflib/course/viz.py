"""Figures for the book: one house style, and interactive figures that work without a kernel.

* ``use_book_style()`` sets matplotlib defaults: an opaque white figure background (legible on
  the site's light and dark themes), the viridis colour map (colour-blind safe), labelled grids,
  and high-density (2x) PNG output in notebooks. Each figure's PNG records, under the text key
  ``TEXT_SIZE_KEY``, the size of its smallest text in points and the PNG's pixels per inch, so a
  test can compute how large that text is drawn at any width: a figure drawn R CSS px wide from
  a PNG W px wide at D px per inch shows text of p points at p * D * R / (72 * W) CSS px (a
  scrubber's frame image records the figure's width in inches, w: p * R / (72 * w)).
* ``scrubber(fig, update, n_frames, ...)`` turns a function that redraws a figure for frame ``k``
  into an HTML animation the reader can scrub with a slider on the static site, with frames
  rendered at twice the figure's resolution. It is
  matplotlib's ``to_jshtml`` with the Font Awesome link to a CDN removed (the site's own icon
  font draws the buttons) and accessible names added to the slider and the frame image. The
  notebook keeps the frames inside the animation; on the built site they become image files
  that are fetched when the reader uses the slider (``tools/sphinx/light_pages.py``).

matplotlib is imported lazily, so ``import nflib`` needs only numpy and scipy.
"""

from __future__ import annotations

import re

__all__ = ["use_book_style", "scrubber", "smallest_text_pt", "BOOK_CMAP", "COLORS",
           "TEXT_SIZE_KEY"]

#: the PNG text chunk (and, for scrubbers, the ``data-`` attribute) recording a figure's text size
TEXT_SIZE_KEY = "nflib-text-size"

BOOK_CMAP = "viridis"
#: colour-blind-safe qualitative colours (Okabe-Ito)
COLORS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]


def use_book_style(dpi: int = 100) -> None:
    """Set the book's matplotlib defaults (opaque background, viridis, 2x PNG in notebooks)."""
    import matplotlib as mpl
    from cycler import cycler

    mpl.rcParams.update({
        "figure.facecolor": "white",
        "axes.facecolor": "white",
        "savefig.facecolor": "white",
        "savefig.transparent": False,
        "image.cmap": BOOK_CMAP,
        "axes.prop_cycle": cycler(color=COLORS),
        "axes.grid": True,
        "grid.alpha": 0.3,
        "figure.dpi": dpi,
        "font.size": 11,
        "animation.embed_limit": 40.0,
    })
    try:  # crisp figures on high-density screens
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("retina")
    except ImportError:  # pragma: no cover - only outside IPython
        return
    _record_text_size_in_pngs()


def _visible_texts(artist):
    """The non-empty texts the figure draws (an axes switched off draws no tick labels)."""
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis
    from matplotlib.text import Text

    if not artist.get_visible():
        return
    if isinstance(artist, Text) and artist.get_text().strip():
        yield artist
    for child in artist.get_children():
        if isinstance(artist, Axes) and not artist.axison and isinstance(child, Axis):
            continue
        yield from _visible_texts(child)


def smallest_text_pt(fig) -> float | None:
    """The smallest font size, in points, of any text the figure draws (titles, axis and tick
    labels, legends, annotations, colour bars); None for a figure without text."""
    fig.draw_without_rendering()  # lays out ticks and legends without drawing pixels
    sizes = [text.get_fontsize() for text in _visible_texts(fig)]
    return float(min(sizes)) if sizes else None


def _text_size_record(fig, **extra) -> str:
    import json

    return json.dumps({"min_font_pt": smallest_text_pt(fig), **extra})


def _retina_png_with_text_size(fig):
    """IPython's 2x PNG of ``fig``, with the text-size record in a PNG text chunk."""
    from IPython.core.pylabtools import retina_figure

    record = _text_size_record(fig, dpi=2.0 * fig.dpi)  # PNG pixels per figure inch
    return retina_figure(fig, base64=True, metadata={TEXT_SIZE_KEY: record})


def _record_text_size_in_pngs() -> None:
    from IPython import get_ipython
    from matplotlib.figure import Figure

    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["image/png"].for_type(Figure,
                                                                 _retina_png_with_text_size)


_NARROW_SCREEN_STYLE = (
    "<style>.animation{max-width:100%}.animation img{max-width:100%;height:auto}"
    ".anim-buttons{display:flex;flex-wrap:wrap}.anim-state{flex-wrap:wrap}</style>")

_FONT_AWESOME_LINK = re.compile(r"<link[^>]*font-awesome[^>]*>", re.IGNORECASE | re.DOTALL)


def _make_offline_and_accessible(html: str, label: str) -> str:
    """Remove the CDN stylesheet link and name the slider and frame image for screen readers."""
    html = _FONT_AWESOME_LINK.sub("", html)
    html = re.sub(r'(<input id="_anim_slider[^"]*" type="range")',
                  rf'\1 aria-label="{label}: frame"', html)
    html = re.sub(r'(<img id="_anim_img[^"]*")', rf'\1 alt="{label}"', html)
    # the loop-mode radio buttons have visible labels; give their group a name as well
    html = html.replace('<form action="#n" name="',
                        f'<form aria-label="{label}: playback mode" action="#n" name="')
    # on a phone the row of buttons wraps instead of running off the screen
    return _NARROW_SCREEN_STYLE + html


def scrubber(fig, update, n_frames: int, label: str, interval: int = 200, mode: str = "once"):
    """Return an ``IPython.display.HTML`` animation of ``fig`` with ``n_frames`` frames.

    ``update(k)`` redraws the figure for frame ``k`` (it may return the changed artists).
    ``label`` describes the figure (used as alt text). The figure is closed afterwards so the
    notebook does not show a second, static copy.
    """
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation
    from IPython.display import HTML

    if n_frames < 1:
        raise ValueError(f"n_frames must be at least 1; got {n_frames}")
    animation = FuncAnimation(fig, update, frames=n_frames, interval=interval, blit=False)
    # Saving a frame renders the figure; the animation's own redraw after each update would
    # render it a second time for nothing, so it is switched off while the frames are saved.
    redraw = fig.canvas.draw_idle
    fig.canvas.draw_idle = lambda *args, **kwargs: None
    width = round(fig.get_figwidth() * fig.dpi)
    try:
        # frames at twice the figure's resolution, shown at its size: crisp on 2x screens
        with plt.rc_context({"savefig.dpi": 2 * fig.dpi}):
            html = animation.to_jshtml(default_mode=mode)
    finally:
        fig.canvas.draw_idle = redraw
    record = _text_size_record(fig, width_in=fig.get_figwidth()).replace('"', "&quot;")
    plt.close(fig)
    # frames fill the figure (no tight cropping): the img is the figure's width at fig.dpi
    html = re.sub(r'(<img id="_anim_img[^"]*")', rf'\1 width="{width}" data-{TEXT_SIZE_KEY}="{record}"',
                  html)
    return HTML(_make_offline_and_accessible(html, label))
