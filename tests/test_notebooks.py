"""Running chapters from the command line: outputs saved on success, the file untouched on failure."""
from __future__ import annotations

from pathlib import Path

import nbformat

from semiformer_lib.notebooks import execution_seconds, main, notebook_title


def write_notebook(path, source):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)
    return path.read_text()


def test_execute_saves_outputs(tmp_path):
    path = tmp_path / "ok.ipynb"
    write_notebook(path, "import time\ntime.sleep(0.3)\nprint(6 * 7)")
    assert execution_seconds(path) is None                     # never run: no timestamps to read
    assert main([str(path)]) == 0
    cell = nbformat.read(path, as_version=4).cells[0]
    assert cell.execution_count == 1 and cell.outputs[0]["text"] == "42\n"
    assert 0.3 <= execution_seconds(path) < 30                  # the intro's table of chapter times reads this


def test_a_notebooks_title_is_its_first_heading(tmp_path):
    path = tmp_path / "titled.ipynb"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"),
                                               nbformat.v4.new_markdown_cell("Some text.\n\n# When ViTs starve\n")])
    nbformat.write(notebook, path)
    assert notebook_title(path) == "When ViTs starve"


def test_failing_notebook_is_left_unchanged(tmp_path, capsys):
    path = tmp_path / "bad.ipynb"
    before = write_notebook(path, "from semiformer_lib import claim\nclaim('one is two', 1 == 2)")
    assert main([str(path)]) == 1
    assert path.read_text() == before
    assert "one is two" in capsys.readouterr().err


def test_missing_notebook(tmp_path, capsys):
    assert main([str(tmp_path / "nope.ipynb")]) == 2
    assert "no such notebook" in capsys.readouterr().err


def test_progress_bar_redraws_settle_to_their_final_state():
    from semiformer_lib.notebooks import settle_carriage_returns, tidy_stream_outputs

    assert settle_carriage_returns("\rbar 10%\rbar 50%\rbar 100%\ndone\n") == "bar 100%\ndone\n"
    assert settle_carriage_returns("\x1b[A\rbar 100%\r   \n") == "bar 100%\n"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("")])
    notebook.cells[0].outputs = [nbformat.v4.new_output("stream", name="stderr", text="\rrun 1/2"),
                                 nbformat.v4.new_output("stream", name="stderr", text="\rrun 2/2\n"),
                                 nbformat.v4.new_output("stream", name="stdout", text="result\n")]
    tidy_stream_outputs(notebook)
    assert [(o.name, o.text) for o in notebook.cells[0].outputs] == [("stderr", "run 2/2\n"), ("stdout", "result\n")]


def test_every_exercise_of_chapters_1_to_7_has_a_note():
    """Issue 30: every exercise, the Your data page's included, ends with a collapsible "What you should see
    (time)" note: its time estimate in the summary (measured CPU minutes, or why it takes seconds), written from
    the measurements of book/exercises/run_exercises.py or from what the chapter itself measures."""
    import re

    book = Path(__file__).resolve().parents[1] / "book"
    missing = set()
    for chapter in sorted(book.glob("0[1-7]_*.ipynb")):
        cells = [c.source for c in nbformat.read(chapter, as_version=4).cells if c.cell_type == "markdown"]
        exercises = next(source for source in cells if "## Exercises" in source).split("## Exercises", 1)[1]
        items = [item for item in re.split(r"\n(?=\d+\. )", exercises) if re.match(r"\s*\d+\. ", item)]
        assert len(items) >= 3, f"{chapter.name}: {len(items)} exercises found"
        missing |= {f"{chapter.name} exercise {item.split('.')[0].strip()}" for item in items
                    if "<summary>What you should see (" not in item}
    assert not missing, f"exercises without a note and its time estimate: {sorted(missing)}"


def test_every_claim_a_chapter_makes_says_its_kind():
    """Issue 30: a chapter asserts with check() (construction, sanity) or finding() (an effect over seeds, every
    seed's value shown), never with the unlabeled claim(), so a reader can tell a count from a measured effect."""
    import re

    book = Path(__file__).resolve().parents[1] / "book"
    plain, kinds = [], {"check": 0, "finding": 0}
    for chapter in sorted(book.glob("*.ipynb")):
        for cell in nbformat.read(chapter, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            plain += [f"{chapter.name}: {line.strip()[:60]}" for line in cell.source.splitlines()
                      if re.match(r"\s*claim\(", line)]
            for kind in kinds:
                kinds[kind] += len(re.findall(rf"^\s*{kind}\(", cell.source, flags=re.MULTILINE))
    assert not plain, f"plain claim() calls left in chapters: {plain}"
    assert kinds["check"] >= 10 and kinds["finding"] >= 30, kinds      # the chapters do assert, in both kinds
