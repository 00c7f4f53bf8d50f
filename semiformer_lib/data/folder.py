"""Your own images as a resident :class:`~semiformer_lib.data.ImageSet`: ``dataset: folder`` with ``data_root``.

The folder holds one subfolder per class, the way torchvision's ``ImageFolder`` reads it::

    data_root/
        train/<class>/*.png|jpg|…     labeled candidates: a low-label split keeps labels_per_class of each class
        val/<class>/*                 optional: the test set; without it a seeded tenth of each class of train/
        unlabeled/*                   optional: images without a class, added to the unlabeled pool

Classes are the subfolder names of ``train/`` in sorted order. Every image is read with Pillow, converted to gray
(when every training image is gray) or RGB, and resized to ``image_size × image_size`` (bilinear, antialiased; the
aspect ratio is not kept), giving ``images`` ``[N, C, S, S]`` uint8. The ``"train"`` split is ``train/`` (less the
held-out tenth) followed by ``unlabeled/``, whose label is -1 (unknown), as STL-10's is. Mean and std are measured
on the training images. A folder that cannot train is refused before anything is computed, naming the file or
folder: no ``train/``, an empty class, a single class, an unreadable image.

Split files go to ``<cache>/folder-<fingerprint>/splits``: the fingerprint is that of the decoded images and
labels, so adding an image gives new splits instead of a split of other data.

:func:`write_image_folder` writes any :class:`ImageSet` (Fashion-MNIST, say) in this layout as PNG files, to try
the folder path on images whose classes are known (the book's "Your data" page).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .datasets import ImageSet, content_fingerprint
from .idx import DatasetFileError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
HELD_OUT = 0.1                 # share of each class of train/ that becomes the test set when there is no val/
HELD_OUT_SEED = 0              # fixed, so that the test set is the same whatever the run's split seed
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")
UNKNOWN_LABEL = -1
LAYOUT = "data_root/train/<class>/<image> (optional: data_root/val/<class>/<image>, data_root/unlabeled/<image>)"


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _class_files(split_dir: Path, classes: list[str] | None = None) -> tuple[list[str], list[list[Path]]]:
    """The class names (sorted subfolders, or ``classes``) of ``split_dir`` and each one's image files."""
    if not split_dir.is_dir():
        raise DatasetFileError(f"{split_dir} not found: a folder data set is laid out as {LAYOUT}")
    found = sorted(p.name for p in split_dir.iterdir() if p.is_dir())
    if classes is not None and found != classes:
        raise DatasetFileError(f"{split_dir} has classes {found}, train/ has {classes}: the two must match")
    classes = found
    if len(classes) < 2:
        raise DatasetFileError(f"{split_dir} has {len(classes)} class folder(s) {classes}; a classifier needs at "
                               f"least two: {LAYOUT}")
    files = [_images_in(split_dir / name) for name in classes]
    for name, images in zip(classes, files):
        if not images:
            raise DatasetFileError(f"{split_dir / name} holds no image ({', '.join(IMAGE_SUFFIXES)}): add images "
                                   "or remove the folder")
    return classes, files


def _is_gray(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            return image.mode in GRAY_MODES
    except (UnidentifiedImageError, OSError) as err:
        raise DatasetFileError(f"{path} cannot be read as an image ({type(err).__name__}); remove or replace it") \
            from None


def read_images(paths: list[Path], channels: int, size: int) -> np.ndarray:
    """The image files at ``paths`` converted to ``channels`` (1: gray, 3: RGB) and resized to ``size × size``
    (bilinear, antialiased): ``[N, C, size, size]`` uint8. :class:`DatasetFileError` names a file that cannot be
    read. The preprocessing of a folder data set, and of the images a finished run predicts."""
    mode = {1: "L", 3: "RGB"}.get(channels)
    if mode is None:
        raise DatasetFileError(f"images can be read as 1 (gray) or 3 (RGB) channels, not {channels}")
    arrays = []
    for path in paths:
        try:
            with Image.open(path) as image:
                image = image.convert(mode)
                if image.size != (size, size):
                    image = image.resize((size, size), Image.Resampling.BILINEAR)
                array = np.asarray(image, dtype=np.uint8)
        except (UnidentifiedImageError, OSError) as err:
            raise DatasetFileError(f"{path} cannot be read as an image ({type(err).__name__}); remove or replace "
                                   "it") from None
        arrays.append(array[None] if array.ndim == 2 else array.transpose(2, 0, 1))
    return np.stack(arrays) if arrays else np.zeros((0, channels, size, size), dtype=np.uint8)


def _held_out(counts: list[int]) -> list[np.ndarray]:
    """For each class of ``counts`` images, which positions are held out as the test set (a seeded tenth, ≥ 1)."""
    rng = np.random.default_rng(HELD_OUT_SEED)
    held = []
    for count in counts:
        if count < 2:
            raise DatasetFileError(f"a class of train/ has {count} image; without val/ each class needs ≥ 2 (one "
                                   "is held out for testing), or add data_root/val/<class>/")
        held.append(np.sort(rng.permutation(count)[:max(1, round(HELD_OUT * count))]))
    return held


@lru_cache(maxsize=4)
def _read_folder(root: Path, size: int) -> dict:
    """Every image of the folder data set at ``root``, read once per process: ``{"classes", "train", "test"}``,
    each split ``(images [N, C, S, S] uint8, labels [N] int64)``."""
    classes, files = _class_files(root / "train")
    unlabeled_files = _images_in(root / "unlabeled") if (root / "unlabeled").is_dir() else []
    channels = 1 if all(_is_gray(path) for group in files for path in group) else 3
    if (root / "val").is_dir():
        _, test_files = _class_files(root / "val", classes)
        train_files = files
    else:
        held = _held_out([len(group) for group in files])
        test_files = [[group[i] for i in keep] for group, keep in zip(files, held)]
        held_sets = [set(keep.tolist()) for keep in held]
        train_files = [[p for i, p in enumerate(group) if i not in kept] for group, kept in zip(files, held_sets)]

    def labeled(groups):
        paths = [p for group in groups for p in group]
        labels = np.concatenate([np.full(len(group), k) for k, group in enumerate(groups)])
        return read_images(paths, channels, size), labels

    train_images, train_labels = labeled(train_files)
    extra = read_images(unlabeled_files, channels, size)
    train = (np.concatenate([train_images, extra]),
             np.concatenate([train_labels, np.full(len(extra), UNKNOWN_LABEL)]))
    return {"classes": tuple(classes), "train": train, "test": labeled(test_files)}


def load_image_folder(root: str | Path, split: str = "train", image_size: int | None = None,
                      device: str | torch.device = "cpu") -> ImageSet:
    """The ``"train"`` or ``"test"`` split of the folder data set at ``root`` at ``image_size`` pixels (see the
    module docstring)."""
    if image_size is None:
        raise DatasetFileError("a folder data set needs image_size (its images are resized to image_size × "
                               "image_size): set image_size=32, for example")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root = Path(root).expanduser().resolve()
    data = _read_folder(root, image_size)
    train_images = torch.from_numpy(data["train"][0])
    scaled = train_images.float() / 255.0                                       # [N, C, S, S]
    mean = tuple(round(v, 4) for v in scaled.mean(dim=(0, 2, 3)).tolist())
    std = tuple(round(max(v, 1e-3), 4) for v in scaled.std(dim=(0, 2, 3)).tolist())
    train_labels = torch.from_numpy(data["train"][1]).long()
    fingerprint = content_fingerprint(train_images, train_labels)
    images, labels = (train_images, train_labels) if split == "train" else (
        torch.from_numpy(data["test"][0]), torch.from_numpy(data["test"][1]).long())
    return ImageSet(images.to(device), labels.to(device), data["classes"], mean, std,
                    f"folder-{fingerprint[:12]}/{split}", fingerprint)


def class_folder_name(name: str) -> str:
    """A class name as a folder name: ``"T-shirt/top"`` → ``"T-shirt-top"`` (a path separator would nest it)."""
    return name.replace("/", "-").replace("\\", "-").strip() or "class"


def write_image_folder(images: ImageSet, root: str | Path, per_class: int, val_per_class: int = 0,
                       unlabeled: int = 0, seed: int = 0) -> Path:
    """Write a data set in the layout ``dataset: folder`` reads, to try that path on images whose classes are known:
    ``per_class`` images of each class of ``images`` (an :class:`ImageSet`, ``[N, C, H, W]`` uint8) as PNG files in
    ``root/train/<class>/``, ``val_per_class`` others of each class in ``root/val/<class>/`` and ``unlabeled`` others
    of any class in ``root/unlabeled/``, drawn with ``seed``. Returns ``root``. A ``root`` that already holds files
    is refused, so nothing is overwritten or mixed."""
    root = Path(root).expanduser()
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} already holds files: write the image folder to a new or empty folder")
    labels = images.labels.cpu()
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(labels), generator=generator)
    taken = torch.zeros(len(labels), dtype=torch.bool)
    written = []
    for index, name in enumerate(images.classes):
        members = order[labels[order] == index]
        if len(members) < per_class + val_per_class:
            raise ValueError(f"class {name!r} has {len(members)} images, fewer than per_class + val_per_class = "
                             f"{per_class + val_per_class}")
        for split, chosen in (("train", members[:per_class]), ("val", members[per_class:per_class + val_per_class])):
            written += [(root / split / class_folder_name(name) / f"{int(i)}.png", int(i)) for i in chosen]
        taken[members[:per_class + val_per_class]] = True
    rest = order[~taken[order]]
    if len(rest) < unlabeled:
        raise ValueError(f"only {len(rest)} images are left for unlabeled = {unlabeled}")
    written += [(root / "unlabeled" / f"{int(i)}.png", int(i)) for i in rest[:unlabeled]]
    pixels = images.images.cpu().permute(0, 2, 3, 1).numpy()                   # [N, H, W, C] uint8
    for path, i in written:
        path.parent.mkdir(parents=True, exist_ok=True)
        picture = pixels[i][..., 0] if pixels.shape[-1] == 1 else pixels[i]
        Image.fromarray(picture).save(path)
    return root
