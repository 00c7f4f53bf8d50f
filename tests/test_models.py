"""Every registered model builds for each of the book's input kinds and returns logits of the right shape."""
from __future__ import annotations

import pytest
import torch

from semiformer_lib.models import available_models, count_parameters, create_model

INPUT_KINDS = [(28, 1), (32, 3), (224, 3)]


@pytest.mark.parametrize("name,patch_size", [("vit_mini_patch4", None), ("cnn_mini", None), ("cnn_small", None),
                                             ("vit_tiny_patch16", 4)])
@pytest.mark.parametrize("img_size,in_chans", INPUT_KINDS)
def test_forward_shapes(name, patch_size, img_size, in_chans):
    overrides = {"patch_size": 16 if img_size == 224 else patch_size} if patch_size else {}
    model = create_model(name, img_size=img_size, in_chans=in_chans, num_classes=7, **overrides).eval()
    with torch.no_grad():
        logits = model(torch.randn(2, in_chans, img_size, img_size))
    assert logits.shape == (2, 7) and torch.isfinite(logits).all()


def test_every_registered_model_builds_on_meta():
    with torch.device("meta"):
        sizes = {name: count_parameters(create_model(name, img_size=224, in_chans=3, num_classes=1000,
                                                     **({"patch_size": 16} if name.startswith(("vit", "semiformer"))
                                                        else {})))
                 for name in available_models()}
    # DeiT-S (22.1 M) and ResNet-18 (11.7 M) are the reference sizes of their families.
    assert sizes["vit_small_patch16"] == pytest.approx(22.05e6, rel=0.01)
    assert sizes["cnn_resnet18"] == pytest.approx(11.69e6, rel=0.01)
    assert sizes["vit_mini_patch4"] < sizes["vit_tiny_patch16"] < sizes["vit_small_patch16"]
    assert sizes["semiformer_mini_patch4"] < sizes["semiformer_small_patch16"]


def test_book_sizes_are_small():
    vit, cnn = create_model("vit_mini_patch7"), create_model("cnn_mini")
    assert 2e5 < count_parameters(vit) < 6e5 and 5e4 < count_parameters(cnn) < 2e5


def test_vit_patch_grid_follows_image_size():
    assert tuple(create_model("vit_mini_patch7", img_size=28).patch_embed.grid_size) == (4, 4)
    assert tuple(create_model("vit_mini_patch4", img_size=32, in_chans=3).patch_embed.grid_size) == (8, 8)
    assert tuple(create_model("vit_tiny_patch16", img_size=224, in_chans=3).patch_embed.grid_size) == (14, 14)


def test_patch_that_does_not_divide_the_image_is_refused():
    with pytest.raises(ValueError, match="image size 32 is not a multiple of the patch size 7"):
        create_model("vit_mini_patch7", img_size=32, in_chans=3)


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown model 'vit_huge'.*vit_mini_patch7"):
        create_model("vit_huge")


def test_eval_mode_restores_the_mode_the_model_was_in_also_after_an_error():
    from semiformer_lib.models import eval_mode

    model = create_model("cnn_mini", img_size=28, in_chans=1, num_classes=10).train()
    with eval_mode(model):
        assert not model.training and not any(m.training for m in model.modules())
    assert model.training and all(m.training for m in model.modules())
    with pytest.raises(RuntimeError), eval_mode(model):
        raise RuntimeError("inside")
    assert model.training
    model.eval()
    with eval_mode(model):
        pass
    assert not model.training                    # a model in eval mode stays there


def test_head_logits_names_both_heads_of_a_semiformer_and_the_one_head_of_a_vit():
    from semiformer_lib.models import head_logits, is_two_headed

    x = torch.randn(3, 1, 28, 28)
    semiformer = create_model("semiformer_tiny_patch4", img_size=28, in_chans=1, num_classes=10).eval()
    vit = create_model("vit_mini_patch4", img_size=28, in_chans=1, num_classes=10).eval()
    with torch.no_grad():
        conv, transformer = head_logits(semiformer, x)
        (own,) = head_logits(vit, x)
        assert torch.allclose(conv + transformer, semiformer(x), atol=1e-5)   # the prediction is the heads' sum
        assert torch.equal(own, vit(x))
    assert is_two_headed(semiformer) and not is_two_headed(vit)
    assert conv.shape == transformer.shape == own.shape == (3, 10)
