"""Command line: ``python -m data_prep fashion-mnist [--no-download] [--seeds 0 1 2]``.

Finds (or downloads) the dataset, validates every file, and writes the standard low-label split files
(4, 10, 40, 100, 600 labels per class and "all", for each seed) next to the data cache.
"""
from __future__ import annotations

import argparse
import sys
import time

from semiformer_lib.data import STANDARD_LABELS_PER_CLASS, DatasetFileError, SplitError, get_split, load_dataset
from semiformer_lib.data.splits import split_path

from . import fashion_mnist

PREPARERS = {"fashion-mnist": fashion_mnist.prepare}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data_prep", description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=sorted(PREPARERS))
    parser.add_argument("--no-download", action="store_true", help="fail instead of downloading missing files")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of the split files")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        folder = PREPARERS[args.dataset](allow_download=not args.no_download)
        train = load_dataset(args.dataset, "train")
        for labels_per_class in STANDARD_LABELS_PER_CLASS:
            for seed in args.seeds:
                get_split(train, labels_per_class, seed)
    except (DatasetFileError, SplitError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{args.dataset}: files in {folder} are valid; splits in {split_path(args.dataset, 0, 0).parent} "
          f"({len(STANDARD_LABELS_PER_CLASS)} budgets × seeds {args.seeds}); {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
