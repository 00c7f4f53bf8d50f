"""A disk cache of finished sweep runs, so that a run two chapters train is trained once.

Chapters 1 and 2 both train the plain ViT and the CNN at 40 labels per class on three seeds, and the ViT on all the
labels: the same model, split, seed and config. On a CPU a run is a deterministic function of those, of the data, of
the code, of torch and of the thread count, so training it again would only repeat the first run bit for bit. The
key is a SHA-256 of all of them: the model spec, the label budget, the seed, every :class:`~.config.RunConfig` value,
the pixels and labels of the training and test sets, every source file of ``semiformer_lib``, torch's version, the
thread count and the processor. Any change to one of them trains anew.

An entry is ``<folder>/<key>.run``: the pickled :class:`~.experiments.Run` without its model, and the model's state
dict, written to a temporary file and renamed (a crash never leaves half an entry). While one process trains a run,
another process asking for the same run waits on ``<key>.lock`` (``fcntl.flock``) and then loads it. An entry that
cannot be read is trained again and rewritten, with a warning naming the file. Runs on CUDA are never cached: some
CUDA kernels sum in a different order from one run to the next.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch

from ..data import ImageSet
from ..data.datasets import content_fingerprint
from ..machine import processor_name

SOURCE_ROOT = Path(__file__).resolve().parent.parent        # the semiformer_lib package


def source_digest(root: Path = SOURCE_ROOT) -> str:
    """SHA-256 of every ``.py`` file of the package, by relative path: any code change gives a new digest."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class RunCache:
    """Where the entries live and what every key of one sweep shares (data, code, torch, processor)."""
    folder: Path
    context: str

    @classmethod
    def open(cls, folder: str | Path, train: ImageSet, test: ImageSet) -> "RunCache":
        context = json.dumps({
            "train": [train.name, content_fingerprint(train.images, train.labels)],
            "test": [test.name, content_fingerprint(test.images, test.labels)],
            "source": source_digest(), "torch": torch.__version__, "processor": processor_name(),
        }, sort_keys=True)
        return cls(Path(folder), context)

    def key(self, spec, labels_per_class, seed: int, config) -> str:
        """The entry's name for one run, trained with torch's current thread count."""
        described = json.dumps({"model": [spec.label, spec.name, spec.options], "labels_per_class": labels_per_class,
                                "seed": seed, "config": config.as_dict(), "threads": torch.get_num_threads(),
                                "context": self.context}, sort_keys=True, default=repr)
        return hashlib.sha256(described.encode()).hexdigest()

    @contextlib.contextmanager
    def hold(self, key: str) -> Iterator[None]:
        """Hold the entry's lock: a second process asking for the same run waits here until the first has written
        it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / f"{key}.lock", "a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def load(self, key: str) -> bytes | None:
        """The entry's payload (see :func:`~.experiments.sweep`'s workers), None when absent or unreadable."""
        path = self.folder / f"{key}.run"
        if not path.exists():
            return None
        try:
            payload = path.read_bytes()
            pickle.loads(payload)            # written by this module: a check that it is whole, not a trust boundary
            return payload
        except Exception as error:           # a truncated or foreign file: train the run again
            warnings.warn(f"run cache entry {path} cannot be read ({type(error).__name__}: {error}); training the "
                          "run again and rewriting it", stacklevel=2)
            return None

    def store(self, key: str, payload: bytes) -> None:
        path = self.folder / f"{key}.run"
        temporary = path.with_suffix(f".tmp{os.getpid()}")
        temporary.write_bytes(payload)
        os.replace(temporary, path)
