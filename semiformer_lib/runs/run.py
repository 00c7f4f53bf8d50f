"""The full training run (chapter 6): a config in, a trained model, checkpoints and a results artifact out.

One function, :func:`train`, does the run from a notebook; ``python -m semiformer_lib.train --config FILE
[key=value …]`` does the same from a shell, and under ``torchrun --nproc_per_node=N`` on N processes (DDP, see
:mod:`.distributed`). Per step (Semiformer Sec. 3.2 and 4.1)::

    labeled batch   b = batch_size per process, weak view                         [b, C, H, W]
    step ≤ supervised_steps:   L = L_x                                           (the supervised warm-up)
    afterwards:     unlabeled batch round(μ·b) per process, weak + strong views   [μb, C, H, W]
                    L = L_x + λ·L_u  with pseudo-labels of the teacher on the weak view (train.semi_supervised_step)
    AdamW (fused on CUDA) · warm-up + cosine · EMA of the weights (timm, foreach) · bf16 autocast on CUDA

The steps are :func:`~.loop.train_loop`'s, the one loop the chapters train with; this module adds what a long run
needs around it. Per-step diagnostics (mask rate, pseudo-label accuracy, losses) stay on the device until an
evaluation, every ``eval_every`` steps, reads them with the test accuracy of each head and of the EMA: one host sync
per evaluation, none per step. Each evaluation appends a line to ``metrics.jsonl`` (and TensorBoard scalars, when
TensorBoard is installed). Every ``checkpoint_every`` steps and at the end a checkpoint is written
(:mod:`.checkpoint`); ``resume`` continues from one (the run's :class:`~.state.TrainState`, saved whole) so that the
run ends exactly as the uninterrupted one would (bit for bit on CPU with resident data). At the end,
``results.json`` (:mod:`.results`) records the configuration, provenance and accuracies.

Everything that can be checked is checked before the first step: the config, the device, the data files and the
split file, the run folder (an earlier run's checkpoints or results are never overwritten unless ``restart`` is
asked for; another live run of the same folder is refused: :mod:`.lock`) and the checkpoint. A resumed run's
``results.json`` keeps the first segment's start time and sums the wall time of every segment; resuming a finished
run changes nothing. Every error a user can cause exits the CLI with code 2 and a one-line message.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..data import DatasetFileError, SplitError, load_dataset
from ..data.datasets import dataset_root
from ..data.run_data import RunData, labels_per_class_for, resized, split_run_data, streamed_run_data
from ..train import distributed
from ..train.config import ConfigError, RunConfig, load_config
from ..train.fit import build_state
from ..train.loop import Evaluation, Sink, final_accuracies, train_loop
from ..train.state import DIAGNOSTICS, RANK_KEYS, TrainState
from .checkpoint import CheckpointError, latest_checkpoint, list_checkpoints, load_checkpoint, save_checkpoint
from .lock import RunLockedError, hold_run_folder
from .results import ResultsError, provenance, read_results, write_results

# Keys that may change between a run and its resumption without changing what it computes.
RESUMABLE_CHANGES = ("checkpoint_every", "keep_checkpoints", "workers", "compile", "output_dir", "profile", "device")


class RunError(RuntimeError):
    """The run cannot start as asked (e.g. its folder holds an earlier run); the message says what to do."""


# --- set-up: where the run starts -------------------------------------------------------------------------------

def starting_checkpoint(config: RunConfig, run_dir: Path, resume, restart: bool,
                        process: distributed.Process) -> dict | None:
    """The checkpoint the run continues (None: it starts at step 0), checked against ``config`` before any compute;
    with ``restart``, the folder's earlier run is deleted first."""
    if resume and restart:
        raise RunError("resume and restart exclude each other: resume continues the run, restart deletes it")
    checkpoints = run_dir / "checkpoints"
    if not resume:
        earlier = list_checkpoints(checkpoints) + [p for p in (run_dir / "results.json",) if p.exists()]
        if earlier and not restart:
            raise RunError(f"{run_dir} holds an earlier run ({earlier[-1].name}); resume it (--resume), delete it "
                           f"(--restart), or pick another name= / output_dir=")
        if restart and process.is_main:
            for stale in (checkpoints, run_dir / "metrics.jsonl", run_dir / "results.json", run_dir / "tensorboard"):
                shutil.rmtree(stale) if stale.is_dir() else stale.unlink(missing_ok=True)
        return None
    path = latest_checkpoint(checkpoints) if resume is True else Path(resume)
    if path is None:
        raise CheckpointError(f"nothing to resume: {checkpoints} holds no checkpoint (start without --resume)")
    saved = load_checkpoint(path)
    changed = [f"{k}: {saved['config'].get(k)!r} → {v!r}" for k, v in config.as_dict().items()
               if k not in RESUMABLE_CHANGES and saved["config"].get(k) != v]
    if changed:
        raise CheckpointError(f"checkpoint {path} was written by a run with another config ({'; '.join(changed)}); "
                              "resume with the same config, or start a new run (another name=)")
    if saved["world_size"] != process.world_size:
        raise CheckpointError(f"checkpoint {path} was written by {saved['world_size']} process(es); resume "
                              f"with the same number (torchrun --nproc_per_node={saved['world_size']})")
    return saved


# --- data -------------------------------------------------------------------------------------------------------

def build_data(config: RunConfig, process: distributed.Process) -> RunData:
    """The data set named by ``config``, on this process's device, as batch sources and evaluation batches."""
    options = dict(batch_size=config.batch_size, unlabeled_batch=config.unlabeled_per_step(), seed=config.seed,
                   strong=(config.strong_ops, config.cutout), rank=process.rank, world_size=process.world_size)
    if config.dataset == "imagenet":
        if config.labels_per_class is not None:
            raise ConfigError("ImageNet takes label_percent (1 or 10 in the paper) or label_list, not labels_per_class")
        return streamed_run_data(dataset_root("imagenet", config.data_root), image_size=config.image_size,
                                 label_percent=config.label_percent, label_list=config.label_list,
                                 split_seed=config.split_seed, unlabeled_size=config.unlabeled_size,
                                 eval_size=config.eval_size, workers=config.workers, device=process.device, **options)
    if config.label_list is not None:
        raise ConfigError("label_list is for ImageNet; resident data sets use labels_per_class or label_percent")
    def read(split):        # a folder of images is resized as it is read; the other data sets afterwards
        return resized(load_dataset(config.dataset, split, process.device, config.data_root, config.image_size),
                       config.image_size)
    train_set, test = read("train"), read("test")
    if config.final_eval_size is not None:     # a quick check: the first test images, not all of them
        test = test.subset(torch.arange(min(config.final_eval_size, len(test))))
    return split_run_data(train_set, test, split_seed=config.split_seed, unlabeled_size=config.unlabeled_size,
                          labels_per_class=labels_per_class_for(train_set, config.labels_per_class,
                                                                config.label_percent),
                          eval_size=config.eval_size, augment=config.augment, train_eval_size=config.train_eval_size,
                          probe_size=config.probe_size, **options)


def data_record(data: RunData) -> dict:
    """What ``results.json`` says of a run's data: its sizes, and what a prediction needs to prepare an image and
    name its class (``image_shape`` ``[C, H, W]``, the normalisation ``mean`` and ``std``, ``classes`` in label
    order)."""
    return {**data.description, "image_shape": list(data.image_shape), "mean": list(data.mean),
            "std": list(data.std), "classes": list(data.classes)}


# --- state ------------------------------------------------------------------------------------------------------

def state_from_config(config: RunConfig, process: distributed.Process) -> TrainState:
    """The run of ``config`` at step 0: its data read as the config names it, then the library's one start
    (:func:`~semiformer_lib.train.fit.build_state`: the model seeded by ``config.seed``, a fresh optimizer, schedule
    and EMA) — what :func:`train` starts from, and what :mod:`.replay` re-runs an artifact's start from."""
    return build_state(config, build_data(config, process), process)


# --- loop: what each evaluation and step leaves behind ---------------------------------------------------------

class MetricsFile(Sink):
    """``metrics.jsonl``: one JSON line per evaluation; rewritten at the start from the rows the state holds, so a
    resumed run drops the lines written after its checkpoint."""

    def __init__(self, path: Path, rows: list[dict]):
        self.path = path
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))

    def on_evaluation(self, state: TrainState, result: Evaluation) -> None:
        with self.path.open("a") as handle:
            handle.write(json.dumps(result.row) + "\n")


class TensorBoard(Sink):
    """TensorBoard scalars in the run folder (when TensorBoard is installed)."""

    def __init__(self, writer):
        self.writer = writer

    def on_evaluation(self, state: TrainState, result: Evaluation) -> None:
        row = result.row
        for head, value in row["model"].items():
            self.writer.add_scalar(f"accuracy/{head}", value, state.step)
        if "ema" in row:
            self.writer.add_scalar("accuracy/ema", row["ema"]["summed"], state.step)
        for name in DIAGNOSTICS:
            if row.get(name) is not None:
                self.writer.add_scalar(f"train/{name}", row[name], state.step)


@dataclass
class RunClock:
    """A run's wall time across its segments (a start and each ``--resume``): the first segment's start time and
    the seconds of the earlier segments up to their last checkpoint, saved in every checkpoint."""
    started: str                  # UTC, ISO 8601: when the run's first segment began
    earlier_seconds: float        # wall seconds of the earlier segments, up to the checkpoint this one resumed
    segment_start: float          # time.perf_counter() when this segment began

    @classmethod
    def resumed(cls, checkpoint: dict | None, segment_start: float) -> RunClock:
        saved = (checkpoint or {}).get("clock")
        if saved is None:            # a fresh run (or a checkpoint written before clocks were saved)
            return cls(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), 0.0, segment_start)
        return cls(str(saved["started"]), float(saved["wall_seconds"]), segment_start)

    def seconds(self) -> float:
        return self.earlier_seconds + time.perf_counter() - self.segment_start

    def state_dict(self) -> dict:
        return {"started": self.started, "wall_seconds": self.seconds()}


class Checkpoints(Sink):
    """Every ``checkpoint_every`` steps, at ``stop_after`` and at the end: the whole :class:`TrainState`, with the
    config, the number of processes it was written by and the run's clock."""

    def __init__(self, config: RunConfig, folder: Path, stop_after: int | None, clock: RunClock):
        self.config, self.folder, self.stop_after, self.clock, self.last = config, folder, stop_after, clock, None

    def on_step(self, state: TrainState) -> None:
        step = state.step
        if step % self.config.checkpoint_every and step != state.total_steps and step != self.stop_after:
            return
        saved = {"config": self.config.as_dict(), "world_size": state.process.world_size,
                 "clock": self.clock.state_dict(), **state.state_dict()}
        if state.process.distributed:   # each rank's own batch positions and generators, restored rank by rank
            saved["ranks"] = distributed.gather_objects({key: saved[key] for key in RANK_KEYS}, state.process)
        if state.process.is_main:
            self.last = save_checkpoint(saved, self.folder, self.config.keep_checkpoints)
        distributed.barrier(state.process)


def run_sinks(config: RunConfig, run_dir: Path, state: TrainState, stop_after: int | None,
              clock: RunClock) -> list[Sink]:
    """Where the run's measurements go: files on the main process only, checkpoints on every process (they wait
    for each other at a checkpoint)."""
    checkpoints = Checkpoints(config, run_dir / "checkpoints", stop_after, clock)
    if not state.process.is_main:
        return [checkpoints]
    run_dir.mkdir(parents=True, exist_ok=True)
    sinks = [MetricsFile(run_dir / "metrics.jsonl", state.metrics), checkpoints]
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:                                  # tensorboard is optional
        return sinks
    return [*sinks, TensorBoard(SummaryWriter(str(run_dir / "tensorboard")))]


# --- the run, top to bottom -------------------------------------------------------------------------------------

def train(config: RunConfig, resume: bool | str | Path | None = None, restart: bool = False,
          progress: bool = True, stop_after: int | None = None) -> dict:
    """Run ``config`` to the end (or to step ``stop_after``) and return its results record.

    ``resume=True`` continues from the newest checkpoint of ``<output_dir>/<name>`` (or from the checkpoint path
    given); ``restart=True`` deletes that folder's earlier checkpoints, metrics and results first. A run stopped by
    ``stop_after`` returns ``{"stopped_at": step, "checkpoint": path}`` and is continued with ``resume=True``.
    Resuming a finished run returns its results with ``"already_finished": True`` and changes nothing. While it
    runs, the run holds its folder's lock (:mod:`.lock`).
    """
    segment_start = time.perf_counter()
    if stop_after is not None and (isinstance(stop_after, bool) or not isinstance(stop_after, int) or stop_after < 1):
        raise RunError(f"stop_after (--stop-after) must be a step ≥ 1, got {stop_after!r}")
    process = distributed.setup(config.device)                                          # set-up
    if config.threads:
        torch.set_num_threads(config.threads)
    run_dir = Path(config.output_dir) / config.name
    # Rank 0 holds the folder for the whole run; the other ranks write nothing there but checkpoints it orders.
    with hold_run_folder(run_dir) if process.is_main else contextlib.nullcontext():
        if resume and (run_dir / "results.json").is_file():
            return {**read_results(run_dir / "results.json"), "already_finished": True}
        checkpoint = starting_checkpoint(config, run_dir, resume, restart, process)
        distributed.barrier(process)
        clock = RunClock.resumed(checkpoint, segment_start)
        return _run(config, run_dir, checkpoint, clock, process, progress, stop_after)


def _run(config: RunConfig, run_dir: Path, checkpoint: dict | None, clock: RunClock,
         process: distributed.Process, progress: bool, stop_after: int | None) -> dict:
    state = state_from_config(config, process)                                                # data, model, state
    if checkpoint is not None:
        state.load_state_dict(checkpoint)
        del checkpoint
    sinks = run_sinks(config, run_dir, state, stop_after, clock)
    until = state.total_steps if stop_after is None else min(stop_after, state.total_steps)
    train_loop(state, tuple(sinks), until=until, progress=progress, desc=config.name)  # loop
    for sink in sinks:
        if isinstance(sink, TensorBoard):
            sink.writer.close()
    if state.step < state.total_steps:                                                  # end
        last = next(s.last for s in sinks if isinstance(s, Checkpoints))
        return {"stopped_at": state.step, "checkpoint": str(last or run_dir / "checkpoints")}
    record = {"config": config.as_dict(), "provenance": provenance(process.device, process.world_size),
              "started": clock.started, "schedule": state.lengths, "data": data_record(state.data),
              "wall_seconds": clock.seconds(), "train_seconds": state.train_seconds,
              "images_per_second": state.images_seen / max(state.train_seconds, 1e-9),
              "final": final_accuracies(state), "curves": state.metrics}
    if process.is_main:
        record["path"] = str(write_results(record, run_dir / "results.json"))
    distributed.barrier(process)
    return record


USER_ERRORS = (ConfigError, CheckpointError, DatasetFileError, SplitError, ResultsError, RunError, RunLockedError)


def main(argv: list[str] | None = None) -> int:
    """The CLI: 0 when the run finished, stopped as asked or was already finished; 2 with one line on stderr when
    the run cannot start or go on as asked (see the README's "Outputs and resuming")."""
    parser = argparse.ArgumentParser(
        prog="python -m semiformer_lib.train",
        description="Run a Semiformer training config (one process, or under torchrun --nproc_per_node=N).",
        epilog="Example: python -m semiformer_lib.train --config semiformer_lib/configs/fashion_mnist_40.yaml "
               "steps=600 teacher=ema   (key=value overrides may come before, between or after the options)")
    parser.add_argument("--config", required=True, help="a YAML config (see semiformer_lib/configs/)")
    parser.add_argument("--profile", help="which of the config's profiles to apply (default: gpu with CUDA, else cpu)")
    resuming = parser.add_mutually_exclusive_group()
    resuming.add_argument("--resume", action="store_true", help="continue the run from its newest checkpoint")
    resuming.add_argument("--resume-from", metavar="CHECKPOINT", help="continue the run from this checkpoint")
    resuming.add_argument("--restart", action="store_true",
                          help="delete the run folder's earlier checkpoints, metrics and results first")
    parser.add_argument("--stop-after", type=int, metavar="STEP", help="stop (with a checkpoint) after this step")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="pairs that replace config values")
    args = parser.parse_intermixed_args(argv)
    resume = args.resume_from if args.resume_from is not None else (True if args.resume else None)
    try:
        config = load_config(args.config, args.overrides, profile=args.profile)
        record = train(config, resume=resume, restart=args.restart, progress=not args.no_progress,
                       stop_after=args.stop_after)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        distributed.teardown()
    if "stopped_at" in record:
        print(f"stopped after step {record['stopped_at']}; continue with --resume ({record['checkpoint']})")
        return 0
    final = record["final"]
    heads = ", ".join(f"{k} {100 * v:.2f} %" for k, v in final["model"].items())
    ema = f"; EMA {100 * final['ema']['summed']:.2f} %" if "ema" in final else ""
    if record.get("already_finished"):
        print(f"{config.name} is already finished ({heads}{ema}); nothing was changed. Its results are in "
              f"{record['path']}; to train it again, use --restart")
    elif "path" in record:
        print(f"{config.name}: {heads}{ema}; {record['wall_seconds'] / 60:.1f} min; results in {record['path']}")
    return 0
