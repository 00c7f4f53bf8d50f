"""Shared fixtures: small IDX files written on the fly, the real Fashion-MNIST when prepared."""
from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from semiformer_lib.data import DatasetFileError, fashion_mnist_dir, load_fashion_mnist

import os

# Under pytest-xdist (make test runs the unit tests on every core, one worker each), the workers share the cores:
# one torch thread per worker, so that two workers never fight over two cores with four threads.
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
torch.set_num_threads(max(1, min(2, (os.cpu_count() or 1) // WORKERS)))


@pytest.fixture(autouse=True)
def _no_thread_grant_from_make_test(monkeypatch):
    """make test runs these tests in the same pytest run as the chapters, whose kernels need
    ``$SEMIFORMER_THREADS=1``; a unit test sees the machine as a user does, without it (a test that wants it, sets
    it)."""
    monkeypatch.delenv("SEMIFORMER_THREADS", raising=False)


def write_idx(path, array: np.ndarray, magic: int | None = None, compress: bool = True) -> None:
    """Write ``array`` (uint8) as an IDX file; ``magic`` overrides the header's magic number."""
    array = np.asarray(array, dtype=np.uint8)
    magic = (0x0800 | array.ndim) if magic is None else magic
    payload = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    opener = gzip.open if compress else open
    with opener(path, "wb") as handle:
        handle.write(payload)


@pytest.fixture(scope="session")
def fashion_train():
    try:
        fashion_mnist_dir()
    except DatasetFileError as err:
        pytest.fail(f"Fashion-MNIST is not prepared ({err}); run `make data`")
    return load_fashion_mnist("train")


@pytest.fixture(scope="session")
def fashion_test():
    return load_fashion_mnist("test")


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """Point SEMIFORMER_DATA at an empty temporary folder (split files and downloads go there)."""
    monkeypatch.setenv("SEMIFORMER_DATA", str(tmp_path))
    return tmp_path
