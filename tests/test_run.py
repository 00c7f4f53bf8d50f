"""The full run's entry point: config validation, exact resume, checkpoint safety, the results artifact, DDP."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from semiformer_lib.runs.checkpoint import CheckpointError, list_checkpoints, load_checkpoint
from semiformer_lib.train.config import CONFIG_DIR, ConfigError, RunConfig, load_config, parse_overrides
from semiformer_lib.runs.results import read_results, results_table
from semiformer_lib.runs.run import RunError, main, train

TINY = dict(name="tiny", dataset="fashion-mnist", labels_per_class=4, model="semiformer_tiny_wide_patch4", steps=10,
            supervised_steps=4, warmup_steps=2, batch_size=8, unlabeled_ratio=1.0, unlabeled_size=400, eval_every=3,
            eval_size=100, final_eval_size=200, checkpoint_every=4, keep_checkpoints=2)


def tiny(tmp_path, **changes) -> RunConfig:
    return RunConfig(**{**TINY, "output_dir": str(tmp_path), **changes})


# ---- configuration ---------------------------------------------------------------------------------------------

def test_every_shipped_config_and_profile_validates():
    import yaml
    from semiformer_lib.runs import grid
    for path in sorted(CONFIG_DIR.rglob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        if "stages" in raw:                       # a grid plan: every run it asks for is a valid config
            plan = grid.read_plan(path)
            runs, _ = grid.plan_runs(plan)
            assert runs and all(load_config(plan.base, run.arguments()).name == run.name for run in runs), path
            continue
        profiles = sorted(raw.get("profiles") or {}) or [None]
        for profile in profiles:
            config = load_config(path, profile=profile)
            lengths = config.schedule(50_000)
            assert lengths["steps"] >= lengths["supervised_steps"] >= 0, path


def test_the_long_comparison_gives_every_method_the_same_budget_and_recipe():
    shared = ("dataset", "labels_per_class", "unlabeled_size", "steps", "supervised_steps", "warmup_steps",
              "batch_size", "unlabeled_ratio", "lr", "weight_decay", "ema_decay", "unlabeled_weight", "eval_every",
              "eval_size", "threads", "device", "output_dir")
    configs = {path.stem: load_config(path) for path in sorted((CONFIG_DIR / "long").glob("*.yaml"))}
    assert set(configs) == {"semiformer", "fixmatch_vit", "fixmatch_cnn"}
    recipes = {name: tuple(getattr(config, key) for key in shared) for name, config in configs.items()}
    assert len(set(recipes.values())) == 1, recipes
    assert configs["semiformer"].teacher == "conv" and configs["fixmatch_vit"].teacher == "mean"


def test_imagenet_configs_carry_the_paper_recipe():
    for name, epochs in (("imagenet_10pct", 300), ("imagenet_1pct", 600)):
        config = load_config(CONFIG_DIR / f"{name}.yaml")
        assert (config.model, config.image_size, config.lr, config.weight_decay) == (
            "semiformer_small_patch16", 224, 1e-3, 0.05)
        assert (config.batch_size, config.labeled_share, config.threshold, config.unlabeled_weight) == (
            108, 0.125, 0.7, 4.0)
        assert (config.epochs, config.supervised_epochs, config.warmup_epochs) == (epochs, 30, 5)
        assert (config.ema_decay, config.label_smoothing) == (0.99996, 0.1)     # the official script's defaults


@pytest.mark.parametrize("name, epochs, labeled", [("imagenet_10pct", 300, 128_116), ("imagenet_1pct", 600, 12_811)])
def test_imagenet_configs_split_the_batch_and_count_epochs_as_the_official_script(name, epochs, labeled):
    """--batch-size 108 --mu 0.125 on 8 GPUs: 108 labeled per GPU in the supervised epochs, then int(108 · 0.125)
    = 13 labeled + 95 unlabeled; an epoch is one pass of the labeled loader at the phase's batch."""
    config = load_config(CONFIG_DIR / f"{name}.yaml")
    assert config.labeled_per_step(pseudo_labeling=False) == 108
    assert (config.labeled_per_step(), config.unlabeled_per_step()) == (13, 95)
    supervised_epoch, semi_epoch = math.ceil(labeled / (8 * 108)), math.ceil(labeled / (8 * 13))
    lengths = config.schedule(labeled, world_size=8)
    assert lengths["steps_per_epoch"] == semi_epoch
    assert lengths["supervised_steps"] == 30 * supervised_epoch and lengths["warmup_steps"] == 5 * supervised_epoch
    assert lengths["steps"] == 30 * supervised_epoch + (epochs - 30) * semi_epoch


def test_without_a_share_an_epoch_is_a_pass_over_the_labeled_images_at_batch_b():
    config = RunConfig(steps=None, epochs=3, supervised_steps=None, supervised_epochs=1, warmup_steps=None,
                       warmup_epochs=0.5, batch_size=64, unlabeled_ratio=7)
    assert (config.labeled_per_step(), config.labeled_per_step(False), config.unlabeled_per_step()) == (64, 64, 448)
    assert config.schedule(4_000, world_size=2) == {"steps": 96, "supervised_steps": 32, "warmup_steps": 16,
                                                    "steps_per_epoch": 32}


@pytest.mark.parametrize("override, message", [
    ("labeled_share=1.5", r"'labeled_share' must be in \(0, 1\) or null"),
    ("labeled_share=0.001", r"'labeled_share' must be null, or a share of batch_size leaving at least one labeled"),
    ("unlabeled_ratio=7", r"'unlabeled_ratio' must be left at 1 when labeled_share is set"),
])
def test_a_batch_split_that_cannot_work_is_refused_before_any_compute(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(CONFIG_DIR / "imagenet_10pct.yaml", [override])


def test_unknown_key_is_named_with_a_suggestion(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("steps: 10\nthreshhold: 0.9\n")
    with pytest.raises(ConfigError, match=r"unknown config key 'threshhold' in .*c\.yaml — did you mean 'threshold'"):
        load_config(path)


@pytest.mark.parametrize("override, message", [
    ("threshold=1.5", r"'threshold' must be in \[0, 1\]; got 1.5"),
    ("teacher=teacherless", r"'teacher' must be one of"),
    ("batch_size=0", r"'batch_size' must be ≥ 1"),
    ("steps=ten", r"'steps' must be int or null; got 'ten'"),
    ("epochs=3", r"'steps' must be set, or epochs: exactly one"),
    ("supervised_steps=400", r"'supervised_steps' \(400\) must be ≤ steps"),
    ("label_percent=10", r"exactly one of the three"),
    ("compile=maybe", r"'compile' must be bool"),
    ("final_eval_size=0", r"'final_eval_size' must be ≥ 1 or null"),
    ("model=semiformer_tiny_wide_patch8", r"no registered model: 'semiformer_tiny_wide_patch8' — did you mean "
                                          r"'semiformer_tiny_wide_patch4'"),
])
def test_bad_values_are_refused_before_any_compute(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(CONFIG_DIR / "fashion_mnist_40.yaml", [override], profile="cpu")


@pytest.mark.parametrize("name", ["../x", "a/b", "..", ".", "", "/tmp/x", "run name", "~x"])
def test_a_run_name_is_one_folder_and_nothing_escapes_output_dir(tmp_path, capsys, name):
    output = tmp_path / "runs"
    code = main(["--config", str(CONFIG_DIR / "fashion_mnist_40.yaml"), "--profile", "cpu", "--restart",
                 f"name={name}", f"output_dir={output}"])
    assert code == 2 and "config key 'name' must be" in capsys.readouterr().err    # "name=" reads as null
    assert sorted(tmp_path.iterdir()) == []                         # nothing written, inside or out


def test_a_config_that_is_a_folder_is_named_as_one(capsys):
    assert main(["--config", str(CONFIG_DIR / "payoff")]) == 2
    assert "payoff is a folder; --config takes a YAML file in it" in capsys.readouterr().err


def test_overrides_and_profiles():
    config = load_config(CONFIG_DIR / "fashion_mnist_40.yaml", ["steps=150", "teacher=ema"], profile="cpu")
    assert (config.steps, config.teacher, config.profile) == (150, "ema", "cpu")
    with pytest.raises(ConfigError, match="profile 'tpu' is not in"):
        load_config(CONFIG_DIR / "fashion_mnist_40.yaml", profile="tpu")
    with pytest.raises(ConfigError, match="is not key=value"):
        parse_overrides(["steps"])
    with pytest.raises(ConfigError, match="config file .* not found"):
        load_config("no/such/config.yaml")


def test_the_command_line_reports_config_errors(capsys):
    assert main(["--config", str(CONFIG_DIR / "fashion_mnist_40.yaml"), "--profile", "cpu", "lr=2"]) == 2
    assert "'lr' must be in (0, 1); got 2" in capsys.readouterr().err


# ---- run, resume, checkpoints, artifact --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("whole")
    record = train(tiny(folder), progress=False)
    return folder, record


def test_the_run_writes_an_artifact_with_provenance(uninterrupted):
    folder, record = uninterrupted
    artifact = read_results(folder / "tiny" / "results.json")
    assert artifact["config"]["steps"] == 10 and artifact["schedule"]["supervised_steps"] == 4
    assert artifact["provenance"]["torch"] == torch.__version__ and artifact["provenance"]["device"].startswith("CPU")
    assert set(artifact["final"]["model"]) == {"conv", "transformer", "summed"}
    assert (artifact["data"]["test"], artifact["data"]["curve_test"]) == (200, 100)   # final_eval_size, eval_size
    assert [row["step"] for row in artifact["curves"]] == [3, 6, 9, 10]
    assert artifact["curves"][0]["mask_rate"] is None and artifact["curves"][-1]["mask_rate"] is not None
    lines = (folder / "tiny" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [3, 6, 9, 10]
    table = results_table({"cpu": artifact})
    assert table.loc["cpu", "summed %"] == pytest.approx(100 * artifact["final"]["model"]["summed"])
    # the key columns first (issue 30): what ran and its accuracies, then its cost and where it ran
    assert list(table.columns[:6]) == ["model", "steps", "conv %", "transformer %", "summed %", "EMA %"]
    assert list(table.columns[-3:]) == ["device", "processes", "commit"]
    without_ema = {**artifact, "final": {"model": artifact["final"]["model"]}}     # a run with ema_decay null
    assert "EMA %" not in results_table({"no ema": without_ema}).columns
    assert [p.name for p in list_checkpoints(folder / "tiny" / "checkpoints")] == ["step_000008.pt", "step_000010.pt"]


def test_an_earlier_run_is_never_overwritten(uninterrupted):
    folder, _ = uninterrupted
    with pytest.raises(RunError, match="holds an earlier run .*--resume.*--restart"):
        train(tiny(folder), progress=False)


def test_resume_refuses_another_config(tmp_path):
    train(tiny(tmp_path), progress=False, stop_after=4)
    with pytest.raises(CheckpointError, match=r"another config \(lr: 0.001 → 0.002\)"):
        train(tiny(tmp_path, lr=2e-3), resume=True, progress=False)


def test_a_corrupt_checkpoint_is_named_and_the_previous_one_kept(tmp_path):
    train(tiny(tmp_path), progress=False, stop_after=6)
    folder = tmp_path / "tiny" / "checkpoints"
    good, newest = list_checkpoints(folder)
    assert (good.name, newest.name) == ("step_000004.pt", "step_000006.pt")
    newest.write_bytes(newest.read_bytes()[:1000])                       # a write cut short by a crash
    with pytest.raises(CheckpointError, match=rf"{newest} is corrupt.*The newest older checkpoint, {good}, was "
                                              rf"loaded and checked and is intact: continue from it with "
                                              rf"--resume-from {good}"):
        train(tiny(tmp_path), resume=True, progress=False)
    assert good.is_file() and load_checkpoint(good)["step"] == 4
    record = train(tiny(tmp_path), resume=good, progress=False, stop_after=8)   # and the run goes on from it
    assert record["stopped_at"] == 8 and (folder / "step_000008.pt").is_file()


KILLED = """import os, signal, sys, torch
import semiformer_lib.runs.run as run
mode, step = sys.argv[1], int(sys.argv[2])
save_checkpoint, torch_save = run.save_checkpoint, torch.save

def killed_after(state, folder, keep):              # SIGKILL the moment checkpoint `step` is on disk
    path = save_checkpoint(state, folder, keep)
    if state["step"] == step:
        os.kill(os.getpid(), signal.SIGKILL)
    return path

def killed_during(record, path, *args, **kwargs):   # SIGKILL with checkpoint `step`'s .tmp half written
    torch_save(record, path, *args, **kwargs)
    if record.get("step") == step:
        os.truncate(path, os.path.getsize(path) // 2)
        os.kill(os.getpid(), signal.SIGKILL)

if mode == "after":
    run.save_checkpoint = killed_after
else:
    torch.save = killed_during
sys.exit(run.main(sys.argv[3:]))
"""


def _tensors(tree, prefix=""):
    """Every tensor in a nested checkpoint, by its path: ``{"model/blocks.0.weight": tensor, …}``."""
    if isinstance(tree, torch.Tensor):
        return {prefix: tree}
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, (list, tuple)) else ()
    return {path: t for key, value in items for path, t in _tensors(value, f"{prefix}/{key}").items()}


def test_a_run_killed_after_and_during_a_checkpoint_write_resumes_bit_for_bit(uninterrupted, tmp_path):
    """SIGKILLed mid-window (step 5 of the window 4-6) right after a checkpoint, then resumed and SIGKILLed halfway
    through writing its last checkpoint, then resumed to the end: the same tensors, accuracies and curves as the
    run that was never stopped (checkpoint_every changes where checkpoints fall, not what is computed)."""
    whole_folder, whole_record = uninterrupted
    config = tmp_path / "tiny.yaml"
    config.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in TINY.items()))
    cli = ["--config", str(config), "--no-progress", f"output_dir={tmp_path}", f"threads={torch.get_num_threads()}",
           "checkpoint_every=5"]
    folder = tmp_path / "tiny" / "checkpoints"

    def killed(mode: str, step: int, *extra: str) -> None:
        done = subprocess.run([sys.executable, "-c", KILLED, mode, str(step), *cli, *extra], capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == -9, done.stderr[-2000:]                  # died by SIGKILL, not by an error

    killed("after", 5)
    assert sorted(p.name for p in folder.iterdir()) == ["step_000005.pt"]
    killed("during", 10, "--resume")                                       # its lock is stale: resume takes it
    assert sorted(p.name for p in folder.iterdir()) == ["step_000005.pt", "step_000010.pt.tmp"]
    done = subprocess.run([sys.executable, "-m", "semiformer_lib.train", *cli, "--resume"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in folder.iterdir()) == ["step_000005.pt", "step_000010.pt"]
    whole = _tensors(load_checkpoint(whole_folder / "tiny" / "checkpoints" / "step_000010.pt"))
    killed_twice = _tensors(load_checkpoint(folder / "step_000010.pt"))
    assert whole.keys() == killed_twice.keys() and any(path.startswith("/optimizer") for path in whole)
    unequal = [path for path in whole                           # bit for bit; NaN (a step with no L_u) equals NaN
               if not torch.equal(whole[path].nan_to_num(nan=-7.0), killed_twice[path].nan_to_num(nan=-7.0))
               or not torch.equal(whole[path].isnan(), killed_twice[path].isnan())]
    assert not unequal, unequal[:5]
    resumed = read_results(tmp_path / "tiny" / "results.json")
    assert resumed["final"] == whole_record["final"]

    def untimed(curves):
        return [{k: v for k, v in row.items() if k != "images_per_second"} for row in curves]
    assert untimed(resumed["curves"]) == untimed(whole_record["curves"])


def test_nothing_to_resume_is_an_error(tmp_path):
    with pytest.raises(CheckpointError, match="nothing to resume"):
        train(tiny(tmp_path), resume=True, progress=False)


# ---- DDP ---------------------------------------------------------------------------------------------------------

def _torchrun(tmp_path, processes: int, batch_size: int) -> dict:
    config = tmp_path / "ddp.yaml"
    config.write_text("\n".join(f"{k}: {json.dumps(v)}" for k, v in {**TINY, "model": "vit_mini_patch4",
                                                                      "teacher": "mean", "steps": 8}.items()))
    folder = tmp_path / f"p{processes}"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
               "-m", "semiformer_lib.train", "--config", str(config), "--no-progress",
               f"output_dir={folder}", f"batch_size={batch_size}"]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)
    assert done.returncode == 0, done.stderr[-3000:]
    return {"results": read_results(folder / "tiny" / "results.json"),
            "model": load_checkpoint(folder / "tiny" / "checkpoints" / "step_000008.pt")["model"]}


def test_two_gloo_processes_match_one_on_the_same_global_batch(tmp_path):
    one, two = _torchrun(tmp_path, 1, 8), _torchrun(tmp_path, 2, 4)
    assert two["results"]["provenance"]["processes"] == 2
    # Tolerance: 8 AdamW steps of lr ≤ 1e-3 move a weight by up to 8e-3; the two runs differ only in the order
    # of floating-point sums (all-reduce of two half-batch gradients vs one batch), measured ≤ 1e-4.
    worst = max((one["model"][k] - two["model"][k]).abs().max().item() for k in one["model"])
    assert worst < 5e-4
    for a, b in zip(one["results"]["curves"], two["results"]["curves"]):
        assert a["labeled_loss"] == pytest.approx(b["labeled_loss"], rel=1e-4)
        assert a["model"]["summed"] == pytest.approx(b["model"]["summed"], abs=0.011)   # ≤ 1 of 100 images


def _ddp(config: Path, folder: Path, *extra: str) -> None:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
               "semiformer_lib.train", "--config", str(config), "--no-progress", f"output_dir={folder}",
               "batch_size=4", *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]


def test_a_two_process_run_resumes_each_rank_with_its_own_generators(tmp_path):
    """Issue 29: a checkpoint keeps each rank's batch sources and generators (``ranks``), and each rank resumes with
    its own. Resident sources draw one global batch from generators seeded alike and keep distinct rows of it (the
    ranks' strong views differ, their generators agree); streamed ones (ImageNet) give each rank its own strong-view
    generator, which before this fix every rank replaced with rank 0's on resume. A run stopped at step 4 (the
    warm-up's end) and resumed on two processes ends exactly as the uninterrupted one."""
    config = tmp_path / "ddp.yaml"
    config.write_text("\n".join(f"{k}: {json.dumps(v)}" for k, v in {**TINY, "model": "vit_mini_patch4",
                                                                      "teacher": "mean", "steps": 8}.items()))
    _ddp(config, tmp_path / "whole")
    _ddp(config, tmp_path / "parts", "--stop-after", "4")
    saved = load_checkpoint(tmp_path / "parts" / "tiny" / "checkpoints" / "step_000004.pt")
    assert len(saved["ranks"]) == 2 and all(set(rank) == {"sources", "rng"} for rank in saved["ranks"])
    _ddp(config, tmp_path / "parts", "--resume")
    whole, parts = (read_results(tmp_path / run / "tiny" / "results.json") for run in ("whole", "parts"))
    assert parts["final"] == whole["final"]
    assert [row["unlabeled_loss"] for row in parts["curves"]] == [row["unlabeled_loss"] for row in whole["curves"]]
    models = [load_checkpoint(tmp_path / run / "tiny" / "checkpoints" / "step_000008.pt")["model"]
              for run in ("whole", "parts")]
    assert all(torch.equal(models[0][key], models[1][key]) for key in models[0])


def test_a_labeled_share_draws_the_whole_batch_labeled_then_splits_it(fashion_train, fashion_test):
    """labeled_share (the official --mu): B labeled images a step in the supervised phase, then int(B·share)
    labeled and the rest unlabeled, on the one loop every run goes through."""
    from semiformer_lib.models import create_model
    from semiformer_lib.train import eval_subset
    from semiformer_lib.train.fit import new_state, run_data
    from semiformer_lib.train.loop import train_loop
    config = RunConfig(steps=6, supervised_steps=3, warmup_steps=1, batch_size=16, labeled_share=0.25,
                       teacher="mean", threshold=0.0, eval_every=None, ema_decay=None)
    labeled, unlabeled = fashion_train.subset(torch.arange(40)), fashion_train.subset(torch.arange(40, 140))
    state = new_state(create_model("cnn_mini", img_size=28, in_chans=1, num_classes=10),
                      config, run_data(labeled, eval_subset(fashion_test, 20), config, unlabeled))
    drawn = []
    for name in ("labeled", "unlabeled"):
        source = getattr(state.data, name)
        source.next_batch = (lambda draw, name: lambda: drawn.append((name, len((b := draw()).labels))) or b)(
            source.next_batch, name)
    train_loop(state, progress=False)
    assert drawn == [("labeled", 16)] * 3 + [("labeled", 4), ("unlabeled", 12)] * 3
    assert state.images_seen == 6 * 16


def test_a_two_process_streamed_run_splits_its_batch_and_resumes_each_rank_exactly(tmp_path):
    """Issue 29, the ImageNet path on two processes: a file dataset read by StreamedSource, the official batch
    split (labeled_share), each rank its own strong-view generator. Stopped at the warm-up's end and resumed, it
    ends exactly as the uninterrupted run; the checkpoints hold each rank's own generator and batch size."""
    from test_more_datasets import write_image_tree
    write_image_tree(tmp_path / "images", classes=3, per_class=24, size=20)
    config = tmp_path / "streamed.yaml"
    settings = {**TINY, "dataset": "imagenet", "data_root": str(tmp_path / "images"), "labels_per_class": None,
                "label_percent": 50, "image_size": 16, "unlabeled_size": None, "model": "vit_mini_patch4",
                "teacher": "mean", "threshold": 0.0, "steps": 8, "labeled_share": 0.25, "workers": 0,
                "eval_every": 4, "eval_size": 6, "final_eval_size": None, "checkpoint_every": 4}
    config.write_text("\n".join(f"{k}: {json.dumps(v)}" for k, v in settings.items()))
    _ddp(config, tmp_path / "whole")                                       # batch_size=4: 4 labeled, then 1 + 3
    _ddp(config, tmp_path / "parts", "--stop-after", "4")
    _ddp(config, tmp_path / "parts", "--resume")
    whole, parts = (read_results(tmp_path / run / "tiny" / "results.json") for run in ("whole", "parts"))
    assert parts["final"] == whole["final"]
    assert [row["unlabeled_loss"] for row in parts["curves"]] == [row["unlabeled_loss"] for row in whole["curves"]]
    checkpoints = {step: load_checkpoint(tmp_path / "parts" / "tiny" / "checkpoints" / f"step_00000{step}.pt")
                   for step in (4, 8)}
    for step, labeled_batch in ((4, 4), (8, 1)):
        ranks = checkpoints[step]["ranks"]
        assert [rank["sources"]["labeled"]["batch_size"] for rank in ranks] == [labeled_batch, labeled_batch]
        strong = [rank["sources"]["unlabeled"]["generator"] for rank in ranks]
        assert not torch.equal(strong[0], strong[1])                      # each rank its own strong views
    whole_model = load_checkpoint(tmp_path / "whole" / "tiny" / "checkpoints" / "step_000008.pt")["model"]
    assert all(torch.equal(whole_model[key], checkpoints[8]["model"][key]) for key in whole_model)


def test_resident_images_are_resized_once_when_image_size_is_set(fashion_test):
    from semiformer_lib.data.run_data import resized as _resize
    small = fashion_test.subset(torch.arange(5))
    resized = _resize(small, 32)
    assert resized.images.shape == (5, 1, 32, 32) and resized.images.dtype == torch.uint8
    assert torch.equal(resized.labels, small.labels)
    assert _resize(small, 28) is small                                  # native size: nothing to do


def test_the_throughput_benchmark_times_the_library_step():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import throughput
    from semiformer_lib.models import count_macs, create_model
    work = throughput.workloads(torch.device("cpu"))[1]
    work = {**work, "labeled": 4, "unlabeled": 4}
    for optimized in (False, True):
        result = throughput.measure(work, optimized, torch.device("cpu"), steps=1, compile_model=False)
        assert result["seconds"] > 0 and result["images_per_second"] == pytest.approx(8 / result["seconds"])
    macs = count_macs(create_model(work["model"], img_size=28, in_chans=1, num_classes=10), (1, 1, 28, 28))
    assert result["flops_per_step"] == 2 * macs * (3 * 8 + 4)


def test_the_machine_can_set_the_threads_of_every_run_below_an_explicit_override(monkeypatch):
    path = CONFIG_DIR / "book.yaml"
    assert load_config(path, profile="cpu").threads == 2                          # the config file's
    monkeypatch.setenv("SEMIFORMER_THREADS", "1")                                # make test: two chapters at a time
    assert load_config(path, profile="cpu").threads == 1
    assert load_config(path, ["threads=3"], profile="cpu").threads == 3          # an explicit override still wins
    monkeypatch.setenv("SEMIFORMER_THREADS", "two")
    with pytest.raises(ConfigError, match=r"\$SEMIFORMER_THREADS must be a whole number ≥ 1"):
        load_config(path, profile="cpu")


def test_channels_last_on_the_cpu_is_opt_in_and_trains_the_same_run(tmp_path):
    from semiformer_lib.train import distributed
    from semiformer_lib.train.loop import train_loop
    from semiformer_lib.runs.run import state_from_config
    process = distributed.setup("cpu")
    states = {}
    for nhwc in (False, True):
        config = tiny(tmp_path, model="semiformer_cnn_mini", channels_last_cpu=nhwc, steps=6, eval_every=6)
        assert config.uses_channels_last(torch.device("cpu")) is nhwc
        assert config.uses_channels_last(torch.device("cuda"))               # CUDA: channels_last alone decides
        states[nhwc] = train_loop(state_from_config(config, process), progress=False)
        weight = states[nhwc].model.cnn.stages[1][0].conv1.weight            # [32, 16, 3, 3]
        assert weight.is_contiguous(memory_format=torch.channels_last) is nhwc and states[nhwc].channels_last is nhwc
    plain, nhwc = (states[key].metrics[-1] for key in (False, True))
    assert nhwc["labeled_loss"] == pytest.approx(plain["labeled_loss"], abs=1e-4)   # the same run, other kernels


def test_every_shipped_config_says_what_accuracy_to_expect_and_where_its_lambda_comes_from():
    """Issue 29 item 5: a practitioner opening a config reads what to expect (the paper's number, the book's
    measurement, or "not yet measured"), and λ is never left unexplained."""
    from semiformer_lib.train.config import CONFIG_DIR, shipped_configs
    for name, config in shipped_configs().items():
        comments = "\n".join(line for line in (CONFIG_DIR / f"{name}.yaml").read_text().splitlines()
                             if line.lstrip().startswith("#"))
        assert "Expected accuracy:" in comments, f"{name}.yaml does not say what accuracy to expect"
        assert "λ" in comments or "lambda" in comments, f"{name}.yaml does not say where its λ comes from"
        if config.dataset in ("cifar10", "cifar100", "stl10"):
            assert config.unlabeled_weight == 1.0 and "FixMatch's lambda_u" in comments
