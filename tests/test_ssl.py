"""The semi-supervised pieces: the objective on hand-made logits, the strong augmentation, the EMA."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from semiformer_lib.data import strong_augment, strong_ops
from semiformer_lib.ssl import ema_model, pseudo_label, semi_supervised_objective, teacher_logits, unsupervised_loss


def logits_for(probabilities):
    return torch.tensor(probabilities).log()


# --- pseudo-labels and the objective ----------------------------------------------------------------------

def test_mask_is_inclusive_at_the_threshold_edge():
    logits = logits_for([[0.7, 0.2, 0.1], [0.5, 0.4, 0.1]])
    confidence = pseudo_label(logits, 0.0).confidence[0].item()
    assert confidence == pytest.approx(0.7, abs=1e-6)
    assert pseudo_label(logits, confidence).mask.tolist() == [1.0, 0.0]          # max q = τ passes
    just_above = torch.nextafter(torch.tensor(confidence), torch.tensor(1.0)).item()   # next float32 up
    assert pseudo_label(logits, just_above).mask.tolist() == [0.0, 0.0]
    hard = pseudo_label(logits, 0.7)
    assert hard.targets.tolist() == [0, 0] and hard.predicted.tolist() == [0, 0]
    assert pseudo_label(logits, confidence).mask_rate.item() == 0.5


def test_soft_targets_are_the_teachers_distribution():
    logits = logits_for([[0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    soft = pseudo_label(logits, 0.0, soft=True)
    assert torch.allclose(soft.targets, torch.tensor([[0.6, 0.3, 0.1], [0.1, 0.1, 0.8]]), atol=1e-6)
    student = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 3.0]])
    by_hand = -(soft.targets * F.log_softmax(student, dim=1)).sum(1).mean()
    assert unsupervised_loss((student,), soft).item() == pytest.approx(by_hand.item(), rel=1e-6)


def test_unlabeled_loss_averages_over_all_images_masked_ones_as_zero():
    teacher = logits_for([[0.9, 0.1], [0.6, 0.4], [0.05, 0.95], [0.5, 0.5]])
    pseudo = pseudo_label(teacher, 0.7)
    assert pseudo.mask.tolist() == [1.0, 0.0, 1.0, 0.0]
    conv, transformer = torch.randn(4, 2), torch.randn(4, 2)

    def ce(h):
        return F.cross_entropy(h, torch.tensor([0, 0, 1, 0]), reduction="none")

    expected = ((ce(conv) * pseudo.mask).sum() / 4 + (ce(transformer) * pseudo.mask).sum() / 4) / 2
    assert unsupervised_loss((conv, transformer), pseudo).item() == pytest.approx(expected.item(), rel=1e-6)


def test_total_is_labeled_plus_lambda_times_unlabeled():
    torch.manual_seed(0)

    def heads(n):
        return torch.randn(n, 5), torch.randn(n, 5)

    labeled, weak, strong, labels = heads(4), heads(8), heads(8), torch.tensor([0, 1, 2, 3])
    parts = {lam: semi_supervised_objective(labeled, labels, weak, strong, threshold=0.0, unlabeled_weight=lam)
             for lam in (0.0, 4.0)}
    assert parts[0.0].total.item() == pytest.approx(parts[0.0].labeled.item())
    assert parts[4.0].total.item() == pytest.approx(parts[4.0].labeled.item() + 4 * parts[4.0].unlabeled.item())
    assert parts[4.0].unlabeled.item() > 0
    expected_labeled = (F.cross_entropy(labeled[0], labels) + F.cross_entropy(labeled[1], labels)) / 2
    assert parts[4.0].labeled.item() == pytest.approx(expected_labeled.item(), rel=1e-6)
    smoothed = semi_supervised_objective(labeled, labels, weak, strong, label_smoothing=0.1)
    assert smoothed.labeled.item() != pytest.approx(expected_labeled.item())
    with pytest.raises(ValueError, match="λ"):
        semi_supervised_objective(labeled, labels, weak, strong, unlabeled_weight=-1.0)


def test_teacher_choice_picks_the_right_logits():
    conv = torch.tensor([[3.0, 0.0]])
    transformer = torch.tensor([[0.0, 1.0]])
    assert torch.equal(teacher_logits((conv, transformer), "conv"), conv)
    assert torch.equal(teacher_logits((conv, transformer), "transformer"), transformer)
    assert torch.equal(teacher_logits((conv, transformer), "mean"), (conv + transformer) / 2)
    ema = torch.tensor([[0.0, 9.0]])
    assert torch.equal(teacher_logits((conv, transformer), "ema", ema_logits=ema), ema)
    assert torch.equal(teacher_logits((conv,), "mean"), conv)                   # a one-headed model
    with pytest.raises(ValueError, match="two-headed"):
        teacher_logits((conv,), "conv")
    with pytest.raises(ValueError, match="ema_logits"):
        teacher_logits((conv, transformer), "ema")
    with pytest.raises(ValueError, match="teacher must be one of"):
        teacher_logits((conv, transformer), "oracle")
    with pytest.raises(ValueError, match="threshold"):
        pseudo_label(conv, 1.5)


def test_no_gradient_flows_through_the_teacher():
    weak = (torch.randn(6, 4, requires_grad=True), torch.randn(6, 4, requires_grad=True))
    strong = (torch.randn(6, 4, requires_grad=True), torch.randn(6, 4, requires_grad=True))
    labeled = (torch.randn(2, 4, requires_grad=True), torch.randn(2, 4, requires_grad=True))
    for teacher in ("conv", "transformer", "mean"):
        objective = semi_supervised_objective(labeled, torch.tensor([0, 1]), weak, strong, teacher=teacher,
                                              threshold=0.0)
        objective.total.backward()
        assert all(w.grad is None for w in weak), teacher
        assert all(s.grad is not None and s.grad.abs().sum() > 0 for s in strong), teacher


# --- strong augmentation ----------------------------------------------------------------------------------

def images(batch=32, channels=1, size=28, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, channels, size, size), dtype=torch.uint8, generator=generator)


def test_strong_augment_keeps_shape_dtype_and_range():
    for channels, size in ((1, 28), (3, 32)):
        x = images(channels=channels, size=size)
        y = strong_augment(x, torch.Generator().manual_seed(0))
        assert y.shape == x.shape and y.dtype == torch.uint8
        assert not torch.equal(x, y)


def test_strong_augment_is_per_sample_random_and_reproducible():
    same = images(batch=1).expand(16, -1, -1, -1).contiguous()        # sixteen copies of one image
    first = strong_augment(same, torch.Generator().manual_seed(1))
    distinct = {tuple(view.flatten().tolist()) for view in first}
    assert len(distinct) >= 12                                          # each copy got its own ops and magnitudes
    assert torch.equal(first, strong_augment(same, torch.Generator().manual_seed(1)))
    assert not torch.equal(first, strong_augment(same, torch.Generator().manual_seed(2)))


def test_without_operations_only_the_cutout_square_changes():
    x = images()
    unchanged = strong_augment(x, torch.Generator().manual_seed(0), num_ops=0, cutout=0.0)
    assert torch.equal(unchanged, x)
    cut = strong_augment(x, torch.Generator().manual_seed(0), num_ops=0, cutout=0.5)
    changed = (cut != x).flatten(1)
    assert (cut[cut != x] == 128).all()                                 # only gray pixels were written
    side = math.ceil(0.5 * 28) // 2 * 2 + 1
    assert changed.sum(1).max().item() <= side * side
    assert (changed.sum(1) > 0).float().mean() > 0.9


def test_strong_augment_refuses_bad_input():
    with pytest.raises(ValueError, match="uint8"):
        strong_augment(torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError, match="num_ops"):
        strong_augment(images(), num_ops=len(strong_ops(1)) + 1)
    with pytest.raises(ValueError, match="cutout"):
        strong_augment(images(), cutout=1.5)
    assert "color" in strong_ops(3) and "color" not in strong_ops(1)


# --- EMA ----------------------------------------------------------------------------------------------------

def test_ema_follows_the_update_rule_with_its_warm_up():
    from semiformer_lib.models import create_model
    torch.manual_seed(0)
    model = create_model("cnn_mini")
    averaged = ema_model(model, decay=0.9)
    averaged.update(model, step=1)                                       # first update: a copy
    assert all(torch.equal(a, b) for a, b in zip(averaged.module.parameters(), model.parameters()))
    for step in (2, 50):
        before = [p.detach().clone() for p in averaged.module.parameters()]
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(1.0)
        averaged.update(model, step=step)
        decay = min(0.9, 1 - (1 + (step - 1)) ** (-2 / 3))                # warm-up: small decay early on
        assert averaged.get_decay(step) == pytest.approx(decay)
        for old, new, live in zip(before, averaged.module.parameters(), model.parameters()):
            assert torch.allclose(new, decay * old + (1 - decay) * live, atol=1e-5)
    assert averaged.get_decay(50) == 0.9 and not averaged.module.training
    assert not any(p.requires_grad for p in averaged.module.parameters())
    with pytest.raises(ValueError, match="decay"):
        ema_model(model, decay=1.0)
