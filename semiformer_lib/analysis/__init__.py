"""Analysis: measurements of trained models that the chapters plot and assert on.

* :mod:`.attention` — attention maps, class-token attention, rollout, mean attention distance, position embeddings;
* :mod:`.features` — the last feature map and the pooled features of a ViT or a convnet, read the same way;
* :mod:`.learning_curves` — chapter 1's long supervised runs (test and train accuracy over steps), from artifacts;
* :mod:`.long_runs` — the book's long comparison (SSL against its supervised twin), read from its artifacts;
* :mod:`.tuning_grid` — a tuning grid's artifacts (every method at every τ and teacher, its twin, its cost);
* :mod:`.invariance` — shift robustness and patch-order sensitivity;
* :mod:`.pseudo_labels` — pseudo-label quantity vs quality over the threshold, and per class;
* :mod:`.receptive_field` — effective receptive fields;
* :mod:`.similarity` — linear CKA between representations, and between a two-branch model's branches by depth.
"""
from .attention import (attention_maps, attention_rollout, class_token_attention, mean_attention_distance,
                        model_attention_distance, patch_centres, patch_embedding_filters, patch_grid, patch_pixels,
                        position_locality, position_similarity)
from .features import is_vit, pooled_features, spatial_features
from .invariance import (SHIFT_MODES, ShiftResult, patch_shuffle_accuracy, shift_images, shift_robustness,
                         shuffle_patches)
from .learning_curves import LearningCurves, read_learning_curves
from .long_runs import LongComparison, crossover_step, read_long_comparison
from .pseudo_labels import class_mask_rate, threshold_tradeoff
from .receptive_field import effective_receptive_field, erf_radius
from .similarity import branch_similarity, flatten_features, linear_cka
from .tuning_grid import GridComparison, macs_per_image, read_grid, step_macs

__all__ = ["attention_maps", "attention_rollout", "class_token_attention", "mean_attention_distance",
           "model_attention_distance", "patch_centres", "patch_embedding_filters", "patch_grid", "patch_pixels",
           "position_locality", "position_similarity", "is_vit", "pooled_features", "spatial_features",
           "LearningCurves", "read_learning_curves", "LongComparison", "crossover_step", "read_long_comparison",
           "SHIFT_MODES", "ShiftResult", "patch_shuffle_accuracy", "shift_images", "shift_robustness",
           "shuffle_patches", "class_mask_rate", "threshold_tradeoff",
           "effective_receptive_field", "erf_radius", "branch_similarity", "flatten_features", "linear_cka",
           "GridComparison", "macs_per_image", "read_grid", "step_macs"]
