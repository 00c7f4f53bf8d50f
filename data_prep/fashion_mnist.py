"""Fashion-MNIST (Xiao et al., 2017): 70 000 28×28 gray images of 10 clothing classes.

Sources, in order:
1. ``$SEMIFORMER_DATA/fashion-mnist`` when that variable is set;
2. Debian's package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``) — the offline default;
3. a download of the four files from the dataset's official mirror into ``~/.cache/semiformer/fashion-mnist``,
   each checked against the MD5 published with the dataset (Debian recompresses the files, so its copies have
   other MD5s; for every source the decoded files are validated by :mod:`semiformer_lib.data.idx`).
"""
from __future__ import annotations

from pathlib import Path

from semiformer_lib.data import DatasetFileError, cache_root, fashion_mnist_dir, load_fashion_mnist
from semiformer_lib.data.datasets import FASHION_MNIST_FILES

MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
OFFICIAL_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}


def download(folder: Path | None = None) -> Path:
    """Download the four files into ``folder`` (default ``<cache>/fashion-mnist``), verifying each MD5."""
    from torchvision.datasets.utils import check_integrity, download_url

    folder = Path(folder or cache_root() / "fashion-mnist")
    for name, md5 in OFFICIAL_MD5.items():
        target = folder / name
        if target.is_file() and check_integrity(str(target), md5):
            continue
        try:
            download_url(MIRROR + name, str(folder), filename=name, md5=md5)
        except Exception as err:  # network errors come in many types; all mean the same to the user
            raise DatasetFileError(
                f"downloading {MIRROR + name} failed ({err}). Install Debian's `dataset-fashion-mnist`, or put "
                f"the four .gz files in $SEMIFORMER_DATA/fashion-mnist/.") from err
        if not check_integrity(str(target), md5):
            target.unlink(missing_ok=True)
            raise DatasetFileError(f"{target}: MD5 does not match the published {md5}; the download was removed. "
                                   "Try again, or install Debian's `dataset-fashion-mnist`.")
    return folder


def prepare(allow_download: bool = True) -> Path:
    """Make sure valid Fashion-MNIST files exist; returns their folder. Fully validates both splits."""
    try:
        folder = fashion_mnist_dir()
    except DatasetFileError:
        if not allow_download:
            raise
        folder = download()
    for split, (_, _, count) in FASHION_MNIST_FILES.items():
        dataset = load_fashion_mnist(split, folder=folder)
        assert len(dataset) == count
    return folder
