"""Analysis: measurements of trained models that the chapters plot and assert on."""
from .attention import (attention_maps, class_token_attention, patch_embedding_filters, patch_grid,
                        position_locality, position_similarity)

__all__ = ["attention_maps", "class_token_attention", "patch_embedding_filters", "patch_grid",
           "position_locality", "position_similarity"]
