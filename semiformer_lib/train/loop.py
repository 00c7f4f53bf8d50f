"""The training loop: the one every run of the library goes through (Semiformer Sec. 3.2 and 4.1; FixMatch).

A supervised run of chapters 1–3, a method of chapter 4's comparisons and chapter 6's full run (notebook or
``python -m semiformer_lib.train``) all call :func:`train_loop` on a :class:`~.state.TrainState`::

    for step in state.step + 1 … until:
        x, y = labeled.next_batch()                 weak view α(x), normalised                  [B, C, H, W], [B]
        if pseudo-labeling (past supervised_steps, an unlabeled source, λ > 0):
            u = unlabeled.next_batch()              weak α(u) and strong 𝒜(u)                   [μB, C, H, W]
                                                    (labeled_share s: x is [⌊sB⌋, …], u [B − ⌊sB⌋, …])
            L = L_x + λ·L_u                         step.semi_supervised_step → ssl objective (Eq. 1–4)
        else:
            L = L_x                                 step.supervised_step
        AdamW step (timm's no-decay groups) · warm-up + cosine · EMA update
        every eval_every steps and after the last: an :class:`Evaluation` → state.metrics and every sink

An evaluation row holds the step, the learning rate, the window's mean diagnostics, the accuracy of every head of
the model and of its EMA on the curve test images (``{"conv", "transformer", "summed"}`` or ``{"summed"}``), the
labeled images' accuracy when measured, the per-class mask rate and the throughput. Sinks receive it with the
window's per-step diagnostics and the teacher probe: the in-memory :class:`~.history.History` of the chapters, the
CLI's ``metrics.jsonl``, TensorBoard and checkpoints. The loop syncs with the host once per evaluation, never per step.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from ..data import to_model_input
from ..progress import tqdm
from ..ssl.teachers import teacher_predictions
from .evaluate import evaluate_heads
from .state import TrainState
from .step import semi_supervised_step, supervised_step


@dataclass
class Evaluation:
    """What one evaluation measured: ``row`` (JSON-ready, a metrics.jsonl line), ``per_step`` (the window's
    diagnostics ``[n, 5]`` on the device) and ``probe`` (``{teacher: (confidence [N], predicted [N])}``, empty
    without a probe or during the warm-up)."""
    row: dict
    per_step: torch.Tensor
    probe: dict = field(default_factory=dict)


class Sink:
    """Where a run's measurements go. ``on_evaluation`` is called after each evaluation, ``on_step`` after every step
    (for checkpoints); both do nothing here."""

    def on_evaluation(self, state: TrainState, result: Evaluation) -> None:
        pass

    def on_step(self, state: TrainState) -> None:
        pass


def _model_input(state: TrainState, images: torch.Tensor) -> torch.Tensor:
    inputs = to_model_input(images, state.data.mean, state.data.std)
    return inputs.contiguous(memory_format=torch.channels_last) if state.channels_last else inputs


def training_loss(state: TrainState) -> torch.Tensor:
    """Draw this step's batches and return its loss; the step's diagnostics go to
    ``state.diagnostics``."""
    config, data = state.config, state.data
    pseudo_labeling = state.pseudo_labeling()
    # B labeled images a step; int(B·share) once pseudo-labeling starts, with a share
    data.labeled.set_batch_size(config.labeled_per_step(pseudo_labeling))
    batch = data.labeled.next_batch()
    weak_x = _model_input(state, batch.weak)
    state.images_seen += len(batch.labels) * state.process.world_size
    if not pseudo_labeling:
        loss = supervised_step(state.student, weak_x, batch.labels,
                               config.label_smoothing, config.precision)
        state.diagnostics.record(state.step, labeled_loss=loss.detach())
        return loss
    unlabeled = data.unlabeled.next_batch()
    state.images_seen += len(unlabeled.labels) * state.process.world_size
    objective = semi_supervised_step(
        state.model, weak_x, batch.labels,
        _model_input(state, unlabeled.weak), _model_input(state, unlabeled.strong),
        teacher=config.teacher, threshold=config.threshold,
        unlabeled_weight=config.unlabeled_weight, soft_targets=config.soft_targets,
        label_smoothing=config.label_smoothing,
        averaged=state.ema.module if state.ema else None, student=state.student,
        precision=config.precision)
    state.diagnostics.record_pseudo_labels(state.step, objective, unlabeled.labels)
    return objective.total


def accuracies(state: TrainState, batches, model: torch.nn.Module | None = None) -> dict[str, float]:
    """Every head's accuracy of ``model`` (default: the run's model) over ``batches`` (a
    :class:`~semiformer_lib.data.run_data.RunData` batch function)."""
    return evaluate_heads(state.model if model is None else model, batches(), state.data.mean, state.data.std,
                          state.process, state.config.precision, state.channels_last)


def evaluate(state: TrainState) -> Evaluation:
    """Measure the run at its current step (see the module docstring); one host sync per quantity."""
    row = {"step": state.step, "lr": state.scheduler.get_last_lr()[0]}
    row.update(state.diagnostics.means(state.step, state.process))
    row["model"] = accuracies(state, state.data.curve_batches)
    if state.ema is not None:
        row["ema"] = accuracies(state, state.data.curve_batches, state.ema.module)
    if state.data.labeled_batches is not None:
        row["train_acc"] = accuracies(state, state.data.labeled_batches)["summed"]
    row["class_mask_rate"] = state.diagnostics.class_mask_rate(state.process)
    row["images_per_second"] = state.images_seen / max(state.train_seconds, 1e-9)
    probe = {}
    if state.data.probe is not None and state.step > state.lengths["supervised_steps"]:
        probe = teacher_predictions(state.model, state.data.probe, state.ema.module if state.ema else None)
    return Evaluation(row, state.diagnostics.per_step(state.step).clone(), probe)


def final_accuracies(state: TrainState) -> dict[str, dict[str, float]]:
    """The model's and the EMA's accuracy, every head, on the final test images."""
    final = {"model": accuracies(state, state.data.final_batches)}
    if state.ema is not None:
        final["ema"] = accuracies(state, state.data.final_batches, state.ema.module)
    return final


def train_loop(state: TrainState, sinks: tuple[Sink, ...] = (),
               until: int | None = None, progress: bool = True,
               desc: str = "train") -> TrainState:
    """Train ``state`` from its step to ``until`` (default: the run's last step);
    see the module docstring."""
    until = state.total_steps if until is None else until
    bar = tqdm(total=state.total_steps, initial=state.step, desc=desc, leave=False,
               mininterval=1.0, disable=not (progress and state.process.is_main))
    clock = time.perf_counter()
    while state.step < until:
        state.step += 1
        loss = training_loss(state)
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        state.optimizer.step()
        state.scheduler.step()
        if state.ema is not None:
            state.ema.update(state.model, step=state.step)
        bar.update(1)
        if state.evaluation_due():
            if state.process.device.type == "cuda":
                torch.cuda.synchronize(state.process.device)
            now = time.perf_counter()
            state.train_seconds, clock = state.train_seconds + now - clock, now
            result = evaluate(state)
            state.metrics.append(result.row)
            for sink in sinks:
                sink.on_evaluation(state, result)
            state.diagnostics.start_window(state.step + 1)
            bar.set_postfix(test=f"{result.row['model']['summed']:.1%}")
            clock = time.perf_counter()        # evaluation time is not training time
        now = time.perf_counter()
        state.train_seconds, clock = state.train_seconds + now - clock, now
        for sink in sinks:
            sink.on_step(state)
    if state.step < state.total_steps:      # stopped on purpose (stop_after)
        bar.total = state.step
    bar.close()
    return state
