"""Progress bars: tqdm's widget bars in Jupyter when ipywidgets is installed, its text bars everywhere else.

``tqdm.auto`` would make the same choice but warns on every import in a kernel without ipywidgets; text bars are
what it falls back to anyway.
"""
from __future__ import annotations

try:
    import ipywidgets  # noqa: F401  (only probing for it)
    from tqdm.auto import tqdm
except ImportError:
    from tqdm import tqdm

__all__ = ["tqdm"]
