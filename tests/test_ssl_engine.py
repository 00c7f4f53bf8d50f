"""The loop on pseudo-labels: settings checked up front, diagnostics as data, true labels never trained on; and
the step it takes, tested directly."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from semiformer_lib.data import get_split
from semiformer_lib.models import create_model
from semiformer_lib.seeding import seed_everything
from semiformer_lib.train import ConfigError, RunConfig, eval_subset, fit, with_overrides

SHORT = RunConfig(steps=12, batch_size=16, unlabeled_ratio=2, warmup_steps=2, supervised_steps=4, eval_every=6,
                  threshold=0.0)


def low_label_sets(train, test, per_class=4, unlabeled_size=400):
    split = get_split(train, per_class, 0)
    return (train.subset(split.labeled), train.subset(split.unlabeled[:unlabeled_size]), eval_subset(test, 200))


def run(model_name, labeled, unlabeled, test, config=SHORT, seed=0):
    seed_everything(seed)
    model = create_model(model_name)
    return fit(model, labeled, test, with_overrides(config, seed=seed), unlabeled=unlabeled, progress=False)


@pytest.mark.parametrize("field,value", [("steps", 0), ("unlabeled_ratio", 0), ("teacher", "oracle"),
                                         ("teacher", "fused"), ("threshold", 1.5), ("unlabeled_weight", -1.0),
                                         ("ema_decay", 1.0), ("supervised_steps", 1000), ("cutout", 1.0),
                                         ("probe_size", -1)])
def test_bad_settings_fail_before_any_compute(field, value):
    with pytest.raises(ConfigError, match=f"'{field}'"):
        with_overrides(SHORT, **{field: value})
    with pytest.raises(ConfigError, match="'teacher' must be not ema when ema_decay is null"):
        with_overrides(SHORT, teacher="ema", ema_decay=None)


def test_single_head_models_cannot_use_a_branch_teacher(fashion_train, fashion_test):
    labeled, unlabeled, test = low_label_sets(fashion_train, fashion_test)
    with pytest.raises(ConfigError, match="two-headed"):
        fit(create_model("cnn_mini"), labeled, test, SHORT, unlabeled=unlabeled, progress=False)


def test_history_holds_per_step_diagnostics_and_per_eval_accuracies(fashion_train, fashion_test):
    labeled, unlabeled, test = low_label_sets(fashion_train, fashion_test)
    history = run("semiformer_tiny_patch4", labeled, unlabeled, test)
    assert len(history.mask_rate) == len(history.labeled_loss) == SHORT.steps
    warmup, semi = slice(0, SHORT.supervised_steps), slice(SHORT.supervised_steps, None)
    assert all(math.isnan(v) for v in history.mask_rate[warmup] + history.unlabeled_loss[warmup])
    assert all(v == 1.0 for v in history.mask_rate[semi])                       # τ = 0 keeps every pseudo-label
    assert all(0 <= v <= 1 for v in history.pseudo_acc[semi]) and all(v > 0 for v in history.unlabeled_loss[semi])
    assert history.step == [6, 12] and len(history.ema_acc) == 2
    assert set(history.head_acc[-1]) == {"conv", "transformer", "summed"}
    assert history.final_test_acc == history.head_acc[-1]["summed"]
    assert len(history.class_mask_rate[-1]) == 10


def test_true_labels_of_unlabeled_images_are_never_trained_on(fashion_train, fashion_test):
    labeled, unlabeled, test = low_label_sets(fashion_train, fashion_test)
    shuffled = torch.randperm(len(unlabeled), generator=torch.Generator().manual_seed(0))
    scrambled = dataclasses.replace(unlabeled, labels=unlabeled.labels[shuffled])
    honest = run("semiformer_tiny_patch4", labeled, unlabeled, test)
    blind = run("semiformer_tiny_patch4", labeled, scrambled, test)
    semi = slice(SHORT.supervised_steps, None)                                # the warm-up's L_u is NaN
    assert honest.labeled_loss == blind.labeled_loss and honest.unlabeled_loss[semi] == blind.unlabeled_loss[semi]
    assert honest.test_acc == blind.test_acc
    assert honest.pseudo_acc != blind.pseudo_acc                              # only the diagnostic changes


def test_supervised_baseline_runs_without_unlabeled_images(fashion_train, fashion_test):
    labeled, _, test = low_label_sets(fashion_train, fashion_test)
    history = run("vit_mini_patch4", labeled, None, test)
    assert all(math.isnan(v) for v in history.mask_rate)
    assert all(not math.isnan(v) for v in history.labeled_loss)
    assert history.head_acc[-1] == {} and 0 <= history.final_test_acc <= 1


def test_fixmatch_with_one_head_uses_its_own_prediction(fashion_train, fashion_test):
    labeled, unlabeled, test = low_label_sets(fashion_train, fashion_test)
    fixmatch = with_overrides(SHORT, teacher="mean", threshold=0.95)
    history = run("cnn_mini", labeled, unlabeled, test, fixmatch)
    semi = history.mask_rate[SHORT.supervised_steps:]
    assert all(0 <= v <= 1 for v in semi) and len(history.ema_acc) == 2


def test_ema_teacher_pseudo_labels_from_the_averaged_model(fashion_train, fashion_test):
    labeled, unlabeled, test = low_label_sets(fashion_train, fashion_test)
    history = run("semiformer_tiny_patch4", labeled, unlabeled, test, with_overrides(SHORT, teacher="ema"))
    assert all(v == 1.0 for v in history.mask_rate[SHORT.supervised_steps:])       # τ = 0 keeps every label
    seed_everything(0)
    model, averaged = create_model("semiformer_tiny_patch4").eval(), create_model("semiformer_tiny_patch4").eval()
    (weak_x, weak_u, strong_u), labels = step_inputs(unlabeled=32)
    from semiformer_lib.models import head_logits
    from semiformer_lib.train import semi_supervised_step
    pseudo = semi_supervised_step(model, weak_x, labels, weak_u, strong_u, teacher="ema", threshold=0.0,
                                  averaged=averaged, precision="fp32").pseudo
    with torch.no_grad():
        from_averaged = torch.stack(head_logits(averaged, weak_u)).mean(dim=0).argmax(dim=1)
        from_model = torch.stack(head_logits(model, weak_u)).mean(dim=0).argmax(dim=1)
    assert torch.equal(pseudo.predicted, from_averaged) and not torch.equal(pseudo.predicted, from_model)


# --- one pseudo-labeling step, as the loop and the full run take it ----------------------------------------

def step_inputs(seed=0, labeled=4, unlabeled=6):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 1, 28, 28, generator=generator) for n in (labeled, unlabeled, unlabeled)], \
        torch.randint(0, 10, (labeled,), generator=generator)


def gradients(model):
    return [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in model.parameters()]


def test_the_step_trains_the_student_only_on_the_strong_views_against_fixed_pseudo_labels():
    """The gradient reaches the student's forward, never the teacher's: the step's gradient equals that of the
    same loss with the teacher's pseudo-labels and mask taken as constants."""
    from semiformer_lib.models import head_logits
    from semiformer_lib.ssl import supervised_loss, unsupervised_loss
    from semiformer_lib.train import semi_supervised_step

    seed_everything(0)
    model = create_model("semiformer_tiny_patch4").train()
    (weak_x, weak_u, strong_u), labels = step_inputs()
    objective = semi_supervised_step(model, weak_x, labels, weak_u, strong_u, teacher="conv", threshold=0.0,
                                     unlabeled_weight=2.0, precision="fp32")
    assert not objective.pseudo.targets.requires_grad and not objective.pseudo.mask.requires_grad
    model.zero_grad()
    objective.total.backward()
    through_step = gradients(model)

    model.zero_grad()
    heads = head_logits(model, torch.cat([weak_x, strong_u]))
    fixed = supervised_loss(tuple(h[:4] for h in heads), labels) + \
        2.0 * unsupervised_loss(tuple(h[4:] for h in heads), objective.pseudo)
    fixed.backward()
    assert torch.allclose(objective.total.detach(), fixed.detach(), atol=1e-6)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(through_step, gradients(model)))


def test_masked_images_contribute_nothing_to_the_step():
    """Below τ an unlabeled image counts as zero: whatever its strong view, the loss and gradient do not move."""
    from semiformer_lib.train import semi_supervised_step

    seed_everything(0)
    model = create_model("vit_mini_patch4").eval()       # eval: no dropout, so two passes see the same network
    (weak_x, weak_u, strong_u), labels = step_inputs()
    confidence = semi_supervised_step(model, weak_x, labels, weak_u, strong_u, teacher="mean", threshold=0.0,
                                      precision="fp32").pseudo.confidence.sort().values
    threshold = ((confidence[2] + confidence[3]) / 2).item()            # half the images pass τ, half do not
    first = semi_supervised_step(model, weak_x, labels, weak_u, strong_u, teacher="mean", threshold=threshold,
                                 unlabeled_weight=1.0, precision="fp32")
    masked = first.pseudo.mask == 0
    assert masked.sum() == 3
    changed = strong_u.clone()
    changed[masked] = torch.randn_like(changed[masked]) * 5
    second = semi_supervised_step(model, weak_x, labels, weak_u, changed, teacher="mean", threshold=threshold,
                                  unlabeled_weight=1.0, precision="fp32")
    assert torch.equal(second.pseudo.mask, first.pseudo.mask)
    assert torch.allclose(second.total, first.total, atol=1e-6)
    model.zero_grad()
    first.total.backward()
    before = gradients(model)
    model.zero_grad()
    second.total.backward()
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(before, gradients(model)))


def test_with_lambda_zero_the_step_is_the_supervised_step():
    """λ = 0 leaves the labeled term alone: loss and gradient of the supervised loop's loss on the labeled views
    (a ViT: LayerNorm only, so sharing the forward with the strong views changes no labeled logit)."""
    from semiformer_lib.models.interface import HeadsModule
    from semiformer_lib.train import semi_supervised_step, supervised_step

    seed_everything(0)
    model = create_model("vit_mini_patch4").eval()
    (weak_x, weak_u, strong_u), labels = step_inputs()
    objective = semi_supervised_step(model, weak_x, labels, weak_u, strong_u, teacher="mean", threshold=0.0,
                                     unlabeled_weight=0.0, precision="fp32")
    assert objective.unlabeled > 0                        # the unlabeled term is there, weighted by zero
    model.zero_grad()
    objective.total.backward()
    semi = gradients(model)
    model.zero_grad()
    supervised = supervised_step(HeadsModule(model), weak_x, labels, precision="fp32")
    supervised.backward()
    assert torch.allclose(objective.total.detach(), supervised.detach(), atol=1e-6)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(semi, gradients(model)))
