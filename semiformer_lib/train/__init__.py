"""Training: the supervised loop, its schedule and precision, evaluation and experiment sweeps."""
from .evaluate import accuracy, confusion_matrix, head_accuracies, per_class_accuracy, predict
from .experiments import ModelSpec, Run, eval_subset, final_metric, sweep, train_on_split
from .precision import autocast
from .schedule import warmup_cosine, warmup_cosine_factor
from .supervised import History, TrainConfig, classification_loss, fit, head_logits, heads_cross_entropy

__all__ = ["accuracy", "confusion_matrix", "head_accuracies", "per_class_accuracy", "predict", "ModelSpec", "Run", "eval_subset", "final_metric", "sweep",
           "train_on_split", "autocast", "warmup_cosine", "warmup_cosine_factor", "History", "TrainConfig", "classification_loss", "fit",
           "head_logits", "heads_cross_entropy"]
