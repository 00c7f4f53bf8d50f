"""STL-10 (Coates et al., 2011) as a resident :class:`~semiformer_lib.data.ImageSet`: 96×96 RGB, 10 classes, 5 000
labeled training images, 8 000 test images and 100 000 unlabeled images from a wider distribution.

The binary archive unpacks to ``stl10_binary/{train,test,unlabeled}_X.bin`` — uint8 images stored column-major
(``[N, 3, 96, 96]`` after swapping the last two axes) — and ``{train,test}_y.bin`` (labels 1…10, one byte each),
plus ``class_names.txt``. The ``"train"`` split here is the labeled training images followed by the unlabeled ones,
whose label is -1 (unknown): a low-label split draws its labeled images from the first, and every other image is
unlabeled. The unlabeled file is 2.8 GB as uint8; it stays resident on the training device.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .datasets import ImageSet, content_fingerprint
from .idx import DatasetFileError

STL10_MEAN, STL10_STD = (0.4467, 0.4398, 0.4066), (0.2603, 0.2566, 0.2713)
SIDE = 96
UNKNOWN_LABEL = -1


def _read_images(path: Path, fix: str) -> np.ndarray:
    if not path.is_file():
        raise DatasetFileError(f"{path}: missing. {fix}")
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % (3 * SIDE * SIDE):
        raise DatasetFileError(f"{path}: {raw.size} bytes is not a whole number of 3×96×96 images. {fix}")
    return raw.reshape(-1, 3, SIDE, SIDE).transpose(0, 1, 3, 2)                    # column-major → [N, 3, H, W]


def _read_labels(path: Path, count: int, fix: str) -> np.ndarray:
    if not path.is_file():
        raise DatasetFileError(f"{path}: missing. {fix}")
    labels = np.fromfile(path, dtype=np.uint8).astype(np.int64) - 1                 # 1…10 → 0…9
    if labels.size != count or labels.min() < 0 or labels.max() > 9:
        raise DatasetFileError(f"{path}: {labels.size} labels (expected {count}, each 1…10). {fix}")
    return labels


def load_stl10(split: str, root: str | Path, device: str | torch.device = "cpu") -> ImageSet:
    """STL-10 ``"train"`` (labeled + unlabeled, see the module docstring) or ``"test"`` from ``root`` (the folder
    holding ``stl10_binary``): images ``[N, 3, 96, 96]`` uint8, labels ``[N]`` int64 (-1 = unlabeled)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = Path(root) / "stl10_binary"
    fix = f"Run `python -m data_prep stl10` to download and check it (or delete {folder} and run it again)."
    images = _read_images(folder / f"{split}_X.bin", fix)
    labels = _read_labels(folder / f"{split}_y.bin", len(images), fix)
    if split == "train":
        unlabeled = _read_images(folder / "unlabeled_X.bin", fix)
        images = np.concatenate([images, unlabeled])
        labels = np.concatenate([labels, np.full(len(unlabeled), UNKNOWN_LABEL, dtype=np.int64)])
    names_file = folder / "class_names.txt"
    classes = tuple(names_file.read_text().splitlines()) if names_file.is_file() else tuple(map(str, range(10)))
    image_tensor = torch.from_numpy(np.ascontiguousarray(images))
    label_tensor = torch.from_numpy(labels)
    return ImageSet(image_tensor, label_tensor, classes, STL10_MEAN, STL10_STD, f"stl10/{split}",
                    content_fingerprint(image_tensor, label_tensor.clamp(min=0))).to(device)
