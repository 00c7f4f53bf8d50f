"""Chapter 1's long runs as tables: artifacts written by the CLI's function, read back by name, refused when a
folder's name and its config disagree, and drawn."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from semiformer_lib.analysis import read_learning_curves
from semiformer_lib.runs.replay import ArtifactError
from semiformer_lib.runs.run import train
from semiformer_lib.train.config import CONFIG_DIR, load_config
from semiformer_lib.viz import figure_problems, plot_learning_curves

TINY = {"steps": 6, "warmup_steps": 2, "eval_every": 3, "eval_size": 50, "final_eval_size": 50, "train_eval_size": 40}


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """Four tiny runs of chapter 1's long config, named as the chapter's are: two models, two label budgets."""
    folder = tmp_path_factory.mktemp("starve")
    for name, overrides in (("vit_l4_s0", {}), ("cnn_l4_s0", {"model": "cnn_mini"}),
                            ("vit_all_s0", {"labels_per_class": None, "label_percent": 100}),
                            ("cnn_all_s0", {"model": "cnn_mini", "labels_per_class": None, "label_percent": 100})):
        config = load_config(CONFIG_DIR / "starve" / "base.yaml",
                             {"labels_per_class": 4, **TINY, **overrides, "name": name,
                              "output_dir": str(folder / "runs")})
        train(config, progress=False)
        shutil.copytree(folder / "runs" / name, folder / "results" / name,
                        ignore=shutil.ignore_patterns("checkpoints", "tensorboard", "run.lock"))
    return folder / "results"


def test_the_runs_read_back_as_finals_and_curves(results):
    runs = read_learning_curves(results)
    assert set(zip(runs.finals["model"], runs.finals["labels"])) == {("ViT", 4), ("CNN", 4), ("ViT", "all"),
                                                                      ("CNN", "all")}
    assert runs.seeds == [0] and set(runs.finals["steps"]) == {6}
    assert runs.finals["commit"].str.fullmatch("[0-9a-f]{40}").all() and runs.finals["dirty"].isin([True, False]).all()
    assert sorted(set(runs.curves["step"])) == [3, 6]
    record = json.loads((results / "cnn_l4_s0" / "results.json").read_text())
    assert runs.final().loc[("CNN", 4), 0] == record["final"]["model"]["summed"]       # all final test images
    gain = runs.gain(3, 6).loc[("ViT", "all"), 0]
    curve = runs.curves.set_index(["model", "labels", "step"])["test_acc"]
    assert gain == pytest.approx(curve[("ViT", "all", 6)] - curve[("ViT", "all", 3)])
    assert runs.curves["train_acc"].between(0, 1).all()                              # labeled-train accuracy
    with pytest.raises(ValueError, match="no evaluation at step 5"):
        runs.at_step(5)
    assert figure_problems(plot_learning_curves(runs.curves)) == []


def test_a_folder_named_for_another_budget_is_refused(results, tmp_path):
    shutil.copytree(results / "vit_l4_s0", tmp_path / "vit_l40_s0")
    with pytest.raises(ArtifactError, match=r"vit_l40_s0: its name says 40 labels per class.*labels_per_class 4"):
        read_learning_curves(tmp_path)
    with pytest.raises(ArtifactError, match="no learning-curve artifact"):
        read_learning_curves(tmp_path / "nothing")
