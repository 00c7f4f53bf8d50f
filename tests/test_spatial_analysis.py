"""Chapter 2's measurements on synthetic cases with known answers, and the spatial-prior ViT variants."""
from __future__ import annotations

import math

import pytest
import torch

from semiformer_lib.analysis import (attention_maps, attention_rollout, effective_receptive_field, erf_radius,
                                     mean_attention_distance, model_attention_distance, patch_shuffle_accuracy,
                                     pooled_features, shift_images, shift_robustness, shuffle_patches,
                                     spatial_features)
from semiformer_lib.data import ImageSet
from semiformer_lib.models import VIT_VARIANTS, SmallCNN, available_models, build_vit, create_model
from semiformer_lib.models.spatial_priors import ConvStem, RelativePositionAttention


def tiny_set(n=12, seed=0, size=28) -> ImageSet:
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 1, size, size), generator=generator, dtype=torch.uint8)
    labels = torch.randint(0, 10, (n,), generator=generator)
    return ImageSet(images, labels, tuple(str(i) for i in range(10)), (0.3,), (0.3,), "synthetic/test")


# --- mean attention distance -------------------------------------------------------------------------------

def test_attention_only_to_itself_has_distance_zero():
    grid, tokens = (3, 3), 10
    maps = torch.eye(tokens).expand(2, 5, 4, tokens, tokens)          # [depth, B, heads, T, T]
    assert torch.equal(mean_attention_distance(maps, grid, patch_size=4), torch.zeros(2, 4))


def test_uniform_attention_gives_mean_pairwise_patch_distance():
    # 2×2 grid of 4 px patches: from any patch the others are 4, 4 and 4√2 px away (and itself 0).
    maps = torch.full((1, 3, 2, 5, 5), 1 / 5)
    distance = mean_attention_distance(maps, (2, 2), patch_size=4)
    assert torch.allclose(distance, torch.full((1, 2), (0 + 4 + 4 + 4 * math.sqrt(2)) / 4))
    # The class token's share is dropped, not counted as distance 0: all weight on the class token except a
    # uniform remainder still gives the uniform answer.
    skewed = torch.full((1, 1, 1, 5, 5), 0.01)
    skewed[..., 0] = 0.96
    assert torch.allclose(mean_attention_distance(skewed, (2, 2), 4), torch.tensor([[2 + math.sqrt(2)]]))


def test_attention_distance_rejects_maps_of_another_grid():
    with pytest.raises(ValueError, match="grid"):
        mean_attention_distance(torch.rand(1, 1, 1, 50, 50), (4, 4), 7)


def test_model_attention_distance_shape_and_range():
    torch.manual_seed(0)
    model = create_model("vit_mini_patch4")
    distance = model_attention_distance(model, torch.randn(4, 1, 28, 28))
    assert distance.shape == (4, 3)
    assert (distance > 0).all() and (distance < 28 * math.sqrt(2)).all()


def test_locality_prior_makes_attention_local_at_initialisation():
    torch.manual_seed(0)
    x = torch.randn(4, 1, 28, 28)
    plain = model_attention_distance(create_model("vit_mini_patch4"), x)
    local = model_attention_distance(create_model("vit_mini_patch4_relpos"), x)
    assert local[0, 0] < 0.5 * plain[0, 0]          # sharpest head: far more local than a random ViT's
    assert (local[:, 0] < local[:, -1]).all()       # heads ordered from local to global, in every block


# --- attention rollout -------------------------------------------------------------------------------------

def test_rollout_of_self_attention_keeps_everything_in_the_class_token():
    maps = torch.eye(5).expand(3, 2, 2, 5, 5)
    assert torch.equal(attention_rollout(maps, (2, 2)), torch.zeros(2, 2, 2))


def test_rollout_of_uniform_attention_spreads_evenly():
    maps = torch.full((1, 1, 2, 5, 5), 1 / 5)                          # one block: ½(U + I), rows sum to 1
    rollout = attention_rollout(maps, (2, 2))
    assert torch.allclose(rollout, torch.full((1, 2, 2), 0.5 / 5))


# --- spatial-prior variants --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(VIT_VARIANTS) + ["vit_mini_patch2"])
def test_variants_build_and_classify(name):
    model = create_model(name)
    assert name in available_models()
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_variants_change_only_their_part():
    plain, stem = create_model("vit_mini_patch4"), create_model("vit_mini_patch4_convstem")
    relpos, nopos = create_model("vit_mini_patch4_relpos"), create_model("vit_mini_patch4_nopos")
    assert isinstance(stem.patch_embed, ConvStem) and stem.patch_embed.grid_size == plain.patch_embed.grid_size
    assert all(isinstance(block.attn, RelativePositionAttention) for block in relpos.blocks)
    assert relpos.blocks[0].attn.bias_table.shape == (3, 13, 13)
    assert nopos.pos_embed is None and plain.pos_embed is not None
    assert [n for n, _ in plain.blocks.named_parameters()] == [n for n, _ in nopos.blocks.named_parameters()]


def test_relative_position_bias_reaches_both_attention_paths():
    torch.manual_seed(0)
    model = create_model("vit_mini_patch4_relpos").eval()
    x = torch.randn(2, 1, 28, 28)
    fused = model(x)
    for block in model.blocks:
        block.attn.fused_attn = False
    assert torch.allclose(fused, model(x), atol=1e-5)
    # The recorded maps include the bias: hand-compute block 0 with it.
    maps = attention_maps(model, x)
    attn = model.blocks[0].attn
    with torch.no_grad():
        tokens = model.blocks[0].norm1(model._pos_embed(model.patch_embed(x)))
        q, k, _ = attn.qkv(tokens).reshape(2, 50, 3, 3, 32).permute(2, 0, 3, 1, 4)
        manual = (q @ k.transpose(-2, -1) * 32 ** -0.5 + attn.position_bias()).softmax(-1)
    assert torch.allclose(maps[0], manual, atol=1e-5)
    assert torch.equal(attn.position_bias()[:, 0], torch.zeros(3, 50))    # class token: no position


def test_spatial_prior_errors_name_the_fix():
    with pytest.raises(ValueError, match="power-of-two"):
        build_vit("vit_mini_patch7", spatial_prior="convstem")
    with pytest.raises(ValueError, match="spatial_prior"):
        build_vit("vit_mini_patch4", spatial_prior="conv")
    with pytest.raises(TypeError, match="relative_position_attention"):
        RelativePositionAttention(96, num_heads=3)
    with pytest.raises(ValueError, match="padding_mode"):
        SmallCNN(padding_mode="wrap")


# --- features, shifts and patch shuffling ------------------------------------------------------------------

def test_features_have_one_shape_for_both_families():
    x = torch.randn(3, 1, 28, 28)
    vit, cnn = create_model("vit_mini_patch4").eval(), create_model("cnn_mini").eval()
    assert spatial_features(vit, x).shape == (3, 96, 7, 7)
    assert spatial_features(cnn, x).shape == (3, 64, 7, 7)
    assert pooled_features(vit, x).shape == (3, 96) and pooled_features(cnn, x).shape == (3, 64)
    assert torch.allclose(cnn.head(pooled_features(cnn, x)), cnn(x), atol=1e-6)


def test_shift_images_cyclic_and_padded():
    image = torch.arange(1, 17, dtype=torch.uint8).reshape(1, 1, 4, 4)
    assert torch.equal(shift_images(image, 0, 1, "cyclic")[0, 0, 0], torch.tensor([4, 1, 2, 3], dtype=torch.uint8))
    assert torch.equal(shift_images(image, 0, 1, "padded")[0, 0, 0], torch.tensor([0, 1, 2, 3], dtype=torch.uint8))
    assert torch.equal(shift_images(image, -1, 0, "padded")[0, 0, -1], torch.zeros(4, dtype=torch.uint8))
    with pytest.raises(ValueError, match="mode"):
        shift_images(image, 1, 0, "reflect")
    with pytest.raises(ValueError, match="fit"):
        shift_images(image, 4, 0)


def test_cyclic_shift_leaves_circular_cnn_pooled_features_unchanged():
    torch.manual_seed(0)
    circular = create_model("cnn_mini", padding_mode="circular").eval()
    x = torch.randn(3, 1, 28, 28)
    shifted = shift_images(x, 4, -8, "cyclic")           # multiples of the total stride (4)
    assert torch.allclose(pooled_features(circular, x), pooled_features(circular, shifted), atol=1e-5)
    zero_padded = create_model("cnn_mini").eval()
    assert not torch.allclose(pooled_features(zero_padded, x), pooled_features(zero_padded, shifted), atol=1e-3)
    result = shift_robustness(circular, tiny_set(), shifts=[0, 4, 8], mode="cyclic")
    assert result.consistency == [1.0, 1.0, 1.0]
    assert max(result.drift) < 1e-4 and len(set(result.accuracy)) == 1


def test_shift_robustness_of_a_plain_vit_moves():
    torch.manual_seed(0)
    result = shift_robustness(create_model("vit_mini_patch4"), tiny_set(), shifts=[0, 2], mode="padded")
    assert result.consistency[0] == 1.0 and result.drift[0] == 0.0
    assert result.drift[1] > 0.01


def test_shuffle_patches_permutes_whole_patches():
    images = tiny_set(4).images
    shuffled = shuffle_patches(images, 7, torch.Generator().manual_seed(0))
    def patches(t):
        return t.reshape(4, 1, 4, 7, 4, 7).permute(0, 2, 4, 1, 3, 5).reshape(4, 16, -1)
    original, moved = patches(images), patches(shuffled)
    assert not torch.equal(original, moved)
    for i in range(4):                                     # same multiset of patches in each image
        assert sorted(map(tuple, original[i].tolist())) == sorted(map(tuple, moved[i].tolist()))
    with pytest.raises(ValueError, match="tile"):
        shuffle_patches(images, 5)


def test_shuffling_patches_leaves_a_no_position_vit_unchanged():
    torch.manual_seed(0)
    x = torch.randn(4, 1, 28, 28)
    shuffled = shuffle_patches(x, 4, torch.Generator().manual_seed(1))
    nopos = create_model("vit_mini_patch4_nopos").eval()
    assert torch.allclose(nopos(x), nopos(shuffled), atol=1e-5)
    plain, cnn = create_model("vit_mini_patch4").eval(), create_model("cnn_mini").eval()
    assert not torch.allclose(plain(x), plain(shuffled), atol=1e-3)
    assert not torch.allclose(cnn(x), cnn(shuffled), atol=1e-3)
    before, after = patch_shuffle_accuracy(nopos, tiny_set(), 4)
    assert before == after


# --- effective receptive field -----------------------------------------------------------------------------

def test_erf_of_a_vit_without_blocks_is_its_own_patch():
    torch.manual_seed(0)
    model = build_vit("vit_mini_patch4", depth=0)
    with torch.no_grad():
        # At initialisation every scale of the final LayerNorm is 1, and the channel sum of a LayerNorm's output is
        # then 0 whatever the input: the ERF had no gradient but rounding noise (exactly 0 after some seeds). A
        # trained norm's scales differ, as here.
        model.norm.weight.uniform_(0.5, 1.5)
    erf = effective_receptive_field(model, torch.randn(6, 1, 28, 28))
    assert erf.sum().item() == pytest.approx(1.0)
    inside = torch.zeros(28, 28, dtype=torch.bool)
    inside[12:16, 12:16] = True                             # the centre token (3, 3) of the 7×7 grid
    assert erf[~inside].abs().max() == 0 and (erf[inside] > 0).all()


def test_erf_of_a_cnn_stays_inside_its_receptive_field():
    model = SmallCNN(widths=(8,), blocks=(1,))               # three 3×3 convolutions at stride 1: 7×7 field
    erf = effective_receptive_field(model, torch.randn(6, 1, 28, 28))
    inside = torch.zeros(28, 28, dtype=torch.bool)
    inside[11:18, 11:18] = True                             # centre unit (14, 14) ± 3
    assert erf[~inside].abs().max() == 0 and erf[14, 14] > 0
    assert model.training                                    # mode restored


def test_erf_radius_known_answers():
    delta = torch.zeros(28, 28)
    delta[13, 13] = 1
    assert erf_radius(delta) == pytest.approx(math.sqrt(0.5))
    uniform = torch.full((28, 28), 1 / 784)
    assert erf_radius(uniform, 0.5) == pytest.approx(math.sqrt(0.5 * 784 / math.pi), abs=0.7)
    with pytest.raises(ValueError, match="fraction"):
        erf_radius(uniform, 0)


# --- linear CKA --------------------------------------------------------------------------------------------

def test_linear_cka_known_answers():
    from semiformer_lib.analysis import linear_cka
    torch.manual_seed(0)
    x = torch.randn(200, 16)
    rotation, _ = torch.linalg.qr(torch.randn(16, 16))
    assert linear_cka(x, x) == pytest.approx(1.0)
    assert linear_cka(x, 3.0 * x @ rotation + 5.0) == pytest.approx(1.0)     # orthogonal map, scale, shift
    assert linear_cka(x, torch.randn(200, 16)) < 0.15                          # unrelated features
    wide = torch.randn(50, 4, 7, 7)                                            # wider than the batch: Gram path
    assert linear_cka(wide, 2 * wide) == pytest.approx(1.0)
    assert linear_cka(x[:, :8], x) == pytest.approx(linear_cka(x, x[:, :8]))  # symmetric, any widths
    with pytest.raises(ValueError, match="same inputs"):
        linear_cka(x, x[:10])


def test_semiformer_transformer_branch_is_read_like_a_vit():
    from semiformer_lib.analysis import branch_similarity, model_attention_distance, patch_grid, patch_pixels
    torch.manual_seed(0)
    model = create_model("semiformer_tiny_patch4")
    assert patch_grid(model) == (7, 7) and patch_pixels(model) == 4
    x = torch.randn(6, 1, 28, 28)
    distance = model_attention_distance(model, x)
    assert distance.shape == (3, 2)
    assert ((distance > 0) & (distance < 28 * 2 ** 0.5)).all()
    cka = branch_similarity(model, x)
    assert len(cka) == 3 and all(0 <= c <= 1 + 1e-9 for c in cka)
    with pytest.raises(TypeError, match="two-branch"):
        branch_similarity(create_model("vit_mini_patch4"), x)
    with pytest.raises(TypeError, match="token grid"):
        patch_grid(create_model("cnn_mini"))


def test_branch_similarity_sees_a_branch_copied_into_the_other():
    from semiformer_lib.analysis import branch_similarity
    torch.manual_seed(0)
    model = create_model("semiformer_tiny_patch4", fusion="none")
    x = torch.randn(32, 1, 28, 28)
    independent = branch_similarity(model, x)[0]
    # make block 1's patch tokens the conv map pooled to the grid: one branch holding exactly the other's features
    original = model.forward_blocks

    def copied_blocks(inputs):
        blocks = original(inputs)
        feature_map, tokens = blocks[0]
        pooled = torch.nn.functional.adaptive_avg_pool2d(feature_map, model.grid).flatten(2).transpose(1, 2)
        class_token = torch.zeros_like(pooled[:, :1])
        return [(feature_map, torch.cat([class_token, pooled], dim=1)), *blocks[1:]]
    model.forward_blocks = copied_blocks
    assert branch_similarity(model, x)[0] == pytest.approx(1.0) and independent < 0.99
