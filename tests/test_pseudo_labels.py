"""Pseudo-label quality (quantity vs quality over τ), the teacher probe, and comparisons with shared warm-ups."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from semiformer_lib.analysis import class_mask_rate, threshold_tradeoff
from semiformer_lib.models import create_model
from semiformer_lib.ssl import ema_model, teacher_predictions
from semiformer_lib.train import (ConfigError, RunConfig, SemiMethod, compare_methods, eval_subset, head_accuracies,
                                  with_overrides)


def test_threshold_tradeoff_counts_by_hand():
    confidence = torch.tensor([0.95, 0.80, 0.70, 0.60, 0.30])
    predicted = torch.tensor([1, 2, 0, 3, 4])
    labels = torch.tensor([1, 0, 0, 3, 1])                      # right: images 0, 2, 3
    table = threshold_tradeoff(confidence, predicted, labels, [0.0, 0.7, 0.9, 0.99])
    assert np.allclose(table.mask_rate, [1.0, 0.6, 0.2, 0.0])
    assert np.allclose(table.confident_accuracy[:3], [3 / 5, 2 / 3, 1.0])   # 0.70 is kept at τ = 0.7
    assert math.isnan(table.confident_accuracy[3])                          # nothing kept: no accuracy
    assert np.allclose(table.correct_share, [3 / 5, 2 / 5, 1 / 5, 0.0])
    with pytest.raises(ValueError, match="alike"):
        threshold_tradeoff(confidence, predicted[:3], labels, [0.5])


def test_class_mask_rate_is_per_true_class():
    confidence = torch.tensor([0.9, 0.2, 0.8, 0.75])
    labels = torch.tensor([0, 0, 1, 1])
    rates = class_mask_rate(confidence, labels, 0.7, num_classes=3)
    assert rates[:2].tolist() == [0.5, 1.0] and math.isnan(rates[2])


def test_teacher_predictions_match_the_heads(fashion_test):
    images = eval_subset(fashion_test, 300)
    model = create_model("semiformer_tiny_patch4").train()
    averaged = ema_model(model)
    verdicts = teacher_predictions(model, images, averaged.module, batch_size=128)
    assert set(verdicts) == {"conv", "transformer", "mean", "ema"} and model.training      # mode restored
    accuracies = head_accuracies(model, images)
    for teacher, head in (("conv", "conv"), ("transformer", "transformer"), ("mean", "summed")):
        confidence, predicted = verdicts[teacher]
        assert confidence.shape == (300,) and ((0.1 - 1e-6 <= confidence) & (confidence <= 1)).all()
        assert (predicted == images.labels).float().mean().item() == pytest.approx(accuracies[head], abs=1e-6)
    single = teacher_predictions(create_model("cnn_mini"), images)
    assert set(single) == {"mean"}


SHORT = RunConfig(model="cnn_mini", steps=16, supervised_steps=8, batch_size=16, unlabeled_ratio=1, warmup_steps=1,
                  eval_every=4, probe_size=50, threshold=0.5, unlabeled_size=200)
FIXMATCH = with_overrides(SHORT, teacher="mean")
TWIN = with_overrides(SHORT, unlabeled_weight=0, probe_size=0)


def untimed(rows):
    return [{k: v for k, v in row.items() if k != "images_per_second"} for row in rows]


def test_compare_methods_runs_each_method_as_it_would_run_alone(fashion_train, fashion_test):
    """The supervised twin and FixMatch share the warm-up (trained once, then continued from a saved state), and each
    run is the run it would be alone, step for step."""
    test = eval_subset(fashion_test, 100)
    methods = [SemiMethod("supervised", TWIN), SemiMethod("FixMatch", FIXMATCH)]
    result = compare_methods(methods, fashion_train, test, labels_per_class=4, seeds=(0,),
                             progress=False)
    alone = compare_methods([SemiMethod("FixMatch", FIXMATCH)], fashion_train, test, labels_per_class=4, seeds=(0,),
                            progress=False).histories[("FixMatch", 0)]
    assert list(result.table.method) == ["supervised", "FixMatch"] and list(result.table.steps) == [16, 16]
    twin, semi = result.histories[("supervised", 0)], result.histories[("FixMatch", 0)]
    assert untimed(semi.rows) == untimed(alone.rows) and semi.labeled_loss == alone.labeled_loss
    assert semi.step == [4, 8, 12, 16] and semi.labeled_loss[:8] == twin.labeled_loss[:8]
    assert untimed(semi.rows[:2]) == untimed(twin.rows[:2])                     # the warm-up's evaluations
    assert all(math.isnan(v) for v in semi.mask_rate[:8]) and not math.isnan(semi.mask_rate[8])
    assert all(math.isnan(v) for v in twin.mask_rate)                           # λ = 0: every step supervised
    assert semi.probe_step == [12, 16] and semi.probe_confidence["mean"].shape == (2, 50)
    assert twin.probe_step == []                                                # probe_size 0: no probe
    assert result.metric("test_acc")["FixMatch"][0] == semi.final_test_acc
    pseudo = semi.pseudo_acc[8:]
    assert semi.pseudo_label_mean("pseudo_acc", 3) == pytest.approx(sum(pseudo[:3]) / 3)     # warm-up skipped
    assert semi.pseudo_label_mean("pseudo_acc", 2, end=True) == pytest.approx(sum(pseudo[-2:]) / 2)
    with pytest.raises(ValueError, match="no pseudo_acc"):
        twin.pseudo_label_mean("pseudo_acc", 3)


def test_compare_methods_refuses_bad_methods_before_training(fashion_train, fashion_test):
    with pytest.raises(ValueError, match="share a label"):
        compare_methods([SemiMethod("a", SHORT), SemiMethod("a", TWIN)], fashion_train, fashion_test, 4, (0,))
    with pytest.raises(ConfigError, match="'b': teacher='conv' needs a two-headed model"):
        compare_methods([SemiMethod("a", TWIN), SemiMethod("b", SHORT)], fashion_train, fashion_test, 4, (0,))


def test_chapter_four_figures_draw_from_histories(fashion_train, fashion_test):
    from semiformer_lib import viz
    test = eval_subset(fashion_test, 100)
    semiformer = with_overrides(SHORT, model="semiformer_tiny_wide_patch4", threshold=0.2)
    methods = [SemiMethod("supervised Semiformer", with_overrides(semiformer, unlabeled_weight=0, probe_size=0)),
               SemiMethod("Semiformer", semiformer)]
    result = compare_methods(methods, fashion_train, test, 4, (0,), progress=False)
    history = result.histories[("Semiformer", 0)]
    assert set(history.probe_confidence) == {"conv", "transformer", "mean", "ema"}
    curves = viz.plot_ssl_curves(result.histories)
    assert {line.get_label() for line in curves.axes[0].lines} >= {"supervised Semiformer", "Semiformer",
                                                                   "pseudo-labels start"}
    quality = viz.plot_pseudo_label_quality(result.histories, window=2)
    assert [line.get_label() for line in quality.axes[0].lines] == ["Semiformer"]      # warm-up: nothing to show
    teachers = viz.plot_teacher_quality(history, threshold=0.2)
    assert len(teachers.axes[0].lines) == 4 and list(teachers.axes[0].lines[0].get_xdata()) == [12, 16]
    table = threshold_tradeoff(history.probe_confidence["conv"][-1], history.probe_predicted["conv"][-1],
                               history.probe_labels, [0.0, 0.5, 0.9])
    assert len(viz.plot_threshold_tradeoff({"conv": table}, marked=0.5).axes) == 3
    rates = {"a": class_mask_rate(history.probe_confidence["conv"][-1], history.probe_labels, 0.2, 10)}
    assert len(viz.plot_class_mask_rate(rates, fashion_train.classes).axes[0].patches) == 10
    explorer = viz.threshold_explorer(history.probe_confidence["conv"][-1], history.probe_predicted["conv"][-1],
                                      history.probe_labels, fashion_train.classes)
    slider = explorer.children[0]
    assert slider.value == 0.7
    slider.value = 0.3                                   # redraws without error
    for figure in (curves, quality, teachers):           # drawn for the book's column, text at its size
        assert figure.get_size_inches()[0] <= viz.PAGE_WIDTH
