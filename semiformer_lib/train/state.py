"""A run's state: everything that decides its next step, as one object that saves and resumes itself.

:class:`TrainState` holds the model (and the student the step calls: the model's heads, DDP-wrapped across
processes), the AdamW optimizer (:mod:`.optimizer`), the warm-up + cosine schedule, the EMA copy, the step, the
batch sources (their generators and positions), the per-step diagnostics of the current evaluation window and the
metrics rows written so far. ``state_dict()`` / ``load_state_dict()`` are the only way a run is saved and restored —
by the CLI's checkpoints and by a comparison that lets several methods share a warm-up — so a resumed run draws the
same batches and takes the same steps as the uninterrupted one. In a multi-process run the processes differ only in
:data:`RANK_KEYS` (their batch sources and random generators: each rank draws its own batches and strong views);
a checkpoint keeps every rank's, and each rank resumes with its own.

:class:`StepDiagnostics` keeps, per step of the window, the named diagnostics of :data:`DIAGNOSTICS` in a device
buffer ``[window, 5]`` (NaN where a step has none: L_u and the pseudo-label figures during the warm-up) and, per
class, how many unlabeled images were seen and passed τ — no host sync until an evaluation reads them.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..data.run_data import RunData
from ..models.interface import HeadsModule
from ..ssl.ema import ema_model
from ..ssl.objective import Objective
from . import distributed
from ..seeding import capture_rng, restore_rng
from .config import RunConfig
from .optimizer import build_optimizer
from .schedule import warmup_cosine

DIAGNOSTICS = ("mask_rate", "pseudo_acc", "confident_acc", "labeled_loss", "unlabeled_loss")
RANK_KEYS = ("sources", "rng")        # what differs between the processes of one run: batch positions, generators


class StepDiagnostics:
    """Per-step diagnostics of one evaluation window, on the device (see the module docstring)."""

    def __init__(self, window: int, num_classes: int, device: torch.device):
        self.values = torch.full((window, len(DIAGNOSTICS)), float("nan"), device=device)   # [window, 5]
        self.class_seen = torch.zeros(num_classes, device=device)
        self.class_masked = torch.zeros(num_classes, device=device)
        self.first_step = 1                                   # the step of row 0

    def record(self, step: int, **values: torch.Tensor) -> None:
        """Store this step's ``values`` (0-dim tensors named as in :data:`DIAGNOSTICS`; the others stay NaN)."""
        row = torch.full((len(DIAGNOSTICS),), float("nan"), device=self.values.device)
        for name, value in values.items():
            row[DIAGNOSTICS.index(name)] = value
        self.values[step - self.first_step] = row

    def record_pseudo_labels(self, step: int, objective: Objective, truth: torch.Tensor) -> None:
        """A pseudo-labeling step: the mask rate, the accuracy of all and of the confident pseudo-labels against
        the unlabeled images' true labels ``truth`` ``[μB]`` (-1 where unknown: never read by the loss), the loss
        terms, and the per-class counts."""
        pseudo, known = objective.pseudo, (truth >= 0).float()
        correct = (pseudo.predicted == truth).float() * known
        self.record(step, mask_rate=pseudo.mask_rate, pseudo_acc=correct.sum() / known.sum(),
                    confident_acc=(correct * pseudo.mask).sum() / (known * pseudo.mask).sum(),  # NaN when none passed
                    labeled_loss=objective.labeled.detach(), unlabeled_loss=objective.unlabeled.detach())
        classes = truth.clamp(min=0)
        self.class_seen += torch.bincount(classes, weights=known, minlength=len(self.class_seen))
        self.class_masked += torch.bincount(classes, weights=known * pseudo.mask, minlength=len(self.class_seen))

    def per_step(self, step: int) -> torch.Tensor:
        """The rows of steps ``first_step … step``: ``[n, 5]``."""
        return self.values[:step - self.first_step + 1]

    def means(self, step: int, process: distributed.Process) -> dict[str, float | None]:
        """Each diagnostic's mean over the window up to ``step`` (NaN-skipping; None when no step had it), averaged
        over processes — one host sync."""
        means = distributed.all_reduce_sum(torch.nanmean(self.per_step(step), dim=0), process) / process.world_size
        return {name: (None if math.isnan(v) else v) for name, v in zip(DIAGNOSTICS, means.tolist())}

    def class_mask_rate(self, process: distributed.Process) -> list[float | None]:
        """Per class, the share of the window's unlabeled images that passed τ (None for a class not seen)."""
        seen = distributed.all_reduce_sum(self.class_seen.clone(), process)
        masked = distributed.all_reduce_sum(self.class_masked.clone(), process)
        rates = (masked / seen.clamp(min=1)).tolist()
        return [rate if count > 0 else None for rate, count in zip(rates, seen.tolist())]

    def start_window(self, first_step: int) -> None:
        self.values.fill_(float("nan"))
        self.class_seen.zero_()
        self.class_masked.zero_()
        self.first_step = first_step

    def state_dict(self) -> dict:
        return {"values": self.values.cpu(), "class_seen": self.class_seen.cpu(),
                "class_masked": self.class_masked.cpu(), "first_step": self.first_step}

    def load_state_dict(self, state: dict) -> None:
        for name in ("values", "class_seen", "class_masked"):
            getattr(self, name).copy_(state[name])
        self.first_step = int(state["first_step"])


class TrainState:
    """One run at one step; see the module docstring.

    ``lengths``: the run's ``steps``, ``supervised_steps`` and ``warmup_steps`` (:meth:`RunConfig.schedule`).
    ``student``: what the step calls for the students' logits (default: ``HeadsModule(model)``; a multi-process run
    passes it DDP-wrapped).
    """

    def __init__(self, model: nn.Module, config: RunConfig, data: RunData, lengths: dict[str, int],
                 process: distributed.Process, student: nn.Module | None = None):
        self.model, self.config, self.data, self.lengths, self.process = model, config, data, lengths, process
        self.channels_last = config.uses_channels_last(process.device)            # NHWC conv kernels
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        self.student = student if student is not None else HeadsModule(model)
        self.optimizer = build_optimizer(model, config.lr, config.weight_decay)
        self.scheduler = warmup_cosine(self.optimizer, lengths["steps"], lengths["warmup_steps"])
        self.ema = ema_model(model, config.ema_decay) if config.ema_decay is not None else None
        self.diagnostics = StepDiagnostics(config.eval_every or lengths["steps"], data.num_classes, process.device)
        self.step = 0
        self.images_seen = 0
        self.train_seconds = 0.0
        self.metrics: list[dict] = []                      # one row per evaluation (metrics.jsonl)

    @property
    def total_steps(self) -> int:
        return self.lengths["steps"]

    def pseudo_labeling(self) -> bool:
        """Whether this step trains on pseudo-labels: past the supervised warm-up, with an unlabeled source and
        λ > 0 (otherwise the step is supervised: the same loop, the same recipe)."""
        return (self.step > self.lengths["supervised_steps"] and self.data.unlabeled is not None
                and self.config.unlabeled_weight > 0)

    def evaluation_due(self) -> bool:
        every = self.config.eval_every
        return self.step == self.total_steps or (every is not None and self.step % every == 0)

    def state_dict(self) -> dict:
        """Everything a checkpoint holds; :data:`RANK_KEYS` are this process's own (a multi-process checkpoint keeps
        every rank's under ``"ranks"``, gathered by :class:`~.run.Checkpoints`)."""
        unlabeled = self.data.unlabeled
        return {"step": self.step, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "ema": self.ema.state_dict() if self.ema else None,
                "sources": {"labeled": self.data.labeled.state_dict(),
                            "unlabeled": unlabeled.state_dict() if unlabeled is not None else None},
                "diagnostics": self.diagnostics.state_dict(), "metrics": list(self.metrics),
                "images_seen": self.images_seen, "train_seconds": self.train_seconds, "rng": capture_rng()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        own = state["ranks"][self.process.rank] if state.get("ranks") else state   # this rank's, when saved apart
        self.data.labeled.load_state_dict(own["sources"]["labeled"])
        if self.data.unlabeled is not None and own["sources"]["unlabeled"] is not None:
            self.data.unlabeled.load_state_dict(own["sources"]["unlabeled"])
        self.diagnostics.load_state_dict(state["diagnostics"])
        restore_rng(own["rng"])
        self.step, self.metrics = int(state["step"]), list(state["metrics"])
        self.images_seen, self.train_seconds = int(state["images_seen"]), float(state["train_seconds"])
