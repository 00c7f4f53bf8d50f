"""Every module of the library imports on its own, first, in a fresh interpreter.

A cycle hidden behind import order passes the rest of the suite (whatever a test imports first decides) and breaks
the user whose first line is ``import semiformer_lib.ssl``. So each module gets an interpreter in which no part of
the library was imported yet: one fresh Python loads the third-party stack once, then forks a child per module
(one per core at a time) that imports that module alone. The layering itself (data → models → ssl → train →
runs → analysis → viz, no cycles) is import-linter's contract in ``pyproject.toml``, checked by ``make lint``.
"""
from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import semiformer_lib

PROBE = r"""
import importlib, os, sys, traceback
import torch, timm, kornia, matplotlib, pandas, yaml, tqdm      # the third-party stack, loaded once
assert not [m for m in sys.modules if m.startswith("semiformer_lib")]
failed, running = [], {}
def reap():
    pid, status = os.wait()
    if status != 0:
        failed.append(running[pid])
    del running[pid]
for name in sys.argv[1:]:
    if len(running) >= (os.cpu_count() or 1):      # one child per core at a time
        reap()
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(name)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    running[pid] = name
while running:
    reap()
print("failed:", failed)
sys.exit(1 if failed else 0)
"""


def library_modules() -> list[str]:
    names = [semiformer_lib.__name__]
    for info in pkgutil.walk_packages(semiformer_lib.__path__, prefix=semiformer_lib.__name__ + "."):
        if not info.name.endswith("__main__"):          # running the CLI is not importing it
            names.append(info.name)
    return names


def test_the_walk_finds_every_package():
    names = set(library_modules())
    assert {f"semiformer_lib.{p}" for p in ("data", "models", "ssl", "train", "analysis", "viz")} <= names
    assert len(names) > 50


def test_every_module_imports_first_in_a_fresh_interpreter():
    result = subprocess.run([sys.executable, "-c", PROBE, *library_modules()], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, f"modules that fail to import on their own: {result.stdout}\n{result.stderr[-3000:]}"


def test_every_folder_of_the_library_is_a_regular_package():
    """A folder of modules without ``__init__.py`` still imports (as a namespace package), but ``pkgutil`` skips it,
    so the test above would never import its modules; a ``.gitignore`` pattern once kept ``runs/__init__.py`` out of
    the repository that way."""
    root = Path(semiformer_lib.__file__).parent
    folders = {path.parent for path in root.rglob("*.py") if "__pycache__" not in path.parts}
    assert not [str(folder.relative_to(root)) for folder in folders if not (folder / "__init__.py").exists()]
