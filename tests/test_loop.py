"""The one training loop: the chapters' path and the CLI's compute the same run; the run's state saves and restores
itself whole; supervised training is the same loop; the optimizer and teacher follow the official recipe."""
from __future__ import annotations

import copy

import pytest
import torch

from semiformer_lib.models import create_model
from semiformer_lib.seeding import seed_everything
from semiformer_lib.ssl.objective import teacher_logits
from semiformer_lib.train import (History, RunConfig, SemiMethod, build_optimizer, compare_methods, eval_subset, fit,
                                  new_state, train_loop, with_overrides)
from semiformer_lib.train.fit import run_data
from semiformer_lib.runs.run import train

SMALL = RunConfig(name="small", model="semiformer_tiny_patch4", labels_per_class=4, steps=12, supervised_steps=5,
                  warmup_steps=2, batch_size=8, unlabeled_ratio=2.0, unlabeled_size=300, eval_every=4,
                  threshold=0.3, unlabeled_weight=1.0, eval_size=500, checkpoint_every=100)


def test_chapter_four_path_and_the_cli_give_identical_metrics(fashion_train, fashion_test, tmp_path):
    """One config run through compare_methods (chapter 4) and through train() (python -m semiformer_lib.train):
    the same split, pool, batches, steps and evaluations (the first 500 test images), so every metric row is
    identical on CPU."""
    chapter = compare_methods([SemiMethod("Semiformer", SMALL)], fashion_train, fashion_test, labels_per_class=4,
                              seeds=(0,), progress=False).histories[("Semiformer", 0)]
    cli = train(with_overrides(SMALL, output_dir=str(tmp_path)), progress=False)
    timing = "images_per_second"
    assert [{k: v for k, v in row.items() if k != timing} for row in chapter.rows] == \
        [{k: v for k, v in row.items() if k != timing} for row in cli["curves"]]
    assert chapter.rows[-1]["mask_rate"] is not None and chapter.step == [4, 8, 12]


def sets(train, test):
    labeled = train.subset(torch.arange(0, 60000, 600))                         # 100 images
    return labeled, train.subset(torch.arange(1, 60000, 200)), eval_subset(test, 200)


def test_a_state_saved_mid_run_and_loaded_into_a_fresh_one_continues_the_same_run(fashion_train, fashion_test):
    labeled, unlabeled, test = sets(fashion_train, fashion_test)
    config = with_overrides(SMALL, model="vit_mini_patch4", teacher="ema", threshold=0.0)

    def fresh():
        seed_everything(0)
        return new_state(create_model("vit_mini_patch4"), config, run_data(labeled, test, config, unlabeled))
    whole, whole_history = fresh(), History()
    train_loop(whole, (whole_history,), progress=False)
    first, split_history = fresh(), History()
    train_loop(first, (split_history,), until=7, progress=False)                # mid-window, after the warm-up
    saved = copy.deepcopy(first.state_dict())
    second = fresh()
    second.load_state_dict(saved)
    train_loop(second, (split_history,), progress=False)
    timing = "images_per_second"
    assert [{k: v for k, v in r.items() if k != timing} for r in whole.metrics] == \
        [{k: v for k, v in r.items() if k != timing} for r in second.metrics]
    assert all(torch.equal(a, b) for a, b in zip(whole.model.state_dict().values(),
                                                 second.model.state_dict().values()))


def test_supervised_training_is_the_same_loop_with_lambda_zero_or_no_unlabeled_set(fashion_train, fashion_test):
    labeled, unlabeled, test = sets(fashion_train, fashion_test)
    config = with_overrides(SMALL, model="cnn_mini", teacher="mean", unlabeled_weight=0.0)
    runs = []
    for pool in (None, unlabeled):
        seed_everything(0)
        runs.append(fit(create_model("cnn_mini"), labeled, test, config, unlabeled=pool, progress=False))
    assert runs[0].rows == [{**row, "images_per_second": runs[0].rows[k]["images_per_second"]}
                            for k, row in enumerate(runs[1].rows)]
    assert all(v != v for v in runs[1].mask_rate)                              # never a pseudo-labeling step


def test_norms_biases_and_tokens_are_not_decayed():
    for name, exempt in (("vit_mini_patch4", {"cls_token", "pos_embed"}), ("semiformer_tiny_patch4", {"cls_token"})):
        model = create_model(name)
        optimizer = build_optimizer(model, lr=1e-3, weight_decay=0.05)
        decay_of = {id(p): group["weight_decay"] for group in optimizer.param_groups for p in group["params"]}
        for parameter_name, parameter in model.named_parameters():
            undecayed = parameter.ndim <= 1 or parameter_name.endswith(".bias") or parameter_name in exempt
            assert decay_of[id(parameter)] == (0.0 if undecayed else 0.05), (name, parameter_name)
        assert exempt <= {n for n, _ in model.named_parameters()}


def test_the_two_headed_teacher_averages_the_heads_logits():
    conv, transformer = torch.tensor([[2.0, 0.0]]), torch.tensor([[1.0, 1.0]])
    assert torch.equal(teacher_logits((conv, transformer), "mean"), torch.tensor([[1.5, 0.5]]))
    assert torch.equal(teacher_logits((conv,), "mean"), conv)                   # one head: its own logits
    with pytest.raises(ValueError, match="teacher must be one of"):
        teacher_logits((conv, transformer), "fused")
