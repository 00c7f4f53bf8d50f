"""Semi-supervised learning (chapter 4): the strong augmentation, the pseudo-labeling objective and the EMA teacher.

* :mod:`.augment` — RandAugment with per-sample operations and magnitudes, plus Cutout, batched on the device;
* :mod:`.objective` — ``L = L_x + λ·L_u`` with confidence-thresholded pseudo-labels from a chosen teacher;
* :mod:`.ema` — the exponential moving average of the weights;
* :mod:`.engine` — the semi-supervised training loop, with per-step diagnostics (mask rate, pseudo-label accuracy);
* :mod:`.experiments` — methods × seeds on the same low-label splits, with shared supervised warm-ups.
"""
from .augment import strong_augment, strong_ops
from .ema import ema_model
from .engine import SemiConfig, SemiHistory, fit_semi_supervised, semi_supervised_step
from .experiments import SemiComparison, SemiMethod, compare_methods
from .objective import (TEACHERS, Objective, PseudoLabels, pseudo_label, semi_supervised_objective, supervised_loss,
                        teacher_logits, unsupervised_loss)

__all__ = ["strong_augment", "strong_ops", "ema_model", "SemiConfig", "SemiHistory", "fit_semi_supervised",
           "semi_supervised_step", "SemiComparison", "SemiMethod", "compare_methods",
           "TEACHERS", "Objective", "PseudoLabels", "pseudo_label",
           "semi_supervised_objective", "supervised_loss", "teacher_logits", "unsupervised_loss"]
