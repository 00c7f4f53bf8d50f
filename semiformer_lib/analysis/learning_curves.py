"""Supervised learning curves read from committed run artifacts (chapter 1's long runs; the ViT paper's and the
Semiformer paper's starting point, Semiformer Sec. 1: with few labels a ViT falls behind a CNN).

Chapter 1 trains for 300 steps, a third of an epoch for a model fed every label, so its starved-versus-well-fed
comparison mixes few labels with few steps. The runs behind this module (``configs/starve/base.yaml``) train the
same models ten times longer, for each label budget, and record test and labeled-train accuracy every 100 steps.

Each run is a CLI artifact folder (``results.json`` + ``metrics.jsonl``, checked by
:func:`semiformer_lib.runs.replay.read_artifact`) named ``<model>_<budget>_s<seed>``: ``vit_l40_s0`` for
``vit_mini_patch4`` at 40 labels per class, ``cnn_all_s2`` for ``cnn_mini`` with every training label.
:func:`read_learning_curves` turns a folder of them into a :class:`LearningCurves`:

* ``finals`` — one row per run: ``model, labels, seed``, the final test accuracy (all 10 000 test images) and the
  last evaluation's labeled-train accuracy, the steps, the wall time, the device and the commit (``dirty``: whether
  the tree had uncommitted changes);
* ``curves`` — one row per run and evaluation: ``model, labels, seed, step, test_acc`` (on the curve's test
  images) and ``train_acc`` (on up to 2 000 labeled training images).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..runs.replay import ArtifactError, read_artifact

RUN_NAME = re.compile(r"(?P<model>vit|cnn)_(?P<budget>l\d+|all)_s(?P<seed>\d+)$")
MODEL_LABELS = {"vit": "ViT", "cnn": "CNN"}


@dataclass
class LearningCurves:
    """Chapter 1's long runs as tables (see the module docstring)."""
    finals: pd.DataFrame
    curves: pd.DataFrame

    @property
    def seeds(self) -> list[int]:
        return sorted(set(self.finals["seed"]))

    def final(self, column: str = "test_acc") -> pd.DataFrame:
        """Final ``column`` per run: rows ``(model, labels)``, columns seeds."""
        return (self.finals.pivot_table(index=["model", "labels"], columns="seed", values=column, sort=False)
                .sort_index(axis=1))

    def at_step(self, step: int, column: str = "test_acc") -> pd.DataFrame:
        """``column`` at evaluation ``step`` (on the curve's images): rows ``(model, labels)``, columns seeds."""
        rows = self.curves[self.curves["step"] == step]
        if rows.empty:
            raise ValueError(f"no evaluation at step {step}: the runs evaluate at {sorted(set(self.curves['step']))}")
        return rows.pivot_table(index=["model", "labels"], columns="seed", values=column, sort=False).sort_index(axis=1)

    def gain(self, start: int, end: int, column: str = "test_acc") -> pd.DataFrame:
        """How much ``column`` rose from evaluation ``start`` to evaluation ``end``: rows ``(model, labels)``,
        columns seeds."""
        return self.at_step(end, column) - self.at_step(start, column)


def read_learning_curves(root: str | Path) -> LearningCurves:
    """Every ``<model>_<budget>_s<seed>`` artifact below ``root``, checked against its config, as
    :class:`LearningCurves`."""
    folders = sorted(path.parent for path in Path(root).rglob("results.json") if RUN_NAME.match(path.parent.name))
    if not folders:
        raise ArtifactError(f"{root}: no learning-curve artifact (<vit|cnn>_<l40|all>_s<seed>/results.json): "
                            "run the commands in semiformer_lib/configs/starve/base.yaml")
    finals, curves = [], []
    for folder in folders:
        artifact = read_artifact(folder)
        match, record = RUN_NAME.match(folder.name), artifact.record
        config = record["config"]
        labels = "all" if match["budget"] == "all" else int(match["budget"][1:])
        expected = None if labels == "all" else labels
        if config["labels_per_class"] != expected or config["seed"] != int(match["seed"]):
            raise ArtifactError(f"{folder}: its name says {labels} labels per class, seed {match['seed']}, but its "
                                f"config has labels_per_class {config['labels_per_class']}, seed {config['seed']}")
        who = {"model": MODEL_LABELS[match["model"]], "labels": labels, "seed": config["seed"]}
        last = artifact.rows[-1]
        finals.append({**who, "test_acc": record["final"]["model"]["summed"], "train_acc": last.get("train_acc"),
                       "steps": record["schedule"]["steps"], "minutes": record["wall_seconds"] / 60,
                       "device": record["provenance"]["device"], "commit": record["provenance"]["git_commit"],
                       "dirty": record["provenance"]["git_dirty"]})
        curves += [{**who, "step": row["step"], "test_acc": row["model"]["summed"], "train_acc": row.get("train_acc")}
                   for row in artifact.rows]
    return LearningCurves(pd.DataFrame(finals), pd.DataFrame(curves))
