"""Training a model on sets held in memory — what the chapters call — through the one loop (:mod:`.loop`).

    history = fit(model, labeled, test, config)                        # supervised: no unlabeled set
    history = fit(model, labeled, test, config, unlabeled=pool)        # pseudo-labels after config.supervised_steps

``config`` is the :class:`~.config.RunConfig` the CLI reads, so a chapter's run and ``python -m semiformer_lib.train``
with the same keys draw the same batches and take the same steps. Model initialisation is the caller's (seed before
creating the model); the batches and augmentations come from ``config.seed``.

:func:`build_state` is the one way a run is started from a config and its data — the CLI's run
(:mod:`semiformer_lib.runs.run`), a comparison's method (:mod:`.comparisons`) and a sweep's run
(:mod:`.experiments`) all go through it: the global generators seeded with ``config.seed``, ``config.model`` built
for the data, then :func:`new_state`.
"""
from __future__ import annotations

import torch
from torch import nn

from ..data import ImageSet
from ..data.run_data import RunData, resident_run_data
from ..models import create_model
from ..models.interface import HeadsModule, is_two_headed
from ..seeding import seed_everything
from . import distributed
from .config import ConfigError, RunConfig
from .history import History
from .loop import train_loop
from .state import TrainState


def new_state(model: nn.Module, config: RunConfig, data: RunData, process: distributed.Process | None = None,
              student: nn.Module | None = None) -> TrainState:
    """A run at step 0: ``model`` on the data's device with a fresh optimizer, schedule and EMA. Refuses a teacher
    the model cannot give before any compute."""
    pseudo_labels = data.unlabeled is not None and config.unlabeled_weight > 0
    if pseudo_labels and config.teacher in ("conv", "transformer") and not is_two_headed(model):
        raise ConfigError(f"teacher={config.teacher!r} needs a two-headed model; {type(model).__name__} has one head "
                          "(use teacher='mean' or 'ema')")
    process = process or distributed.single_process(data.labeled.dataset.device)
    lengths = config.schedule(data.labeled_images, process.world_size)
    model.to(process.device).train()
    return TrainState(model, config, data, lengths, process, student)


def build_state(config: RunConfig, data: RunData, process: distributed.Process | None = None,
                model_options: dict | None = None) -> TrainState:
    """The run of ``config`` on ``data`` at step 0 (see the module docstring): ``config.model`` built with
    ``model_options`` and the config's drop-path rate for the data's images and classes, after seeding with
    ``config.seed``; on the process's device, NHWC when the config asks; its heads DDP-wrapped across processes and
    compiled when ``config.compile``."""
    process = process or distributed.single_process(data.labeled.dataset.device)
    seed_everything(config.seed)
    options = dict(model_options or {})
    if config.drop_path_rate:
        options["drop_path_rate"] = config.drop_path_rate
    model = create_model(config.model, img_size=data.image_shape[1], in_chans=data.image_shape[0],
                         num_classes=data.num_classes, **options).to(process.device)
    if config.uses_channels_last(process.device):
        model = model.to(memory_format=torch.channels_last)
    student = distributed.wrap(HeadsModule(model), process)
    model = student.module.model if process.distributed else model          # SyncBatchNorm replaced the BN layers
    if process.distributed:            # the official script's seed + rank: each process its own drop-path draws
        seed_everything((config.seed + process.rank) % 2**32)  # replicas were built alike; 1 process: unchanged
    return new_state(model, config, data, process, torch.compile(student) if config.compile else student)


def run_data(labeled: ImageSet, test: ImageSet, config: RunConfig, unlabeled: ImageSet | None = None) -> RunData:
    """The sources, evaluation batches and probes of a run on these sets, as ``config`` asks."""
    return resident_run_data(labeled, unlabeled, test, batch_size=config.batch_size,
                             unlabeled_batch=config.unlabeled_per_step(), seed=config.seed,
                             strong=(config.strong_ops, config.cutout), augment=config.augment,
                             train_eval_size=config.train_eval_size, probe_size=config.probe_size)


def fit(model: nn.Module, labeled: ImageSet, test: ImageSet, config: RunConfig, unlabeled: ImageSet | None = None,
        progress: bool = True, desc: str = "train") -> History:
    """Train ``model`` on ``labeled`` (and, with ``unlabeled``, on pseudo-labels of it) as ``config`` asks;
    evaluate on ``test``. Returns the :class:`~.history.History`."""
    history = History()
    state = new_state(model, config, run_data(labeled, test, config, unlabeled))
    train_loop(state, sinks=(history,), progress=progress, desc=desc)
    return history
