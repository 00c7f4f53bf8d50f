"""Semi-supervised learning (chapter 4): the pseudo-labeling objective, its teachers and the EMA.

* :mod:`.objective` — ``L = L_x + λ·L_u`` with confidence-thresholded pseudo-labels from a chosen teacher;
* :mod:`.teachers` — what every candidate teacher would pseudo-label (the teacher probe);
* :mod:`.ema` — the exponential moving average of the weights.

The strong view of the unlabeled images lives beside the weak one, in :mod:`semiformer_lib.data`; the one training loop
that uses all of these is in :mod:`semiformer_lib.train` (:func:`~semiformer_lib.train.train_loop`, called by
:func:`~semiformer_lib.train.fit`, :func:`~semiformer_lib.train.compare_methods` and the CLI).
"""
from .ema import ema_model
from .objective import (TEACHERS, Objective, PseudoLabels, heads_mean, pseudo_label, semi_supervised_objective,
                        supervised_loss, teacher_logits, unsupervised_loss)
from .teachers import available_teachers, teacher_predictions

__all__ = ["ema_model", "TEACHERS", "Objective", "PseudoLabels", "heads_mean", "pseudo_label",
           "semi_supervised_objective", "supervised_loss", "teacher_logits", "unsupervised_loss", "available_teachers",
           "teacher_predictions"]
