"""Every resident dataset by name: Fashion-MNIST, CIFAR-10, CIFAR-100 and STL-10, each read by its own parser into
an :class:`~semiformer_lib.data.datasets.ImageSet` (``images`` ``[N, C, H, W]`` uint8, ``labels`` ``[N]`` int64)
held on the training device. ImageNet is too large for that and is streamed instead
(:mod:`semiformer_lib.data.imagenet`).
"""
from __future__ import annotations

from pathlib import Path

import torch

from .cifar import load_cifar
from .datasets import ImageSet, dataset_root, load_fashion_mnist
from .folder import LAYOUT, load_image_folder
from .idx import DatasetFileError
from .stl10 import load_stl10

RESIDENT_DATASETS = ("fashion-mnist", "cifar10", "cifar100", "stl10", "folder")


def load_dataset(name: str, split: str = "train", device: str | torch.device = "cpu",
                 root: str | Path | None = None, image_size: int | None = None) -> ImageSet:
    """Load a resident dataset by name — ``"fashion-mnist"``, ``"cifar10"``, ``"cifar100"``, ``"stl10"``, or
    ``"folder"``: your own images under ``root`` (:mod:`.folder`, resized to ``image_size``) — from ``root``
    (default: see :func:`dataset_root`; Fashion-MNIST also looks in Debian's folder). ImageNet is streamed instead:
    :mod:`semiformer_lib.data.imagenet`."""
    if name == "folder":
        if root is None:
            raise DatasetFileError(f"dataset folder needs data_root=PATH, the folder laid out as {LAYOUT}")
        return load_image_folder(root, split, image_size, device)
    if name == "fashion-mnist":
        return load_fashion_mnist(split, device, root)
    if name in ("cifar10", "cifar100"):
        return load_cifar(name, split, dataset_root(name, root), device)
    if name == "stl10":
        return load_stl10(split, dataset_root(name, root), device)
    raise ValueError(f"unknown resident dataset {name!r}; available: {list(RESIDENT_DATASETS)} "
                     "(ImageNet is streamed: semiformer_lib.data.imagenet)")
