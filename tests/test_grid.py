"""The tuning grid (runs.grid): one rule for every method — the same knobs, names that say what differs, the best
grid point chosen from artifacts, dirty trees refused, and a real two-run grid through the CLI."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from semiformer_lib.runs import grid
from semiformer_lib.train.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]
PAYOFF = ROOT / "semiformer_lib" / "configs" / "payoff" / "plan.yaml"


def write_plan(folder: Path, **changes) -> Path:
    plan = {"base": str(PAYOFF.parent / "base.yaml"), "results": str(folder / "results"),
            "methods": {"pair": {"model": "semiformer_cnn_mini", "teachers": ["conv", "ema"]},
                        "fixmatch_cnn": {"model": "cnn_mini", "teachers": ["mean"]}},
            "thresholds": [0.7, 0.95],
            "stages": [{"name": "screen", "labels_per_class": [40], "seeds": [0]},
                       {"name": "confirm", "labels_per_class": [40], "seeds": [1, 2], "best_of": "screen"}]}
    plan.update(changes)
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return path


def fake_artifact(results: Path, name: str, summed: float) -> None:
    (results / name).mkdir(parents=True)
    (results / name / "results.json").write_text(json.dumps({"final": {"model": {"summed": summed}}}))


def test_every_method_gets_the_same_grid_and_a_twin(tmp_path):
    plan = grid.read_plan(write_plan(tmp_path))
    runs, waiting = grid.plan_runs(plan)
    names = [run.name for run in runs]
    assert names == ["pair_conv_t0.7_l40_s0", "fixmatch_cnn_mean_t0.7_l40_s0", "pair_twin_l40_s0",
                     "fixmatch_cnn_twin_l40_s0", "pair_ema_t0.7_l40_s0", "fixmatch_cnn_mean_t0.95_l40_s0",
                     "pair_conv_t0.95_l40_s0", "pair_ema_t0.95_l40_s0"]
    assert waiting == ["confirm: pair waits for stage 'screen' to finish",
                       "confirm: fixmatch_cnn waits for stage 'screen' to finish"]
    by_name = {run.name: run for run in runs}
    assert by_name["pair_twin_l40_s0"].overrides["unlabeled_weight"] == 0.0
    assert by_name["pair_ema_t0.95_l40_s0"].overrides == {
        "model": "semiformer_cnn_mini", "labels_per_class": 40, "seed": 0, "split_seed": 0, "teacher": "ema",
        "threshold": 0.95, "unlabeled_weight": 1.0, "name": "pair_ema_t0.95_l40_s0"}
    for run in runs:                                  # every run is a valid config of the one recipe
        config = load_config(plan.base, run.arguments())
        assert (config.steps, config.batch_size, config.lr, config.name) == (2000, 64, 1e-3, run.name)


def test_the_confirm_stage_takes_each_methods_best_screened_point(tmp_path):
    plan = grid.read_plan(write_plan(tmp_path))
    results = tmp_path / "results"
    for name, summed in [("pair_conv_t0.7_l40_s0", 0.80), ("pair_ema_t0.7_l40_s0", 0.83),
                         ("pair_conv_t0.95_l40_s0", 0.79), ("fixmatch_cnn_mean_t0.7_l40_s0", 0.81),
                         ("fixmatch_cnn_mean_t0.95_l40_s0", 0.81)]:
        fake_artifact(results, name, summed)
    _, waiting = grid.plan_runs(plan)
    assert waiting == ["confirm: pair waits for stage 'screen' to finish"]   # pair_ema_t0.95 has not run
    fake_artifact(results, "pair_ema_t0.95_l40_s0", 0.70)
    runs, waiting = grid.plan_runs(plan)
    confirm = [run.name for run in runs if run.stage == "confirm"]
    assert waiting == [] and confirm == [
        "pair_ema_t0.7_l40_s1", "fixmatch_cnn_mean_t0.7_l40_s1", "pair_twin_l40_s1", "fixmatch_cnn_twin_l40_s1",
        "pair_ema_t0.7_l40_s2", "fixmatch_cnn_mean_t0.7_l40_s2", "pair_twin_l40_s2", "fixmatch_cnn_twin_l40_s2"]
    # a tie goes to the first point in grid order (τ 0.7 before 0.95), not to whichever finished last


def test_a_method_pinned_to_a_chosen_point_runs_only_that_point_beside_the_others_grid(tmp_path):
    plan = grid.read_plan(write_plan(tmp_path, methods={
        "pair": {"model": "semiformer_cnn_mini", "teachers": ["ema"], "thresholds": [0.95]},
        "fixmatch_cnn": {"model": "cnn_mini", "teachers": ["mean"]}},
        stages=[{"name": "longer", "labels_per_class": [4], "seeds": [0]}]))
    runs, _ = grid.plan_runs(plan)
    assert [run.name for run in runs] == ["pair_ema_t0.95_l4_s0", "fixmatch_cnn_mean_t0.7_l4_s0", "pair_twin_l4_s0",
                                          "fixmatch_cnn_twin_l4_s0", "fixmatch_cnn_mean_t0.95_l4_s0"]
    assert {run.name: run.overrides["threshold"] for run in runs}["pair_twin_l4_s0"] == 0.95   # its one point
    longer = grid.read_plan(write_plan(tmp_path, overrides={"steps": 5000, "output_dir": "runs/longer"}))
    config = load_config(longer.base, grid.plan_runs(longer)[0][0].arguments())     # shared by every run
    assert (config.steps, config.output_dir, config.seed, config.name) == (5000, "runs/longer", 0,
                                                                           "pair_conv_t0.7_l40_s0")


@pytest.mark.parametrize("plan_file,folder", [("plan.yaml", "payoff"), ("plan_few.yaml", "payoff_few"),
                                              ("plan_5k.yaml", "payoff_5k")])
def test_each_committed_plan_lists_exactly_the_artifacts_of_its_folder(plan_file, folder):
    """What chapter 5 reads is what its plan asks for: no run missing, none from elsewhere (the best_of stages
    resolved from the committed artifacts themselves), and each run's config, as the plan builds it today, is the
    one its artifact recorded, key for key."""
    plan = grid.read_plan(PAYOFF.parent / plan_file)
    assert plan.results == Path("book/results") / folder
    runs, waiting = grid.plan_runs(plan, ROOT / plan.results)
    committed = {path.parent.name for path in (ROOT / plan.results).glob("*/results.json")}
    assert waiting == [] and {run.name for run in runs} == committed
    defaults = dataclasses.asdict(load_config())
    for run in runs:
        recorded = json.loads((ROOT / plan.results / run.name / "results.json").read_text())["config"]
        built = dataclasses.asdict(load_config(plan.base, run.arguments()))
        assert {key: built[key] for key in recorded} == recorded, run.name
        assert all(built[key] == defaults[key] for key in set(built) - set(recorded)), run.name  # keys added later


@pytest.mark.parametrize("changes,message", [
    ({"methods": {"pair": {"model": "cnn_mini", "teachers": ["mean"], "thresholds": [0.8]}}},
     r"pins thresholds \[0.8\], which must be some of the plan's \[0.7, 0.95\]"),
    ({"methods": {"pair": {"model": "cnn_mini", "teachers": ["mean"], "thresholds": []}}}, "pins thresholds"),
    ({"overrides": {"steps": 5000, "seed": 3}}, "its overrides set seed, which each run sets itself"),
    ({"stages": [{"name": "confirm", "labels_per_class": [40], "seeds": [1], "best_of": "screen"}]},
     "not an earlier stage"),
    ({"methods": {"pair_twin": {"model": "cnn_mini", "teachers": ["mean"]}}}, "no '_twin'"),
    ({"methods": {"pair": {"model": "cnn_mini"}}}, "needs a model and teachers"),
    ({"stages": [{"name": "screen", "methods": ["nope"], "labels_per_class": [40], "seeds": [0]}]},
     "names no method 'nope'"),
])
def test_a_bad_plan_is_refused_with_its_reason(tmp_path, changes, message):
    with pytest.raises(ConfigError, match=message):
        grid.plan_runs(grid.read_plan(write_plan(tmp_path, **changes)))


def test_a_plan_without_its_keys_or_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        grid.read_plan(tmp_path / "missing.yaml")
    (tmp_path / "empty.yaml").write_text("base: x.yaml\n")
    with pytest.raises(ConfigError, match="lacks results, methods, thresholds, stages"):
        grid.read_plan(tmp_path / "empty.yaml")


def test_artifacts_from_a_dirty_tree_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(grid, "git_commit", lambda: ("abc", True))
    with pytest.raises(ConfigError, match="uncommitted changes"):
        grid.run_grid(grid.read_plan(write_plan(tmp_path)))


def test_a_grid_trains_through_the_cli_copies_artifacts_and_resumes(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text((PAYOFF.parent / "base.yaml").read_text() + "\nsteps: 6\nsupervised_steps: 3\nwarmup_steps: 2\n"
                    "eval_every: 3\neval_size: 50\nfinal_eval_size: 50\nlabels_per_class: 4\n"
                    f"output_dir: {tmp_path / 'runs'}\n")
    plan = write_plan(tmp_path, base=str(base), thresholds=[0.5, 0.95],
                      methods={"fixmatch_cnn": {"model": "cnn_mini", "teachers": ["mean"]}},
                      stages=[{"name": "screen", "labels_per_class": [4], "seeds": [0]},
                              {"name": "confirm", "labels_per_class": [4], "seeds": [1], "best_of": "screen"}])
    command = [sys.executable, "-m", "semiformer_lib.runs.grid", str(plan), "--allow-dirty"]
    first = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "3 runs to do now" in first.stdout and "confirm: fixmatch_cnn waits" in first.stdout
    assert first.stdout.count("finished ") == 5                  # the screen, then the confirm stage it unlocked
    results = tmp_path / "results"
    screened = {tau: grid.final_accuracy(results, f"fixmatch_cnn_mean_t{tau}_l4_s0") for tau in ("0.5", "0.95")}
    best = max(screened, key=screened.get)                       # ties: the first in grid order
    assert sorted(p.name for p in results.iterdir()) == sorted(
        ["fixmatch_cnn_mean_t0.5_l4_s0", "fixmatch_cnn_mean_t0.95_l4_s0", "fixmatch_cnn_twin_l4_s0",
         f"fixmatch_cnn_mean_t{best}_l4_s1", "fixmatch_cnn_twin_l4_s1"])
    record = json.loads((results / "fixmatch_cnn_twin_l4_s0" / "results.json").read_text())
    assert record["config"]["name"] == "fixmatch_cnn_twin_l4_s0" and record["config"]["threads"] == 1
    assert record["config"]["unlabeled_weight"] == 0 and record["provenance"]["git_commit"]
    assert (results / "fixmatch_cnn_twin_l4_s0" / "metrics.jsonl").read_text().count("\n") == 2
    again = subprocess.run(command + ["--list"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert again.returncode == 0 and again.stdout.count(" %") == 5          # each listed with its accuracy
    rerun = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert "0 runs to do now" in rerun.stdout and "started" not in rerun.stdout   # nothing trains twice
