"""What one training run draws from: its batch sources, its evaluation batches and its probes, on resident or
streamed data (Semiformer Sec. 4.1: a few labeled images, the rest of the training set unlabeled).

Every run of the library — a chapter's, a comparison's, the CLI's — gets a :class:`RunData`:

* ``labeled`` / ``unlabeled``: batch sources (:mod:`.sources`); ``next_batch()`` gives uint8 views
  ``[b, C, H, W]`` on the device and labels ``[b]``. ``unlabeled`` is None for a supervised run.
* ``curve_batches()`` / ``final_batches()``: ``(uint8 images [b, C, H, W], labels [b])`` of the test images
  measured during training and at the end (this process's share of them).
* ``labeled_batches()``: a fixed subset of the labeled images, whose accuracy shows memorisation (None: not measured).
* ``probe``: un-augmented unlabeled images on which every teacher is asked for pseudo-labels (None: no probe).

:func:`resident_run_data` builds it from sets already in memory, :func:`split_run_data` from a resident training
set and its low-label split, :func:`streamed_run_data` from an ImageNet folder tree.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn

from ..seeding import make_generator
from .datasets import EVAL_BATCH, ImageSet
from .sources import ResidentSource, StreamedSource, resident_sources
from .splits import get_split, seeded_subset, unlabeled_pool

Batches = Callable[[], Iterator[tuple[torch.Tensor, torch.Tensor]]]


@dataclass
class RunData:
    """A run's sources, evaluation batches and probes; see the module docstring."""
    labeled: ResidentSource | StreamedSource
    unlabeled: ResidentSource | StreamedSource | None
    curve_batches: Batches
    final_batches: Batches
    num_classes: int
    image_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    labeled_images: int                                 # one epoch is one pass over them (train.config)
    labeled_batches: Batches | None = None
    probe: ImageSet | None = None
    description: dict = field(default_factory=dict)
    classes: tuple[str, ...] = ()                       # class names, in label order (what a prediction names)


def share_batches(dataset: ImageSet, rank: int = 0, world_size: int = 1, batch_size: int = EVAL_BATCH) -> Batches:
    """This process's rows ``rank, rank + W, …`` of ``dataset``, in batches of ``batch_size``."""
    def batches():
        share = torch.arange(rank, len(dataset), world_size, device=dataset.device)
        for start in range(0, len(share), batch_size):
            chunk = share[start:start + batch_size]
            yield dataset.images[chunk], dataset.labels[chunk]
    return batches


def resident_run_data(labeled: ImageSet, unlabeled: ImageSet | None, test: ImageSet, *, batch_size: int,
                      unlabeled_batch: int, seed: int, strong: tuple[int, float], augment: bool = True,
                      curve_test: ImageSet | None = None, train_eval_size: int = 0, probe_size: int = 0,
                      rank: int = 0, world_size: int = 1) -> RunData:
    """A run on sets already on the device: ``labeled``, ``unlabeled`` (None: supervised) and ``test`` (the final
    evaluation; ``curve_test``, default ``test``, the evaluations during training)."""
    sets = [s for s in (labeled, unlabeled, test) if s is not None]
    if len({str(s.device) for s in sets}) != 1:
        raise ValueError(f"labeled, unlabeled and test sets must be on one device, got {[str(s.device) for s in sets]}")
    if len({s.image_shape for s in sets}) != 1:
        raise ValueError(f"image shapes differ: {[s.image_shape for s in sets]}")
    labeled_source, unlabeled_source = resident_sources(
        labeled, unlabeled, batch_size=batch_size, unlabeled_batch=unlabeled_batch, seed=seed, strong=strong,
        augment=augment, rank=rank, world_size=world_size)
    train_probe = None
    if train_eval_size:
        chosen = labeled if len(labeled) <= train_eval_size else labeled.subset(
            torch.randperm(len(labeled), generator=make_generator(seed, "cpu"))[:train_eval_size])
        train_probe = share_batches(chosen, rank, world_size)
    probe = (unlabeled.subset(torch.arange(min(probe_size, len(unlabeled))))
             if unlabeled is not None and probe_size else None)
    curve_test = test if curve_test is None else curve_test
    return RunData(labeled_source, unlabeled_source, share_batches(curve_test, rank, world_size),
                   share_batches(test, rank, world_size), labeled.num_classes, labeled.image_shape, labeled.mean,
                   labeled.std, len(labeled), train_probe, probe,
                   {"labeled": len(labeled), "unlabeled": len(unlabeled) if unlabeled is not None else 0,
                    "test": len(test), "curve_test": len(curve_test)}, tuple(labeled.classes))


def resized(dataset: ImageSet, size: int | None) -> ImageSet:
    """``dataset`` at ``size × size`` pixels (antialiased bilinear, back to uint8); unchanged when None or equal."""
    if size is None or dataset.image_shape[1:] == (size, size):
        return dataset
    chunks = []
    for start in range(0, len(dataset), 4096):
        batch = dataset.images[start:start + 4096].float()
        chunks.append(nn.functional.interpolate(batch, size=(size, size), mode="bilinear", antialias=True,
                                                align_corners=False).round().clamp(0, 255).to(torch.uint8))
    return ImageSet(torch.cat(chunks), dataset.labels, dataset.classes, dataset.mean, dataset.std,
                    f"{dataset.name}@{size}", dataset.fingerprint)


def labels_per_class_for(train_set: ImageSet, labels_per_class: int | None, label_percent: float | None) -> int:
    """The labels per class of a split given either directly or as a share of the labeled training images."""
    if labels_per_class is not None:
        return labels_per_class
    known = int((train_set.labels >= 0).sum())
    return max(1, round(label_percent / 100 * known / train_set.num_classes))


def split_run_data(train_set: ImageSet, test: ImageSet, *, labels_per_class: int, split_seed: int,
                   unlabeled_size: int | None, eval_size: int | None, **run_options) -> RunData:
    """A run on the ``labels_per_class`` split of ``train_set`` (its split file, made with ``split_seed`` on first
    use and checked on every later one: :func:`~.splits.get_split`): the labeled images, the
    unlabeled pool (``unlabeled_size`` of the rest, or all), the first ``eval_size`` test images for the curves
    (all when None) and every test image at the end. ``run_options``: see :func:`resident_run_data`."""
    split = get_split(train_set, labels_per_class, split_seed)
    pool = unlabeled_pool(split, unlabeled_size, split_seed)
    labeled, unlabeled = train_set.subset(split.labeled), train_set.subset(pool)
    curve_test = test if eval_size is None else test.subset(torch.arange(min(eval_size, len(test))))
    data = resident_run_data(labeled, unlabeled, test, curve_test=curve_test, **run_options)
    data.description["labels_per_class"] = labels_per_class
    return data


def streamed_run_data(root: Path, *, image_size: int | None, label_percent: float | None, label_list: str | None,
                      split_seed: int, unlabeled_size: int | None, eval_size: int | None, batch_size: int,
                      unlabeled_batch: int, seed: int, strong: tuple[int, float], workers: int,
                      device: torch.device, rank: int = 0, world_size: int = 1) -> RunData:
    """A run on ImageNet read from ``root`` (see :mod:`.imagenet`): the labeled images of ``label_list`` (or of a
    generated ``label_percent`` list), the rest unlabeled (``unlabeled_size`` of them, drawn with ``split_seed``),
    the validation set for evaluation (the curves: ``eval_size`` of its images drawn with ``split_seed``; the
    final accuracy: all of them). Both draws are seeded and spread over every class, as the folders are sorted
    by class."""
    from .imagenet import (IMAGENET_MEAN, IMAGENET_STD, eval_transform, image_folder, labeled_indices,
                           make_label_list, read_label_list, train_transform)
    size = image_size or 224
    train_set = image_folder(root, "train", train_transform(size))
    val = image_folder(root, "val", eval_transform(size))
    names = read_label_list(label_list) if label_list else make_label_list(train_set, label_percent, split_seed)
    labeled_index, unlabeled_index = labeled_indices(train_set, names, label_list or "the generated list")
    unlabeled_index = seeded_subset(unlabeled_index, unlabeled_size, split_seed)
    sources = [StreamedSource(train_set, index, batch, seed * 2 + k, device, rank, world_size, workers,
                              strong if k == 2 else None)
               for k, index, batch in ((1, labeled_index, batch_size), (2, unlabeled_index, unlabeled_batch))]

    def val_batches(count: int) -> Batches:
        # the curves' images: a seeded random ``count`` of val (its first images would be its first classes only)
        positions = seeded_subset(torch.arange(len(val)), count, split_seed).tolist()

        def batches():
            share = torch.utils.data.Subset(val, positions[rank::world_size])
            loader = torch.utils.data.DataLoader(share, batch_size=EVAL_BATCH, num_workers=workers,
                                                 pin_memory=device.type == "cuda")
            for images, labels in loader:
                yield images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        return batches
    curve_count = len(val) if eval_size is None else min(eval_size, len(val))
    return RunData(sources[0], sources[1], val_batches(curve_count), val_batches(len(val)), len(train_set.classes),
                   (3, size, size), IMAGENET_MEAN, IMAGENET_STD, len(labeled_index),
                   description={"labeled": len(labeled_index), "unlabeled": len(unlabeled_index), "test": len(val)},
                   classes=tuple(train_set.classes))
