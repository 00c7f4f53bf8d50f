"""Training: the supervised loop and the semi-supervised one (chapter 4's engine), their schedule, evaluation,
experiment sweeps and method comparisons, and the full run (:func:`train` with a :class:`RunConfig`, also
``python -m semiformer_lib.train --config FILE``)."""
from ..precision import autocast
from .checkpoint import CheckpointError, latest_checkpoint, list_checkpoints, load_checkpoint
from .comparisons import SemiComparison, SemiMethod, compare_methods
from .config import ConfigError, RunConfig, config_path, load_config, shipped_configs, with_overrides
from .evaluate import accuracy, confusion_matrix, head_accuracies, per_class_accuracy, predict
from .experiments import ModelSpec, Run, eval_subset, final_metric, sweep, train_on_split
from .results import ResultsError, read_results, results_table
from .run import RunError, train
from .schedule import warmup_cosine, warmup_cosine_factor
from .semi_supervised import SemiConfig, SemiHistory, fit_semi_supervised, semi_supervised_step
from .supervised import History, TrainConfig, classification_loss, fit

__all__ = ["CheckpointError", "latest_checkpoint", "list_checkpoints", "load_checkpoint", "ConfigError", "RunConfig",
           "config_path", "load_config", "shipped_configs", "with_overrides", "accuracy", "confusion_matrix",
           "head_accuracies", "per_class_accuracy",
           "predict", "ModelSpec", "Run", "eval_subset", "final_metric", "sweep", "train_on_split", "autocast",
           "ResultsError", "read_results", "results_table", "RunError", "train", "warmup_cosine",
           "warmup_cosine_factor", "History", "TrainConfig", "classification_loss", "fit",
           "SemiConfig", "SemiHistory", "fit_semi_supervised", "semi_supervised_step",
           "SemiComparison", "SemiMethod", "compare_methods"]
