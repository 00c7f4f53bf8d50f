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


class SourceListing:
    """A listing a notebook shows: highlighted HTML in the book's own code style (Pygments' classes inside
    ``div.highlight``, as Sphinx writes code blocks, so no stylesheet comes with it), the plain source as text."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer
        code = highlight(self.text, PythonLexer(), HtmlFormatter(nowrap=True))
        return f'<div class="highlight"><pre>{code}</pre></div>'


def show_source(*objects) -> SourceListing:
    """:func:`source_text` as a listing: highlighted in a notebook and in the book, plain text elsewhere."""
    return SourceListing(source_text(*objects))
