"""Command line: ``python -m data_prep DATASET [options]``.

* ``fashion-mnist [--no-download] [--seeds 0 1 2]`` — find (or download) the files, validate them, and write the
  standard low-label split files (4, 10, 40, 100, 600 labels per class and "all", for each seed);
* ``cifar10 | cifar100 | stl10 [--root DIR] [--no-download]`` — download the archive, check its MD5, unpack and
  validate it;
* ``imagenet --root DIR [--percents 1 10] [--seeds 0]`` — check an ImageFolder tree and write label lists.
"""
from __future__ import annotations

import argparse
import sys
import time

from semiformer_lib.data import STANDARD_LABELS_PER_CLASS, DatasetFileError, SplitError, get_split, load_dataset
from semiformer_lib.data.splits import split_path

from . import archives, fashion_mnist, imagenet

DATASETS = ("fashion-mnist", *archives.ARCHIVES, "imagenet")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data_prep", description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=DATASETS)
    parser.add_argument("--root", help="the dataset's folder (default: $SEMIFORMER_DATA/<name> or "
                                       "~/.cache/semiformer/<name>)")
    parser.add_argument("--no-download", action="store_true", help="fail instead of downloading missing files")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of the split files / lists")
    parser.add_argument("--percents", type=float, nargs="+", default=[1, 10], help="ImageNet label percentages")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        if args.dataset == "fashion-mnist":
            folder = fashion_mnist.prepare(allow_download=not args.no_download)
            train = load_dataset(args.dataset, "train")
            for labels_per_class in STANDARD_LABELS_PER_CLASS:
                for seed in args.seeds:
                    get_split(train, labels_per_class, seed)
            message = (f"files in {folder} are valid; splits in {split_path(args.dataset, 0, 0).parent} "
                       f"({len(STANDARD_LABELS_PER_CLASS)} budgets × seeds {args.seeds})")
        elif args.dataset == "imagenet":
            lists = [path for seed in args.seeds for path in imagenet.prepare(args.root, args.percents, seed)]
            message = f"the tree is valid; label lists: {', '.join(str(p) for p in lists)}"
        else:
            folder = archives.prepare(args.dataset, args.root, allow_download=not args.no_download)
            message = f"files in {folder} are valid"
    except (DatasetFileError, SplitError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{args.dataset}: {message}; {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
