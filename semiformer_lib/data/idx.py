"""Reading the IDX files that MNIST-style datasets ship in, refusing anything malformed.

IDX is LeCun's format: a 4-byte magic number (two zero bytes, a type code, the number of dimensions),
one big-endian uint32 per dimension, then the values in row-major order. Fashion-MNIST uses two kinds:

* images: magic ``0x00000803`` (uint8, 3 dims) → tensor ``[N, 28, 28]`` uint8
* labels: magic ``0x00000801`` (uint8, 1 dim)  → tensor ``[N]`` uint8

Every way a file can be wrong (missing, not gzip, truncated, wrong magic number, wrong count, label out of range)
raises :class:`DatasetFileError` naming the file, what is wrong and how to fix it, before any training starts.
"""
from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

UINT8_TYPE_CODE = 0x08
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801


class DatasetFileError(RuntimeError):
    """A dataset file is missing or malformed; the message names the file and the fix."""


def _read_bytes(path: Path, fix: str) -> bytes:
    if not path.is_file():
        raise DatasetFileError(f"{path}: file not found. {fix}")
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as handle:
            return handle.read()
    except (OSError, EOFError, zlib.error) as err:  # gzip raises these for truncated or non-gzip data
        raise DatasetFileError(f"{path}: cannot be decompressed ({err}); the file is corrupt. {fix}") from err


def read_idx(path: str | Path, expected_magic: int, expected_count: int | None = None,
             fix: str = "Re-run `python -m data_prep fashion-mnist`.") -> torch.Tensor:
    """Read one IDX file (gzipped or not) into a uint8 tensor, validating header, size and count.

    Args:
        path: the ``.gz`` or raw IDX file.
        expected_magic: ``IMAGES_MAGIC`` or ``LABELS_MAGIC``.
        expected_count: the number of items the file must hold (e.g. 60000), or None to accept any.
        fix: the sentence that tells the user how to repair the file; appended to every error.
    """
    path = Path(path)
    raw = _read_bytes(path, fix)
    if len(raw) < 4:
        raise DatasetFileError(f"{path}: only {len(raw)} bytes, too short for an IDX header. {fix}")
    (magic,) = struct.unpack(">I", raw[:4])
    if magic != expected_magic:
        raise DatasetFileError(
            f"{path}: wrong magic number 0x{magic:08x}, expected 0x{expected_magic:08x} "
            f"({'images' if expected_magic == IMAGES_MAGIC else 'labels'} file). {fix}")
    ndim = magic & 0xFF
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise DatasetFileError(f"{path}: truncated inside the header. {fix}")
    shape = struct.unpack(f">{ndim}I", raw[4:header_size])
    expected_size = header_size + int(np.prod(shape))
    if len(raw) != expected_size:
        state = "truncated" if len(raw) < expected_size else "longer than its header says"
        raise DatasetFileError(
            f"{path}: {state}: header promises {shape} = {expected_size} bytes, file has {len(raw)}. {fix}")
    if expected_count is not None and shape[0] != expected_count:
        raise DatasetFileError(f"{path}: holds {shape[0]} items, expected {expected_count}. {fix}")
    values = np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)
    return torch.from_numpy(values.copy())


def read_labels(path: str | Path, num_classes: int, expected_count: int | None = None,
                fix: str = "Re-run `python -m data_prep fashion-mnist`.") -> torch.Tensor:
    """Read an IDX label file → ``[N]`` int64, checking every label lies in ``[0, num_classes)``."""
    labels = read_idx(path, LABELS_MAGIC, expected_count, fix).long()
    if labels.numel() and int(labels.max()) >= num_classes:
        bad = int((labels >= num_classes).nonzero()[0, 0])
        raise DatasetFileError(
            f"{path}: label {int(labels[bad])} at position {bad} is out of range [0, {num_classes}). {fix}")
    return labels
