"""What a run in a notebook measured, as plain data: the in-memory sink of :func:`~.loop.train_loop`.

Per evaluation (lists indexed like ``step``): ``rows`` (the metrics rows, as the CLI writes them to
``metrics.jsonl``) and views of them — ``test_acc`` (the model's prediction, the summed heads), ``head_acc``
(``{"conv", "transformer", "summed"}``; empty dicts for a one-headed model), ``ema_acc``, ``train_acc`` (labeled
images, when measured), ``train_loss`` (mean L_x of the window), ``lr``, ``class_mask_rate`` (NaN: class not seen).

Per step (index ``i`` ↔ step ``i + 1``): ``mask_rate``, ``pseudo_acc`` (all pseudo-labels), ``confident_acc``
(the confident ones), ``labeled_loss``, ``unlabeled_loss`` — NaN where a step has none (the supervised warm-up).

Teacher probe (``probe_size`` unlabeled images, un-augmented; evaluations after the warm-up): ``probe_step``,
``probe_confidence[teacher]`` and ``probe_predicted[teacher]`` ``[evals, N]`` (CPU tensors) and ``probe_labels``
``[N]`` — read by :func:`semiformer_lib.analysis.threshold_tradeoff` at any threshold after the run.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .loop import Evaluation, Sink
from .state import DIAGNOSTICS, TrainState


@dataclass
class History(Sink):
    """A run's measurements; see the module docstring."""
    rows: list[dict] = field(default_factory=list)
    per_step: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in DIAGNOSTICS})
    probe_step: list[int] = field(default_factory=list)
    probe_confidence: dict[str, torch.Tensor] = field(default_factory=dict)
    probe_predicted: dict[str, torch.Tensor] = field(default_factory=dict)
    probe_labels: torch.Tensor | None = None
    seconds: float = 0.0

    def on_evaluation(self, state: TrainState, result: Evaluation) -> None:
        self.rows.append(result.row)
        for name, column in zip(DIAGNOSTICS, result.per_step.T.tolist()):     # one host sync per evaluation
            self.per_step[name].extend(column)
        if result.probe:
            self.probe_step.append(state.step)
            for teacher, (confidence, predicted) in result.probe.items():
                self._append(self.probe_confidence, teacher, confidence.cpu())
                self._append(self.probe_predicted, teacher, predicted.cpu())
            self.probe_labels = state.data.probe.labels.cpu()
        self.seconds = state.train_seconds

    @staticmethod
    def _append(table: dict[str, torch.Tensor], teacher: str, values: torch.Tensor) -> None:
        table[teacher] = torch.cat([table[teacher], values[None]]) if teacher in table else values[None]

    # per evaluation
    @property
    def step(self) -> list[int]:
        return [row["step"] for row in self.rows]

    @property
    def test_acc(self) -> list[float]:
        return [row["model"]["summed"] for row in self.rows]

    @property
    def head_acc(self) -> list[dict]:
        return [row["model"] if len(row["model"]) > 1 else {} for row in self.rows]

    @property
    def ema_acc(self) -> list[float]:
        return [row["ema"]["summed"] for row in self.rows]

    @property
    def train_acc(self) -> list[float]:
        return [row["train_acc"] for row in self.rows]

    @property
    def train_loss(self) -> list[float]:
        return [row["labeled_loss"] for row in self.rows]

    @property
    def lr(self) -> list[float]:
        return [row["lr"] for row in self.rows]

    @property
    def class_mask_rate(self) -> list[list[float]]:
        """Per evaluation, each class's mask rate over the window (NaN for a class with no unlabeled image)."""
        return [[float("nan") if rate is None else rate for rate in row["class_mask_rate"]] for row in self.rows]

    @property
    def final_test_acc(self) -> float:
        return self.test_acc[-1]

    @property
    def final_train_acc(self) -> float:
        return self.train_acc[-1]

    @property
    def final_ema_acc(self) -> float:
        return self.ema_acc[-1]

    # per step
    @property
    def mask_rate(self) -> list[float]:
        return self.per_step["mask_rate"]

    @property
    def pseudo_acc(self) -> list[float]:
        return self.per_step["pseudo_acc"]

    @property
    def confident_acc(self) -> list[float]:
        return self.per_step["confident_acc"]

    @property
    def labeled_loss(self) -> list[float]:
        return self.per_step["labeled_loss"]

    @property
    def unlabeled_loss(self) -> list[float]:
        return self.per_step["unlabeled_loss"]

    def pseudo_label_mean(self, name: str, steps: int, end: bool = False) -> float:
        """Mean of a per-step diagnostic (``"mask_rate"``, ``"pseudo_acc"``, ``"confident_acc"``) over the first
        ``steps`` pseudo-labeling steps (the last ones with ``end=True``); warm-up steps and steps without a value
        are skipped."""
        if name not in ("mask_rate", "pseudo_acc", "confident_acc"):
            raise ValueError(f"no per-step pseudo-label diagnostic {name!r}; "
                             "use mask_rate, pseudo_acc or confident_acc")
        values = [v for v in self.per_step[name] if v == v]
        window = values[-steps:] if end else values[:steps]
        if not window:
            raise ValueError(f"this run has no {name} values (no pseudo-labeling step)")
        return sum(window) / len(window)
