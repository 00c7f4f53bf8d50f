"""The runs behind the chapters' "What you should see" notes: each exercise a 2-core CPU answers in minutes, run
once at the ``cpu`` profile, its numbers written to ``outcomes.json`` beside this file (with the machine).

    .venv/bin/python book/exercises/run_exercises.py [CHAPTER …]   # 1 3 4 5 by default: about 15 minutes on 2 cores

The notes in the chapters are written from that file. Exercises that need long runs or a GPU have no note yet.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from statistics import mean

import torch

from semiformer_lib import analysis, get_profile
from semiformer_lib.data import load_fashion_mnist, to_model_input
from semiformer_lib.models import count_parameters, create_model
from semiformer_lib.train import (SemiMethod, compare_methods, config_path, eval_subset, final_metric, load_config,
                                  sweep, with_overrides)
from semiformer_lib.train.results import device_name

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def chapter_1_and_2(profile, train, test, probe) -> dict:
    vit, cnn, seeds = profile.vit, profile.cnn, profile.seeds
    plain = with_overrides(profile.run, augment=False, eval_every=None)
    out = {}
    base = final_metric(sweep([vit, cnn], train, test, [40], seeds, plain, workers=2, progress=False))
    augmented = final_metric(sweep([vit, cnn], train, test, [40], seeds, with_overrides(plain, augment=True),
                                   workers=2, progress=False))
    out["1.1 augmentation, 40/class"] = {"without": {m: mean(base[m].values()) for m in base},
                                         "with": {m: mean(augmented[m].values()) for m in augmented}}
    patch7 = final_metric(sweep(["vit_mini_patch7"], train, test, [40], seeds, plain, workers=2, progress=False))
    out["1.2 patch 7 vs patch 4 vs CNN, 40/class"] = {"vit_mini_patch7": mean(patch7["vit_mini_patch7"].values()),
                                                       vit: mean(base[vit].values()), cnn: mean(base[cnn].values())}
    def gap(results) -> float:                       # CNN minus ViT, seed 0 (a sweep point's seed in chapter 1)
        return results[cnn][0] - results[vit][0]
    once = final_metric(sweep([vit, cnn], train, test, [600], [0], plain, workers=2, progress=False))
    twice = sweep([vit, cnn], train, test, [40, 600], [0],
                  with_overrides(plain, steps=2 * plain.steps, warmup_steps=2 * plain.warmup_steps), workers=2,
                  progress=False)
    gaps = {"1× steps": {"40": gap(base), "600": gap(once)},
            "2× steps": {str(n): gap(final_metric(twice, labels_per_class=n)) for n in (40, 600)}}
    out["1.3 CNN minus ViT, by steps and labels/class"] = gaps
    inputs = to_model_input(probe.images, probe.mean, probe.std)
    longer = {}
    for steps in (300, 3000):
        budget = with_overrides(plain, steps=steps, warmup_steps=min(steps // 10, 100))
        for run in sweep([vit], train, test, ["all", 40], [seeds[0]], budget, keep_models=True, workers=2,
                         progress=False):
            distance = analysis.model_attention_distance(run.model, inputs)                # [depth, heads]
            longer[f"{run.labels_per_class} labels, {steps} steps"] = {
                "test_acc": run.history.final_test_acc, "locality": analysis.position_locality(run.model),
                "most local head, block 1 (px)": distance[0].min().item(),
                "most local head, any block (px)": distance.min().item()}
    grid = analysis.patch_centres(analysis.patch_grid(run.model), analysis.patch_pixels(run.model))
    longer["uniform attention distance (px)"] = torch.cdist(grid, grid).mean().item()
    out["1.4 / 2.2 the ViT trained longer (seed 0)"] = longer
    return out


def chapter_3() -> dict:
    from semiformer_lib.models import build_fused_pair
    with torch.device("meta"):
        pair = build_fused_pair("deit_tiny_patch16_224", "resnet18", img_size=32, num_classes=10,
                                out_indices=(1, 2, 3, 4))
        small = create_model("semiformer_small_patch16", img_size=224, in_chans=3, num_classes=1000)
    adapters = count_parameters(pair.to_tokens) + count_parameters(pair.to_conv)
    groups = small.parameter_groups()
    return {"3.3 adapter share": {"deit_tiny + resnet18": adapters / count_parameters(pair),
                                  "Semiformer-S": groups["fusion"] / sum(groups.values())}}


def chapter_4(profile, train, test) -> dict:
    """Exercise 4.4: per class, the lowest τ at which the conv head's pseudo-labels are ≥ 90 % right (seed 0, the
    last probe of the chapter's Semiformer run)."""
    semiformer = load_config(config_path("fashion_mnist_40"), {"eval_every": 40, "probe_size": 1000},
                             profile=profile.name)
    history = compare_methods([SemiMethod("Semiformer", semiformer)], train, test, 40, [0],
                              progress=False).histories["Semiformer", 0]
    confidence, predicted = history.probe_confidence["conv"][-1], history.probe_predicted["conv"][-1]
    thresholds = [i / 100 for i in range(0, 100)]
    lowest = {}
    for k, name in enumerate(train.classes):
        of_class = predicted == k                        # images the teacher assigns to class k
        table = analysis.threshold_tradeoff(confidence[of_class], predicted[of_class],
                                            history.probe_labels[of_class], thresholds)
        good = table[(table["confident_accuracy"] >= 0.9)]
        lowest[name] = float(good["threshold"].min()) if len(good) else None
    return {"4.4 lowest τ with ≥ 90 % right pseudo-labels, per class (conv head, seed 0, last probe)": lowest}


def chapter_5(tmp: Path) -> dict:
    import shutil
    copy = tmp / "edited" / "long_semiformer_s0"
    shutil.copytree(ROOT / "book" / "results" / "long" / "long_semiformer_s0", copy)
    metrics = copy / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    row = json.loads(lines[0])
    row["labeled_loss"] = row["labeled_loss"] * 1.01
    lines[0] = json.dumps(row)
    metrics.write_text("\n".join(lines) + "\n")
    done = subprocess.run([sys.executable, "-m", "semiformer_lib.train.replay", str(copy.parent)], capture_output=True,
                          text=True, cwd=ROOT)
    return {"5.4 replay of an edited metrics.jsonl": {"exit status": done.returncode,
                                                      "output": (done.stdout + done.stderr)[-1500:]}}


def main() -> None:
    torch.set_num_threads(2)
    started = time.time()
    profile = get_profile("cpu")
    train = load_fashion_mnist("train")
    test = eval_subset(load_fashion_mnist("test"), profile.run.eval_size)
    probe = eval_subset(test, 250, seed=1)
    path = HERE / "outcomes.json"
    parts = sys.argv[1:] or ["1", "3", "4", "5"]                 # chapters to run; the others' outcomes are kept
    outcomes = json.loads(path.read_text()) if path.exists() else {}
    outcomes.update({"device": device_name(torch.device("cpu")), "torch": torch.__version__})
    if "3" in parts:
        outcomes.update(chapter_3())
    if "5" in parts:
        outcomes.update(chapter_5(Path("/tmp/semiformer_exercises")))
    if "1" in parts:
        outcomes.update(chapter_1_and_2(profile, train, test, probe))
    if "4" in parts:
        outcomes.update(chapter_4(profile, train, test))
    outcomes[f"minutes, chapters {' '.join(parts)}"] = (time.time() - started) / 60
    path.write_text(json.dumps(outcomes, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(outcomes, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
