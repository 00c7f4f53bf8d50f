"""Experiments: one training run on a low-label split, and sweeps of them over models, label budgets and seeds.

A chapter asks "how does model M do with N labels per class?" with one call::

    run = train_on_split("vit_mini_patch7", train, test, labels_per_class=40, seed=0, config=config)
    run.history.final_test_acc

The seed fixes the split, the model's initialisation, the batches and the augmentation. A model is a registered
name or a :class:`ModelSpec` — a name with constructor options and a label of its own, for ablations::

    sweep([ModelSpec("no fusion", "semiformer_tiny_patch4", {"fusion": "none"}), "semiformer_tiny_patch4"], ...)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..data import ImageSet, get_split
from ..models import count_parameters, create_model
from ..progress import tqdm
from ..seeding import seed_everything
from .config import RunConfig, with_overrides
from .fit import fit
from .history import History


@dataclass(frozen=True)
class ModelSpec:
    """A registered model built with ``options`` (passed to ``create_model``), reported under ``label``."""
    label: str
    name: str
    options: dict = field(default_factory=dict)

    @classmethod
    def of(cls, model: "str | ModelSpec") -> "ModelSpec":
        return model if isinstance(model, ModelSpec) else cls(model, model)


@dataclass
class Run:
    """One finished training run."""
    model_name: str
    labels_per_class: int | str
    seed: int
    history: History
    parameters: int
    model: nn.Module | None = field(default=None, repr=False)

    def record(self) -> dict:
        """A flat row for a results table."""
        return {"model": self.model_name, "labels_per_class": self.labels_per_class, "seed": self.seed,
                "parameters": self.parameters, "train_acc": self.history.final_train_acc,
                "test_acc": self.history.final_test_acc, "seconds": round(self.history.seconds, 1)}


def train_on_split(model_name: "str | ModelSpec", train: ImageSet, test: ImageSet, labels_per_class: int | str,
                   seed: int, config: RunConfig, keep_model: bool = False, progress: bool = True,
                   **model_overrides) -> Run:
    """Train a model (a name or a :class:`ModelSpec`; ``model_overrides`` add constructor options) on the
    ``labels_per_class`` split of ``train`` (made with ``seed``); test on ``test``. The run is named by the
    spec's label."""
    spec = ModelSpec.of(model_name)
    split = get_split(train, labels_per_class, seed)
    labeled = train.subset(split.labeled, name=f"{train.name}[{labels_per_class}/class]")
    seed_everything(seed)
    channels, size, _ = train.image_shape
    model = create_model(spec.name, img_size=size, in_chans=channels, num_classes=train.num_classes,
                         **(spec.options | model_overrides))
    history = fit(model, labeled, test, with_overrides(config, seed=seed), progress=progress,
                  desc=f"{spec.label} {labels_per_class}/class seed {seed}")
    return Run(spec.label, labels_per_class, seed, history, count_parameters(model),
               model if keep_model else None)


def sweep(model_names, train: ImageSet, test: ImageSet, labels_per_class, seeds, config: RunConfig,
          keep_models: bool = False, progress: bool = True) -> list[Run]:
    """Every combination of model (names or :class:`ModelSpec`) × label budget × seed, with one progress bar over
    the runs (the runs' own step bars stay off: one line per sweep keeps a notebook's output short)."""
    specs = [ModelSpec.of(m) for m in model_names]
    labels = [spec.label for spec in specs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"two models share a label in {labels}: their runs could not be told apart")
    jobs = [(spec, n, s) for n in labels_per_class for s in seeds for spec in specs]
    runs = []
    bar = tqdm(jobs, desc="runs", disable=not progress, mininterval=1.0)
    for model_name, n, seed in bar:
        bar.set_description(f"{model_name.label} {n}/class seed {seed}")
        runs.append(train_on_split(model_name, train, test, n, seed, config, keep_model=keep_models,
                                   progress=False))
        bar.set_postfix(last_test_acc=f"{runs[-1].history.final_test_acc:.1%}")
    return runs


def final_metric(runs, metric: str = "test_acc", labels_per_class=None) -> dict[str, dict[int, float]]:
    """``{model: {seed: final value}}`` of ``metric`` (``"test_acc"`` or ``"train_acc"``), optionally for one
    label budget only — the shape the chapters' claims compare."""
    if metric not in ("test_acc", "train_acc"):
        raise ValueError(f"metric must be 'test_acc' or 'train_acc', got {metric!r}")
    table: dict[str, dict[int, float]] = {}
    for run in runs:
        if labels_per_class is None or run.labels_per_class == labels_per_class:
            table.setdefault(run.model_name, {})[run.seed] = getattr(run.history, f"final_{metric}")
    return table


def eval_subset(test: ImageSet, size: int | None, seed: int = 0) -> ImageSet:
    """A fixed random subset of ``size`` test images (the whole set when ``size`` is None or too large)."""
    if size is None or size >= len(test):
        return test
    chosen = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[:size].sort().values
    return test.subset(chosen, name=f"{test.name}[{size}]")
