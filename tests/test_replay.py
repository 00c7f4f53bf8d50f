"""Replay verification of run artifacts: what it accepts, what it refuses, and the book's own artifacts.

The last test (marker ``replay``, its own stage of ``make test``) replays every artifact under ``book/results``.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from semiformer_lib.train.config import RunConfig
from semiformer_lib.runs.replay import (SPREAD_FILE, SPREAD_MARGIN, WINDOW_FILE, ArtifactError, Tolerance,
                                         find_artifacts, main, read_artifact, read_tolerance, replay_key,
                                         row_differences, seedless_key, verify_artifacts,
                                         write_window_start)
from semiformer_lib.runs.run import train

RESULTS = Path(__file__).resolve().parent.parent / "book" / "results"
# A one-headed CNN keeps the fixture fast: the final accuracies are measured on all 10 000 test images.
SMALL = dict(dataset="fashion-mnist", labels_per_class=4, model="cnn_mini", teacher="mean", steps=8,
             supervised_steps=4, warmup_steps=2, batch_size=8, unlabeled_ratio=1.0, unlabeled_size=200,
             eval_every=4, eval_size=100, checkpoint_every=8, threads=1)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A run and its supervised twin, written by the CLI's function, as the book commits them."""
    folder = tmp_path_factory.mktemp("artifacts")
    for name, weight in (("ssl", 1.0), ("twin", 0.0)):
        train(RunConfig(**SMALL, name=name, unlabeled_weight=weight, output_dir=str(folder / "runs")), progress=False)
        shutil.copytree(folder / "runs" / name, folder / "results" / name,
                        ignore=shutil.ignore_patterns("checkpoints", "tensorboard"))
    return folder / "results"


@pytest.fixture
def artifacts(made, tmp_path):
    """A private copy of the made artifacts that a test may damage."""
    return Path(shutil.copytree(made, tmp_path / "results"))


def _edit(path: Path, change) -> None:
    """Rewrite a JSON (or JSON-lines) file through ``change(obj)``."""
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        change(rows)
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    else:
        record = json.loads(path.read_text())
        change(record)
        path.write_text(json.dumps(record))


def test_untouched_artifacts_replay_bit_for_bit_and_a_twin_shares_the_replay(artifacts):
    verdicts = verify_artifacts(artifacts, progress=False)
    assert [v.folder.name for v in verdicts] == ["ssl", "twin"]
    assert all(v.replayed and v.bitwise for v in verdicts)            # same machine, same thread count
    ssl, twin = find_artifacts(artifacts)
    assert replay_key(ssl) == replay_key(twin)                        # first window ends inside the warm-up
    assert [v.folder.name for v in verify_artifacts(artifacts, names=["twin"], progress=False)] == ["twin"]
    with pytest.raises(ArtifactError, match=r"no artifact named \['tiwn'\]"):
        verify_artifacts(artifacts, names=["tiwn"], progress=False)


def test_a_window_past_the_warm_up_does_not_share_the_replay(artifacts):
    for name in ("ssl", "twin"):
        for file in ("results.json", "metrics.jsonl"):
            path = artifacts / name / file
            path.write_text(path.read_text().replace('"supervised_steps": 4', '"supervised_steps": 2'))
    ssl, twin = find_artifacts(artifacts)
    assert replay_key(ssl) != replay_key(twin)


def test_a_number_edited_in_one_file_is_caught_at_any_step(artifacts):
    def nudge_last(rows):
        rows[-1]["model"]["summed"] += 0.01
    _edit(artifacts / "ssl" / "metrics.jsonl", nudge_last)
    with pytest.raises(ArtifactError, match=r"ssl/metrics.jsonl: disagrees with results.json's curves at step 8"):
        verify_artifacts(artifacts, progress=False)


def test_a_first_row_edited_in_both_files_is_caught_by_the_replay(artifacts):
    def nudge_first(rows):
        rows[0]["ema"]["summed"] += 0.02
    _edit(artifacts / "twin" / "metrics.jsonl", nudge_first)
    _edit(artifacts / "twin" / "results.json", lambda record: nudge_first(record["curves"]))
    with pytest.raises(ArtifactError, match=r"twin/metrics.jsonl: its first row \(step 4\) is not reproduced by "
                                            r"its config \(ema.summed: replayed"):
        verify_artifacts(artifacts, progress=False)


def test_a_config_that_no_longer_reproduces_is_named(artifacts):
    def other_lr(record):
        record["config"]["lr"] = 2e-3
    _edit(artifacts / "ssl" / "results.json", other_lr)
    with pytest.raises(ArtifactError, match=r"ssl/metrics.jsonl: its first row \(step 4\) is not reproduced"):
        verify_artifacts(artifacts, progress=False)


@pytest.mark.parametrize("damage, message", [
    (lambda folder: (folder / "metrics.jsonl").unlink(), r"ssl/metrics.jsonl: missing"),
    (lambda folder: (folder / "results.json").write_text("{"), r"ssl/results.json: not valid JSON"),
    (lambda folder: _edit(folder / "results.json", lambda r: r["provenance"].pop("git_commit")),
     r"ssl/results.json: lacks provenance.git_commit"),
    (lambda folder: _edit(folder / "results.json", lambda r: r["config"].update(threshold=1.5)),
     r"ssl/results.json: its config is no longer a valid RunConfig \(config key 'threshold' must be in \[0, 1\]"),
    (lambda folder: _edit(folder / "results.json", lambda r: r["final"]["model"].update(summed=81.0)),
     r"ssl/results.json: final accuracies .* are not fractions"),
    (lambda folder: [_edit(folder / f, lambda rows: rows.pop(0) if isinstance(rows, list) else rows["curves"].pop(0))
                     for f in ("metrics.jsonl", "results.json")],
     r"ssl/metrics.jsonl: its rows sit at steps \[8\], not every 4 steps to 8"),
])
def test_a_damaged_artifact_is_refused_before_any_replay_naming_the_file(artifacts, damage, message, monkeypatch):
    damage(artifacts / "ssl")
    monkeypatch.setattr("semiformer_lib.runs.replay.replay_first_window",
                        lambda *a, **k: pytest.fail("a replay ran before the schema checks refused the artifact"))
    with pytest.raises(ArtifactError, match=message):
        verify_artifacts(artifacts, progress=False)


def test_a_gpu_artifact_is_checked_for_schema_and_provenance_only(artifacts):
    def on_gpu(record):
        record["provenance"].update(device_type="cuda", device="NVIDIA H200")
        record["config"]["device"] = "cuda"
    _edit(artifacts / "ssl" / "results.json", on_gpu)
    ssl, twin = verify_artifacts(artifacts, progress=False)
    assert not ssl.replayed and twin.replayed
    _edit(artifacts / "ssl" / "results.json", lambda record: record["provenance"].pop("torch"))
    with pytest.raises(ArtifactError, match="lacks provenance.torch"):
        read_artifact(artifacts / "ssl")


def test_the_tolerance_is_the_measured_spread_times_the_margin(artifacts):
    assert read_tolerance(artifacts) == Tolerance()                   # nothing measured: bitwise
    (artifacts / SPREAD_FILE).write_text(json.dumps({"largest": {"accuracy": 0.002, "loss": 1e-4, "lr": 0.0}}))
    tolerance = read_tolerance(artifacts)
    assert tolerance.accuracy == pytest.approx(SPREAD_MARGIN * 0.002) and tolerance.allowed("lr") == 0.0
    assert tolerance.allowed("labeled_loss") == pytest.approx(SPREAD_MARGIN * 1e-4)
    row = {"lr": 1e-3, "labeled_loss": 1.0, "mask_rate": None, "model": {"summed": 0.5}, "class_mask_rate": [None]}
    moved = {**row, "labeled_loss": 1.0 + 2e-4, "model": {"summed": 0.503}}
    assert row_differences(moved, row) == {"lr": 0.0, "labeled_loss": pytest.approx(2e-4),
                                           "model.summed": pytest.approx(0.003)}
    assert row_differences({**row, "model": {}}, row)["model.summed"] == float("inf")   # a head went missing
    below = artifacts / "one_family"                                   # a subfolder is judged by the spread above
    below.mkdir()
    found = read_tolerance(below)
    assert (found.accuracy, found.loss) == (tolerance.accuracy, tolerance.loss)
    assert Path(found.source.rsplit(" in ", 1)[1]).resolve() == (artifacts / SPREAD_FILE).resolve()
    (artifacts / SPREAD_FILE).write_text("{}")
    with pytest.raises(ArtifactError, match=f"{SPREAD_FILE}: not a spread measurement"):
        read_tolerance(artifacts)


def test_the_command_line_names_the_failing_file(artifacts, capsys):
    _edit(artifacts / "twin" / "results.json", lambda record: record.update(format="other/1"))
    assert main([str(artifacts)]) == 1
    assert "twin/results.json: format 'other/1'" in capsys.readouterr().err


# ---- the long comparison, read from artifacts --------------------------------------------------------------------

def as_named_runs(artifacts: Path, folder: Path, ssl_name: str, twin_name: str) -> tuple[dict, dict]:
    """The made run and its twin copied into ``folder`` under the given names; their two results records."""
    shutil.copytree(artifacts / "ssl", folder / ssl_name)
    shutil.copytree(artifacts / "twin", folder / twin_name)
    return tuple(json.loads((artifacts / name / "results.json").read_text()) for name in ("ssl", "twin"))


def test_the_long_comparison_pairs_each_run_with_its_twin(artifacts, tmp_path):
    import pandas as pd

    from semiformer_lib.analysis import crossover_step, read_long_comparison
    long = tmp_path / "long"
    ssl, twin = as_named_runs(artifacts, long, "long_semiformer_s0", "long_semiformer_twin_s0")
    comparison = read_long_comparison(long)
    assert comparison.methods == ["Semiformer"] and comparison.seeds == [0] and comparison.supervised_steps == 4
    assert comparison.lift("summed").loc[0, "Semiformer"] == pytest.approx(
        ssl["final"]["model"]["summed"] - twin["final"]["model"]["summed"])
    assert comparison.final("conv").isna().all().all()                  # a one-headed model has no conv head
    assert list(comparison.finals["commit"]) == [ssl["provenance"]["git_commit"], twin["provenance"]["git_commit"]]
    assert comparison.finals["dirty"].tolist() == [ssl["provenance"]["git_dirty"], twin["provenance"]["git_dirty"]]
    gaps = comparison.gap_over_steps("summed")[("Semiformer", 0)]
    assert gaps.loc[4] == 0                                            # the warm-up is shared: no gap yet
    assert gaps.loc[8] == pytest.approx(ssl["curves"][1]["model"]["summed"] - twin["curves"][1]["model"]["summed"])
    quality = comparison.pseudo_label_quality()
    assert list(quality["step"]) == [8] and quality["mask_rate"][0] == ssl["curves"][1]["mask_rate"]
    assert crossover_step(pd.Series([0.0, -0.01, 0.02, 0.01], index=[1, 2, 3, 4])) == 3
    assert crossover_step(pd.Series([0.01, 0.02], index=[1, 2])) == 1
    assert crossover_step(pd.Series([0.01, -0.02], index=[1, 2])) is None
    (long / "long_semiformer_twin_s0").rename(long / "long_semiformer_s1")   # a twin under an SSL run's name
    with pytest.raises(ArtifactError, match=r"long_semiformer_s1: its name says twin=False, seed 1, but its config "
                                            r"has unlabeled_weight 0.0, seed 0"):
        read_long_comparison(long)


def test_a_tuning_grid_reads_each_run_beside_its_twin_and_its_cost(artifacts, tmp_path):
    from semiformer_lib.analysis import read_grid, step_macs
    from semiformer_lib.models import count_macs, create_model
    grid = tmp_path / "grid"
    ssl, twin = as_named_runs(artifacts, grid, "fixmatch_cnn_mean_t0.7_l4_s0", "fixmatch_cnn_twin_l4_s0")
    comparison = read_grid(grid)
    assert comparison.methods == ["fixmatch_cnn"] and comparison.supervised_steps == ssl["config"]["supervised_steps"]
    assert list(comparison.runs["steps"]) == [ssl["config"]["steps"], twin["config"]["steps"]]
    points = comparison.points("fixmatch_cnn", labels=4, seed=0)
    assert list(points["name"]) == ["fixmatch_cnn_mean_t0.7_l4_s0", "fixmatch_cnn_twin_l4_s0"]    # twin last
    assert points.loc[0, "summed"] == ssl["final"]["model"]["summed"] and points.loc[0, "conv"] is None
    per_image = count_macs(create_model("cnn_mini"), (1, 1, 28, 28))
    assert points.loc[0, "gmacs_per_step"] == pytest.approx(per_image * (3 * (8 + 8) + 8) / 1e9)
    assert points.loc[1, "gmacs_per_step"] == pytest.approx(step_macs(per_image, 8, 8, False) / 1e9)
    assert step_macs(per_image, 8, 8, False) == 3 * 8 * per_image
    lift = comparison.lift()
    assert lift.loc[0, "lift"] == pytest.approx(ssl["final"]["model"]["summed"] - twin["final"]["model"]["summed"])
    summary = comparison.summary(4)
    assert len(summary) == 1 and summary.loc[0, "seeds"] == (0,) and summary.loc[0, "threshold"] == 0.7
    assert summary.loc[0, "lift"] == pytest.approx(lift.loc[0, "lift"])
    assert summary.loc[0, "gmacs_per_step"] == points.loc[0, "gmacs_per_step"]
    assert comparison.best_point("fixmatch_cnn", labels=4, seed=0) == ("mean", 0.7)
    seeds = comparison.seeds(4, {"FixMatch τ 0.7": ("fixmatch_cnn", "mean", 0.7), "twin": ("fixmatch_cnn", None)})
    assert list(seeds.columns) == [0, "mean"] and seeds.loc["twin", 0] == twin["final"]["model"]["summed"]
    assert seeds.loc["FixMatch τ 0.7", "mean"] == ssl["final"]["model"]["summed"]
    gaps = comparison.gap_over_steps(4, {"FixMatch": ("fixmatch_cnn", "mean", 0.7)})
    rows = {name: [json.loads(line) for line in (grid / name / "metrics.jsonl").read_text().splitlines()]
            for name in ("fixmatch_cnn_mean_t0.7_l4_s0", "fixmatch_cnn_twin_l4_s0")}
    steps = [row["step"] for row in rows["fixmatch_cnn_mean_t0.7_l4_s0"]]
    assert list(gaps.columns) == [("FixMatch", 0)] and list(gaps.index) == steps
    assert gaps[("FixMatch", 0)].iloc[-1] == pytest.approx(rows["fixmatch_cnn_mean_t0.7_l4_s0"][-1]["ema"]["summed"]
                                                           - rows["fixmatch_cnn_twin_l4_s0"][-1]["ema"]["summed"])
    quality = comparison.pseudo_label_quality(4, {"FixMatch": ("fixmatch_cnn", "mean", 0.7)})
    windows = [row for row in rows["fixmatch_cnn_mean_t0.7_l4_s0"] if row["mask_rate"] is not None]
    assert list(quality["step"]) == [row["step"] for row in windows] and len(windows) > 0
    assert list(quality["confident_acc"]) == pytest.approx([row["confident_acc"] for row in windows], nan_ok=True)
    (grid / "fixmatch_cnn_twin_l4_s0").rename(grid / "fixmatch_cnn_mean_t0.95_l4_s0")     # a twin under a run's name
    with pytest.raises(ArtifactError, match=r"fixmatch_cnn_mean_t0.95_l4_s0: its name says .* = \(False, 4, 0, "
                                            r"'mean', 0.95\), its config \(True, 4, 0, 'mean', 0.7\)"):
        read_grid(grid)


def test_a_head_gap_is_taken_within_each_run_at_every_evaluation():
    """summed minus conv head per run and seed, step by step — never across runs, twins or other grid points."""
    import pandas as pd

    from semiformer_lib.analysis.tuning_grid import GridComparison
    rows = []
    for seed, offset in ((0, 0.0), (1, 0.1)):
        for step, conv, summed in ((100, 0.50, 0.52), (200, 0.60, 0.59)):
            base = {"labels": 4, "method": "pair", "seed": seed, "step": step}
            rows.append({**base, "twin": False, "teacher": "ema", "threshold": 0.95, "conv": conv + offset,
                         "transformer": 0.0, "summed": summed + offset})
            rows.append({**base, "twin": False, "teacher": "ema", "threshold": 0.7, "conv": 0.9, "transformer": 0.0,
                         "summed": 0.1})                           # another grid point: must not be read
            rows.append({**base, "twin": True, "teacher": None, "threshold": None, "conv": 0.2, "transformer": 0.0,
                         "summed": 0.8})                           # the twin: must not be read
    comparison = GridComparison(pd.DataFrame(), pd.DataFrame(rows))
    gaps = comparison.head_gap_over_steps(4, {"ours": ("pair", "ema", 0.95)})
    assert list(gaps.columns) == [("ours", 0), ("ours", 1)] and list(gaps.index) == [100, 200]
    assert gaps[("ours", 0)].tolist() == pytest.approx([0.02, -0.01])
    assert gaps[("ours", 1)].tolist() == pytest.approx([0.02, -0.01])
    other = comparison.head_gap_over_steps(4, {"ours": ("pair", "ema", 0.95)}, minuend="transformer")
    assert other[("ours", 1)].tolist() == pytest.approx([-0.6, -0.7])


@pytest.mark.replay
def test_a_first_window_replayed_elsewhere_still_checks_the_artifacts_that_share_it(artifacts):
    """make test leaves the grid winner's replays to chapter 6's cell; the twin, which shares its first window, is
    then compared with the winner's recorded row, without compute, and an edit to it is still caught."""
    ssl, twin = verify_artifacts(artifacts, progress=False, replayed_elsewhere=["ssl"])
    assert ssl.elsewhere and not ssl.replayed and twin.replayed and twin.bitwise and twin.seconds < 1.0

    def nudge_first(rows):
        rows[0]["model"]["summed"] += 0.01
    _edit(artifacts / "twin" / "metrics.jsonl", nudge_first)
    _edit(artifacts / "twin" / "results.json", lambda record: nudge_first(record["curves"]))
    with pytest.raises(ArtifactError, match="twin/metrics.jsonl: its first row"):
        verify_artifacts(artifacts, progress=False, replayed_elsewhere=["ssl"])


def _replayed_by_chapter_6() -> list[str]:
    """The artifacts chapter 5's replay cell verifies (checks 3 and 4): the grid's winner on seed 0 and its twin,
    named by the rule the chapter uses; the chapter's source is checked to still make that call."""
    from semiformer_lib.analysis import read_grid

    teacher, tau = read_grid(RESULTS / "payoff").best_point("pair", 40, seed=0)
    cells = json.loads((RESULTS.parent / "06_full_run.ipynb").read_text())["cells"]
    source = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
    assert 'winner, winner_twin = f"pair_{teacher}_t{tau:g}_l40_s0", "pair_twin_l40_s0"' in source
    assert 'verify_artifacts("results", names=[winner, winner_twin])' in source
    return [f"pair_{teacher}_t{tau:g}_l40_s0", "pair_twin_l40_s0"]


def test_every_committed_artifact_replays():
    """The book's artifacts (make test's share of `make replay`): every file checked; the first window of one seed
    per config re-run from its own config; and for each method, a window in which pseudo-labels act, re-run from the
    artifact's saved start. Chapter 6's cell replays the grid winner's windows, so this test does not again."""
    elsewhere = _replayed_by_chapter_6()
    verdicts = verify_artifacts(RESULTS, one_seed=True, replayed_elsewhere=elsewhere)
    on_cpu = [a for a in find_artifacts(RESULTS) if a.on_cpu]
    replayed = {seedless_key(a) for a, v in zip(on_cpu, verdicts) if v.replayed or v.elsewhere}
    assert len(verdicts) >= 18 and {seedless_key(a) for a in on_cpu} == replayed
    assert {v.folder.name for v in verdicts if v.elsewhere} == set(elsewhere)
    # a window past the warm-up for each method of the grid: the Semiformer on cnn_mini (chapter 6's cell) and FixMatch
    # on the CNN (the long comparison's artifacts were made on an Intel Xeon: their window starts can only be written
    # on one)
    windows = {v.folder.name for v in verdicts if v.window}
    assert "fixmatch_cnn_mean_t0.7_l40_s0" in windows
    assert (RESULTS / "payoff" / elsewhere[0] / WINDOW_FILE).is_file()
    tolerance = read_tolerance(RESULTS)
    print(f"{len(verdicts)} artifacts, {sum(v.replayed for v in verdicts)} first windows replayed, "
          f"{sum(v.bitwise for v in verdicts)} bit for bit; {len(windows)} windows past the warm-up, "
          f"{sum(v.window_bitwise for v in verdicts)} bit for bit; tolerance: {tolerance.source}")


def test_a_window_past_the_warm_up_replays_from_its_saved_start(artifacts):
    """Check 4: the window in which pseudo-labels act (steps 4 → 8: the warm-up ends at 4) replays from a saved
    start, and a number edited in both files at its end — which check 2 cannot see — is caught."""
    path = write_window_start(artifacts / "ssl", threads=1)
    assert path == artifacts / "ssl" / WINDOW_FILE
    saved = torch.load(path, weights_only=True)
    assert saved["window"] == [4, 8] and saved["state"]["step"] == 4 and set(saved["spread"]) == {"accuracy", "loss"}
    ssl, twin = verify_artifacts(artifacts, progress=False)
    assert ssl.window == (4, 8) and ssl.window_bitwise and twin.window is None

    def nudge_last(rows):
        rows[-1]["model"]["summed"] += 0.01
    _edit(artifacts / "ssl" / "metrics.jsonl", nudge_last)
    _edit(artifacts / "ssl" / "results.json", lambda record: nudge_last(record["curves"]))
    with pytest.raises(ArtifactError, match=rf"its row at step 8 is not reproduced from {WINDOW_FILE}"):
        verify_artifacts(artifacts, progress=False)


def test_a_damaged_window_start_is_named_with_the_fix(artifacts):
    (artifacts / "ssl" / WINDOW_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(ArtifactError, match=rf"{WINDOW_FILE}: not a window start .* --write-window"):
        verify_artifacts(artifacts, progress=False)


def test_one_seed_replays_the_first_window_of_one_seed_per_config(artifacts):
    """Artifacts that differ only in their seed share one first-window replay under one_seed (make test); the full
    verification replays each — here it catches that the copy's numbers are not what seed 1 gives."""
    copy = shutil.copytree(artifacts / "ssl", artifacts / "ssl_s1")
    for file in ("results.json", "metrics.jsonl"):
        path = copy / file
        path.write_text(path.read_text().replace('"seed": 0', '"seed": 1'))
    verdicts = {v.folder.name: v for v in verify_artifacts(artifacts, progress=False, one_seed=True)}
    assert verdicts["ssl"].replayed and not verdicts["ssl_s1"].replayed
    with pytest.raises(ArtifactError, match="ssl_s1/metrics.jsonl: its first row"):
        verify_artifacts(artifacts, progress=False)
