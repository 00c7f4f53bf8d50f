"""Data-parallel training across processes (``torchrun --nproc_per_node=N``): NCCL between GPUs, gloo on CPU.

Each process holds a full model replica wrapped in ``DistributedDataParallel`` (gradients are averaged across
processes during ``backward``) and trains on its share of every global batch (see
:mod:`semiformer_lib.data.sources`). On GPUs, BatchNorm layers become ``SyncBatchNorm`` so their statistics are those
of the global batch, as in a one-process run with the same global batch. torch's SyncBatchNorm runs on GPUs only, so
on CPU (gloo) each process normalises with its own share's statistics: there a model without BatchNorm (a ViT)
matches its one-process run to rounding, and a Semiformer's conv branch differs by its per-process statistics.
Evaluation splits the test set across processes and sums the hit counts.

Without torchrun's environment (``WORLD_SIZE`` unset) everything here is a no-op: one process, rank 0.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from .config import ConfigError


@dataclass(frozen=True)
class Process:
    """Where this process sits: ``rank`` of ``world_size``, its ``device``, and the collective ``backend``."""
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str | None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def single_process(device: torch.device) -> Process:
    """The :class:`Process` of a run in this process alone (a notebook's), on ``device``."""
    return Process(0, 1, 0, torch.device(device), None)


def setup(device: str = "auto") -> Process:
    """Join the process group torchrun describes (if any) and pick this process's device; :class:`ConfigError`
    (before anything else) when ``device="cuda"`` and torch sees no CUDA device."""
    want_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("config key 'device' is cuda, but this machine has no CUDA device torch can use; "
                          "set device=cpu (or device=auto, which picks CUDA where there is one)")
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if want_cuda:
        torch.cuda.set_device(local_rank)
        chosen = torch.device("cuda", local_rank)
    else:
        chosen = torch.device("cpu")
    backend = None
    if world_size > 1:
        backend = "nccl" if want_cuda else "gloo"
        if not dist.is_initialized():
            dist.init_process_group(backend, device_id=chosen if want_cuda else None)
    return Process(rank, world_size, local_rank, chosen, backend)


def wrap(model: nn.Module, process: Process) -> nn.Module:
    """``model`` ready for this process: DDP (and SyncBatchNorm on GPUs) when distributed, unchanged otherwise."""
    if not process.distributed:
        return model
    if process.device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [process.device.index] if process.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def all_reduce_sum(tensor: torch.Tensor, process: Process) -> torch.Tensor:
    """Sum ``tensor`` over processes (in place; returned for chaining)."""
    if process.distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def gather_objects(obj, process: Process) -> list:
    """Every process's ``obj`` (picklable: tensors on the CPU), in rank order, on every process; ``[obj]`` alone."""
    if not process.distributed:
        return [obj]
    gathered = [None] * process.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def barrier(process: Process) -> None:
    if process.distributed:
        dist.barrier()


def teardown() -> None:
    """Leave the process group, if this process joined one (also after an error, so no rank waits on it)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
