"""The chapters' compared outputs hold no number that another CPU's arithmetic could change.

`pytest --nbval` re-runs every chapter and compares each cell's saved text output with the new one, unless the
cell is tagged ``nbval-ignore-output``. A measured number (an accuracy, a share, a distance, a loss, a softmax
probability) depends on the order in which the machine sums floats, which differs between CPUs (AVX-512 on Intel
against AVX2 on AMD, say): a cell that prints ``99%`` on one machine printed ``100%`` on another and failed CI
while every claim held. So a compared cell may print only text that does not depend on arithmetic: claim lines
(``✓ …``; their numbers are thresholds the chapter chose), shapes, config text, error messages. Measured numbers go
in cells tagged ``nbval-ignore-output``, where the reader still sees them.

What counts as measured-looking: a percentage, or a float with three or more decimals. Numbers that no arithmetic
produced (config values read from YAML) or that integer arithmetic did (parameter and MAC counts) are the same on
every machine; their cells sit on an explicit allow-list below, by cell id.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
CHAPTERS = sorted(BOOK.glob("*.ipynb"))

MEASURED = re.compile(r"\d+(?:\.\d+)?\s?%|\d\.\d{3,}")
CLAIM = "\u2713"
UNCOMPARED_TAGS = {"nbval-ignore-output", "nbval-skip"}
# nbval compares every key of an output's data except these (nbval.plugin.IPyNbFile.skip_compare).
UNCOMPARED_DATA = {"image/png", "image/jpeg", "application/vnd.jupyter.widget-view+json"}
# matplotlib's repr of a returned figure: its size in inches times the dpi, layout arithmetic, not a measurement.
FIGURE_REPR = re.compile(r"<Figure size [\d.]+x[\d.]+ with \d+ Axes>")

# Cells whose compared numbers are identical on every machine: chapter → cell id → why.
DETERMINISTIC = {
    "03_fusion_design.ipynb": {
        "b88ca977": "parameter and MAC counts of models built on the meta device, as a table",
    },
    "06_full_run.ipynb": {
        "5163f487": "the text of the shipped config file (ema_decay: 0.999)",
        "7700d0f3": "the shipped configs' values, as a table (labeled_share 0.125 in the ImageNet recipe)",
    },
}


def compared_text(cell) -> list[str]:
    """Every text nbval would compare for this code cell (empty when the cell is not compared)."""
    if UNCOMPARED_TAGS & set(cell.metadata.get("tags", [])):
        return []
    texts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            texts.append(output.text)
        for key, value in output.get("data", {}).items():
            if key not in UNCOMPARED_DATA and isinstance(value, str):
                texts.append(value)
    return texts


def measured_lines(cell) -> list[str]:
    """Lines of a compared cell's output that show a measured-looking number outside a claim line."""
    lines = []
    for text in compared_text(cell):
        for line in FIGURE_REPR.sub("", text).splitlines():
            if MEASURED.search(line) and not line.strip().startswith(CLAIM):
                lines.append(line.strip())
    return lines


def test_the_chapters_are_found():
    assert len(CHAPTERS) >= 5, f"no chapters under {BOOK}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda path: path.name)
def test_compared_cells_print_no_measured_number(chapter):
    notebook = nbformat.read(chapter, as_version=4)
    allowed = DETERMINISTIC.get(chapter.name, {})
    offending = {}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and cell.get("id") not in allowed:
            lines = measured_lines(cell)
            if lines:
                offending[f"cell {index} (id {cell.get('id')})"] = lines[:3]
    assert not offending, (
        f"{chapter.name}: cells compared by nbval print measured numbers, which another CPU's arithmetic changes; "
        f"print them in a cell tagged nbval-ignore-output (the reader still sees them): {offending}")


@pytest.mark.parametrize("chapter", sorted(DETERMINISTIC))
def test_allow_list_names_existing_cells(chapter):
    ids = {cell.get("id") for cell in nbformat.read(BOOK / chapter, as_version=4).cells}
    missing = set(DETERMINISTIC[chapter]) - ids
    assert not missing, f"{chapter}: allow-listed cell ids {missing} no longer exist; update DETERMINISTIC"


def test_detector_flags_measured_numbers_and_spares_claims_and_shapes():
    def code_cell(text, tags=()):
        cell = nbformat.v4.new_code_cell("", metadata={"tags": list(tags)})
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
        return cell

    assert measured_lines(code_cell("share: {'two-way': '99%'}\n")) == ["share: {'two-way': '99%'}"]
    assert measured_lines(code_cell("confidence [0.9649999737739563]\n"))
    assert measured_lines(code_cell("loss 0.123\n"))
    assert not measured_lines(code_cell("✓ the CNN beats the ViT by ≥ 8 % on every seed\n"))
    assert not measured_lines(code_cell("shape (1, 32, 14, 14), mask [1.0, 0.0, 1.0], lr 1.0e-3\n"))
    assert not measured_lines(code_cell("accuracy 97.5%\n", tags=["nbval-ignore-output"]))
    html = nbformat.v4.new_output("execute_result", data={"text/html": "<td>0.8125</td>", "image/png": "3.14159"})
    figure = nbformat.v4.new_output("execute_result", data={"text/plain": "<Figure size 684x310.909 with 3 Axes>"})
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [html, figure]
    assert measured_lines(cell) == ["<td>0.8125</td>"]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda path: path.name)
def test_every_figure_is_captioned_and_numbered(chapter):
    """Issue 30: a cell that shows a figure carries mystnb figure metadata (a caption and a name), so the built
    book numbers it ("Figure 4.2") and says what it shows."""
    notebook = nbformat.read(chapter, as_version=4)
    bare = [index for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"
            and any("image/png" in output.get("data", {}) for output in cell.get("outputs", []))
            and not (cell.metadata.get("mystnb", {}).get("figure", {}).get("caption")
                     and cell.metadata.get("mystnb", {}).get("figure", {}).get("name"))]
    assert not bare, f"{chapter.name}: cells {bare} show a figure without a caption and a name"


PAGE_COLUMNS = 88      # what the built book's code column shows without a scroll bar (1280 px, jupyter-book 1.x)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda path: path.name)
def test_listed_library_code_fits_the_page(chapter):
    """Issue 30: a library listing (``viz.show_source``) is read in the page's code column; a line longer than
    the column wraps and breaks its indentation. The stored listing is what the reader sees."""
    notebook = nbformat.read(chapter, as_version=4)
    listings = [cell for cell in notebook.cells if cell.cell_type == "code" and "show_source(" in cell.source]
    for cell in listings:
        text = "".join(output.get("data", {}).get("text/plain", "") for output in cell.get("outputs", []))
        assert text, f"{chapter.name}: a show_source cell without its stored listing"
        wide = [line for line in text.splitlines() if len(line) > PAGE_COLUMNS]
        assert not wide, f"{chapter.name}: {len(wide)} listed lines exceed {PAGE_COLUMNS} columns: {wide[0]!r}"
