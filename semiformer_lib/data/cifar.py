"""CIFAR-10 and CIFAR-100 (Krizhevsky, 2009) as resident :class:`~semiformer_lib.data.ImageSet` s.

The "python version" archives unpack to pickled batches: ``cifar-10-batches-py/data_batch_{1..5}`` and
``test_batch`` (key ``b"labels"``, class names in ``batches.meta``), or ``cifar-100-python/train`` and ``test``
(key ``b"fine_labels"``, names in ``meta``). Every batch holds ``b"data"``: ``[N, 3072]`` uint8, the red, green
and blue planes of a 32×32 image one after the other, so a reshape gives ``[N, 3, 32, 32]`` without copying.
``python -m data_prep cifar10`` (or ``cifar100``) downloads and checks the archive.

The batches are pickles, and a pickle can name any importable function to call while it loads. They are read
with :class:`BatchUnpickler`, which resolves only the names a CIFAR batch needs (NumPy's array reconstructors and
dtype, and the ``_codecs.encode`` that Python-3 protocol-2 pickles use for ``bytes``), so a file planted under
``data_root`` or ``$SEMIFORMER_DATA`` cannot run code: any other name is refused, naming the file.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from .datasets import ImageSet, content_fingerprint
from .idx import DatasetFileError

# Per-channel statistics of the training images on the [0, 1] scale (FixMatch's values).
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)

LAYOUT = {
    "cifar10": {"folder": "cifar-10-batches-py", "train": [f"data_batch_{i}" for i in range(1, 6)],
                "test": ["test_batch"], "meta": "batches.meta", "names": b"label_names", "labels": b"labels",
                "classes": 10, "stats": (CIFAR10_MEAN, CIFAR10_STD)},
    "cifar100": {"folder": "cifar-100-python", "train": ["train"], "test": ["test"], "meta": "meta",
                 "names": b"fine_label_names", "labels": b"fine_labels", "classes": 100,
                 "stats": (CIFAR100_MEAN, CIFAR100_STD)},
}


# (module, name) pairs a CIFAR batch may reference: dicts, lists, bytes, str and ints need none; NumPy arrays need
# their reconstructors (numpy 1 spells the module numpy.core, numpy 2 numpy._core; protocol 5 uses _frombuffer).
ALLOWED_GLOBALS = frozenset({
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
})


class ForbiddenPickleError(pickle.UnpicklingError):
    """A pickle names a function or class a CIFAR batch never needs (it could run code when called)."""


class BatchUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`ALLOWED_GLOBALS`; any other global raises
    :class:`ForbiddenPickleError` before it is imported or called."""

    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED_GLOBALS:
            raise ForbiddenPickleError(f"it references {module}.{name}, which a CIFAR batch never holds "
                                       "(refused unloaded: calling it could run code)")
        return super().find_class(module, name)


def _unpickle(path: Path, fix: str) -> dict:
    if not path.is_file():
        raise DatasetFileError(f"{path}: missing. {fix}")
    try:
        with path.open("rb") as handle:
            record = BatchUnpickler(handle, encoding="bytes").load()
    except ForbiddenPickleError as err:
        raise DatasetFileError(f"{path}: not a CIFAR batch file: {err}. Delete it; {fix[0].lower()}{fix[1:]}") \
            from None
    except Exception as err:                     # a truncated or foreign file: pickle raises many kinds of error
        raise DatasetFileError(f"{path}: not a CIFAR batch file ({type(err).__name__}: {err}). {fix}") from err
    if not isinstance(record, dict):
        raise DatasetFileError(f"{path}: not a CIFAR batch file (holds a {type(record).__name__}). {fix}")
    return record


def load_cifar(name: str, split: str, root: str | Path, device: str | torch.device = "cpu") -> ImageSet:
    """Read CIFAR ``name`` (``"cifar10"`` / ``"cifar100"``) ``split`` (``"train"``, ``"test"``) from ``root``
    (the folder holding the unpacked ``cifar-…`` folder). Images ``[N, 3, 32, 32]`` uint8, labels ``[N]`` int64."""
    if name not in LAYOUT:
        raise ValueError(f"unknown CIFAR variant {name!r}; choose cifar10 or cifar100")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    layout = LAYOUT[name]
    folder = Path(root) / layout["folder"]
    fix = f"Run `python -m data_prep {name}` to download and check it (or delete {folder} and run it again)."
    images, labels = [], []
    for batch_name in layout[split]:
        record = _unpickle(folder / batch_name, fix)
        try:
            data = np.asarray(record[b"data"], dtype=np.uint8)
            batch_labels = np.asarray(record[layout["labels"]], dtype=np.int64)
        except KeyError as err:
            raise DatasetFileError(f"{folder / batch_name}: no {err} entry; not a {name} batch. {fix}") from err
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(batch_labels) != len(data):
            raise DatasetFileError(f"{folder / batch_name}: data {data.shape} / {len(batch_labels)} labels, "
                                   f"expected [N, 3072] and N labels. {fix}")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(batch_labels)
    labels_all = np.concatenate(labels)
    if labels_all.min() < 0 or labels_all.max() >= layout["classes"]:
        raise DatasetFileError(f"{folder}: labels outside [0, {layout['classes']}). {fix}")
    meta = _unpickle(folder / layout["meta"], fix)
    classes = tuple(n.decode() for n in meta.get(layout["names"], [])) or tuple(map(str, range(layout["classes"])))
    image_tensor = torch.from_numpy(np.concatenate(images))
    label_tensor = torch.from_numpy(labels_all)
    mean, std = layout["stats"]
    return ImageSet(image_tensor, label_tensor, classes, mean, std, f"{name}/{split}",
                    content_fingerprint(image_tensor, label_tensor)).to(device)
