"""Low-label splits: which training images keep their label.

Semi-supervised benchmarks (ImageNet with 10 % or 1 % of the labels in the paper; CIFAR with 4, 25 or 400
labels per class in FixMatch) keep ``N`` labels per class, chosen at random but class-balanced, and treat the rest
of the training set as the unlabeled pool. The test set is never part of a split.

A split is a small JSON file::

    {"dataset": "fashion-mnist", "labels_per_class": 40, "seed": 0,
     "source_fingerprint": "<sha256 of the decoded training data>", "labeled": [i0, i1, ...]}

``labels_per_class`` is an int or ``"all"``. Loading checks the fingerprint, so a split can never be applied to
other data by accident. The same ``(dataset, labels_per_class, seed)`` always gives the same indices.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .datasets import ImageSet, cache_root

STANDARD_LABELS_PER_CLASS = (4, 10, 40, 100, 600, "all")


class SplitError(RuntimeError):
    """A split file is malformed or was made from other data; the message names the file and the fix."""


@dataclass(frozen=True)
class LowLabelSplit:
    """Indices into the training set: ``labeled`` ``[L]`` and ``unlabeled`` ``[N - L]``, both int64, sorted."""
    dataset: str
    labels_per_class: int | str
    seed: int
    labeled: torch.Tensor
    unlabeled: torch.Tensor

    @property
    def name(self) -> str:
        return f"{self.dataset} {self.labels_per_class} labels/class (seed {self.seed})"


def _validate_labels_per_class(labels_per_class: int | str) -> None:
    if labels_per_class == "all":
        return
    if isinstance(labels_per_class, bool) or not isinstance(labels_per_class, int) or labels_per_class < 1:
        raise ValueError(f"labels_per_class must be a positive int or 'all', got {labels_per_class!r}")


def make_split(train: ImageSet, labels_per_class: int | str, seed: int) -> LowLabelSplit:
    """Draw ``labels_per_class`` images of every class from ``train`` with a seeded NumPy generator."""
    _validate_labels_per_class(labels_per_class)
    labels = train.labels.cpu().numpy()
    n = labels.size
    if labels_per_class == "all":
        labeled = np.arange(n)
    else:
        rng = np.random.default_rng(seed)
        chosen = []
        for cls in range(train.num_classes):
            members = np.flatnonzero(labels == cls)
            if members.size < labels_per_class:
                raise ValueError(f"class {cls} ({train.classes[cls]}) has only {members.size} images, "
                                 f"fewer than labels_per_class={labels_per_class}")
            chosen.append(rng.choice(members, size=labels_per_class, replace=False))
        labeled = np.sort(np.concatenate(chosen))
    return _from_labeled(train, labels_per_class, seed, labeled)


def _from_labeled(train: ImageSet, labels_per_class, seed, labeled: np.ndarray) -> LowLabelSplit:
    mask = np.ones(len(train), dtype=bool)
    mask[labeled] = False
    return LowLabelSplit(train.dataset, labels_per_class, seed,
                         torch.from_numpy(np.asarray(labeled, dtype=np.int64)),
                         torch.from_numpy(np.flatnonzero(mask).astype(np.int64)))


def split_path(dataset: str, labels_per_class: int | str, seed: int, folder: Path | None = None) -> Path:
    """Where a split lives: ``<cache>/<dataset>/splits/<dataset>_<N>per_class_seed<S>.json``."""
    folder = folder or cache_root() / dataset / "splits"
    return Path(folder) / f"{dataset}_{labels_per_class}per_class_seed{seed}.json"


def save_split(split: LowLabelSplit, train: ImageSet, path: str | Path) -> Path:
    """Write ``split`` as JSON (via a temporary file, so a crash never leaves half a split behind)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"dataset": split.dataset, "labels_per_class": split.labels_per_class, "seed": split.seed,
              "source_fingerprint": train.fingerprint,
              "labeled": "all" if split.labels_per_class == "all" else split.labeled.tolist()}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record))
    tmp.replace(path)
    return path


def load_split(path: str | Path, train: ImageSet) -> LowLabelSplit:
    """Read a split file and check it belongs to ``train`` (same data fingerprint, valid indices)."""
    path = Path(path)
    fix = f"Delete {path} and it will be re-created (or run `python -m data_prep fashion-mnist`)."
    if not path.is_file():
        raise SplitError(f"{path}: split file not found. {fix}")
    try:
        record = json.loads(path.read_text())
        labels_per_class, seed, labeled = record["labels_per_class"], record["seed"], record["labeled"]
        fingerprint = record["source_fingerprint"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise SplitError(f"{path}: not a valid split file ({err}). {fix}") from err
    if fingerprint != train.fingerprint:
        raise SplitError(f"{path}: made from other data (fingerprint {str(fingerprint)[:12]}… ≠ "
                         f"{train.name}'s {train.fingerprint[:12]}…). {fix}")
    labeled = np.arange(len(train)) if labeled == "all" else np.asarray(labeled, dtype=np.int64)
    if labeled.size == 0 or labeled.min() < 0 or labeled.max() >= len(train) or np.unique(labeled).size != labeled.size:
        raise SplitError(f"{path}: indices are empty, repeated or outside [0, {len(train)}). {fix}")
    return _from_labeled(train, labels_per_class, seed, np.sort(labeled))


def get_split(train: ImageSet, labels_per_class: int | str, seed: int = 0) -> LowLabelSplit:
    """The split for ``(train, labels_per_class, seed)``: loaded from its file, or made and saved on first use."""
    _validate_labels_per_class(labels_per_class)
    path = split_path(train.dataset, labels_per_class, seed)
    if path.is_file():
        return load_split(path, train)
    split = make_split(train, labels_per_class, seed)
    save_split(split, train, path)
    return split


def unlabeled_pool(split: LowLabelSplit, size: int | None, seed: int) -> torch.Tensor:
    """The unlabeled images a run draws from: every image of ``split`` that is not labeled, or, with ``size``, a
    random ``size`` of them chosen with ``seed`` (sorted indices ``[size]``)."""
    pool = split.unlabeled
    if size is None or size >= len(pool):
        return pool
    order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))
    return pool[order[:size]].sort().values
