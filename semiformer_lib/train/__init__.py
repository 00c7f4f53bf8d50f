"""Training: the one loop (:mod:`.loop`) and what it is built from — the run's state, the step, the optimizer and
schedule, evaluation — with the ways in: :func:`fit` on sets in memory (the chapters), experiment sweeps and
method comparisons, and the full run (:func:`train` with a :class:`RunConfig`, also
``python -m semiformer_lib.train --config FILE``)."""
from ..precision import autocast
from .checkpoint import CheckpointError, latest_checkpoint, list_checkpoints, load_checkpoint
from .comparisons import SemiComparison, SemiMethod, compare_methods
from .config import (ConfigError, RunConfig, choose_profile, config_path, load_config, shipped_configs,
                     with_overrides)
from .evaluate import accuracy, confusion_matrix, head_accuracies, per_class_accuracy, predict
from .experiments import ModelSpec, Run, eval_subset, final_metric, sweep, train_on_split
from .fit import fit, new_state
from .history import History
from .loop import Evaluation, Sink, train_loop
from .optimizer import build_optimizer
from .results import ResultsError, read_results, results_table
from .run import RunError, train
from .schedule import warmup_cosine, warmup_cosine_factor
from .state import DIAGNOSTICS, TrainState
from .step import semi_supervised_step, supervised_step

__all__ = ["CheckpointError", "latest_checkpoint", "list_checkpoints", "load_checkpoint", "ConfigError", "RunConfig",
           "choose_profile", "config_path", "load_config", "shipped_configs", "with_overrides", "accuracy",
           "confusion_matrix",
           "head_accuracies", "per_class_accuracy", "predict", "ModelSpec", "Run", "eval_subset", "final_metric",
           "sweep", "train_on_split", "autocast", "ResultsError", "read_results", "results_table", "RunError", "train",
           "warmup_cosine", "warmup_cosine_factor", "History", "fit", "new_state", "Evaluation", "Sink", "train_loop",
           "build_optimizer", "DIAGNOSTICS", "TrainState", "semi_supervised_step", "supervised_step",
           "SemiComparison", "SemiMethod", "compare_methods"]
