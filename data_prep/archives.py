"""CIFAR-10, CIFAR-100 and STL-10: download the official archive (on users' machines), check its MD5, unpack it,
and validate every split with the library's parser (:mod:`semiformer_lib.data.cifar`, ``.stl10``).

The URLs and MD5s are torchvision's (``torchvision.datasets.CIFAR10.url`` / ``.tgz_md5`` and the like), read from
it rather than copied here, so they stay the ones torchvision maintains. An archive already in the folder is
checked, not downloaded again; an archive whose MD5 does not match is reported by name and removed.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from semiformer_lib.data import DatasetFileError, dataset_root, load_dataset


@dataclass(frozen=True)
class Archive:
    """Where a dataset's archive comes from, how it is checked, and the folder it unpacks to."""
    url: str
    filename: str
    md5: str
    unpacks_to: str


def archive_of(name: str) -> Archive:
    """The archive of ``"cifar10"``, ``"cifar100"`` or ``"stl10"``, from torchvision's dataset classes."""
    from torchvision import datasets
    source = {"cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100, "stl10": datasets.STL10}[name]
    return Archive(source.url, source.filename, source.tgz_md5, source.base_folder)


ARCHIVES = ("cifar10", "cifar100", "stl10")


def prepare(name: str, root: str | Path | None = None, allow_download: bool = True,
            archive: Archive | None = None) -> Path:
    """Make ``name`` ready under ``root`` (default ``<cache>/<name>``): unpack (and first download) the archive when
    the files are missing or invalid, then validate train and test. Returns the folder."""
    from torchvision.datasets.utils import check_integrity, download_url, extract_archive

    folder = dataset_root(name, root)
    archive = archive or archive_of(name)
    try:
        _validate(name, folder)
        return folder
    except DatasetFileError:
        pass                                                   # not there yet (or broken): unpack the archive
    packed = folder / archive.filename
    if not packed.is_file():
        if not allow_download:
            raise DatasetFileError(f"{name} not found in {folder} (no {archive.filename} either); run without "
                                   f"--no-download, or put {archive.filename} from {archive.url} there")
        try:
            download_url(archive.url, str(folder), filename=archive.filename, md5=archive.md5)
        except Exception as err:  # network errors come in many types; all mean the same to the user
            raise DatasetFileError(f"downloading {archive.url} failed ({err}); put {archive.filename} in {folder} "
                                   "by hand and run this again") from err
    if not check_integrity(str(packed), archive.md5):
        packed.unlink()
        raise DatasetFileError(f"{packed}: MD5 does not match the published {archive.md5}; the file was removed. "
                               "Run this again to download it afresh.")
    extract_archive(str(packed), str(folder))
    _validate(name, folder)
    return folder


def _validate(name: str, folder: Path) -> None:
    for split in ("train", "test"):
        dataset = load_dataset(name, split, "cpu", folder)
        if len(dataset) == 0:
            raise DatasetFileError(f"{folder}: the {split} split of {name} is empty")
