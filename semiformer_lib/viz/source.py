"""The code beside its equation: the source of the library objects a chapter explains, shown as they train.

A chapter prints an equation, then calls :func:`show_source` on the functions that compute it; what it shows is
read from the installed library with :func:`inspect.getsource`, so it cannot drift from the code that trains.
"""
from __future__ import annotations

import inspect
import textwrap
from pathlib import Path


def source_text(*objects) -> str:
    """The source of each of ``objects`` (classes, functions, methods), dedented, each under a comment naming
    its file and qualified name: ``# semiformer_lib/models/semiformer.py: ConvToTokens.forward`` (no line number,
    so that an edit elsewhere in the file does not change the listing)."""
    package_root = Path(__file__).resolve().parents[2]
    parts = []
    for obj in objects:
        lines, _ = inspect.getsourcelines(obj)
        path = Path(inspect.getsourcefile(obj)).resolve()
        where = path.relative_to(package_root) if path.is_relative_to(package_root) else path.name
        parts.append(f"# {where}: {obj.__qualname__}\n" + textwrap.dedent("".join(lines)).rstrip())
    return "\n\n".join(parts) + "\n"


def show_source(*objects):
    """:func:`source_text` as a highlighted Python listing in a notebook (plain text elsewhere)."""
    from IPython.display import Code
    return Code(source_text(*objects), language="python")
