"""Run chapters from the command line: ``python -m semiformer_lib.notebooks book/01_*.ipynb``.

Each notebook is executed top to bottom in a fresh kernel of the current Python environment, in its own folder,
and saved in place with its new outputs, progress bars reduced to their final state (what ``make book EXECUTE=1``
does before building). A failing cell (a failed claim included) stops that notebook, leaves the file on disk
untouched, and makes the exit status 1.
``SEMIFORMER_PROFILE=gpu`` selects the full-size experiments on a CUDA machine.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


CURSOR_UP = re.compile(r"\x1b\[A")


def settle_carriage_returns(text: str) -> str:
    """What a terminal would finally show: on each line only the last text written after a carriage return
    (progress bars redraw themselves with ``\\r``; a saved notebook would otherwise keep every redraw)."""
    lines = []
    for line in CURSOR_UP.sub("", text).split("\n"):
        redraws = line.split("\r")
        lines.append(next((r for r in reversed(redraws) if r.strip()), ""))
    return "\n".join(lines)


def tidy_stream_outputs(notebook) -> None:
    """Join each cell's consecutive outputs to the same stream and settle their carriage returns, in place."""
    for cell in notebook.cells:
        tidy = []
        for output in cell.get("outputs", []):
            if (output.output_type == "stream" and tidy and tidy[-1].output_type == "stream"
                    and tidy[-1].name == output.name):
                tidy[-1].text += output.text
            else:
                tidy.append(output)
        for output in tidy:
            if output.output_type == "stream":
                output.text = settle_carriage_returns(output.text)
        if "outputs" in cell:
            cell.outputs = [o for o in tidy if o.output_type != "stream" or o.text.strip()]


def execute_notebook(path: str | Path, timeout: int = 3600) -> float:
    """Execute ``path`` in place; returns the wall time in seconds. Raises ``CellExecutionError`` on failure."""
    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent.resolve())}}).execute()
    elapsed = time.perf_counter() - started
    tidy_stream_outputs(notebook)
    nbformat.write(notebook, path)
    return elapsed


def _saved_cells(path: str | Path) -> list[dict]:
    """The cells of notebook ``path`` as saved, read as plain JSON (no validation, nothing executed)."""
    import json
    return json.loads(Path(path).read_text(encoding="utf-8"))["cells"]


def execution_seconds(path: str | Path) -> float | None:
    """How long the saved run of notebook ``path`` took: the sum of its code cells' execution times, read from the
    timestamps Jupyter records in each cell's metadata (None when the notebook was saved without them)."""
    from datetime import datetime

    total, timed = 0.0, False
    for cell in _saved_cells(path):
        times = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in times and "shell.execute_reply" in times:
            started, ended = (datetime.fromisoformat(times[key].replace("Z", "+00:00"))
                              for key in ("iopub.execute_input", "shell.execute_reply"))
            total, timed = total + (ended - started).total_seconds(), True
    return total if timed else None


def notebook_title(path: str | Path) -> str:
    """The first Markdown heading of notebook ``path`` (its title as the book shows it), without the ``#``."""
    for cell in _saved_cells(path):
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return Path(path).stem


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m semiformer_lib.notebooks", description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=3600, help="seconds one cell may run")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        print(f"error: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    failed = 0
    for path in args.notebooks:
        print(f"executing {path} …", flush=True)
        try:
            print(f"  done in {execute_notebook(path, args.timeout):.0f} s", flush=True)
        except CellExecutionError as err:
            failed += 1
            print(f"  FAILED, {path} left unchanged:\n{str(err)[-2000:]}", file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
