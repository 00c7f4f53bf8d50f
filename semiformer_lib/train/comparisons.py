"""Semi-supervised comparisons: several methods × seeds on the same low-label splits (chapter 4's tables).

A *method* is a model plus a :class:`SemiConfig`, labelled for the table — Semiformer, FixMatch with one branch,
or a supervised baseline (``uses_unlabeled=False``: the same engine and recipe without the unlabeled term)::

    methods = [SemiMethod("Semiformer", "semiformer_tiny_wide_patch4", config),
               SemiMethod("FixMatch ViT", "vit_mini_patch4", replace(config, teacher="fused", threshold=0.95)),
               SemiMethod("supervised ViT", "vit_mini_patch4", config, uses_unlabeled=False)]
    result = compare_methods(methods, train, test, labels_per_class=40, seeds=(0, 1, 2))
    result.table            # one row per (method, seed): final accuracies of the model, its heads and its EMA

The seed fixes the split, the initialisation, the batches and the augmentation draws, so every method of a seed
sees the same labeled images and (when it uses them) the same unlabeled pool.

The paper's schedule starts with supervised training alone. Several methods can share that warm-up: a method with
``warm_start="<label>"`` starts from the model that method trained on the same seed (with a fresh optimizer; its
config's ``schedule_start`` / ``schedule_steps`` continue the learning-rate schedule), and its history is reported
continued from that method's. A supervised twin and a
pseudo-labeling run that continue the same warm-up differ in the unlabeled term only — and the warm-up is paid once.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import pandas as pd
import torch

from ..data import ImageSet, get_split
from ..models import create_model
from ..progress import tqdm
from ..seeding import seed_everything
from .semi_supervised import SemiConfig, SemiHistory, fit_semi_supervised


@dataclass(frozen=True)
class SemiMethod:
    """One row label of a comparison: model ``model`` (a registered name, built with ``model_options``) trained
    by :func:`fit_semi_supervised` with ``config``, with or without the unlabeled images; with ``warm_start``, from
    the model the method of that label trained (listed earlier, same seed; ``model`` must name the same model)."""
    label: str
    model: str
    config: SemiConfig
    uses_unlabeled: bool = True
    model_options: dict = field(default_factory=dict)
    warm_start: str | None = None


@dataclass
class SemiComparison:
    """What :func:`compare_methods` measured: ``table`` (one row per method and seed) and every run's history,
    ``histories[(label, seed)]``."""
    table: pd.DataFrame
    histories: dict[tuple[str, int], SemiHistory]

    def metric(self, column: str = "test_acc") -> dict[str, dict[int, float]]:
        """``{method: {seed: value}}`` of one column of the table — the shape the chapters' claims compare."""
        if column not in self.table.columns:
            raise ValueError(f"no column {column!r}; columns: {list(self.table.columns)}")
        by_method = self.table.groupby("method", sort=False)
        return {label: dict(zip(rows["seed"], rows[column])) for label, rows in by_method}


def _check_methods(methods: list[SemiMethod]) -> None:
    """Refuse, before any training, a list whose runs could not be told apart or whose warm starts cannot work:
    a method continues one listed before it, with the same model."""
    labels = [m.label for m in methods]
    if len(set(labels)) != len(labels):
        raise ValueError(f"two methods share a label in {labels}: their runs could not be told apart")
    for index, method in enumerate(methods):
        earlier = {m.label: m for m in methods[:index]}
        if method.warm_start is not None and method.warm_start not in earlier:
            raise ValueError(f"method {method.label!r} starts from {method.warm_start!r}, which is not a method listed "
                             f"before it (earlier: {list(earlier)})")
        parent = earlier.get(method.warm_start)
        if parent is not None and (parent.model, parent.model_options) != (method.model, method.model_options):
            raise ValueError(f"method {method.label!r} ({method.model}) cannot start from {method.warm_start!r} "
                             f"({parent.model}): the models differ")


def compare_methods(methods: list[SemiMethod], train: ImageSet, test: ImageSet, labels_per_class: int, seeds,
                    unlabeled_size: int | None = None, progress: bool = True) -> SemiComparison:
    """Train every method on every seed's ``labels_per_class`` split of ``train``; the unlabeled pool is the rest
    of ``train`` (its first ``unlabeled_size`` images when given). One progress bar over the runs."""
    _check_methods(methods)
    parents = {m.warm_start for m in methods}
    if unlabeled_size is not None and unlabeled_size < 1:
        raise ValueError(f"unlabeled_size must be ≥ 1 or None, got {unlabeled_size}")
    channels, size, _ = train.image_shape
    rows, histories, trained = [], {}, {}
    jobs = [(seed, method) for seed in seeds for method in methods]
    bar = tqdm(jobs, desc="runs", disable=not progress, mininterval=1.0)
    for seed, method in bar:
        bar.set_description(f"{method.label} seed {seed}")
        split = get_split(train, labels_per_class, seed)
        labeled = train.subset(split.labeled, name=f"{train.name}[{labels_per_class}/class]")
        unlabeled = None
        if method.uses_unlabeled:
            pool = split.unlabeled if unlabeled_size is None else split.unlabeled[:unlabeled_size]
            unlabeled = train.subset(torch.as_tensor(pool), name=f"{train.name}[unlabeled]")
        seed_everything(seed)
        if method.warm_start is None:
            model = create_model(method.model, img_size=size, in_chans=channels, num_classes=train.num_classes,
                                 **method.model_options)
        else:
            model = copy.deepcopy(trained[(method.warm_start, seed)])
        history = fit_semi_supervised(model, labeled, unlabeled, test, method.config, seed=seed, progress=False,
                                      desc=f"{method.label} seed {seed}")
        if method.warm_start is not None:
            history = history.after(histories[(method.warm_start, seed)])
        if method.label in parents:
            trained[(method.label, seed)] = model
        histories[(method.label, seed)] = history
        heads = history.head_acc[-1]
        rows.append({"method": method.label, "seed": seed, "test_acc": history.final_test_acc,
                     "conv_head": heads.get("conv", float("nan")),
                     "transformer_head": heads.get("transformer", float("nan")),
                     "ema_acc": history.final_ema_acc, "steps": len(history.labeled_loss),
                     "seconds": round(history.seconds, 1)})
        bar.set_postfix(last_test_acc=f"{history.final_test_acc:.1%}")
    return SemiComparison(pd.DataFrame(rows), histories)
