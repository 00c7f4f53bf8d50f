"""Training: the one loop (:mod:`.loop`) and what it is built from — the run's config and state, the step, the
optimizer and schedule, evaluation, multi-process setup — with the chapters' ways in: :func:`fit` on sets in memory,
experiment sweeps and method comparisons. The command line's run (``python -m semiformer_lib.train --config FILE``,
:func:`semiformer_lib.runs.train`), its checkpoints, artifacts and replays live one layer up, in
:mod:`semiformer_lib.runs`."""
from ..precision import autocast
from .comparisons import SemiComparison, SemiMethod, compare_methods
from .config import (ConfigError, RunConfig, choose_profile, config_path, load_config, shipped_configs,
                     with_overrides)
from .evaluate import accuracy, confusion_matrix, head_accuracies, per_class_accuracy, predict
from .experiments import ModelSpec, Run, eval_subset, final_metric, sweep, train_on_split
from .fit import fit, new_state
from .history import History
from .loop import Evaluation, Sink, train_loop
from .optimizer import build_optimizer
from .schedule import warmup_cosine, warmup_cosine_factor
from .state import DIAGNOSTICS, TrainState
from .step import semi_supervised_step, supervised_step

__all__ = ["ConfigError", "RunConfig", "choose_profile", "config_path", "load_config", "shipped_configs",
           "with_overrides", "accuracy", "confusion_matrix", "head_accuracies", "per_class_accuracy", "predict",
           "ModelSpec", "Run", "eval_subset", "final_metric", "sweep", "train_on_split", "autocast", "warmup_cosine",
           "warmup_cosine_factor", "History", "fit", "new_state", "Evaluation", "Sink", "train_loop",
           "build_optimizer", "DIAGNOSTICS", "TrainState", "semi_supervised_step", "supervised_step",
           "SemiComparison", "SemiMethod", "compare_methods"]
