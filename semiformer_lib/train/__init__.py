"""Training: the supervised loop, its schedule and precision, evaluation and experiment sweeps, and the full run
(:func:`train` with a :class:`RunConfig`, also ``python -m semiformer_lib.train --config FILE``)."""
from .checkpoint import CheckpointError, latest_checkpoint, list_checkpoints, load_checkpoint
from .config import ConfigError, RunConfig, config_path, load_config, shipped_configs, with_overrides
from .evaluate import accuracy, confusion_matrix, head_accuracies, per_class_accuracy, predict
from .experiments import ModelSpec, Run, eval_subset, final_metric, sweep, train_on_split
from .precision import autocast
from .results import ResultsError, read_results, results_table
from .run import RunError, train
from .schedule import warmup_cosine, warmup_cosine_factor
from .supervised import History, TrainConfig, classification_loss, fit, heads_cross_entropy

__all__ = ["CheckpointError", "latest_checkpoint", "list_checkpoints", "load_checkpoint", "ConfigError", "RunConfig",
           "config_path", "load_config", "shipped_configs", "with_overrides", "accuracy", "confusion_matrix",
           "head_accuracies", "per_class_accuracy",
           "predict", "ModelSpec", "Run", "eval_subset", "final_metric", "sweep", "train_on_split", "autocast",
           "ResultsError", "read_results", "results_table", "RunError", "train", "warmup_cosine",
           "warmup_cosine_factor", "History", "TrainConfig", "classification_loss", "fit",
           "heads_cross_entropy"]
