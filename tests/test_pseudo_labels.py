"""Pseudo-label quality (quantity vs quality over τ), the teacher probe, and comparisons with shared warm-ups."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from semiformer_lib.analysis import class_mask_rate, threshold_tradeoff
from semiformer_lib.models import create_model
from semiformer_lib.ssl import ema_model, teacher_predictions
from semiformer_lib.train import SemiConfig, SemiMethod, compare_methods, eval_subset, head_accuracies


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
    assert set(verdicts) == {"conv", "transformer", "fused", "ema"} and model.training     # mode restored
    accuracies = head_accuracies(model, images)
    for teacher, head in (("conv", "conv"), ("transformer", "transformer"), ("fused", "summed")):
        confidence, predicted = verdicts[teacher]
        assert confidence.shape == (300,) and ((0.1 - 1e-6 <= confidence) & (confidence <= 1)).all()
        assert (predicted == images.labels).float().mean().item() == pytest.approx(accuracies[head], abs=1e-6)
    single = teacher_predictions(create_model("cnn_mini"), images)
    assert set(single) == {"fused"}


SHORT = SemiConfig(steps=8, batch_size=16, unlabeled_ratio=1, warmup_steps=1, eval_every=4, probe_size=50)


def test_compare_methods_shares_the_warm_up(fashion_train, fashion_test):
    test = eval_subset(fashion_test, 100)
    methods = [SemiMethod("warm-up", "cnn_mini", SHORT, uses_unlabeled=False),
               SemiMethod("supervised", "cnn_mini", SHORT, uses_unlabeled=False, warm_start="warm-up"),
               SemiMethod("FixMatch", "cnn_mini", dataclasses.replace(SHORT, teacher="fused"), warm_start="warm-up")]
    result = compare_methods(methods, fashion_train, test, labels_per_class=4, seeds=(0,), unlabeled_size=200,
                             progress=False)
    assert list(result.table.method) == ["warm-up", "supervised", "FixMatch"]
    assert list(result.table.steps) == [8, 16, 16]
    warm, semi = result.histories[("warm-up", 0)], result.histories[("FixMatch", 0)]
    assert semi.step == [4, 8, 12, 16] and semi.labeled_loss[:8] == warm.labeled_loss
    assert all(math.isnan(v) for v in semi.mask_rate[:8]) and not math.isnan(semi.mask_rate[8])
    assert semi.probe_step == [12, 16] and semi.probe_confidence["fused"].shape == (2, 50)
    assert result.histories[("supervised", 0)].probe_step == []                # no unlabeled set, no probe
    assert result.metric("test_acc")["FixMatch"][0] == semi.final_test_acc
    pseudo = semi.pseudo_acc[8:]
    assert semi.pseudo_label_mean("pseudo_acc", 3) == pytest.approx(sum(pseudo[:3]) / 3)     # warm-up skipped
    assert semi.pseudo_label_mean("pseudo_acc", 2, end=True) == pytest.approx(sum(pseudo[-2:]) / 2)
    with pytest.raises(ValueError, match="no pseudo_acc"):
        warm.pseudo_label_mean("pseudo_acc", 3)
    supervised = result.histories[("supervised", 0)]
    assert supervised.labeled_loss[8] < warm.labeled_loss[0] - 0.1          # starts from the trained weights


def test_compare_methods_refuses_bad_chains(fashion_train, fashion_test):
    base = SemiMethod("a", "cnn_mini", SHORT, uses_unlabeled=False)
    with pytest.raises(ValueError, match="not a method listed before"):
        compare_methods([SemiMethod("b", "cnn_mini", SHORT, warm_start="a"), base], fashion_train, fashion_test,
                        4, (0,))
    with pytest.raises(ValueError, match="models differ"):
        compare_methods([base, SemiMethod("b", "vit_mini_patch4", SHORT, warm_start="a")], fashion_train,
                        fashion_test, 4, (0,))
    with pytest.raises(ValueError, match="share a label"):
        compare_methods([base, base], fashion_train, fashion_test, 4, (0,))


def test_a_continued_schedule_picks_up_where_the_first_run_stopped():
    from semiformer_lib.train import warmup_cosine
    def rates(total, warmup, start, steps):
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        schedule, out = warmup_cosine(optimizer, total, warmup, start=start), []
        for _ in range(steps):
            out.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            schedule.step()
        return out
    whole = rates(20, 4, 0, 20)
    assert rates(20, 4, 0, 12) + rates(20, 4, 12, 8) == pytest.approx(whole)
    with pytest.raises(ValueError, match="start"):
        rates(20, 4, 20, 1)
    with pytest.raises(ValueError, match="schedule_steps"):
        SemiConfig(steps=10, warmup_steps=1, schedule_start=5, schedule_steps=12)


def test_chapter_four_figures_draw_from_histories(fashion_train, fashion_test):
    from semiformer_lib import viz
    test = eval_subset(fashion_test, 100)
    methods = [SemiMethod("warm-up Semiformer", "semiformer_tiny_wide_patch4", SHORT, uses_unlabeled=False),
               SemiMethod("Semiformer", "semiformer_tiny_wide_patch4", dataclasses.replace(SHORT, threshold=0.2),
                          warm_start="warm-up Semiformer")]
    result = compare_methods(methods, fashion_train, test, 4, (0,), unlabeled_size=200, progress=False)
    history = result.histories[("Semiformer", 0)]
    assert set(history.probe_confidence) == {"conv", "transformer", "fused", "ema"}
    curves = viz.plot_ssl_curves(result.histories)
    assert {line.get_label() for line in curves.axes[0].lines} >= {"warm-up Semiformer", "Semiformer",
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
