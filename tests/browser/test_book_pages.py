"""The built book as a reader meets it: every page of ``_toc.yml`` opened in headless Chromium, network cut.

``make browser-test`` (part of ``make test``) builds the book, then this module serves ``_build/html`` on
127.0.0.1 and opens each page in Debian's Chromium through Playwright. Every request that leaves localhost is
refused and recorded, so the checks below also prove the book reads offline:

* the page loads with no JavaScript error in the console and no request to another host;
* every image (figures, the logo, the figure inside a saved widget) loads with a non-zero natural size and fits
  the page's text column;
* every internal link and cross-reference points at a file of the build and, with a ``#fragment``, at an element
  of that page;
* every equation is typeset by MathJax (``mjx-container`` inside each ``.math``, no TeX error), and no raw TeX
  (``\\alpha``, ``$x$``) is left in the prose;
* every saved widget view is rendered by the widgets HTML manager and visible;
* chapters carry numbered figures and the Colab, Binder and download buttons;
* everything can be read at 1280 px: no code, output or table block is wider than its box unless it scrolls with a
  visible scrollbar; every claim line (✓) reads whole; no equation is wider than the column; the outline on the
  right shows every entry whole; the page has one search box.

Chromium runs with its scrollbars shown (Playwright hides them by default), so "scrolls visibly" is what a
reader's browser shows.

A full-page screenshot of each page is written to ``_build/screenshots/`` for a person to look at.
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
PAGE_TIMEOUT_MS = 30_000


def toc_pages() -> list[str]:
    """The book's pages in reading order, as paths relative to the build (``book/intro.html`` …)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    entries = [entry for part in toc.get("parts", [toc]) for entry in part.get("chapters", [])]
    files = [toc["root"]] + [entry["file"] for entry in entries]
    return [f"{name}.html" for name in files]


def chapter_pages() -> list[str]:
    """The numbered chapters (``book/01_….html``); the intro is a notebook too, but not a chapter."""
    return [page for page in toc_pages() if re.match(r"book/\d\d_", page)
            and (ROOT / page).with_suffix(".ipynb").exists()]


def configured_repository() -> str:
    """The repository the launch buttons open (``repository.url`` in ``_config.yml``)."""
    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]


PAGES = toc_pages()
CHAPTERS = chapter_pages()


def chromium_path() -> str:
    path = os.environ.get("SEMIFORMER_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path or not Path(path).exists():
        pytest.fail("no Chromium to open the book in: install Debian's chromium (apt-get install chromium) or set "
                    "SEMIFORMER_CHROMIUM=/path/to/chrome; `make browser-test` installs it when it can")
    return path


# ---------------------------------------------------------------------------------------------------------------
# What one visit records
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class PageVisit:
    page: str
    console_errors: list[str]          # recorded by the listeners while the page loads
    blocked_requests: list[str]
    failed_requests: list[str]
    images: list[dict]                 # the rest: what COLLECT_JS read from the finished page
    links: list[str]
    math: dict
    raw_tex: list[str]
    widgets: list[dict]
    figure_numbers: list[str]
    heading: str
    legibility: dict
    notes: list[str]


# Runs in the page after MathJax and the widget manager have finished.
COLLECT_JS = r"""
() => {
  const column = document.querySelector('article') || document.body;
  const right = column.getBoundingClientRect().right;
  const images = [...document.images].map(img => ({
    src: img.currentSrc || img.src, complete: img.complete, width: img.naturalWidth, height: img.naturalHeight,
    overflow: img.getBoundingClientRect().width > 0 && column.contains(img)
              ? img.getBoundingClientRect().right - right : 0}));
  const links = [...document.querySelectorAll('a[href]')].map(a => a.href);
  const maths = [...document.querySelectorAll('.math')];
  const math = {count: maths.length,
                typeset: maths.filter(el => el.querySelector('mjx-container')).length,
                errors: [...document.querySelectorAll('mjx-merror')].map(el => el.textContent).slice(0, 5)};
  // Text the reader sees in the prose: skip code, outputs and what MathJax has already typeset.
  const skip = 'pre, code, script, style, mjx-container, .highlight, .cell_output, .output, .MathJax';
  const walker = document.createTreeWalker(column, NodeFilter.SHOW_TEXT);
  const raw_tex = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement.closest(skip)) continue;
    const text = node.textContent;
    const hit = text.match(/\\[A-Za-z]{2,}|\$[^$\s][^$]{0,80}\$/);
    if (hit) raw_tex.push(hit[0]);
  }
  const widgets = [...document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')]
    .map(script => {
      const area = script.previousElementSibling;
      const rendered = area && area.classList.contains('widget-subarea') ? area : null;
      const box = rendered ? rendered.getBoundingClientRect() : {width: 0, height: 0};
      return {model: JSON.parse(script.textContent).model_id, rendered: !!rendered,
              width: box.width, height: box.height,
              sliders: rendered ? rendered.querySelectorAll('.widget-slider').length : 0,
              images: rendered ? rendered.querySelectorAll('img').length : 0};
    });
  const figure_numbers = [...document.querySelectorAll('figure .caption-number, .figure .caption-number')]
    .map(el => el.textContent.trim());
  const heading = (document.querySelector('article h1') || {textContent: ''}).textContent.replace(/#$/, '').trim();
  const notes = [...column.querySelectorAll('details > summary')].map(el => el.textContent.trim());
  return {images, links, math, raw_tex, widgets, figure_numbers, heading, legibility: legibility(column), notes};
}
"""

# What a reader cannot read: blocks cut at their box's edge, claims cut mid-line, equations wider than the column,
# outline entries hidden, more than one search box. Each entry names the block by its first characters.
LEGIBILITY_JS = r"""
function legibility(column) {
  const columnBox = column.getBoundingClientRect();
  const name = el => (el.innerText || el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 60);
  const shown = el => { const box = el.getBoundingClientRect(); return box.width > 0 && box.height > 0; };
  // The box that scrolls el's overflow sideways, if its scrollbar takes room (a visible scrollbar).
  const scrollsVisibly = el => {
    for (let node = el; node && node !== column; node = node.parentElement) {
      const style = getComputedStyle(node);
      if (['auto', 'scroll'].includes(style.overflowX) && node.scrollWidth > node.clientWidth + 1) {
        const bar = node.offsetHeight - node.clientHeight - parseFloat(style.borderTopWidth)
                    - parseFloat(style.borderBottomWidth);
        return bar >= 4;
      }
    }
    return false;
  };
  const clipped = [...column.querySelectorAll('pre, table')].filter(shown).filter(el => {
    const wide = el.scrollWidth > el.clientWidth + 1 || el.getBoundingClientRect().right > columnBox.right + 1;
    return wide && !scrollsVisibly(el);
  }).map(el => el.tagName.toLowerCase() + ': ' + name(el));
  const claims = [...column.querySelectorAll('.cell_output pre, .output pre')]
    .filter(el => el.textContent.includes('✓') && el.scrollWidth > el.clientWidth + 1).map(name);
  const math = [...column.querySelectorAll('mjx-container')].filter(el => {
    const inner = el.querySelector('mjx-math');
    const width = inner ? inner.getBoundingClientRect().width : 0;
    return width > Math.min(el.getBoundingClientRect().width, columnBox.width) + 1
           || el.getBoundingClientRect().right > columnBox.right + 1;
  }).map(el => Math.round(el.querySelector('mjx-math').getBoundingClientRect().width) + ' px: '
                + (el.getAttribute('aria-label') || name(el)).slice(0, 60));
  const outline = document.querySelector('.bd-sidebar-secondary');
  const hidden_outline = [];
  if (outline && shown(outline)) {
    const box = outline.getBoundingClientRect();
    for (const link of outline.querySelectorAll('nav a')) {
      const entry = link.getBoundingClientRect();
      if (entry.height && (entry.right > box.right + 1 || entry.bottom > box.bottom + 1 || link.scrollWidth >
                           link.clientWidth + 1)) hidden_outline.push(name(link));
    }
  }
  const searches = [...document.querySelectorAll('.search-button-field, form.bd-search')].filter(shown).length;
  return {clipped, claims, math, hidden_outline, searches};
}
"""

# Waits until every saved widget view has been drawn (or the page has none).
WIDGETS_DRAWN_JS = r"""
() => [...document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')]
        .every(s => s.previousElementSibling && s.previousElementSibling.classList.contains('widget-subarea')
                    && s.previousElementSibling.getBoundingClientRect().height > 0)
"""

MATH_TYPESET_JS = r"""
async () => {
  if (!document.querySelector('.math')) return true;
  for (let i = 0; i < 100 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++)
    await new Promise(r => setTimeout(r, 100));
  await MathJax.startup.promise;
  return true;
}
"""

IMAGES_LOADED_JS = r"""
async () => {
  for (const img of document.images) img.loading = 'eager';
  await Promise.all([...document.images].map(img => img.complete ? null : new Promise(r => {
    img.addEventListener('load', r); img.addEventListener('error', r); })));
  return true;
}
"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the test reports failures itself
        pass


@pytest.fixture(scope="module")
def book_url():
    if not (BUILD / "index.html").exists():
        pytest.fail(f"{BUILD} has no built book: run `make book` first (`make browser-test` does)")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(BUILD)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def visits(book_url) -> dict[str, PageVisit]:
    """Each page opened once; the tests below read what the visit recorded."""
    return visit_pages(book_url, PAGES, chromium_path())


def visit_pages(book_url: str, pages: list[str], chromium: str) -> dict[str, PageVisit]:
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    results = {}
    with sync_playwright() as playwright:
        # Playwright hides scrollbars by default; a reader's browser shows them, and they are how a wide block shows
        # that it scrolls.
        browser = playwright.chromium.launch(executable_path=chromium, ignore_default_args=["--hide-scrollbars"])
        context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light")
        for page_path in pages:
            errors, blocked, failed = [], [], []
            page = context.new_page()
            page.set_default_timeout(PAGE_TIMEOUT_MS)

            def route(request_route, blocked=blocked):
                url = request_route.request.url
                if url.startswith(book_url) or url.startswith("data:"):
                    request_route.continue_()
                else:
                    blocked.append(url)
                    request_route.abort()

            page.route("**/*", route)
            # A refused request also logs "net::ERR_FAILED"; it is reported once, as a blocked request.
            page.on("console", lambda message, errors=errors: errors.append(message.text)
                    if message.type == "error" and "net::ERR_FAILED" not in message.text else None)
            page.on("pageerror", lambda error, errors=errors: errors.append(f"uncaught: {error}"))
            page.on("response", lambda response, failed=failed: failed.append(
                f"{response.status} {response.url}") if response.status >= 400 else None)
            page.goto(book_url + page_path, wait_until="load")
            page.evaluate(MATH_TYPESET_JS)
            page.wait_for_function(WIDGETS_DRAWN_JS)
            page.evaluate(IMAGES_LOADED_JS)
            results[page_path] = PageVisit(page_path, errors, blocked, failed,
                                           **page.evaluate(f"(() => {{ {LEGIBILITY_JS}; return ({COLLECT_JS})(); }})"))
            page.screenshot(path=str(SCREENSHOTS / page_path.replace("/", "__").replace(".html", ".png")),
                            full_page=True)
            page.close()
        browser.close()
    return results


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs) -> None:
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)


@functools.lru_cache(maxsize=None)
def ids_in(html_file: Path) -> frozenset[str]:
    parser = _Ids()
    parser.feed(html_file.read_text(encoding="utf-8"))
    return frozenset(parser.ids)


def internal_target(href: str, book_url: str) -> tuple[Path, str] | None:
    """The file and fragment an internal link points at, or None for a link to another site."""
    if not href.startswith(book_url):
        return None
    parts = urlsplit(href)
    path = unquote(parts.path.lstrip("/")) or "index.html"
    target = BUILD / path
    if target.is_dir():
        target = target / "index.html"
    return target, unquote(parts.fragment)


# ---------------------------------------------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------------------------------------------
def test_the_toc_lists_the_chapters_and_the_reference_pages():
    assert len(CHAPTERS) == 7 and CHAPTERS[-1] == "book/07_your_data.html", CHAPTERS
    assert PAGES[0] == "book/intro.html"
    for name in ("running_on_gpu", "glossary", "bibliography"):
        assert f"book/{name}.html" in PAGES


@pytest.mark.parametrize("page", PAGES)
def test_page_has_no_script_errors_and_asks_no_other_host(visits, page):
    visit = visits[page]
    assert not visit.console_errors, f"{page}: console errors {visit.console_errors}"
    assert not visit.blocked_requests, f"{page}: wanted the network for {visit.blocked_requests}"
    assert not visit.failed_requests, f"{page}: requests that failed {visit.failed_requests}"


@pytest.mark.parametrize("page", PAGES)
def test_every_image_loads_and_fits_the_column(visits, page):
    visit = visits[page]
    assert visit.images, f"{page}: no image at all (not even the logo)"
    broken = [image["src"] for image in visit.images if not (image["complete"] and image["width"] > 0
                                                             and image["height"] > 0)]
    assert not broken, f"{page}: images that did not load: {broken}"
    too_wide = [(image["src"][-60:], round(image["overflow"])) for image in visit.images if image["overflow"] > 2]
    assert not too_wide, f"{page}: images wider than the text column (src, pixels over): {too_wide}"


@pytest.mark.parametrize("page", CHAPTERS)
def test_chapters_show_their_figures(visits, page):
    figures = [image for image in visits[page].images if "/_images/" in image["src"] or image["src"].startswith(
        "data:image")]
    assert figures, f"{page}: a chapter without a figure"


@pytest.mark.parametrize("page", PAGES)
def test_internal_links_and_cross_references_resolve(visits, book_url, page):
    broken = []
    for href in visits[page].links:
        target = internal_target(href, book_url)
        if target is None:
            continue
        path, fragment = target
        if not path.is_file():
            broken.append(f"{href} (no file {path.relative_to(BUILD)})")
        elif fragment and path.suffix == ".html" and fragment not in ids_in(path):
            broken.append(f"{href} (no #{fragment} in {path.relative_to(BUILD)})")
    assert not broken, f"{page}: links that lead nowhere: {broken}"
    assert any(internal_target(href, book_url) for href in visits[page].links), f"{page}: no internal link"


@pytest.mark.parametrize("page", PAGES)
def test_equations_render_as_math(visits, page):
    visit = visits[page]
    math = visit.math
    assert math["typeset"] == math["count"], f"{page}: {math['count'] - math['typeset']} of {math['count']} " \
                                             f"equations not typeset by MathJax"
    assert not math["errors"], f"{page}: MathJax could not parse {math['errors']}"
    assert not visit.raw_tex, f"{page}: raw TeX left in the text: {visit.raw_tex[:5]}"


def test_the_intro_shows_the_method_and_the_headline_result(visits):
    intro = visits["book/intro.html"]
    figures = [image for image in intro.images if "/_images/" in image["src"] or image["src"].startswith("data:image")]
    assert len(figures) >= 3, f"the intro shows {len(figures)} figures: the model, the step and the headline result"


def test_the_chapters_with_equations_have_them_typeset(visits):
    with_math = [page for page in CHAPTERS if visits[page].math["count"] > 0]
    assert "book/04_pseudo_labeling.html" in with_math, "chapter 4 prints the FixMatch objective"


@pytest.mark.parametrize("page", PAGES)
def test_saved_widgets_are_drawn(visits, page):
    for widget in visits[page].widgets:
        assert widget["rendered"] and widget["width"] > 0 and widget["height"] > 0, \
            f"{page}: widget {widget['model']} was not drawn from its saved state"


def test_the_threshold_explorer_shows_its_slider_and_its_figure(visits):
    widgets = visits["book/04_pseudo_labeling.html"].widgets
    explorers = [widget for widget in widgets if widget["sliders"]]
    assert explorers, f"chapter 4's τ explorer is missing: {widgets}"
    assert all(widget["images"] >= 1 for widget in explorers), "the explorer shows no figure for its saved τ"


@pytest.mark.parametrize("page", CHAPTERS)
def test_chapter_titles_carry_their_number_once(visits, page):
    chapter = int(re.match(r"book/(\d+)_", page).group(1))
    heading = visits[page].heading
    assert re.match(rf"{chapter}\. [^\d]", heading), f"{page}: title {heading!r} is not numbered {chapter}. once"


@pytest.mark.parametrize("page", CHAPTERS)
def test_chapters_have_numbered_figures(visits, page):
    numbers = visits[page].figure_numbers
    assert numbers, f"{page}: no numbered figure"
    chapter = int(re.match(r"book/(\d+)_", page).group(1))
    assert all(re.fullmatch(rf"Figure {chapter}\.\d+", number.rstrip(". ")) for number in numbers), \
        f"{page}: figure numbers {numbers} are not numbered within chapter {chapter}"


@pytest.mark.parametrize("page", CHAPTERS)
def test_chapters_offer_launch_and_download_buttons(visits, page):
    notebook = page.replace(".html", ".ipynb")
    links = [href for href in visits[page].links if re.search(r"colab\.research|mybinder|\.ipynb", href)]
    repository = configured_repository()
    colab = repository.replace("https://github.com/", "colab.research.google.com/github/")
    assert any(colab in href and href.endswith(notebook) for href in links), f"{page}: no Colab button: {links}"
    assert any("mybinder" in href and notebook in unquote(href) for href in links), f"{page}: no Binder button"
    assert any(href.endswith(".ipynb") and "_sources" in href for href in links), f"{page}: no download button"


# What LEGIBILITY_JS lists, and what each finding means to the reader.
UNREADABLE = {"clipped": "blocks wider than their box with no visible scrollbar",
              "claims": "claim lines cut at the column's edge",
              "math": "equations wider than the column (break them into lines)",
              "hidden_outline": "outline entries cut off"}


@pytest.mark.parametrize("check", UNREADABLE)
@pytest.mark.parametrize("page", PAGES)
def test_every_page_reads_whole(visits, page, check):
    found = visits[page].legibility[check]
    assert not found, f"{page}: {UNREADABLE[check]}: {found[:5]}"


@pytest.mark.parametrize("page", PAGES)
def test_the_page_has_one_search_box(visits, page):
    searches = visits[page].legibility["searches"]
    assert searches == 1, f"{page}: {searches} search boxes (the sidebar's is enough)"


@pytest.mark.parametrize("page", CHAPTERS)
def test_exercises_carry_what_you_should_see(visits, page):
    notes = [note for note in visits[page].notes if note.startswith("What you should see")]
    assert notes, f"{page}: no exercise has a collapsible 'What you should see' note"


def test_the_launch_instructions_name_the_configured_repository():
    repository = configured_repository()
    page = (ROOT / "book" / "running_on_gpu.md").read_text()
    assert f"git+{repository}" in page, "running_on_gpu.md installs from another repository than _config.yml names"
