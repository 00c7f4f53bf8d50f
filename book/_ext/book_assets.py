"""Sphinx extension of this book: every page loads each script once, and the book's own scripts are served.

sphinx-thebe and sphinx-togglebutton register inline scripts (``const THEBE_JS_URL = …``) with ``add_js_file(None,
body=…)`` after the HTML builder has read the registry, and Sphinx 7 keeps both copies because it compares the
first one's file name ``''`` with the second's ``None``. The page then declares the same ``const`` twice and the
browser reports a SyntaxError on every page. Dropping exact repeats (same file, same attributes, same body) before
the page is written removes the error without touching what either extension loads.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

# widgets-setup.js: glue between RequireJS, MathJax 3 and the widgets HTML manager (listed in _config.yml);
# book.css: the book's legibility rules (wrapped outputs, visible scrollbars, one search box).
STATIC = Path(__file__).parent / "static"


def _script_key(script: Any) -> tuple:
    attributes = getattr(script, "attributes", {}) or {}
    return (getattr(script, "filename", script) or "", tuple(sorted((k, str(v)) for k, v in attributes.items())))


def drop_repeated_scripts(app, pagename: str, templatename: str, context: dict, doctree) -> None:
    if context.get("script_files"):     # repeats are identical: keeping one at the first one's place is enough
        context["script_files"] = list({_script_key(script): script for script in context["script_files"]}.values())


def add_static_folder(app, config) -> None:
    config.html_static_path.append(str(STATIC))


def setup(app) -> dict:
    app.connect("config-inited", add_static_folder)
    app.add_css_file("book.css")      # the legibility rules: wrapped outputs, visible scrollbars, one search box
    # Late priority: after myst-nb and the theme have added their per-page scripts.
    app.connect("html-page-context", drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
