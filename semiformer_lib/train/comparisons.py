"""Semi-supervised comparisons: several methods × seeds on the same low-label splits (chapter 4's tables).

A *method* is a model and a :class:`~.config.RunConfig`, labelled for the table — Semiformer, FixMatch with one
branch, or a supervised twin (``unlabeled_weight=0``: the same loop, recipe and batches without the unlabeled term)::

    semiformer = RunConfig(model="semiformer_tiny_wide_patch4", steps=200, supervised_steps=120, unlabeled_weight=1)
    methods = [SemiMethod("Semiformer", semiformer),
               SemiMethod("supervised Semiformer", with_overrides(semiformer, unlabeled_weight=0))]
    result = compare_methods(methods, train, test, labels_per_class=40, seeds=(0, 1, 2))
    result.table            # one row per (method, seed): final accuracies of the model, its heads and its EMA

Each run is the CLI's run of its config with ``seed`` and ``split_seed`` set to the seed and ``labels_per_class`` as
given, on the data given (:func:`~semiformer_lib.data.run_data.split_run_data`): the seed
fixes the split, the unlabeled pool, the initialisation, the batches and the augmentation draws, so every method of a
seed sees the same labeled images and the same unlabeled pool.

The paper's schedule starts with supervised training alone. Methods whose runs are the same up to the end of that
warm-up — the same model and config except the knobs that act after it (teacher, τ, λ, probe) — share it: it is
trained once, its :class:`~.state.TrainState` saved, and every such method continues from a copy. Each run still
equals the run it would be alone, step for step; the warm-up is only paid once.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import pandas as pd

from ..data import ImageSet
from ..data.run_data import split_run_data
from ..models import create_model
from ..models.interface import is_two_headed
from ..progress import tqdm
from .config import ConfigError, RunConfig, with_overrides
from .fit import build_state
from .history import History
from .loop import train_loop

# Knobs that act only after the supervised warm-up: methods differing only in these share it.
AFTER_WARM_UP = ("teacher", "threshold", "unlabeled_weight", "soft_targets", "probe_size")


@dataclass(frozen=True)
class SemiMethod:
    """One row label of a comparison: the model ``config.model`` (built with ``model_options``) trained as
    ``config`` says."""
    label: str
    config: RunConfig
    model_options: dict = field(default_factory=dict)


@dataclass
class SemiComparison:
    """What :func:`compare_methods` measured: ``table`` (one row per method and seed) and every run's history,
    ``histories[(label, seed)]``."""
    table: pd.DataFrame
    histories: dict[tuple[str, int], History]

    def metric(self, column: str = "test_acc") -> dict[str, dict[int, float]]:
        """``{method: {seed: value}}`` of one column of the table — the shape the chapters' claims compare."""
        if column not in self.table.columns:
            raise ValueError(f"no column {column!r}; columns: {list(self.table.columns)}")
        by_method = self.table.groupby("method", sort=False)
        return {label: dict(zip(rows["seed"], rows[column])) for label, rows in by_method}


def _check_methods(methods: list[SemiMethod]) -> None:
    """Refuse, before any training, runs that could not be told apart or whose teacher the model lacks."""
    labels = [m.label for m in methods]
    if len(set(labels)) != len(labels):
        raise ValueError(f"two methods share a label in {labels}: their runs could not be told apart")
    for method in methods:
        config = method.config
        if (config.unlabeled_weight > 0 and config.teacher in ("conv", "transformer")
                and not is_two_headed(create_model(config.model, **method.model_options))):
            raise ConfigError(f"method {method.label!r}: teacher={config.teacher!r} needs a two-headed model; "
                              f"{config.model} has one head (use teacher='mean' or 'ema')")


def _warm_up_key(method: SemiMethod, config: RunConfig):
    """What decides a run up to the end of its warm-up (None: no warm-up to share)."""
    if not config.supervised_steps:
        return None
    shared = with_overrides(config, **{name: getattr(RunConfig(), name) for name in AFTER_WARM_UP})
    return repr((shared, sorted(method.model_options.items())))


def _run(method: SemiMethod, config: RunConfig, train: ImageSet, test: ImageSet, warm_ups: dict,
         progress: bool) -> History:
    """Train one method on one seed, continuing a shared warm-up when one is saved (and saving it otherwise)."""
    data = split_run_data(train, test, labels_per_class=config.labels_per_class, split_seed=config.split_seed,
                          unlabeled_size=config.unlabeled_size, eval_size=config.eval_size,
                          batch_size=config.batch_size, unlabeled_batch=config.unlabeled_per_step(), seed=config.seed,
                          strong=(config.strong_ops, config.cutout), augment=config.augment,
                          train_eval_size=config.train_eval_size, probe_size=config.probe_size)
    state, history = build_state(config, data, model_options=method.model_options), History()
    key = _warm_up_key(method, config)
    if key in warm_ups:
        saved_state, saved_history = warm_ups[key]
        state.load_state_dict(copy.deepcopy(saved_state))
        history = copy.deepcopy(saved_history)
    elif key is not None:
        train_loop(state, (history,), until=state.lengths["supervised_steps"], progress=progress)
        warm_ups[key] = copy.deepcopy((state.state_dict(), history))
    train_loop(state, (history,), progress=progress, desc=method.label)
    return history


def compare_methods(methods: list[SemiMethod], train: ImageSet, test: ImageSet, labels_per_class: int, seeds,
                    progress: bool = True) -> SemiComparison:
    """Train every method on every seed's ``labels_per_class`` split of ``train``; the unlabeled pool is the rest
    of ``train`` (a method config's ``unlabeled_size`` of it, drawn with the seed, when set). Curves are measured on
    the first ``eval_size`` images of ``test``. One progress bar over the runs."""
    _check_methods(methods)
    rows, histories = [], {}
    bar = tqdm(total=len(methods) * len(seeds), desc="runs", disable=not progress, mininterval=1.0)
    for seed in seeds:
        warm_ups: dict = {}
        for method in methods:
            bar.set_description(f"{method.label} seed {seed}")
            config = with_overrides(method.config, seed=seed, split_seed=seed, labels_per_class=labels_per_class,
                                    label_percent=None, label_list=None)
            history = histories[(method.label, seed)] = _run(method, config, train, test, warm_ups, progress=False)
            heads = history.head_acc[-1]
            rows.append({"method": method.label, "seed": seed, "test_acc": history.final_test_acc,
                         "conv_head": heads.get("conv", float("nan")),
                         "transformer_head": heads.get("transformer", float("nan")),
                         "ema_acc": history.final_ema_acc if config.ema_decay is not None else float("nan"),
                         "steps": config.steps, "seconds": round(history.seconds, 1)})
            bar.update(1)
            bar.set_postfix(last_test_acc=f"{history.final_test_acc:.1%}")
    bar.close()
    return SemiComparison(pd.DataFrame(rows), histories)
