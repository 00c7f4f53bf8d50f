"""The full training run (chapter 5): a config in, a trained model, checkpoints and a results artifact out.

One function, :func:`train`, does the run from a notebook; ``python -m semiformer_lib.train --config FILE
[key=value …]`` does the same from a shell, and under ``torchrun --nproc_per_node=N`` on N processes (DDP, see
:mod:`.distributed`). Per step (Semiformer Sec. 3.2 and 4.1)::

    labeled batch   b = batch_size per process, weak view                         [b, C, H, W]
    step ≤ supervised_steps:   L = L_x                                           (the supervised warm-up)
    afterwards:     unlabeled batch round(μ·b) per process, weak + strong views   [μb, C, H, W]
                    L = L_x + λ·L_u  with pseudo-labels of the teacher on the weak view (train.semi_supervised_step)
    AdamW (fused on CUDA) · warm-up + cosine · EMA of the weights (timm, foreach) · bf16 autocast on CUDA

Per-step diagnostics (mask rate, pseudo-label accuracy, losses) stay on the device until an evaluation, every
``eval_every`` steps, reads them with the test accuracy of each head and of the EMA: one host sync per evaluation,
none per step. Each evaluation appends a line to ``metrics.jsonl`` (and TensorBoard scalars, when TensorBoard is
installed). Every ``checkpoint_every`` steps and at the end a checkpoint is written (:mod:`.checkpoint`); ``resume``
continues from one so that the run ends exactly as the uninterrupted one would (bit for bit on CPU with resident
data). At the end, ``results.json`` (:mod:`.results`) records the configuration, provenance and accuracies.

Everything that can be checked is checked before the first step: the config, the data files, the run folder (an
earlier run's checkpoints or results are never overwritten unless ``restart`` is asked for) and the checkpoint.
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn

from ..data import DatasetFileError, ImageSet, ResidentSource, SplitError, StreamedSource, load_dataset, to_model_input
from ..data.splits import make_split
from ..models import create_model
from ..models.interface import HEAD_NAMES, head_logits
from ..precision import autocast
from ..progress import tqdm
from ..seeding import make_generator, seed_everything
from ..ssl.ema import ema_model
from ..ssl.objective import supervised_loss
from . import distributed
from .checkpoint import (CheckpointError, capture_rng, latest_checkpoint, list_checkpoints, load_checkpoint,
                         restore_rng, save_checkpoint)
from .config import ConfigError, RunConfig, load_config
from .evaluate import EVAL_BATCH, head_hits, resident_batches
from .results import ResultsError, provenance, write_results
from .schedule import warmup_cosine
from .semi_supervised import semi_supervised_step

# Keys that may change between a run and its resumption without changing what it computes.
RESUMABLE_CHANGES = ("checkpoint_every", "keep_checkpoints", "workers", "compile", "output_dir", "profile", "device")
DIAGNOSTICS = ("mask_rate", "pseudo_acc", "confident_acc", "labeled_loss", "unlabeled_loss")


class RunError(RuntimeError):
    """The run cannot start as asked (e.g. its folder holds an earlier run); the message says what to do."""


class HeadsModule(nn.Module):
    """A model whose ``forward`` returns the logits of every head (``(conv, transformer)`` or ``(logits,)``): what
    DDP wraps, since DDP synchronises the gradients of ``forward`` only."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return head_logits(self.model, images)


@dataclass
class RunData:
    """What the loop draws from: batch sources, evaluation batches, and the data's shape."""
    labeled: object
    unlabeled: object
    eval_batches: Callable[[bool], Iterator[tuple[torch.Tensor, torch.Tensor]]]   # final → (uint8 images, labels)
    num_classes: int
    image_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train_images: int
    description: dict = field(default_factory=dict)


def _resize(dataset: ImageSet, size: int) -> ImageSet:
    if dataset.image_shape[1:] == (size, size):
        return dataset
    chunks = []
    for start in range(0, len(dataset), 4096):
        batch = dataset.images[start:start + 4096].float()
        chunks.append(nn.functional.interpolate(batch, size=(size, size), mode="bilinear", antialias=True,
                                                align_corners=False).round().clamp(0, 255).to(torch.uint8))
    return ImageSet(torch.cat(chunks), dataset.labels, dataset.classes, dataset.mean, dataset.std,
                    f"{dataset.name}@{size}", dataset.fingerprint)


def _resident_batches(dataset: ImageSet, process: distributed.Process):
    share = torch.arange(process.rank, len(dataset), process.world_size, device=dataset.device)
    return lambda: resident_batches(dataset, EVAL_BATCH, share)


def build_data(config: RunConfig, process: distributed.Process) -> RunData:
    """Load the data set named by ``config`` on this process's device and make its sources (see the module doc)."""
    strong = (config.strong_ops, config.cutout)
    unlabeled_batch = config.unlabeled_per_step()
    if config.dataset == "imagenet":
        return _build_streamed(config, process, strong, unlabeled_batch)
    if config.label_list is not None:
        raise ConfigError("label_list is for ImageNet; resident data sets use labels_per_class or label_percent")
    device = process.device
    train_set = load_dataset(config.dataset, "train", device, config.data_root)
    test = load_dataset(config.dataset, "test", device, config.data_root)
    if config.image_size is not None:
        train_set, test = _resize(train_set, config.image_size), _resize(test, config.image_size)
    known = int((train_set.labels >= 0).sum())
    per_class = config.labels_per_class or max(1, round(config.label_percent / 100 * known / train_set.num_classes))
    split = make_split(train_set, per_class, config.split_seed)
    pool = split.unlabeled
    if config.unlabeled_size is not None and config.unlabeled_size < len(pool):
        order = torch.randperm(len(pool), generator=make_generator(config.split_seed))
        pool = pool[order[:config.unlabeled_size]].sort().values
    labeled, unlabeled = train_set.subset(split.labeled), train_set.subset(pool)
    curve_test = test if config.eval_size is None else test.subset(torch.arange(min(config.eval_size, len(test))))
    curve_batches, final_batches = _resident_batches(curve_test, process), _resident_batches(test, process)
    return RunData(
        ResidentSource(labeled, config.batch_size, config.seed * 2 + 1, process.rank, process.world_size),
        ResidentSource(unlabeled, unlabeled_batch, config.seed * 2 + 2, process.rank, process.world_size, strong),
        lambda final: final_batches() if final else curve_batches(),
        train_set.num_classes, train_set.image_shape, train_set.mean, train_set.std, len(labeled) + len(unlabeled),
        {"labeled": len(labeled), "unlabeled": len(unlabeled), "test": len(test), "curve_test": len(curve_test),
         "labels_per_class": per_class})


def _build_streamed(config: RunConfig, process: distributed.Process, strong, unlabeled_batch) -> RunData:
    from ..data.datasets import dataset_root
    from ..data.imagenet import (IMAGENET_MEAN, IMAGENET_STD, eval_transform, image_folder, labeled_indices,
                                 make_label_list, read_label_list, train_transform)
    if config.labels_per_class is not None:
        raise ConfigError("ImageNet takes label_percent (1 or 10 in the paper) or label_list, not labels_per_class")
    size = config.image_size or 224
    root = dataset_root("imagenet", config.data_root)
    train_set = image_folder(root, "train", train_transform(size))
    val = image_folder(root, "val", eval_transform(size))
    names = (read_label_list(config.label_list) if config.label_list
             else make_label_list(train_set, config.label_percent, config.split_seed))
    labeled_index, unlabeled_index = labeled_indices(train_set, names, config.label_list or "the generated list")
    if config.unlabeled_size is not None:
        unlabeled_index = unlabeled_index[:config.unlabeled_size]
    workers = config.workers
    sources = [StreamedSource(train_set, index, batch, config.seed * 2 + k, process.device, process.rank,
                              process.world_size, workers, strong if k == 2 else None)
               for k, index, batch in ((1, labeled_index, config.batch_size), (2, unlabeled_index, unlabeled_batch))]

    def val_batches(final: bool):
        count = len(val) if final or config.eval_size is None else min(config.eval_size, len(val))
        share = torch.utils.data.Subset(val, list(range(process.rank, count, process.world_size)))
        loader = torch.utils.data.DataLoader(share, batch_size=EVAL_BATCH, num_workers=workers,
                                             pin_memory=process.device.type == "cuda")
        for images, labels in loader:
            yield images.to(process.device, non_blocking=True), labels.to(process.device, non_blocking=True)
    return RunData(sources[0], sources[1], val_batches, len(train_set.classes), (3, size, size), IMAGENET_MEAN,
                   IMAGENET_STD, len(train_set),
                   {"labeled": len(labeled_index), "unlabeled": len(unlabeled_index), "test": len(val)})


def evaluate_heads(model: nn.Module, batches: Iterator, data: RunData, process: distributed.Process,
                   precision: str, channels_last: bool = False) -> dict[str, float]:
    """Accuracy of each head (and of their summed logits) over this process's share of the batches, summed across
    processes: ``{"conv", "transformer", "summed"}`` for a Semiformer, ``{"summed"}`` for one head."""
    hits = head_hits(model, batches, data.mean, data.std, precision, channels_last)
    counts = distributed.all_reduce_sum(hits, process).tolist()               # one host sync per evaluation
    names = HEAD_NAMES if len(counts) == 4 else ("summed",)
    return {name: counts[k] / counts[-1] for k, name in enumerate(names)}


def _check_folder(config: RunConfig, run_dir: Path, resume, restart: bool, process) -> Path | None:
    """Decide where the run starts (a checkpoint path or None), before any compute."""
    if resume and restart:
        raise RunError("resume and restart exclude each other: resume continues the run, restart deletes it")
    checkpoints = run_dir / "checkpoints"
    if resume:
        path = latest_checkpoint(checkpoints) if resume is True else Path(resume)
        if path is None:
            raise CheckpointError(f"nothing to resume: {checkpoints} holds no checkpoint (start without --resume)")
        return path
    earlier = list_checkpoints(checkpoints) + [p for p in (run_dir / "results.json",) if p.exists()]
    if earlier and not restart:
        raise RunError(f"{run_dir} holds an earlier run ({earlier[-1].name}); resume it (--resume), delete it "
                       f"(--restart), or pick another name= / output_dir=")
    if restart and process.is_main:
        for stale in (checkpoints, run_dir / "metrics.jsonl", run_dir / "results.json", run_dir / "tensorboard"):
            if stale.is_dir():
                shutil.rmtree(stale)
            elif stale.exists():
                stale.unlink()
    return None


def _check_resumable(state: dict, config: RunConfig, path: Path) -> None:
    saved = state["config"]
    changed = [f"{k}: {saved.get(k)!r} → {v!r}" for k, v in config.as_dict().items()
               if k not in RESUMABLE_CHANGES and saved.get(k) != v]
    if changed:
        raise CheckpointError(f"checkpoint {path} was written by a run with another config ({'; '.join(changed)}); "
                              "resume with the same config, or start a new run (another name=)")


def _tensorboard(run_dir: Path):
    """A TensorBoard writer in the run folder, or None when TensorBoard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:                                  # tensorboard is optional
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


# 160 lines that the one-loop redesign (issue 17) splits into set-up, data, model, state, loop and end; until then
# the complexity rule is waived here alone.
def train(config: RunConfig, resume: bool | str | Path | None = None, restart: bool = False,  # noqa: C901
          progress: bool = True, stop_after: int | None = None) -> dict:
    """Run ``config`` to the end (or to step ``stop_after``) and return its results record.

    ``resume=True`` continues from the newest checkpoint of ``<output_dir>/<name>`` (or from the checkpoint path
    given); ``restart=True`` deletes that folder's earlier checkpoints, metrics and results first. A run stopped by
    ``stop_after`` returns ``{"stopped_at": step, "checkpoint": path}`` and is continued with ``resume=True``.
    """
    started_wall, started = time.time(), time.perf_counter()
    process = distributed.setup(config.device)
    run_dir = Path(config.output_dir) / config.name
    start_path = _check_folder(config, run_dir, resume, restart, process)
    state = load_checkpoint(start_path) if start_path is not None else None
    if state is not None:
        _check_resumable(state, config, start_path)
        if state["world_size"] != process.world_size:
            raise CheckpointError(f"checkpoint {start_path} was written by {state['world_size']} process(es); resume "
                                  f"with the same number (torchrun --nproc_per_node={state['world_size']})")
    distributed.barrier(process)
    device, precision = process.device, config.precision
    data = build_data(config, process)
    lengths = config.schedule(data.train_images, process.world_size)
    total, supervised_steps = lengths["steps"], lengths["supervised_steps"]

    seed_everything(config.seed)
    extra = {"drop_path_rate": config.drop_path_rate} if config.drop_path_rate else {}
    model = create_model(config.model, img_size=data.image_shape[1], in_chans=data.image_shape[0],
                         num_classes=data.num_classes, **extra).to(device)
    channels_last = config.channels_last and device.type == "cuda"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    student = distributed.wrap(HeadsModule(model), process)
    model = student.module.model if process.distributed else model          # SyncBatchNorm replaced the BN layers
    if config.compile:
        student = torch.compile(student)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                  fused=device.type == "cuda")
    scheduler = warmup_cosine(optimizer, total, lengths["warmup_steps"])
    averaged = ema_model(model, config.ema_decay)
    window = torch.full((config.eval_every, len(DIAGNOSTICS)), float("nan"), device=device)
    curves: list[dict] = []
    step, train_seconds, window_start, images_seen = 0, 0.0, 1, 0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        averaged.load_state_dict(state["ema"])
        data.labeled.load_state_dict(state["sources"]["labeled"])
        data.unlabeled.load_state_dict(state["sources"]["unlabeled"])
        restore_rng(state["rng"])
        step, curves, train_seconds = int(state["step"]), list(state["metrics"]), float(state["train_seconds"])
        images_seen = int(state["images_seen"])
        window.copy_(state["window"].to(device))
        window_start = int(state["window_start"])
        del state

    if process.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        metrics_path = run_dir / "metrics.jsonl"
        metrics_path.write_text("".join(json.dumps(row) + "\n" for row in curves))  # drop lines past the checkpoint
        writer = _tensorboard(run_dir)
    else:
        writer = None
    memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def to_input(images: torch.Tensor) -> torch.Tensor:
        return to_model_input(images, data.mean, data.std).contiguous(memory_format=memory_format)
    labeled_per_step = process.world_size * config.batch_size
    unlabeled_per_step = process.world_size * config.unlabeled_per_step()
    bar = tqdm(total=total, initial=step, desc=config.name, disable=not (progress and process.is_main),
               mininterval=1.0)
    timer = time.perf_counter()
    last_checkpoint = None
    while step < total:
        step += 1
        batch = data.labeled.next_batch()
        weak_x = to_input(batch.weak)
        images_seen += labeled_per_step
        if step > supervised_steps and config.unlabeled_weight > 0:
            images_seen += unlabeled_per_step
            unlabeled = data.unlabeled.next_batch()
            objective = semi_supervised_step(model, weak_x, batch.labels, to_input(unlabeled.weak),
                                             to_input(unlabeled.strong), config.teacher, config.threshold,
                                             config.unlabeled_weight, False, config.label_smoothing, averaged,
                                             student, precision)
            loss, pseudo = objective.total, objective.pseudo
            known = (unlabeled.labels >= 0).float()                    # STL-10's unlabeled images have no label
            correct = (pseudo.predicted == unlabeled.labels).float() * known
            window[step - window_start] = torch.stack([
                pseudo.mask_rate, correct.sum() / known.sum(),
                (correct * pseudo.mask).sum() / (known * pseudo.mask).sum(),
                objective.labeled.detach(), objective.unlabeled.detach()])
        else:
            with autocast(device, precision):
                loss = supervised_loss(tuple(student(weak_x)), batch.labels, config.label_smoothing)
            window[step - window_start, 3] = loss.detach()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        averaged.update(model, step=step)
        bar.update(1)

        if step % config.eval_every == 0 or step == total:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            train_seconds += time.perf_counter() - timer
            row = {"step": step, "lr": scheduler.get_last_lr()[0]}
            filled = window[:step - window_start + 1]
            means = distributed.all_reduce_sum(torch.nanmean(filled, dim=0), process) / process.world_size
            means = means.tolist()                                    # the processes' shares averaged: global means
            row.update({name: (None if math.isnan(v) else v) for name, v in zip(DIAGNOSTICS, means)})
            row["model"] = evaluate_heads(model, data.eval_batches(False), data, process, precision, channels_last)
            row["ema"] = evaluate_heads(averaged.module, data.eval_batches(False), data, process, precision,
                                        channels_last)
            row["images_per_second"] = images_seen / max(train_seconds, 1e-9)
            curves.append(row)
            if process.is_main:
                with metrics_path.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
                if writer is not None:
                    for head, value in row["model"].items():
                        writer.add_scalar(f"accuracy/{head}", value, step)
                    writer.add_scalar("accuracy/ema", row["ema"]["summed"], step)
                    for name in DIAGNOSTICS:
                        if row.get(name) is not None:
                            writer.add_scalar(f"train/{name}", row[name], step)
            bar.set_postfix(acc=f"{row['model']['summed']:.3f}", mask=f"{row['mask_rate'] or 0:.2f}")
            window.fill_(float("nan"))
            window_start = step + 1
            timer = time.perf_counter()
        if step % config.checkpoint_every == 0 or step == total or step == stop_after:
            saved = {"step": step, "config": config.as_dict(), "world_size": process.world_size,
                     "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict(), "ema": averaged.state_dict(), "rng": capture_rng(),
                     "sources": {"labeled": data.labeled.state_dict(), "unlabeled": data.unlabeled.state_dict()},
                     "metrics": curves, "window": window.cpu(), "window_start": window_start,
                     "images_seen": images_seen,
                     "train_seconds": train_seconds + time.perf_counter() - timer}
            if process.is_main:
                last_checkpoint = save_checkpoint(saved, run_dir / "checkpoints", config.keep_checkpoints)
            distributed.barrier(process)
        if stop_after is not None and step == stop_after and step < total:
            bar.close()
            return {"stopped_at": step, "checkpoint": str(last_checkpoint or run_dir / "checkpoints")}
    bar.close()

    final = {"model": evaluate_heads(model, data.eval_batches(True), data, process, precision, channels_last),
             "ema": evaluate_heads(averaged.module, data.eval_batches(True), data, process, precision, channels_last)}
    record = {"config": config.as_dict(), "provenance": provenance(device, process.world_size),
              "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started_wall)),
              "schedule": lengths, "data": data.description,
              "wall_seconds": time.perf_counter() - started, "train_seconds": train_seconds,
              "images_per_second": images_seen / max(train_seconds, 1e-9),
              "final": final, "curves": curves}
    if process.is_main:
        record["path"] = str(write_results(record, run_dir / "results.json"))
        if writer is not None:
            writer.close()
    distributed.barrier(process)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m semiformer_lib.train",
        description="Run a Semiformer training config (one process, or under torchrun --nproc_per_node=N).",
        epilog="Example: python -m semiformer_lib.train --config semiformer_lib/configs/fashion_mnist_40.yaml "
               "steps=600 teacher=ema")
    parser.add_argument("--config", required=True, help="a YAML config (see semiformer_lib/configs/)")
    parser.add_argument("--profile", help="which of the config's profiles to apply (default: gpu with CUDA, else cpu)")
    parser.add_argument("--resume", nargs="?", const=True, default=None, metavar="CHECKPOINT",
                        help="continue the run from its newest checkpoint (or from CHECKPOINT)")
    parser.add_argument("--restart", action="store_true", help="delete the run folder's earlier checkpoints first")
    parser.add_argument("--stop-after", type=int, help="stop (with a checkpoint) after this step")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("overrides", nargs="*", help="key=value pairs that replace config values")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, args.overrides, profile=args.profile)
        record = train(config, resume=args.resume, restart=args.restart, progress=not args.no_progress,
                       stop_after=args.stop_after)
    except (ConfigError, CheckpointError, DatasetFileError, SplitError, ResultsError, RunError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        distributed.teardown()
    if "stopped_at" in record:
        print(f"stopped after step {record['stopped_at']}; continue with --resume ({record['checkpoint']})")
    elif "path" in record:
        final = record["final"]
        heads = ", ".join(f"{k} {100 * v:.2f} %" for k, v in final["model"].items())
        print(f"{config.name}: {heads}; EMA {100 * final['ema']['summed']:.2f} %; "
              f"{record['wall_seconds'] / 60:.1f} min; results in {record['path']}")
    return 0
