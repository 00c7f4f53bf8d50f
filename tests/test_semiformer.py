"""The Semiformer model: the official model's size and cost, every fusion variant's shapes, and branch isolation."""
from __future__ import annotations

import pytest
import torch

from semiformer_lib.models import FUSION_MODES, INJECTION_POINTS, count_macs, count_parameters, create_model
from semiformer_lib.seeding import seed_everything


def small_on_meta(**options):
    with torch.device("meta"):
        return create_model("semiformer_small_patch16", img_size=224, in_chans=3, num_classes=1000, **options)


def gmacs(model) -> float:
    return count_macs(model, (1, 3, 224, 224)) / 1e9


def test_count_macs_known_answers():
    linear = torch.nn.Linear(10, 20)
    assert count_macs(linear, (3, 10)) == 3 * 10 * 20
    conv = torch.nn.Conv2d(2, 4, 3, padding=1, bias=False)
    assert count_macs(conv, (1, 2, 5, 5)) == 5 * 5 * 4 * 2 * 9
    with torch.device("meta"):
        meta_linear = torch.nn.Linear(10, 20)
    assert count_macs(meta_linear, (3, 10)) == 600 and linear.training


def test_small_model_has_the_official_size_and_cost():
    model = small_on_meta()
    groups = model.parameter_groups()
    assert count_parameters(model) == pytest.approx(41.7e6, rel=0.02)
    assert sum(groups.values()) == count_parameters(model)
    assert groups["transformer"] == pytest.approx(22.1e6, rel=0.02)
    assert groups["conv"] == pytest.approx(14.3e6, rel=0.02)
    assert groups["fusion"] == pytest.approx(5.3e6, rel=0.02)
    assert gmacs(model) == pytest.approx(12.4, rel=0.05)
    assert gmacs(small_on_meta(fusion="none")) == pytest.approx(10.0, rel=0.05)


def test_conformer_injection_has_narrower_adapters():
    # Conformer-S (Peng et al. 2021) is 37.7 M parameters: the same branches with reduced-width fusion.
    conformer = small_on_meta(injection="conformer")
    assert count_parameters(conformer) == pytest.approx(37.7e6, rel=0.02)
    assert conformer.parameter_groups()["fusion"] < small_on_meta().parameter_groups()["fusion"] / 3


@pytest.mark.parametrize("fusion", FUSION_MODES)
@pytest.mark.parametrize("injection", INJECTION_POINTS)
@pytest.mark.parametrize("img_size,in_chans", [(28, 1), (32, 3)])
def test_every_variant_runs_forward_and_backward(fusion, injection, img_size, in_chans):
    model = create_model("semiformer_mini_patch4", img_size=img_size, in_chans=in_chans, num_classes=10,
                         fusion=fusion, injection=injection)
    x = torch.randn(2, in_chans, img_size, img_size)
    conv_logits, transformer_logits = model.forward_heads(x)
    assert conv_logits.shape == transformer_logits.shape == (2, 10)
    assert torch.allclose(model(x), conv_logits + transformer_logits, atol=1e-5)
    model(x).sum().backward()
    grid = model.grid
    feature_map, tokens = model.forward_features(x)
    assert tokens.shape == (2, 1 + grid[0] * grid[1], 96)
    assert feature_map.shape[1] == 64
    adapters = model.parameter_groups()["fusion"]
    assert (adapters == 0) == (fusion == "none")


def _branch_outputs_after_perturbing(model, x, prefix_filter):
    """Transformer and conv logits before and after adding noise to the parameters selected by prefix_filter."""
    model.eval()
    before = model.forward_heads(x)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if prefix_filter(name):
                parameter.add_(torch.randn_like(parameter))
    return before, model.forward_heads(x)


def conv_branch_past_stem(name):
    return name.startswith(("conv_first", "conv_head")) or (name.startswith("blocks") and (
        ".first." in name or ".second." in name))


def transformer_branch(name):
    return name.startswith(("patch_embed", "cls_token", "transformer_")) or ".transformer." in name


@pytest.mark.parametrize("fusion,transformer_isolated,conv_isolated", [
    ("none", True, True), ("transformer_to_conv", True, False), ("conv_to_transformer", False, True),
    ("both", False, False)])
def test_fusion_direction_decides_which_branch_sees_the_other(fusion, transformer_isolated, conv_isolated):
    x = torch.randn(3, 1, 28, 28)
    torch.manual_seed(0)
    model = create_model("semiformer_mini_patch4", fusion=fusion)
    (conv0, trans0), (_, trans1) = _branch_outputs_after_perturbing(model, x, conv_branch_past_stem)
    assert torch.allclose(trans0, trans1, atol=1e-5) == transformer_isolated
    torch.manual_seed(0)
    model = create_model("semiformer_mini_patch4", fusion=fusion)
    (conv0, _), (conv1, _) = _branch_outputs_after_perturbing(model, x, transformer_branch)
    assert torch.allclose(conv0, conv1, atol=1e-5) == conv_isolated


def test_forward_blocks_follow_both_streams_through_every_block():
    model = create_model("semiformer_mini_patch4").eval()
    x = torch.randn(2, 1, 28, 28)
    blocks = model.forward_blocks(x)
    assert len(blocks) == model.size.depth
    assert [m.shape[-1] for m, _ in blocks] == [28, 28, 14, 14, 7, 4]      # stages halve; the last block too
    assert all(t.shape == (2, 50, 96) for _, t in blocks)
    final_map, final_tokens = model.forward_features(x)
    assert torch.equal(final_map, blocks[-1][0]) and torch.equal(final_tokens, blocks[-1][1])


def test_trace_block_follows_one_block_in_order():
    model = create_model("semiformer_mini_patch4")
    trace = model.trace_block(torch.randn(2, 1, 28, 28), index=0)
    assert list(trace) == ["conv stream in", "first bottleneck out", "conv → tokens (patch tokens)",
                           "tokens into transformer block", "transformer block out", "tokens → conv map",
                           "second bottleneck out"]
    assert trace["conv → tokens (patch tokens)"] == (2, 49, 96) and trace["transformer block out"] == (2, 50, 96)
    assert trace["tokens → conv map"] == trace["first bottleneck out"] == (2, 16, 28, 28)   # Semiformer: full width
    conformer = create_model("semiformer_mini_patch4", injection="conformer")
    assert conformer.trace_block(torch.randn(1, 1, 28, 28))["tokens → conv map"] == (1, 4, 28, 28)   # reduced
    assert "tokens → conv map" not in create_model("semiformer_mini_patch4", fusion="none").trace_block(
        torch.randn(1, 1, 28, 28))
    with pytest.raises(IndexError, match="fused block 9"):
        model.trace_block(torch.randn(1, 1, 28, 28), index=9)


def test_same_seed_same_model_and_output():
    x = torch.randn(2, 1, 28, 28)
    outputs = []
    for seed in (3, 3, 4):
        seed_everything(seed)
        outputs.append(create_model("semiformer_mini_patch4").eval()(x))
    assert torch.equal(outputs[0], outputs[1]) and not torch.equal(outputs[0], outputs[2])


def test_bad_semiformer_settings_fail_with_the_choices():
    with pytest.raises(ValueError, match="fusion must be one of"):
        create_model("semiformer_mini_patch4", fusion="sideways")
    with pytest.raises(ValueError, match="injection must be one of"):
        create_model("semiformer_mini_patch4", injection="middle")
    with pytest.raises(ValueError, match="patch size"):
        create_model("semiformer_mini_patch4", img_size=30)


# --- the general framework: any timm ViT with any timm CNN --------------------------------------------------

@pytest.mark.parametrize("vit_name,cnn_name,out_indices", [
    ("deit_tiny_patch16_224", "resnet18", (1, 2, 3, 4)),          # DeiT with a ResNet's four residual stages
    ("vit_tiny_patch16_224", "convnext_atto", None)])             # a ViT with a ConvNeXt
def test_any_vit_fuses_with_any_cnn(vit_name, cnn_name, out_indices):
    from semiformer_lib.models import build_fused_pair
    torch.manual_seed(0)
    model = build_fused_pair(vit_name, cnn_name, img_size=64, num_classes=7, out_indices=out_indices)
    stages = len(model.cnn.feature_info.channels())
    assert stages == 4
    assert sum(model.blocks_per_stage, []) == list(range(len(model.vit.blocks)))   # every block once, in order
    x = torch.randn(2, 3, 64, 64)
    cnn_logits, vit_logits = model.forward_heads(x)
    assert cnn_logits.shape == vit_logits.shape == (2, 7)
    model(x).sum().backward()
    assert all(p.grad is not None for p in model.to_tokens.parameters())
    assert all(p.grad is not None for p in model.to_conv.parameters())
    assert model.vit.blocks[0].attn.qkv.weight.grad is not None and model.cnn_head.weight.grad is not None


def unfused(pair: str):
    from semiformer_lib.models import build_fused_pair
    if pair == "timm":          # DeiT-Ti with a ResNet-18's four stages
        return build_fused_pair("deit_tiny_patch16_224", "resnet18", img_size=32, num_classes=3, fusion="none",
                                out_indices=(1, 2, 3, 4))
    return create_model(pair, fusion="none")


@pytest.mark.parametrize("pair, shape", [("timm", (2, 3, 32, 32)), ("semiformer_cnn_mini", (2, 1, 28, 28))])
def test_a_fused_pair_without_fusion_is_two_independent_models(pair, shape):
    torch.manual_seed(0)
    model = unfused(pair).eval()
    assert model.to_tokens is None and model.to_conv is None and model.to_conv_gate is None
    x = torch.randn(*shape)
    cnn_before, vit_before = model.forward_heads(x)
    with torch.no_grad():
        for parameter in model.cnn.parameters():
            parameter.add_(torch.randn_like(parameter))
    cnn_after, vit_after = model.forward_heads(x)
    assert torch.allclose(vit_before, vit_after) and not torch.allclose(cnn_before, cnn_after)


def test_fused_pair_refuses_what_it_cannot_fuse():
    import timm
    from semiformer_lib.models import FusedPair
    cnn = timm.create_model("resnet18", pretrained=False, features_only=True, out_indices=(1, 2, 3, 4))
    with pytest.raises(TypeError, match="ViT-family"):
        FusedPair(timm.create_model("resnet18", pretrained=False), cnn, 10)
    with pytest.raises(TypeError, match="features_only"):
        FusedPair(timm.create_model("deit_tiny_patch16_224", pretrained=False),
                  timm.create_model("resnet18", pretrained=False), 10)
    with pytest.raises(ValueError, match="blocks"):
        FusedPair(timm.create_model("deit_tiny_patch16_224", pretrained=False, depth=2), cnn, 10)


def test_fusion_diagram_shows_the_traced_shapes():
    from semiformer_lib import viz
    trace = create_model("semiformer_mini_patch4").trace_block(torch.randn(1, 1, 28, 28))
    figure = viz.plot_fusion_block(trace)
    texts = " ".join(t.get_text() for t in figure.axes[0].texts)
    assert "16×28×28" in texts and "50×96" in texts and "49×96" in texts
    no_fusion = create_model("semiformer_mini_patch4", fusion="none").trace_block(torch.randn(1, 1, 28, 28))
    assert "—" in " ".join(t.get_text() for t in viz.plot_fusion_block(no_fusion).axes[0].texts)


def test_cost_splits_into_the_three_parts():
    from semiformer_lib.models.semiformer import part_of
    assert [part_of(n) for n in ("blocks.3.transformer.attn.qkv.weight", "blocks.3.tokens_to_conv.project.weight",
                                 "blocks.3.first.conv1.weight", "cls_token", "stem.0.weight", "conv_head.bias",
                                 "transformer_head.weight")] == \
        ["transformer", "fusion", "conv", "transformer", "conv", "conv", "transformer"]
    model = small_on_meta()
    macs = model.mac_groups((1, 3, 224, 224))
    assert sum(macs.values()) == count_macs(model, (1, 3, 224, 224))
    unfused = small_on_meta(fusion="none").mac_groups((1, 3, 224, 224))
    assert unfused["fusion"] == 0
    assert unfused["transformer"] == macs["transformer"] and unfused["conv"] == macs["conv"]
    assert macs["fusion"] / 1e9 == pytest.approx(12.4 - 10.0, rel=0.05)


def test_tiny_size_is_one_block_per_stage():
    model = create_model("semiformer_tiny_patch4").eval()
    blocks = model.forward_blocks(torch.randn(2, 1, 28, 28))
    assert [m.shape[1:] for m, _ in blocks] == [(16, 28, 28), (32, 14, 14), (64, 4, 4)]
    assert all(t.shape == (2, 50, 64) for _, t in blocks)
    assert count_parameters(model) < count_parameters(create_model("semiformer_mini_patch4"))


def test_size_fields_can_be_overridden_by_name():
    wide = create_model("semiformer_tiny_patch4", base_channels=16)
    assert wide.size.base_channels == 16 and wide.conv_head.in_features == 2 * create_model(
        "semiformer_tiny_patch4").conv_head.in_features
    with pytest.raises(TypeError):
        create_model("semiformer_tiny_patch4", no_such_option=1)


# --- the book's own pair: cnn_mini and vit_mini_patch4 fused at the CNN's stages ---------------------------------

def test_the_book_pair_starts_as_the_standalone_cnn():
    seed_everything(3)
    cnn = create_model("cnn_mini").eval()
    seed_everything(3)
    pair = create_model("semiformer_cnn_mini").eval()
    x = torch.randn(5, 1, 28, 28)
    conv_logits, transformer_logits = pair.forward_heads(x)
    assert torch.equal(conv_logits, cnn(x))                      # same weights, and the gated updates add 0
    assert transformer_logits.shape == (5, 10) and torch.equal(pair(x), conv_logits + transformer_logits)
    assert pair.stage_modules == [["stem", "stages.0"], ["stages.1"], ["stages.2"]]
    assert pair.blocks_per_stage == [[0], [1], [2]]                 # one ViT block per CNN stage
    assert not any(name.startswith("cnn.head") for name, _ in pair.named_parameters())   # its head is the conv head


def test_the_book_pair_gates_learn_and_then_change_the_conv_branch():
    seed_everything(0)
    pair = create_model("semiformer_cnn_mini")
    x = torch.randn(4, 1, 28, 28)
    conv_logits, transformer_logits = pair.forward_heads(x)
    (conv_logits.square().mean() + transformer_logits.square().mean()).backward()
    assert torch.equal(pair.to_conv_gate.detach(), torch.zeros(3))
    assert pair.to_conv_gate.grad.abs().min() > 0                   # a zero gate still gets a gradient (ReZero)
    assert all(p.grad is not None for p in pair.to_tokens.parameters())
    pair.eval()
    before = pair.forward_heads(x)[0]
    with torch.no_grad():
        pair.to_conv_gate.fill_(1.0)
    assert not torch.allclose(before, pair.forward_heads(x)[0])    # once opened, the ViT reaches the conv head


def test_an_unknown_book_pair_is_refused():
    from semiformer_lib.models import build_book_pair
    with pytest.raises(ValueError, match="unknown book pair 'semiformer_cnn_huge'"):
        build_book_pair("semiformer_cnn_huge")
