"""The book's figure style: one palette, the page width, and the helpers every figure module shares.

The style (:data:`BOOK_STYLE`) is applied by :func:`book_style`, a context that every public plotting function of
:mod:`semiformer_lib.viz` enters through the :func:`styled` decorator, so importing the library changes no
matplotlib setting of the user's. Colours: ViT red, CNN teal, ViTs given a spatial prior purple (chapter 2),
Semiformer gold from chapter 3 on; a Semiformer's conv head is teal and its transformer head red, like the
families they come from.
"""
from __future__ import annotations

import functools
import textwrap
import warnings
from contextlib import contextmanager

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

PALETTE = {"vit": "#c8553d", "cnn": "#2a7f8f", "semiformer": "#e0a526", "prior": "#7b5ea7", "other": "#6c6c6c"}
PRIOR_SUFFIXES = ("_convstem", "_relpos", "_nopos")
DPI = 90
BOOK_STYLE = {"figure.dpi": DPI, "axes.spines.top": False, "axes.spines.right": False,
              "axes.grid": True, "grid.alpha": 0.3, "font.size": 10}
# The book's text column is about 690 px wide; at DPI 90 that is 7.6 inches. A wider figure is shrunk by the
# browser, text and all, so every figure is drawn at most this wide and its text keeps the book's size.
PAGE_WIDTH = 7.6
TITLE_CHARACTERS = 80         # a page-wide axes title longer than this is wrapped (about 7 px a character at 11 pt)
# The parts of a Semiformer (chapter 3) and its heads (chapters 3 and 6).
PART_COLORS = {"conv": PALETTE["cnn"], "transformer": PALETTE["vit"], "fusion": PALETTE["semiformer"],
               "summed": PALETTE["semiformer"]}


@contextmanager
def book_style():
    """Draw inside the block with the book's matplotlib settings; the caller's settings come back afterwards.
    A figure keeps what it was drawn with (dpi, spines, grid, text sizes), also when shown after the block."""
    with plt.rc_context(BOOK_STYLE):
        yield


class FigureProblem(ValueError):
    """A figure the library drew is hard to read (:func:`figure_problems` says why); raised in ``"raise"`` mode."""


class FigureWarning(UserWarning):
    """A figure the library drew is hard to read; warned in ``"warn"`` mode (the default)."""


FIGURE_CHECK_MODES = ("raise", "warn", "off")
_figure_check = {"mode": "warn"}


def set_figure_check(mode: str) -> None:
    """What every public plotting function does when its figure has a :func:`figure_problems` finding: ``"warn"``
    (the default, a :class:`FigureWarning`), ``"raise"`` (a :class:`FigureProblem`; the book's chapters use it, so
    that a figure that stops being legible fails the chapter under nbval) or ``"off"``."""
    if mode not in FIGURE_CHECK_MODES:
        raise ValueError(f"figure check mode {mode!r}: choose one of {', '.join(FIGURE_CHECK_MODES)}")
    _figure_check["mode"] = mode


def check_figure(fig, name: str = "figure") -> None:
    """Apply the figure check (see :func:`set_figure_check`) to ``fig``, drawn by the function ``name``."""
    if _figure_check["mode"] == "off":
        return
    problems = figure_problems(fig)
    if not problems:
        return
    message = f"{name} drew a figure that is hard to read: " + "; ".join(problems)
    if _figure_check["mode"] == "raise":
        raise FigureProblem(message)
    warnings.warn(message, FigureWarning, stacklevel=3)


def styled(plot):
    """Decorate a plotting function so that it draws inside :func:`book_style` and its figure passes the figure
    check (:func:`check_figure`): every figure the chapters draw is checked where it is drawn."""
    @functools.wraps(plot)
    def draw(*args, **kwargs):
        with book_style():
            drawn = plot(*args, **kwargs)
            fig = drawn if isinstance(drawn, Figure) else getattr(drawn, "figure", None)
            if isinstance(fig, Figure):
                check_figure(fig, plot.__name__)
        return drawn
    return draw


def _fit_to_page(fig) -> None:
    """Shrink a figure wider than the page to the page width (height by the same factor, at most by a fifth)."""
    width, height = fig.get_size_inches()
    if width > PAGE_WIDTH:
        fig.set_size_inches(PAGE_WIDTH, height * max(PAGE_WIDTH / width, 0.8))


def _wrap(label: str, width: int) -> str:
    """``label`` broken into lines of at most ``width`` characters, keeping the line breaks it already has: tick
    labels and panel titles that would otherwise run into their neighbours on a page-wide figure."""
    return "\n".join(textwrap.fill(line, width) or line for line in label.split("\n"))


def _finish(fig, rect=None):
    """Fit ``fig`` to the page width, lay it out (inside ``rect`` of the figure, when given) and detach it from
    pyplot, so a notebook shows it once: as the cell's returned value."""
    _fit_to_page(fig)
    fig.tight_layout(rect=rect)
    plt.close(fig)
    return fig


def model_color(model_name: str) -> str:
    """The book's colour for a model family, from its name (``vit_mini_patch7`` → ViT red; a ViT with a
    spatial prior, ``vit_mini_patch4_convstem``, → purple)."""
    if model_name.startswith("vit") and any(suffix in model_name for suffix in PRIOR_SUFFIXES):
        return PALETTE["prior"]
    for family, color in PALETTE.items():
        if model_name.startswith(family):
            return color
    return PALETTE["other"]


def _family_label(model_name: str) -> str:
    return model_name.split("_")[0].upper().replace("SEMIFORMER", "Semiformer") + f" ({model_name})"


# --- what makes a figure hard to read (checked by `styled` on every figure a plotting function draws) -------------
MIN_TEXT_POINTS = 8.0        # the smallest text a figure may show, in points as drawn on the page


def figure_problems(fig) -> list[str]:
    """What makes ``fig`` hard to read on the book's page, one sentence each (empty: nothing):

    * text smaller than :data:`MIN_TEXT_POINTS` once the figure is shown at most :data:`PAGE_WIDTH` wide, or text
      running off the figure's edge;
    * text lying on an image of another axes (a row label over a picture; an axes' own annotations, such as the
      numbers in a heat map's cells, are meant to sit on it);
    * two labelled series of one axes that look the same: lines of one colour, line style and marker, or bars of
      one colour and hatch;
    * titles of two panels that overlap (long titles side by side).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import to_hex
    from matplotlib.container import BarContainer

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)  # a closed figure's
    canvas.draw()                                                                              # canvas cannot draw
    renderer = canvas.get_renderer()
    scale = min(1.0, PAGE_WIDTH / fig.get_size_inches()[0])
    boxes = {t: t.get_window_extent(renderer) for t in _drawn_texts(fig) if t.get_visible() and t.get_text().strip()}
    boxes = {t: box for t, box in boxes.items() if box.width > 0}
    problems = [f"text {t.get_text()!r} is {t.get_fontsize() * scale:.1f} pt on the page (at least "
                f"{MIN_TEXT_POINTS:g})" for t in boxes if t.get_fontsize() * scale < MIN_TEXT_POINTS - 1e-6]
    page = fig.bbox.padded(2)
    problems += [f"text {t.get_text()!r} runs off the figure" for t, box in boxes.items()
                 if not (page.contains(*box.p0) and page.contains(*box.p1))]
    for ax in fig.axes:
        for image in (image for image in ax.images if image.get_visible()):
            area = image.get_window_extent(renderer)
            for t, box in boxes.items():
                if t in ax.texts:
                    continue
                overlap_w = min(box.x1, area.x1) - max(box.x0, area.x0)
                overlap_h = min(box.y1, area.y1) - max(box.y0, area.y0)
                if overlap_w > 1 and overlap_h > 1:
                    problems.append(f"text {t.get_text()!r} lies on an image")
        looks = {}
        for line in ax.get_lines():
            if not line.get_label().startswith("_") and line.get_visible():
                looks.setdefault(("line", to_hex(line.get_color()), str(line.get_linestyle()),
                                  str(line.get_marker())), []).append(line.get_label())
        for bars in ax.containers:
            if isinstance(bars, BarContainer) and bars.patches and not str(bars.get_label()).startswith("_"):
                first = bars.patches[0]
                looks.setdefault(("bars", to_hex(first.get_facecolor()), str(first.get_hatch())),
                                 []).append(bars.get_label())
        problems += [f"series {names} look the same ({look[0]}: colour {look[1]}, style {look[2:]})"
                     for look, names in looks.items() if len(names) > 1]
    titles = [(ax, title, boxes[title]) for ax in fig.axes
              for title in dict.fromkeys((ax.title, getattr(ax, "_left_title", ax.title),
                                          getattr(ax, "_right_title", ax.title))) if title in boxes]
    problems += [f"titles {a.get_text()!r} and {b.get_text()!r} of two panels overlap"
                 for i, (ax_a, a, box_a) in enumerate(titles) for ax_b, b, box_b in titles[i + 1:]
                 if ax_a is not ax_b and min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0) > 1
                 and min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0) > 1]
    return list(dict.fromkeys(problems))


def _drawn_texts(fig) -> list:
    """Every text ``fig`` draws: its own (suptitle, ``fig.text``), and each axes' titles, annotations and legend,
    plus its tick labels inside the view and its axis labels while the axes is switched on (``axis("off")`` keeps
    them, undrawn)."""
    texts = list(fig.texts) + [t for t in (getattr(fig, "_suptitle", None),) if t is not None]
    for ax in fig.axes:
        texts += [ax.title, getattr(ax, "_left_title", ax.title), getattr(ax, "_right_title", ax.title)]
        texts += list(ax.texts)
        if ax.get_legend() is not None:
            texts += list(ax.get_legend().get_texts()) + [ax.get_legend().get_title()]
        if ax.axison:
            for axis, (low, high) in ((ax.xaxis, sorted(ax.get_xlim())), (ax.yaxis, sorted(ax.get_ylim()))):
                texts += [tick.label1 for tick in axis.get_major_ticks() if low - 1e-9 <= tick.get_loc() <= high + 1e-9]
                texts.append(axis.label)
    return list(dict.fromkeys(texts))
