"""make test's long stage is one pytest-xdist run on both cores (see the Makefile): the unit tests, the replay of the
committed artifacts and every chapter under nbval. A worker takes a whole file at a time, the next one in this
order: the quick test files first, so that a broken unit fails within minutes; then the long files, longest first
(list scheduling, by the cells' measured costs). Chapter 2 comes before chapter 1: it trains chapter 1's headline
runs first (its opening sweep), and chapter 1, started later on the other core, loads them from the run cache
(``semiformer_lib.train.run_cache``) instead of training them again."""
from __future__ import annotations

from pathlib import Path

LONGEST_FIRST = ["book/02_inductive_bias.ipynb", "book/03_fusion_design.ipynb", "book/04_pseudo_labeling.ipynb",
                 "book/01_when_vits_starve.ipynb", "tests/test_replay.py", "book/06_full_run.ipynb",
                 "book/07_your_data.ipynb", "book/05_long_runs.ipynb", "book/intro.ipynb"]
ROOT = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        path = Path(str(item.fspath)).resolve()
        name = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.as_posix()
        return LONGEST_FIRST.index(name) + 1 if name in LONGEST_FIRST else 0
    items.sort(key=rank)            # stable: the quick files keep their order, and every file its tests' order
