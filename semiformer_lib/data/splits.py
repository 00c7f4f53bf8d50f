"""Low-label splits: which training images keep their label.

Semi-supervised benchmarks (ImageNet with 10 % or 1 % of the labels in the paper; CIFAR with 4, 25 or 400
labels per class in FixMatch) keep ``N`` labels per class, chosen at random but class-balanced, and treat the rest
of the training set as the unlabeled pool. The test set is never part of a split.

A split is a small JSON file::

    {"dataset": "fashion-mnist", "labels_per_class": 40, "seed": 0,
     "source_fingerprint": "<sha256 of the decoded training data>", "labeled": [i0, i1, ...]}

``labels_per_class`` is an int or ``"all"``. Loading checks the fingerprint, so a split can never be applied to
other data by accident, and checks the indices against what the file claims and what the caller asked: in range,
no repeats, exactly ``labels_per_class`` of every class, the asked ``labels_per_class`` and seed. The same
``(dataset, labels_per_class, seed)`` always gives the same indices; every run of the library (a chapter's and the
CLI's) reads its split through :func:`get_split`, so all of them use, or refuse, the same checked file.
"""
from __future__ import annotations

import json
import os
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
        sizes = np.bincount(labels[labels >= 0], minlength=train.num_classes)
        if sizes.min() < labels_per_class:
            smallest = int(sizes.argmin())
            raise SplitError(f"labels_per_class={labels_per_class} asks for more images than {train.name} has of "
                             f"class {smallest} ({train.classes[smallest]}: {sizes[smallest]}); choose at most "
                             f"{sizes.min()}, or label_percent")
        rng = np.random.default_rng(seed)
        chosen = [rng.choice(np.flatnonzero(labels == cls), size=labels_per_class, replace=False)
                  for cls in range(train.num_classes)]
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
    tmp = path.with_suffix(f".json.{os.getpid()}.tmp")    # one per process: DDP ranks may write it together
    tmp.write_text(json.dumps(record))
    tmp.replace(path)
    return path


def load_split(path: str | Path, train: ImageSet, labels_per_class: int | str | None = None,
               seed: int | None = None) -> LowLabelSplit:
    """Read a split file and check it belongs to ``train`` (same data fingerprint, valid indices, as many labeled
    images of every class as it claims) and, when given, that it is the ``labels_per_class`` / ``seed`` asked for."""
    path = Path(path)
    fix = f"Delete {path} and it will be re-created."
    claimed, file_seed, labeled = _read_split_file(path, train, fix)
    for key, asked, found in (("labels_per_class", labels_per_class, claimed), ("seed", seed, file_seed)):
        if asked is not None and found != asked:
            raise SplitError(f"{path}: holds the split with {key} {found!r}, but {asked!r} was asked for. {fix}")
    if claimed != "all":
        _check_balance(path, train, claimed, labeled, fix)
    return _from_labeled(train, claimed, file_seed, np.sort(labeled))


def _read_split_file(path: Path, train: ImageSet, fix: str) -> tuple[int | str, int, np.ndarray]:
    """``(labels_per_class, seed, labeled indices [L])`` of a split file made from ``train``'s data."""
    if not path.is_file():
        raise SplitError(f"{path}: split file not found. {fix}")
    try:
        record = json.loads(path.read_text())
        claimed, seed, labeled = record["labels_per_class"], record["seed"], record["labeled"]
        fingerprint = record["source_fingerprint"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise SplitError(f"{path}: not a valid split file ({err}). {fix}") from err
    if fingerprint != train.fingerprint:
        raise SplitError(f"{path}: made from other data (fingerprint {str(fingerprint)[:12]}… ≠ "
                         f"{train.name}'s {train.fingerprint[:12]}…). {fix}")
    try:
        _validate_labels_per_class(claimed)
    except ValueError:
        raise SplitError(f"{path}: labels_per_class is {claimed!r}, not a positive int or 'all'. {fix}") from None
    if (labeled == "all") != (claimed == "all"):
        raise SplitError(f"{path}: labels_per_class {claimed!r} does not match labeled {str(labeled)[:20]!r}. {fix}")
    try:
        labeled = np.arange(len(train)) if labeled == "all" else np.asarray(labeled, dtype=np.int64)
    except (TypeError, ValueError) as err:
        raise SplitError(f"{path}: labeled is not a list of indices ({err}). {fix}") from None
    if (labeled.ndim != 1 or labeled.size == 0 or labeled.min() < 0 or labeled.max() >= len(train)
            or np.unique(labeled).size != labeled.size):
        raise SplitError(f"{path}: indices are empty, repeated or outside [0, {len(train)}). {fix}")
    return claimed, seed, labeled


def _check_balance(path: Path, train: ImageSet, claimed: int, labeled: np.ndarray, fix: str) -> None:
    """Refuse a split whose labeled images are not exactly ``claimed`` of every class."""
    per_class = np.bincount(train.labels.cpu().numpy()[labeled] + 1, minlength=train.num_classes + 1)  # [0]: -1
    unbalanced = {cls: int(n) for cls, n in enumerate(per_class[1:]) if n != claimed}
    if per_class[0] or unbalanced:
        found = (f"{int(per_class[0])} unlabeled images" if per_class[0]
                 else f"classes {dict(list(unbalanced.items())[:5])} (class: count)")
        raise SplitError(f"{path}: claims {claimed} labels per class ({claimed * train.num_classes} in all) but "
                         f"holds {labeled.size}, with {found}. {fix}")


def get_split(train: ImageSet, labels_per_class: int | str, seed: int = 0) -> LowLabelSplit:
    """The split for ``(train, labels_per_class, seed)``: loaded from its file and checked, or made and saved on
    first use."""
    _validate_labels_per_class(labels_per_class)
    path = split_path(train.dataset, labels_per_class, seed)
    if path.is_file():
        return load_split(path, train, labels_per_class, seed)
    split = make_split(train, labels_per_class, seed)
    save_split(split, train, path)
    return split


def seeded_subset(index: torch.Tensor, size: int | None, seed: int) -> torch.Tensor:
    """``size`` entries of ``index`` drawn at random with ``seed``, sorted (all of it when ``size`` is None or not
    smaller). Never its first ``size``: a folder's index is sorted by class, and its head
    would hold the first classes only."""
    if size is None or size >= len(index):
        return index
    order = torch.randperm(len(index), generator=torch.Generator().manual_seed(seed))
    return index[order[:size]].sort().values


def unlabeled_pool(split: LowLabelSplit, size: int | None, seed: int) -> torch.Tensor:
    """The unlabeled images a run draws from: every image of ``split`` that is not labeled, or, with ``size``, a
    random ``size`` of them chosen with ``seed`` (sorted indices ``[size]``)."""
    return seeded_subset(split.unlabeled, size, seed)
