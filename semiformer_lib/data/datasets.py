"""Datasets held as one uint8 tensor on the training device.

Small image datasets (Fashion-MNIST is 47 MB decoded) fit in any device's memory, so they are loaded once as

* ``images``: ``[N, C, H, W]`` uint8 (the raw pixels, 4× smaller than float32),
* ``labels``: ``[N]`` int64,

and every batch is an index into them: no DataLoader workers, no per-image Python, no host→device copy per step.
Conversion to float and normalisation happen per batch on the device (:func:`to_model_input`).

Where the files are:

1. ``$SEMIFORMER_DATA/fashion-mnist/`` when ``SEMIFORMER_DATA`` is set (and then only there);
2. ``/usr/share/datasets/fashion-mnist/`` (Debian's package ``dataset-fashion-mnist``);
3. ``~/.cache/semiformer/fashion-mnist/`` (where ``python -m data_prep fashion-mnist`` downloads them).
"""
from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .idx import IMAGES_MAGIC, DatasetFileError, read_idx, read_labels

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 60_000),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 10_000),
}
# Per-channel statistics of the Fashion-MNIST training images, on the [0, 1] scale.
FASHION_MNIST_MEAN, FASHION_MNIST_STD = (0.2860,), (0.3530,)
PREPARE_HINT = "Run `python -m data_prep fashion-mnist` (or `make data`) to install or download it."

# Images per inference batch. On the 2-core CI machine 256 evaluates 2 000 test images 3× faster than 1 000 for
# the tiny Semiformer (0.76 s vs 2.34 s; conv maps at full resolution overflow the caches at 1 000), and no slower
# for the ViT or the CNN.
EVAL_BATCH = 256



def cache_root() -> Path:
    """Writable folder for downloads and split files: ``$SEMIFORMER_DATA`` or ``~/.cache/semiformer``."""
    override = os.environ.get("SEMIFORMER_DATA")
    return Path(override).expanduser() if override else Path.home() / ".cache" / "semiformer"


def fashion_mnist_dir() -> Path:
    """The folder holding the four Fashion-MNIST ``.gz`` files, searched in the order of the module docstring."""
    if os.environ.get("SEMIFORMER_DATA"):
        candidates = [cache_root() / "fashion-mnist"]
    else:
        candidates = [DEBIAN_FASHION_MNIST, cache_root() / "fashion-mnist"]
    names = [name for split in FASHION_MNIST_FILES.values() for name in split[:2]]
    incomplete = None                     # the first folder holding some of the files: the one the user meant
    for folder in candidates:
        missing = [name for name in names if not (folder / name).is_file()]
        if not missing:
            return folder
        if incomplete is None and len(missing) < len(names):
            incomplete = folder, missing
    if incomplete is not None:
        folder, missing = incomplete
        fix = ("`apt-get install --reinstall dataset-fashion-mnist` restores Debian's copy, or "
               f"{PREPARE_HINT[0].lower()}{PREPARE_HINT[1:]}" if folder == DEBIAN_FASHION_MNIST else PREPARE_HINT)
        raise DatasetFileError(f"Fashion-MNIST in {folder} is incomplete: {', '.join(missing)} missing. {fix}")
    looked = ", ".join(str(c) for c in candidates)
    raise DatasetFileError(f"Fashion-MNIST not found (looked in: {looked}). {PREPARE_HINT}")


@dataclass
class ImageSet:
    """A labelled image collection resident on one device.

    Attributes:
        images: ``[N, C, H, W]`` uint8.
        labels: ``[N]`` int64.
        classes: class names, ``len(classes)`` = number of classes.
        mean, std: per-channel statistics on the [0, 1] scale, used by :func:`to_model_input`.
        name: e.g. ``"fashion-mnist/train"``.
    """
    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    name: str
    fingerprint: str = field(default="", repr=False)

    def __len__(self) -> int:
        return self.labels.numel()

    @property
    def dataset(self) -> str:
        """The data set's registered name: ``"fashion-mnist"`` for ``"fashion-mnist/train"``."""
        return self.name.split("/")[0]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def device(self) -> torch.device:
        return self.images.device

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)``."""
        return tuple(self.images.shape[1:])

    def subset(self, indices: torch.Tensor, name: str | None = None) -> "ImageSet":
        """The images at ``indices`` (a ``[M]`` int64 tensor), as a new resident set on the same device."""
        indices = indices.to(self.device)
        return ImageSet(self.images[indices], self.labels[indices], self.classes, self.mean, self.std,
                        name or f"{self.name}[{len(indices)}]", self.fingerprint)

    def to(self, device: str | torch.device) -> "ImageSet":
        return ImageSet(self.images.to(device), self.labels.to(device), self.classes, self.mean, self.std,
                        self.name, self.fingerprint)


def content_fingerprint(images: torch.Tensor, labels: torch.Tensor) -> str:
    """SHA-256 of the decoded pixels and labels: identifies the data a split was made from."""
    digest = hashlib.sha256()
    digest.update(images.cpu().contiguous().numpy().tobytes())
    digest.update(labels.cpu().to(torch.uint8).contiguous().numpy().tobytes())
    return digest.hexdigest()


def load_fashion_mnist(split: str = "train", device: str | torch.device = "cpu",
                       folder: str | Path | None = None) -> ImageSet:
    """Load Fashion-MNIST's ``"train"`` (60 000) or ``"test"`` (10 000) images onto ``device``.

    Returns an :class:`ImageSet` with images ``[N, 1, 28, 28]`` uint8.
    """
    if split not in FASHION_MNIST_FILES:
        raise ValueError(f"split must be one of {sorted(FASHION_MNIST_FILES)}, got {split!r}")
    folder = Path(folder) if folder is not None else fashion_mnist_dir()
    image_file, label_file, count = FASHION_MNIST_FILES[split]
    missing = [name for name in (image_file, label_file) if not (folder / name).is_file()]
    if missing:                             # only in a folder the user named (data_root): data_prep never writes there
        raise DatasetFileError(f"Fashion-MNIST in {folder}: {', '.join(missing)} missing. Put the four .gz files "
                               f"there (`python -m data_prep fashion-mnist` downloads and checks them in "
                               f"{cache_root() / 'fashion-mnist'}), or leave data_root unset.")
    fix = f"Delete it and {PREPARE_HINT[0].lower()}{PREPARE_HINT[1:]}"
    images = read_idx(folder / image_file, IMAGES_MAGIC, count, fix)
    labels = read_labels(folder / label_file, len(FASHION_MNIST_CLASSES), count, fix)
    if images.shape[1:] != (28, 28):
        raise DatasetFileError(f"{folder / image_file}: images are {tuple(images.shape[1:])}, expected (28, 28). {fix}")
    dataset = ImageSet(images.unsqueeze(1), labels, FASHION_MNIST_CLASSES, FASHION_MNIST_MEAN, FASHION_MNIST_STD,
                       f"fashion-mnist/{split}", content_fingerprint(images, labels))
    return dataset.to(device)


def dataset_root(name: str, root: str | Path | None = None) -> Path:
    """Where a dataset's files are: ``root`` when given, else ``$SEMIFORMER_DATA/<name>`` or
    ``~/.cache/semiformer/<name>`` (where ``python -m data_prep <name>`` puts them)."""
    return Path(root).expanduser() if root is not None else cache_root() / name


@functools.lru_cache(maxsize=32)
def _channel_stats(mean: tuple[float, ...], std: tuple[float, ...], device: torch.device):
    # Made once per device: building them per batch would copy host memory to the GPU every step, and a copy
    # from pageable host memory makes the host wait for the GPU.
    return (torch.tensor(mean, device=device).view(1, -1, 1, 1),
            torch.tensor(std, device=device).view(1, -1, 1, 1))


def to_model_input(images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """uint8 ``[B, C, H, W]`` → normalised float32 ``[B, C, H, W]`` on the same device."""
    mean_t, std_t = _channel_stats(tuple(mean), tuple(std), images.device)
    return (images.float() / 255.0 - mean_t) / std_t
