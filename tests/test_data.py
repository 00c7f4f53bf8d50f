"""Fashion-MNIST loading, low-label splits and on-device weak augmentation."""
from __future__ import annotations

import json

import pytest
import torch

from semiformer_lib.data import (STANDARD_LABELS_PER_CLASS, DatasetFileError, SplitError, fashion_mnist_dir,
                                 get_split, load_fashion_mnist, load_split, make_split, save_split, split_path,
                                 weak_augment)
from semiformer_lib.data.datasets import FASHION_MNIST_MEAN, FASHION_MNIST_STD


def test_fashion_mnist_shapes_and_statistics(fashion_train, fashion_test):
    assert fashion_train.images.shape == (60_000, 1, 28, 28) and fashion_train.images.dtype == torch.uint8
    assert fashion_test.images.shape == (10_000, 1, 28, 28)
    assert torch.bincount(fashion_train.labels).tolist() == [6000] * 10
    pixels = fashion_train.images.float() / 255
    assert pixels.mean().item() == pytest.approx(FASHION_MNIST_MEAN[0], abs=1e-3)
    assert pixels.std().item() == pytest.approx(FASHION_MNIST_STD[0], abs=1e-3)
    assert fashion_train.fingerprint != fashion_test.fingerprint


def test_semiformer_data_override_is_used_exclusively(isolated_cache):
    with pytest.raises(DatasetFileError, match=str(isolated_cache / "fashion-mnist") + r".*data_prep"):
        fashion_mnist_dir()


def test_unknown_split_name():
    with pytest.raises(ValueError, match="split must be one of"):
        load_fashion_mnist("validation")


@pytest.mark.parametrize("labels_per_class", [4, 40])
def test_split_is_balanced_disjoint_and_complete(fashion_train, labels_per_class):
    split = make_split(fashion_train, labels_per_class, seed=3)
    counts = torch.bincount(fashion_train.labels[split.labeled], minlength=10)
    assert counts.tolist() == [labels_per_class] * 10
    union = torch.cat([split.labeled, split.unlabeled]).sort().values
    assert torch.equal(union, torch.arange(60_000))


def test_split_reproducible_from_seed(fashion_train):
    a, b, c = (make_split(fashion_train, 10, s) for s in (1, 1, 2))
    assert torch.equal(a.labeled, b.labeled)
    assert not torch.equal(a.labeled, c.labeled)


def test_all_split_keeps_every_label(fashion_train):
    split = make_split(fashion_train, "all", 0)
    assert len(split.labeled) == 60_000 and len(split.unlabeled) == 0


@pytest.mark.parametrize("bad", [0, -3, 2.5, "some", True])
def test_bad_labels_per_class(fashion_train, bad):
    with pytest.raises(ValueError, match="labels_per_class"):
        make_split(fashion_train, bad, 0)


def test_save_load_round_trip_and_get_split_caches(fashion_train, isolated_cache):
    split = get_split(fashion_train, 40, 5)
    path = split_path("fashion-mnist", 40, 5)
    assert path.is_file() and str(path).startswith(str(isolated_cache))
    assert torch.equal(load_split(path, fashion_train).labeled, split.labeled)
    assert torch.equal(get_split(fashion_train, 40, 5).labeled, split.labeled)
    assert all(budget in STANDARD_LABELS_PER_CLASS for budget in (4, 10, 40, 100, 600, "all"))


def test_split_from_other_data_is_refused(fashion_train, fashion_test, tmp_path):
    path = save_split(make_split(fashion_train, 4, 0), fashion_train, tmp_path / "s.json")
    record = json.loads(path.read_text())
    record["source_fingerprint"] = fashion_test.fingerprint
    path.write_text(json.dumps(record))
    with pytest.raises(SplitError, match=r"s\.json: made from other data"):
        load_split(path, fashion_train)


@pytest.mark.parametrize("content", ["{not json", json.dumps({"seed": 0}),
                                     "INDICES_OUT_OF_RANGE", "DUPLICATE_INDICES"])
def test_malformed_split_files(fashion_train, tmp_path, content):
    path = tmp_path / "s.json"
    if content in ("INDICES_OUT_OF_RANGE", "DUPLICATE_INDICES"):
        labeled = [0, 60_000] if content == "INDICES_OUT_OF_RANGE" else [5, 5]
        content = json.dumps({"dataset": "fashion-mnist", "labels_per_class": 1, "seed": 0,
                              "source_fingerprint": fashion_train.fingerprint, "labeled": labeled})
    path.write_text(content)
    with pytest.raises(SplitError, match=r"s\.json: .*(not a valid split file|outside)"):
        load_split(path, fashion_train)


def test_missing_split_file(fashion_train, tmp_path):
    with pytest.raises(SplitError, match=r"nope\.json: split file not found"):
        load_split(tmp_path / "nope.json", fashion_train)


def test_subset_stays_on_device(fashion_train):
    subset = fashion_train.subset(torch.tensor([3, 1, 4]))
    assert subset.labels.tolist() == fashion_train.labels[[3, 1, 4]].tolist()
    assert subset.device == fashion_train.device and subset.fingerprint == fashion_train.fingerprint


def test_weak_augment_shape_dtype_and_reproducibility(fashion_train):
    images = fashion_train.images[:64]
    first = weak_augment(images, torch.Generator().manual_seed(0))
    again = weak_augment(images, torch.Generator().manual_seed(0))
    other = weak_augment(images, torch.Generator().manual_seed(1))
    assert first.shape == images.shape and first.dtype == torch.uint8
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert not torch.equal(first, images)


def test_weak_augment_is_per_sample_flip_and_shift():
    images = torch.arange(16, dtype=torch.uint8).view(1, 1, 4, 4).repeat(200, 1, 1, 1)
    flipped_only = weak_augment(images, torch.Generator().manual_seed(0), padding=0)
    is_flip = (flipped_only == images.flip(-1)).flatten(1).all(1)
    is_same = (flipped_only == images).flatten(1).all(1)
    assert bool((is_flip | is_same).all()) and 60 < int(is_flip.sum()) < 140   # each sample its own coin
    shifted = weak_augment(images, torch.Generator().manual_seed(0), padding=1, flip=False)
    # Zero padding enters only by shifting, and shifts differ between samples.
    assert len({tuple(x.flatten().tolist()) for x in shifted}) > 5
    assert int((shifted == 0).sum()) > int((images == 0).sum())
