"""ImageNet: check a user's ImageFolder tree and write the 1 % / 10 % label lists the run can read.

ImageNet cannot be downloaded without an account, so this does not download: it checks that ``<root>/train`` and
``<root>/val`` are image trees with the same classes, then writes ``labels_<p>percent_seed<s>.txt`` (one file name
per line, SimCLR's format) into ``<root>`` for each percentage — a class-balanced share drawn with the seed
(:func:`semiformer_lib.data.imagenet.make_label_list`). A run uses them with ``label_list=<file>``, or draws the
same list itself from ``label_percent`` and ``split_seed``.
"""
from __future__ import annotations

from pathlib import Path

from semiformer_lib.data import DatasetFileError, dataset_root
from semiformer_lib.data.imagenet import image_folder, make_label_list


def prepare(root: str | Path | None = None, percents=(1, 10), seed: int = 0) -> list[Path]:
    """Check the tree under ``root`` and write one label list per percentage; returns their paths."""
    root = dataset_root("imagenet", root)
    train, val = image_folder(root, "train"), image_folder(root, "val")
    if train.classes != val.classes:
        raise DatasetFileError(f"{root}: train/ has {len(train.classes)} classes and val/ {len(val.classes)}, "
                               "or their names differ; both need one folder per class, with the same names")
    written = []
    for percent in percents:
        path = root / f"labels_{percent:g}percent_seed{seed}.txt"
        temporary = path.with_suffix(".txt.tmp")
        temporary.write_text("\n".join(make_label_list(train, percent, seed)) + "\n")
        temporary.replace(path)
        written.append(path)
    return written
