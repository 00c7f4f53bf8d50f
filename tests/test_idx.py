"""Every malformed IDX file is refused with a message that names the file and the problem."""
from __future__ import annotations

import numpy as np
import pytest

from semiformer_lib.data.idx import IMAGES_MAGIC, LABELS_MAGIC, DatasetFileError, read_idx, read_labels
from tests.conftest import write_idx


def test_round_trip_gz_and_raw(tmp_path):
    images = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    write_idx(tmp_path / "a.gz", images)
    write_idx(tmp_path / "a.idx", images, compress=False)
    for name in ("a.gz", "a.idx"):
        loaded = read_idx(tmp_path / name, IMAGES_MAGIC, expected_count=3)
        assert loaded.shape == (3, 4, 5)
        assert (loaded.numpy() == images).all()


def test_missing_file_names_it(tmp_path):
    with pytest.raises(DatasetFileError, match=r"nothere\.gz: file not found.*data_prep"):
        read_idx(tmp_path / "nothere.gz", IMAGES_MAGIC)


def test_not_gzip(tmp_path):
    (tmp_path / "x.gz").write_bytes(b"this is not gzip data at all")
    with pytest.raises(DatasetFileError, match=r"x\.gz: cannot be decompressed"):
        read_idx(tmp_path / "x.gz", IMAGES_MAGIC)


def test_truncated_gzip_stream(tmp_path):
    write_idx(tmp_path / "x.gz", np.zeros((50, 28, 28), np.uint8) + 7)
    data = (tmp_path / "x.gz").read_bytes()
    (tmp_path / "x.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetFileError, match=r"x\.gz: cannot be decompressed"):
        read_idx(tmp_path / "x.gz", IMAGES_MAGIC)


def test_truncated_payload(tmp_path):
    write_idx(tmp_path / "x.idx", np.zeros((10, 4, 4), np.uint8), compress=False)
    data = (tmp_path / "x.idx").read_bytes()
    (tmp_path / "x.idx").write_bytes(data[:-5])
    with pytest.raises(DatasetFileError, match=r"x\.idx: truncated"):
        read_idx(tmp_path / "x.idx", IMAGES_MAGIC)


def test_wrong_magic(tmp_path):
    write_idx(tmp_path / "labels.gz", np.zeros(10, np.uint8))  # a labels file where images are expected
    with pytest.raises(DatasetFileError, match=r"labels\.gz: wrong magic number 0x00000801, expected 0x00000803"):
        read_idx(tmp_path / "labels.gz", IMAGES_MAGIC)


def test_wrong_count(tmp_path):
    write_idx(tmp_path / "l.gz", np.zeros(9, np.uint8))
    with pytest.raises(DatasetFileError, match=r"l\.gz: holds 9 items, expected 10"):
        read_labels(tmp_path / "l.gz", num_classes=10, expected_count=10)


def test_label_out_of_range(tmp_path):
    write_idx(tmp_path / "l.gz", np.array([0, 3, 12, 1], np.uint8))
    with pytest.raises(DatasetFileError, match=r"l\.gz: label 12 at position 2 is out of range \[0, 10\)"):
        read_labels(tmp_path / "l.gz", num_classes=10)


def test_labels_in_range_are_int64(tmp_path):
    write_idx(tmp_path / "l.gz", np.array([0, 9, 4], np.uint8))
    labels = read_labels(tmp_path / "l.gz", num_classes=10)
    assert labels.dtype.is_floating_point is False and labels.tolist() == [0, 9, 4]
    assert read_idx(tmp_path / "l.gz", LABELS_MAGIC).shape == (3,)
