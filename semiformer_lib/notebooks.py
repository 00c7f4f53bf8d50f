"""Run chapters from the command line: ``python -m semiformer_lib.notebooks book/01_*.ipynb``.

Each notebook is executed top to bottom in a fresh kernel of the current Python environment, in its own folder,
and saved in place with its new outputs (what ``make book EXECUTE=1`` does before building). A failing cell
(a failed claim included) stops that notebook, leaves the file on disk untouched, and makes the exit status 1.
``SEMIFORMER_PROFILE=gpu`` selects the full-size experiments on a CUDA machine.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def execute_notebook(path: str | Path, timeout: int = 3600) -> float:
    """Execute ``path`` in place; returns the wall time in seconds. Raises ``CellExecutionError`` on failure."""
    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent.resolve())}}).execute()
    elapsed = time.perf_counter() - started
    nbformat.write(notebook, path)
    return elapsed


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
