"""The training loop learns, is deterministic on CPU, and refuses bad settings before computing anything."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from semiformer_lib import ClaimFailed, check, claim, finding, get_profile
from semiformer_lib.models import create_model
from semiformer_lib.seeding import seed_everything
from semiformer_lib.train import (ConfigError, RunConfig, accuracy, confusion_matrix, eval_subset, fit,
                                  per_class_accuracy, train_on_split, warmup_cosine_factor, with_overrides)

# 100 steps: cnn_mini then reaches 54–60 % on these 500 test images over seeds 0–2 (49–50 % after 60 steps).
TINY = RunConfig(steps=100, batch_size=32, lr=2e-3, warmup_steps=5, eval_every=50, supervised_steps=0,
                 ema_decay=None, train_eval_size=2000)


def tiny_sets(train, test):
    labeled = train.subset(torch.arange(200))
    return labeled, eval_subset(test, 500)


def test_fit_learns_a_small_labeled_set(fashion_train, fashion_test):
    labeled, test = tiny_sets(fashion_train, fashion_test)
    seed_everything(0)
    model = create_model("cnn_mini")
    before = accuracy(model, test).item()
    history = fit(model, labeled, test, TINY, progress=False)
    assert history.step == [50, 100]
    assert history.final_test_acc > max(0.5, before + 0.25)        # chance is 0.1
    assert history.final_train_acc > history.final_test_acc
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.lr[-1] == pytest.approx(0.0, abs=1e-9)          # cosine decays to zero


def test_same_seed_gives_identical_metrics(fashion_train, fashion_test):
    labeled, test = tiny_sets(fashion_train, fashion_test)
    histories = []
    for seed in (1, 1, 2):
        seed_everything(seed)
        histories.append(fit(create_model("vit_mini_patch7"), labeled, test, with_overrides(TINY, seed=seed),
                             progress=False))
    assert histories[0].test_acc == histories[1].test_acc
    assert histories[0].train_loss == histories[1].train_loss
    assert histories[0].train_loss != histories[2].train_loss


def test_train_on_split_reports_a_run(fashion_train, fashion_test, isolated_cache):
    run = train_on_split("cnn_mini", fashion_train, eval_subset(fashion_test, 300), 4, seed=0,
                         config=with_overrides(TINY, steps=5, warmup_steps=1, eval_every=None), progress=False)
    record = run.record()
    assert record["labels_per_class"] == 4 and record["parameters"] > 0 and 0 <= record["test_acc"] <= 1
    assert run.history.step == [5] and run.model is None


@pytest.mark.parametrize("field,value", [("steps", 0), ("batch_size", 0), ("lr", 0.0), ("lr", -1e-3),
                                         ("weight_decay", -0.1), ("warmup_steps", 1000), ("eval_every", 0),
                                         ("label_smoothing", 1.0), ("ema_decay", 1.0), ("train_eval_size", -1)])
def test_bad_config_values_fail_early(field, value):
    with pytest.raises(ConfigError, match=f"'{field}'"):
        with_overrides(TINY, **{field: value})


def test_mismatched_sets_are_refused(fashion_train, fashion_test):
    cifar_like = fashion_test.subset(torch.arange(4))
    cifar_like.images = cifar_like.images.repeat(1, 3, 1, 1)
    with pytest.raises(ValueError, match="image shapes differ"):
        fit(create_model("cnn_mini"), fashion_train.subset(torch.arange(4)), cifar_like, TINY, progress=False)


def test_warmup_cosine_schedule():
    factors = [warmup_cosine_factor(step, 100, 10) for step in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[9:], factors[10:]))
    assert factors[55] == pytest.approx(0.5, abs=0.02)


def test_per_class_accuracy_and_confusion():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0], [1.0, 0.0]])
    labels = torch.tensor([0, 1, 1, 1])
    assert per_class_accuracy(logits, labels, 2).tolist() == pytest.approx([1.0, 1 / 3])
    assert confusion_matrix(logits, labels, 2).tolist() == [[1, 0], [2, 1]]


def test_profiles(monkeypatch):
    monkeypatch.setenv("SEMIFORMER_PROFILE", "cpu")
    profile = get_profile()
    assert profile.name == "cpu" and profile.device == "cpu" and profile.run.profile == "cpu"
    assert isinstance(profile.run, RunConfig) and profile.run.warmup_steps >= 1 and profile.run.ema_decay is None
    assert get_profile(vit="vit_mini_patch7").vit == "vit_mini_patch7"
    with pytest.raises(ValueError, match=r"run settings.*with_overrides\(profile.run, steps="):
        get_profile(steps=7)
    monkeypatch.setenv("SEMIFORMER_PROFILE", "tpu")
    with pytest.raises(ValueError, match="unknown profile 'tpu'"):
        get_profile()
    with pytest.raises(ValueError, match="unknown profile field"):
        get_profile("cpu", vitt="x")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="needs a CUDA device"):
            get_profile("gpu")


def test_the_budgets_table_reads_each_chapters_config():
    from semiformer_lib.profiles import budgets
    from semiformer_lib.train import config_path, load_config
    table = budgets("cpu")
    long = load_config(config_path("long/semiformer"))
    row = table.loc["4 · long comparison (committed artifacts)"]
    assert (row["steps"], row["labels-only steps"], row["unlabeled pool"]) == (long.steps, long.supervised_steps,
                                                                               60_000 - 10 * long.labels_per_class)
    assert row["passes over the labels"] == pytest.approx(long.steps * long.batch_size / 400, abs=0.05)
    live = table.loc["4 · live comparison"]
    assert live["labels-only steps"] < live["steps"] < row["steps"]
    assert table.loc["3 · fusion ablation", "steps"] == get_profile("cpu").fusion_ablation_steps
    assert (table.loc["1–2 · ViT and CNN on labels alone", ["unlabeled / step", "unlabeled pool"]] == 0).all()


def test_claims_say_their_kind_and_a_finding_shows_every_seed(capsys):
    check("a resumed run equals the uninterrupted one", True)
    finding("pseudo-labels lift the model over its twin (points)", {0: 2.14, 1: 0.4, 2: 1.66}, holds=True)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "\u2713 check: a resumed run equals the uninterrupted one"
    assert lines[1] == ("\u2713 finding: pseudo-labels lift the model over its twin (points) \u27e8seed 0 +2.1 · "
                        "seed 1 +0.4 · seed 2 +1.7 · mean +1.4, range +0.4 … +2.1\u27e9")
    with pytest.raises(ClaimFailed, match="\u2717 finding: it wins on every seed \u27e8seed 0 -1.00"):
        finding("it wins on every seed", {0: -1.0, 1: 2.0}, holds=False, fmt="{:+.2f}")
    with pytest.raises(ValueError, match="at least two seeds"):
        finding("one seed says so", {0: 3.0}, holds=True)
    finding("the conv head is not the best teacher (points)", {40: 0.17, 4: 0.55}, holds=True,
            key="{} labels/class")
    assert capsys.readouterr().out.endswith("\u27e840 labels/class +0.2 · 4 labels/class +0.6 · mean +0.4, "
                                            "range +0.2 … +0.6\u27e9\n")


def test_the_nbval_sanitizer_blanks_a_findings_values_and_keeps_its_verdict():
    import re

    from nbval.plugin import get_sanitize_patterns          # read as nbval reads it
    patterns = get_sanitize_patterns((Path(__file__).parent / "nbval_sanitize.cfg").read_text())
    line = "\u2713 finding: it wins \u27e8seed 0 +2.1 · seed 1 +0.4 · mean +1.3, range +0.4 … +2.1\u27e9"
    blank = []
    for text in (line, line.replace("+2.1", "+1.9")):     # the same claim on a machine that sums otherwise
        for regex, replace in patterns:
            text = re.sub(regex, replace, text)
        blank.append(text)
    assert blank[0] == blank[1] == "\u2713 finding: it wins FINDING-VALUES"


def test_claim_prints_check_or_raises(capsys):
    claim("two is more than one", 2 > 1)
    assert capsys.readouterr().out == "\u2713 two is more than one\n"
    with pytest.raises(ClaimFailed, match="\u2717 one is more than two — 1 vs 2"):
        claim("one is more than two", 1 > 2, detail="1 vs 2")


def test_every_profile_names_registered_models():
    from semiformer_lib.models import available_models
    from semiformer_lib.profiles import PLANS
    for name, plan in PLANS.items():
        assert {plan["vit"], plan["cnn"], plan["semiformer"], *plan["vit_variants"]} <= set(available_models()), name
        assert plan["vit"] not in plan["vit_variants"]


def test_final_metric_groups_runs_by_model_and_seed():
    from semiformer_lib.train import History, Run, final_metric
    def run(model, budget, seed, test_acc):
        row = {"step": 1, "lr": 0.0, "labeled_loss": 0.0, "model": {"summed": test_acc}, "train_acc": 1.0}
        return Run(model, budget, seed, History(rows=[row]), parameters=1)
    runs = [run("vit", 40, 0, 0.5), run("vit", 40, 1, 0.6), run("cnn", 40, 0, 0.7), run("vit", 10, 0, 0.3)]
    assert final_metric(runs, labels_per_class=40) == {"vit": {0: 0.5, 1: 0.6}, "cnn": {0: 0.7}}
    assert final_metric(runs, "train_acc", labels_per_class=10) == {"vit": {0: 1.0}}
    with pytest.raises(ValueError, match="metric"):
        final_metric(runs, "loss")


def test_two_headed_models_train_on_the_mean_of_their_heads_losses():
    from semiformer_lib.models.interface import HeadsModule
    from semiformer_lib.train import supervised_step

    def classification_loss(model, x, y):
        return supervised_step(HeadsModule(model), x, y, precision="fp32")
    torch.manual_seed(0)
    model = create_model("semiformer_mini_patch4")
    x, y = torch.randn(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    conv_logits, transformer_logits = model.forward_heads(x)
    expected = (torch.nn.functional.cross_entropy(conv_logits, y)
                + torch.nn.functional.cross_entropy(transformer_logits, y)) / 2
    assert torch.allclose(classification_loss(model, x, y), expected, atol=1e-5)
    vit = create_model("vit_mini_patch4")
    assert torch.allclose(classification_loss(vit, x, y), torch.nn.functional.cross_entropy(vit(x), y))


def test_model_specs_name_runs_and_pass_their_options(fashion_train, fashion_test):
    from semiformer_lib.train import ModelSpec, sweep
    config = with_overrides(TINY, steps=3, warmup_steps=1, eval_every=None)
    specs = [ModelSpec("no fusion", "semiformer_tiny_patch4", {"fusion": "none"}), "semiformer_tiny_patch4"]
    runs = sweep(specs, fashion_train, eval_subset(fashion_test, 100), [4], [0], config, keep_models=True,
                 progress=False)
    assert [r.model_name for r in runs] == ["no fusion", "semiformer_tiny_patch4"]
    assert runs[0].model.fusion == "none" and runs[1].model.fusion == "both"
    assert runs[0].parameters < runs[1].parameters
    with pytest.raises(ValueError, match="share a label"):
        sweep([ModelSpec("same", "cnn_mini"), ModelSpec("same", "vit_mini_patch4")], fashion_train, fashion_test,
              [4], [0], config, progress=False)


def test_a_parallel_sweep_trains_the_same_runs_as_one_at_a_time(fashion_train, fashion_test, tmp_path,
                                                                 monkeypatch):
    """Two worker processes, one thread each, give bit-identical runs, in order, with their models, to the same runs
    trained one after the other on one thread: a run depends on its seed and thread count only. The workers also
    fill a run cache, from which a one-thread sweep then loads the same runs without training."""
    from semiformer_lib.train import ModelSpec, experiments, sweep
    config = with_overrides(TINY, steps=4, warmup_steps=1, eval_every=2, threads=2)
    specs = ["vit_mini_patch4_relpos", ModelSpec("no fusion", "semiformer_tiny_patch4", {"fusion": "none"})]
    test = eval_subset(fashion_test, 100)
    parallel = sweep(specs, fashion_train, test, [4], [0, 1], config, keep_models=True, progress=False, workers=2,
                     cache=tmp_path)
    assert len(list(tmp_path.glob("*.run"))) == 4
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        serial = sweep(specs, fashion_train, test, [4], [0, 1], config, keep_models=True, progress=False)
        monkeypatch.setattr(experiments, "train_on_split", None)         # from here on, training would fail
        cached = sweep(specs, fashion_train, test, [4], [0, 1], config, keep_models=True, progress=False,
                       cache=tmp_path)
    finally:
        torch.set_num_threads(before)
    for p, c in zip(parallel, cached):
        assert p.history.rows == c.history.rows
        assert all(torch.equal(a, b) for a, b in zip(p.model.state_dict().values(), c.model.state_dict().values()))
    assert [(r.model_name, r.seed) for r in parallel] == [(r.model_name, r.seed) for r in serial] == [
        ("vit_mini_patch4_relpos", 0), ("no fusion", 0), ("vit_mini_patch4_relpos", 1), ("no fusion", 1)]
    timing = "images_per_second"
    for p, s in zip(parallel, serial):
        assert [{k: v for k, v in row.items() if k != timing} for row in p.history.rows] == \
               [{k: v for k, v in row.items() if k != timing} for row in s.history.rows]
        assert p.model.training == s.model.training and type(p.model) is type(s.model)
        for (name, value), expected in zip(p.model.state_dict().items(), s.model.state_dict().values()):
            assert torch.equal(value, expected), name
    assert parallel[1].model.fusion == "none"


def test_a_sweep_refuses_bad_models_and_worker_counts_before_training(fashion_train, fashion_test):
    from semiformer_lib.train import ModelSpec, sweep
    config = with_overrides(TINY, steps=3, warmup_steps=1, eval_every=None)
    for workers in (0, 1.5):
        with pytest.raises(ValueError, match="workers must be an integer"):
            sweep(["cnn_mini"], fashion_train, fashion_test, [4], [0], config, progress=False, workers=workers)
    # the second model is bad: nothing may train before that is found, so no run of the first comes back either
    with pytest.raises(ValueError, match="unknown model 'vit_huge_typo'"):
        sweep(["cnn_mini", "vit_huge_typo"], fashion_train, fashion_test, [4], [0], config, progress=False)
    with pytest.raises(TypeError, match="unexpected keyword argument 'fusoin'"):
        sweep([ModelSpec("typo", "semiformer_tiny_patch4", {"fusoin": "none"})], fashion_train, fashion_test, [4],
              [0], config, progress=False, workers=2)


def test_head_accuracies_agree_with_the_models_prediction(fashion_test):
    from semiformer_lib.train import head_accuracies
    torch.manual_seed(0)
    model = create_model("semiformer_tiny_patch4").train()
    test = eval_subset(fashion_test, 300)
    heads = head_accuracies(model, test, batch_size=128)       # several batches, a ragged last one
    assert set(heads) == {"conv", "transformer", "summed"}
    assert heads["summed"] == pytest.approx(accuracy(model, test).item())
    conv_only = (model.eval().forward_heads(to_inputs(test))[0].argmax(1) == test.labels).float().mean().item()
    assert heads["conv"] == pytest.approx(conv_only) and model.training is False
    with pytest.raises(TypeError, match="one head"):
        head_accuracies(create_model("cnn_mini"), test)


def to_inputs(dataset):
    from semiformer_lib.data import to_model_input
    return to_model_input(dataset.images, dataset.mean, dataset.std)


def test_a_sweep_never_runs_more_workers_than_its_threads(fashion_train, fashion_test, monkeypatch):
    """One granted thread (``$SEMIFORMER_THREADS=1``, as make test gives each chapter) means one run at a time in
    this process, whatever ``workers`` asks: no pool is started and every run trains; two threads start the pool."""
    from semiformer_lib.train import experiments, sweep

    def no_pool(*args, **kwargs):
        raise AssertionError("a worker pool was started with one thread granted")

    config = with_overrides(TINY, steps=3, warmup_steps=1, eval_every=None, threads=1)
    test = eval_subset(fashion_test, 50)
    monkeypatch.setattr(experiments, "ProcessPoolExecutor", no_pool)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runs = sweep(["cnn_mini"], fashion_train, test, [4], [0, 1], config, progress=False, workers=2)
    finally:
        torch.set_num_threads(before)
    assert [(r.model_name, r.seed) for r in runs] == [("cnn_mini", 0), ("cnn_mini", 1)]
    assert all(0.0 <= r.history.final_test_acc <= 1.0 for r in runs)
    with pytest.raises(AssertionError, match="worker pool was started"):      # two threads: the pool is used
        sweep(["cnn_mini"], fashion_train, test, [4], [0, 1], with_overrides(config, threads=2), progress=False,
              workers=2)
