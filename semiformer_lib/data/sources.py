"""Batch sources of the full run: where each step's labeled and unlabeled images come from, on every process.

A source hands out this process's share of one *global* batch per step and can save and restore its position, so
a resumed run draws exactly the batches the uninterrupted one would have drawn.

* :class:`ResidentSource` — a dataset held on the device (:class:`~semiformer_lib.data.ImageSet`). All processes
  draw the same global batch from generators seeded alike (indices, weak view, strong view: ``[W·b, C, H, W]``)
  and keep rows ``[rank·b, (rank+1)·b)``. Drawing the global batch costs every process the augmentation of W
  shares — small next to the model's forward pass — and makes a run on W processes see exactly the images and
  views of a run on one process with the global batch (what the DDP test checks).
* :class:`StreamedSource` — a file dataset (ImageNet) read by DataLoader workers into pinned memory. Each epoch is
  a permutation seeded by ``seed + epoch``; global batch ``k`` is its slice ``[k·W·b, (k+1)·W·b)`` and each process
  loads its own share. The position (epoch, batch) is saved, so a resumed run continues with the next unseen
  batch (the workers' random crops are drawn afresh).

``next_batch()`` returns a :class:`Batch` of uint8 ``[b, C, H, W]`` views on the device and labels ``[b]``;
``set_batch_size(b)`` changes ``b`` between steps (the official recipe's labeled batch shrinks from 108 to 13 when
pseudo-labeling starts).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..seeding import make_generator
from .augment import weak_augment
from .datasets import ImageSet
from .strong_augment import strong_augment


@dataclass
class Batch:
    """One process's share of a step: ``weak`` (and ``strong`` for unlabeled sources) ``[b, C, H, W]`` uint8,
    ``labels`` ``[b]`` int64 (-1 where unknown)."""
    weak: torch.Tensor
    strong: torch.Tensor | None
    labels: torch.Tensor


class ResidentSource:
    """Random batches (with replacement) of a resident set; see the module docstring."""

    def __init__(self, dataset: ImageSet, batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 strong: tuple[int, float] | None = None, augment: bool = True):
        self.dataset, self.batch_size, self.rank, self.world_size = dataset, batch_size, rank, world_size
        self.strong = strong                                         # (operations, cutout) or None
        self.augment = augment                                       # False: the "weak" view is the image itself
        self.generator = make_generator(seed, dataset.device)        # the same on every process

    def next_batch(self) -> Batch:
        index = torch.randint(0, len(self.dataset), (self.batch_size * self.world_size,), device=self.dataset.device,
                              generator=self.generator)
        raw = self.dataset.images[index]                                               # [W·b, C, H, W]
        weak = weak_augment(raw, self.generator) if self.augment else raw
        strong = strong_augment(raw, self.generator, *self.strong) if self.strong else None
        share = slice(self.rank * self.batch_size, (self.rank + 1) * self.batch_size)
        return Batch(weak[share], None if strong is None else strong[share], self.dataset.labels[index][share])

    def set_batch_size(self, batch_size: int) -> None:
        """Draw ``batch_size`` images per process from the next batch on (a phase's batch: ``labeled_share``)."""
        self.batch_size = batch_size

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


def resident_sources(labeled: ImageSet, unlabeled: ImageSet | None, *, batch_size: int, unlabeled_batch: int,
                     seed: int, strong: tuple[int, float], augment: bool = True, rank: int = 0,
                     world_size: int = 1) -> tuple[ResidentSource, ResidentSource | None]:
    """The labeled and unlabeled sources of a run on resident data, seeded from the run's ``seed`` (``2·seed + 1``
    and ``2·seed + 2``: two independent streams) — the same for a chapter's run and the CLI's, so both draw the same
    batches. ``unlabeled`` None: a supervised run, no unlabeled source."""
    labeled_source = ResidentSource(labeled, batch_size, seed * 2 + 1, rank, world_size, augment=augment)
    if unlabeled is None:
        return labeled_source, None
    return labeled_source, ResidentSource(unlabeled, unlabeled_batch, seed * 2 + 2, rank, world_size, strong)


class _PositionSampler(torch.utils.data.Sampler):
    """This process's indices, batch after batch, from (epoch, batch) on, forever."""

    def __init__(self, size: int, batch_size: int, seed: int, rank: int, world_size: int, epoch: int, position: int):
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.rank, self.world_size, self.epoch, self.position = rank, world_size, epoch, position

    def batches_per_epoch(self) -> int:
        return self.size // (self.batch_size * self.world_size)

    def __iter__(self):
        epoch, position = self.epoch, self.position
        global_batch = self.batch_size * self.world_size
        while True:
            order = torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed + epoch))
            for k in range(position, self.batches_per_epoch()):
                chunk = order[k * global_batch:(k + 1) * global_batch]
                yield from chunk[self.rank * self.batch_size:(self.rank + 1) * self.batch_size].tolist()
            epoch, position = epoch + 1, 0


class StreamedSource:
    """Batches of a file dataset read by DataLoader workers; see the module docstring.

    ``dataset`` is a map-style dataset returning ``(uint8 [C, H, W] tensor, label)``; ``indices`` the images this
    source draws from (e.g. the labeled ones).
    """

    def __init__(self, dataset, indices: torch.Tensor, batch_size: int, seed: int, device: torch.device,
                 rank: int = 0, world_size: int = 1, workers: int = 8, strong: tuple[int, float] | None = None):
        self.subset = torch.utils.data.Subset(dataset, indices.tolist())
        if len(self.subset) < batch_size * world_size:
            raise ValueError(f"{len(self.subset)} images cannot fill one global batch of {batch_size * world_size}")
        self.batch_size, self.seed, self.device = batch_size, seed, torch.device(device)
        self.rank, self.world_size, self.workers, self.strong = rank, world_size, workers, strong
        self.generator = make_generator(seed * 1000 + rank, self.device)               # strong views: per process
        self.epoch, self.position = 0, 0
        self._iterator = None

    def _start(self):
        sampler = _PositionSampler(len(self.subset), self.batch_size, self.seed, self.rank, self.world_size,
                                   self.epoch, self.position)
        loader = torch.utils.data.DataLoader(self.subset, batch_size=self.batch_size, sampler=sampler,
                                             num_workers=self.workers, pin_memory=self.device.type == "cuda",
                                             drop_last=True, persistent_workers=self.workers > 0,
                                             prefetch_factor=4 if self.workers > 0 else None)
        self._per_epoch = sampler.batches_per_epoch()
        self._iterator = iter(loader)

    def next_batch(self) -> Batch:
        if self._iterator is None:
            self._start()
        images, labels = next(self._iterator)
        self.position += 1
        if self.position == self._per_epoch:
            self.epoch, self.position = self.epoch + 1, 0
        weak = images.to(self.device, non_blocking=True)
        labels = torch.as_tensor(labels).to(self.device, non_blocking=True)
        strong = strong_augment(weak, self.generator, *self.strong) if self.strong else None
        return Batch(weak, strong, labels)

    def set_batch_size(self, batch_size: int) -> None:
        """Load ``batch_size`` images per process from the next batch on. A new size starts the next epoch (the
        official script builds a new labeled loader for its semi-supervised phase); the same size changes nothing."""
        if batch_size == self.batch_size:
            return
        if len(self.subset) < batch_size * self.world_size:
            raise ValueError(f"{len(self.subset)} images cannot fill one global batch of "
                             f"{batch_size * self.world_size}")
        self.batch_size, self._iterator = batch_size, None
        if self.position:
            self.epoch, self.position = self.epoch + 1, 0

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "generator": self.generator.get_state(),
                "batch_size": self.batch_size}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self.batch_size = int(state.get("batch_size", self.batch_size))     # checkpoints before labeled_share: as built
        self.generator.set_state(state["generator"])
        self._iterator = None
