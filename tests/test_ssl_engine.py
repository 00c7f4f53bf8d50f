"""The semi-supervised loop: settings checked up front, diagnostics as data, true labels never trained on."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from semiformer_lib.data import get_split
from semiformer_lib.models import create_model
from semiformer_lib.seeding import seed_everything
from semiformer_lib.ssl.engine import SemiConfig, fit_semi_supervised
from semiformer_lib.train import eval_subset

SHORT = SemiConfig(steps=12, batch_size=16, unlabeled_ratio=2, warmup_steps=2, supervised_steps=4, eval_every=6,
                   threshold=0.0)


def low_label_sets(train, test, per_class=4, unlabeled_size=400):
    split = get_split(train, per_class, 0)
    return (train.subset(split.labeled), train.subset(split.unlabeled[:unlabeled_size]), eval_subset(test, 200))


def run(model_name, labeled, unlabeled, test, config=SHORT, seed=0):
    seed_everything(seed)
    model = create_model(model_name)
    return fit_semi_supervised(model, labeled, unlabeled, test, config, seed=seed, progress=False)


@pytest.mark.parametrize("field,value", [("steps", 0), ("unlabeled_ratio", 0), ("teacher", "oracle"),
                                         ("threshold", 1.5), ("unlabeled_weight", -1.0), ("ema_decay", 1.0),
                                         ("supervised_steps", 1000), ("cutout", 1.0)])
def test_bad_settings_fail_before_any_compute(field, value):
    with pytest.raises(ValueError, match=f"SemiConfig.{field}"):
        SemiConfig(**{field: value})


def test_single_head_models_cannot_use_a_branch_teacher(fashion_train, fashion_test):
    labeled, unlabeled, test = low_label_sets(fashion_train, fashion_test)
    with pytest.raises(ValueError, match="two-headed"):
        fit_semi_supervised(create_model("cnn_mini"), labeled, unlabeled, test, SHORT, progress=False)


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
    fixmatch = dataclasses.replace(SHORT, teacher="fused", threshold=0.95)
    history = run("cnn_mini", labeled, unlabeled, test, fixmatch)
    semi = history.mask_rate[SHORT.supervised_steps:]
    assert all(0 <= v <= 1 for v in semi) and len(history.ema_acc) == 2


def test_ema_teacher_pseudo_labels_from_the_averaged_model(fashion_train, fashion_test):
    labeled, unlabeled, test = low_label_sets(fashion_train, fashion_test)
    config = dataclasses.replace(SHORT, teacher="ema", threshold=0.0)
    history = run("semiformer_tiny_patch4", labeled, unlabeled, test, config)
    assert all(v == 1.0 for v in history.mask_rate[SHORT.supervised_steps:])
    live = run("semiformer_tiny_patch4", labeled, unlabeled, test, dataclasses.replace(SHORT, teacher="fused"))
    assert history.pseudo_acc[SHORT.supervised_steps:] != live.pseudo_acc[SHORT.supervised_steps:]
