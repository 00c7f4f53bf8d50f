"""The data_prep command line: finds, validates and reports; refuses bad or missing data clearly."""
from __future__ import annotations

import shutil

import pytest

from data_prep import fashion_mnist
from data_prep.__main__ import main
from semiformer_lib.data import DatasetFileError, fashion_mnist_dir
from semiformer_lib.data.datasets import FASHION_MNIST_FILES
from semiformer_lib.data.splits import split_path


def copy_real_files(target):
    source = fashion_mnist_dir()
    target.mkdir(parents=True)
    for image_file, label_file, _ in FASHION_MNIST_FILES.values():
        for name in (image_file, label_file):
            shutil.copy(source / name, target / name)


def test_missing_data_without_download_names_the_folder(isolated_cache, capsys):
    assert main(["fashion-mnist", "--no-download"]) == 1
    err = capsys.readouterr().err
    assert "Fashion-MNIST not found" in err and str(isolated_cache / "fashion-mnist") in err


def test_valid_data_writes_the_standard_splits(tmp_path, monkeypatch, capsys):
    copy_real_files(tmp_path / "fashion-mnist")          # resolve the real files before redirecting the cache
    monkeypatch.setenv("SEMIFORMER_DATA", str(tmp_path))
    assert main(["fashion-mnist", "--no-download", "--seeds", "7"]) == 0
    assert "are valid" in capsys.readouterr().out
    for budget in (4, 10, 40, 100, 600, "all"):
        assert split_path("fashion-mnist", budget, 7).is_file()


def test_corrupt_file_is_reported_by_name(tmp_path, monkeypatch, capsys):
    copy_real_files(tmp_path / "fashion-mnist")
    monkeypatch.setenv("SEMIFORMER_DATA", str(tmp_path))
    labels = tmp_path / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:100])
    assert main(["fashion-mnist", "--no-download"]) == 1
    assert "t10k-labels-idx1-ubyte.gz: cannot be decompressed" in capsys.readouterr().err


def test_failed_download_says_what_to_do(isolated_cache, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "MIRROR", "http://127.0.0.1:9/")    # nothing listens on the discard port
    with pytest.raises(DatasetFileError, match="downloading http://127.0.0.1:9/.* failed.*dataset-fashion-mnist"):
        fashion_mnist.download()
