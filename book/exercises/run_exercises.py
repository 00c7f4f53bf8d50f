"""The runs behind the chapters' "What you should see" notes: each exercise a 2-core CPU answers in minutes, run
once at the ``cpu`` profile, its numbers written to ``outcomes.json`` beside this file (with the machine).

    .venv/bin/python book/exercises/run_exercises.py [CHAPTER …]   # 1 3 4 6 by default: about 15 minutes on 2 cores
    .venv/bin/python book/exercises/run_exercises.py 2.1 3.4 …     # the later exercises, each timed in CPU minutes

The notes in the chapters are written from that file; an exercise whose answer is a committed artifact reads it.
"""
from __future__ import annotations

import json
import os
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
from semiformer_lib.machine import device_name

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
    """Exercise 4.3: per class, the lowest τ at which the conv head's pseudo-labels are ≥ 90 % right (seed 0, the
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
    return {"4.3 lowest τ with ≥ 90 % right pseudo-labels, per class (conv head, seed 0, last probe)": lowest}


def chapter_6(tmp: Path) -> dict:
    import shutil
    copy = tmp / "edited" / "long_semiformer_s0"
    shutil.copytree(ROOT / "book" / "results" / "long" / "long_semiformer_s0", copy)
    metrics = copy / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    row = json.loads(lines[0])
    row["labeled_loss"] = row["labeled_loss"] * 1.01
    lines[0] = json.dumps(row)
    metrics.write_text("\n".join(lines) + "\n")
    done = subprocess.run([sys.executable, "-m", "semiformer_lib.runs.replay", str(copy.parent)], capture_output=True,
                          text=True, cwd=ROOT)
    return {"6.4 replay of an edited metrics.jsonl": {"exit status": done.returncode,
                                                      "output": (done.stdout + done.stderr)[-1500:]}}


# --- the exercises answered since: one function each, timed in CPU minutes (resource.getrusage) -------------------

def _cpu_minutes() -> float:
    import resource
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage) / 60


def exercise_2_1(profile, train, test, probe) -> dict:
    """A conv-stem ViT without position embedding against the conv stem with one and the plain ViT (3 seeds)."""
    from semiformer_lib.train import ModelSpec
    quiet = with_overrides(profile.run, augment=False, eval_every=None)
    specs = [profile.vit, f"{profile.vit}_convstem",
             ModelSpec("conv stem, no position embedding", profile.vit,
                       {"spatial_prior": "convstem", "pos_embed": "none"})]
    acc = final_metric(sweep(specs, train, test, [40], profile.seeds, quiet, workers=2, progress=False))
    return {"mean test accuracy, 40/class": {name: mean(v.values()) for name, v in acc.items()},
            "per seed": acc}


def exercise_2_3(profile, train, test, probe) -> dict:
    """cnn_mini with circular padding against zero padding: same prediction under cyclic shifts (seed 0)."""
    from semiformer_lib.train import ModelSpec
    quiet = with_overrides(profile.run, augment=False, eval_every=None)
    specs = [profile.cnn, ModelSpec("circular padding", profile.cnn, {"padding_mode": "circular"})]
    runs = sweep(specs, train, test, [40], [profile.seeds[0]], quiet, keep_models=True, workers=2, progress=False)
    out = {}
    for run in runs:
        result = analysis.shift_robustness(run.model, probe, list(range(0, 9)), "cyclic")
        out[run.model_name] = {"test_acc": run.history.final_test_acc,
                               "same prediction by shift (px)": dict(zip(map(str, result.shifts),
                                                                         map(float, result.consistency)))}
    return out


def exercise_2_4(profile, train, test, probe) -> dict:
    """The locality-biased ViT with its bias table frozen at its initial slopes against a learned one (3 seeds)."""
    from semiformer_lib.data import get_split
    from semiformer_lib.seeding import seed_everything
    from semiformer_lib.train import fit
    quiet = with_overrides(profile.run, augment=False, eval_every=None)
    relpos = f"{profile.vit}_relpos"
    learned = final_metric(sweep([relpos], train, test, [40], profile.seeds, quiet, workers=2,
                                 progress=False))[relpos]
    frozen = {}
    for seed in profile.seeds:
        split = get_split(train, 40, seed)
        seed_everything(seed)
        model = create_model(relpos, img_size=28, in_chans=1, num_classes=10)
        tables = [p for name, p in model.named_parameters() if name.endswith("attn.bias_table")]
        assert tables, "no relative-position parameters found"
        for table in tables:
            table.requires_grad_(False)
        history = fit(model, train.subset(split.labeled), test, with_overrides(quiet, seed=seed), progress=False)
        frozen[seed] = history.final_test_acc
    return {"learned bias": learned, "frozen bias": frozen,
            "mean": {"learned bias": mean(learned.values()), "frozen bias": mean(frozen.values())}}


def exercise_3_1(profile, train, test, probe) -> dict:
    """The two-way Semiformer with and without augmentation, and with Conformer's injection point (3 seeds)."""
    from semiformer_lib.train import ModelSpec
    out = {}
    for augment in (False, True):
        config = with_overrides(profile.run, steps=profile.fusion_ablation_steps, augment=augment, eval_every=None)
        specs = [ModelSpec("two-way (Semiformer)", profile.semiformer),
                 ModelSpec("two-way, Conformer injection", profile.semiformer, {"injection": "conformer"})]
        acc = final_metric(sweep(specs, train, test, [40], profile.seeds, config, workers=2, progress=False))
        out["with augmentation" if augment else "without augmentation"] = {
            name: mean(v.values()) for name, v in acc.items()}
    return out


def exercise_3_2(profile, train, test, probe) -> dict:
    """CKA of the branches' globally pooled features, no fusion against two-way (3 seeds)."""
    from semiformer_lib.train import ModelSpec
    from semiformer_lib.models.interface import eval_mode
    config = with_overrides(profile.run, steps=profile.fusion_ablation_steps, augment=False, eval_every=None)
    specs = [ModelSpec("no fusion", profile.semiformer, {"fusion": "none"}),
             ModelSpec("two-way (Semiformer)", profile.semiformer)]
    inputs = to_model_input(probe.images, probe.mean, probe.std)
    out = {}
    for run in sweep(specs, train, test, [40], profile.seeds, config, keep_models=True, workers=2, progress=False):
        with eval_mode(run.model), torch.no_grad():
            feature_map, tokens = run.model.forward_blocks(inputs)[-1]
        pooled = analysis.linear_cka(feature_map.float().mean((2, 3)), tokens[:, 1:].float().mean(1))
        spatial = analysis.branch_similarity(run.model, inputs)[-1]
        out.setdefault(run.model_name, {})[run.seed] = {"global CKA": pooled, "spatial CKA": spatial}
    return out


def exercise_3_4(profile, train, test, probe) -> dict:
    """Conv-head accuracy with and without transformer → conv, at the conv branch's width and at twice it."""
    from semiformer_lib.train import ModelSpec, head_accuracies
    config = with_overrides(profile.run, steps=profile.fusion_ablation_steps, augment=False, eval_every=None)
    out = {}
    for width, options in (("thin", {}), ("wide", {"base_channels": 16})):
        specs = [ModelSpec(f"{width}, no fusion", profile.semiformer, {**options, "fusion": "none"}),
                 ModelSpec(f"{width}, transformer → conv", profile.semiformer,
                           {**options, "fusion": "transformer_to_conv"})]
        for run in sweep(specs, train, test, [40], profile.seeds, config, keep_models=True, workers=2,
                         progress=False):
            out.setdefault(run.model_name, {})[run.seed] = head_accuracies(run.model, test)["conv"]
    return {"conv head accuracy": out, "mean": {name: mean(v.values()) for name, v in out.items()}}


def _chapter_4_semiformer(profile):
    return load_config(config_path("fashion_mnist_40"), {"eval_every": 40, "probe_size": 1000},
                       profile=profile.name)


def exercise_5_1(profile, train, test, probe) -> dict:
    """The long Semiformer and its twin at 1 000 steps instead of 2 000 (seed 0): where its EMA crosses its twin's,
    against the committed 2 000-step runs of the same seed."""
    import shutil
    work = Path("/tmp/semiformer_exercises/5.1")
    shutil.rmtree(work, ignore_errors=True)
    config = str(config_path("long/semiformer"))
    for name, extra in (("long_semiformer_s0", []), ("long_semiformer_twin_s0", ["unlabeled_weight=0"])):
        _cli("semiformer_lib.train", "--config", config, "steps=1000", f"output_dir={work}", f"name={name}",
             "--no-progress", *extra, cwd=ROOT)
    short = analysis.read_long_comparison(work)
    committed = analysis.read_long_comparison(ROOT / "book" / "results" / "long")
    out = {}
    for label, runs in (("1 000 steps", short), ("2 000 steps (committed)", committed)):
        gap = runs.gap_over_steps("ema")[("Semiformer", 0)]
        out[label] = {"crossover step (EMA stays ahead from here)": analysis.crossover_step(gap),
                      "final EMA gap (points)": 100 * float(gap.iloc[-1]),
                      "final lift, summed (points)": 100 * float(runs.lift("summed")["Semiformer"][0])}
    return out


def exercise_4_1(profile, train, test, probe) -> dict:
    """Each teacher of the chapter's Semiformer (seed 0): the probe's accuracy of its pseudo-labels and the
    student's final accuracy."""
    semiformer = _chapter_4_semiformer(profile)
    methods = [SemiMethod(teacher, with_overrides(semiformer, teacher=teacher))
               for teacher in ("conv", "transformer", "mean", "ema")]
    result = compare_methods(methods, train, test, 40, [0], progress=False)
    out = {}
    for method in methods:
        history = result.histories[method.label, 0]
        out[method.label] = {"final test accuracy": history.final_test_acc,
                             "pseudo-label accuracy, last 20 steps": history.pseudo_label_mean("pseudo_acc", 20,
                                                                                               end=True)}
    return out


def exercise_4_2(profile, train, test, probe) -> dict:
    """λ = 4 with hard and with soft targets against the supervised twin (seed 0)."""
    semiformer = with_overrides(_chapter_4_semiformer(profile), probe_size=0)
    methods = [SemiMethod("twin", with_overrides(semiformer, unlabeled_weight=0.0)),
               SemiMethod("λ = 4, hard", with_overrides(semiformer, unlabeled_weight=4.0)),
               SemiMethod("λ = 4, soft", with_overrides(semiformer, unlabeled_weight=4.0, soft_targets=True))]
    result = compare_methods(methods, train, test, 40, [0], progress=False)
    out = {}
    for method in methods:
        history = result.histories[method.label, 0]
        out[method.label] = {"final test accuracy": history.final_test_acc}
        if method.config.unlabeled_weight > 0:                  # the twin draws no pseudo-labels
            out[method.label]["pseudo-label accuracy, last 20 steps"] = history.pseudo_label_mean("pseudo_acc", 20,
                                                                                                  end=True)
    return out


def exercise_5_2(profile, train, test, probe) -> dict:
    """FixMatch on the ViT and on the conv-stem ViT at both thresholds in chapter 5's grid, seed 0 (committed
    artifacts, no training): final test accuracy, and the mask rate and the accuracy of the kept pseudo-labels in
    the last evaluation window."""
    grid = analysis.read_grid(ROOT / "book" / "results" / "payoff")
    out = {}
    for method in ("fixmatch_vit", "fixmatch_vit_convstem"):
        for row in grid.points(method, 40, seed=0).itertuples():
            name = f"{method}, " + ("twin" if row.twin else f"τ {row.threshold:g}")
            record = json.loads((ROOT / "book" / "results" / "payoff" / row.name / "results.json").read_text())
            last = record["curves"][-1]
            out[name] = {"final test accuracy": row.summed, "mask rate, last window": last["mask_rate"],
                         "kept pseudo-labels right, last window": last["confident_acc"]}
    return out


def exercise_5_3(profile, train, test, probe) -> dict:
    """FixMatch on cnn_mini with the EMA of its weights as the teacher, beside its own prediction (FixMatch's), at
    the grid's recipe, 40 labels per class, seed 0, τ 0.7 (FixMatch CNN's better τ over three seeds): both run here,
    side by side on the two cores, against the committed Semiformer of the same seed."""
    import shutil
    work = Path("/tmp/semiformer_exercises/5.3")
    shutil.rmtree(work, ignore_errors=True)
    base = str(config_path("payoff/base"))
    runs = {teacher: subprocess.Popen([sys.executable, "-m", "semiformer_lib.train", "--config", base,
                                       "model=cnn_mini", f"teacher={teacher}", "threshold=0.7", f"output_dir={work}",
                                       f"name=cnn_{teacher}", "--no-progress"], cwd=ROOT,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for teacher in ("mean", "ema")}
    for teacher, process in runs.items():
        if process.wait() != 0:
            raise RuntimeError(f"the {teacher} run failed: {process.stderr.read()}")
    out = {}
    for teacher in runs:
        record = json.loads((work / f"cnn_{teacher}" / "results.json").read_text())
        out[f"FixMatch CNN, {teacher} teacher (run here)"] = {"final test accuracy": record["final"]["model"]["summed"],
                                                               "minutes": record["wall_seconds"] / 60}
    grid = analysis.read_grid(ROOT / "book" / "results" / "payoff")
    teacher, tau = grid.best_point("pair", 40, seed=0)
    committed = grid.runs_at(40, "pair", (teacher, tau)).set_index("seed")["summed"]
    out[f"Semiformer on cnn_mini, {teacher} teacher, τ {tau:g} (committed)"] = {"final test accuracy": committed[0]}
    return out


def _cli(*arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *arguments], cwd=cwd, capture_output=True, text=True, check=True)


def exercise_6_1(profile, train, test, probe) -> dict:
    """Chapter 6's short config and its supervised twin, from the shell (seed 0)."""
    work = Path("/tmp/semiformer_exercises/6.1")
    config = str(config_path("fashion_mnist_40"))
    out = {}
    for name, extra in (("run", []), ("twin", ["unlabeled_weight=0"])):
        _cli("semiformer_lib.train", "--config", config, f"output_dir={work}", f"name={name}", "threads=2",
             "--no-progress", "--restart", *extra, cwd=ROOT)
        out[name] = json.loads((work / name / "results.json").read_text())["final"]["model"]["summed"]
    return out


def exercise_6_3(profile, train, test, probe) -> dict:
    """One process at batch 64 against two (torchrun) at batch 32 each, for the Semiformer and for a ViT: final
    accuracy after a shortened run (100 steps)."""
    work = Path("/tmp/semiformer_exercises/6.3")
    config = str(config_path("fashion_mnist_40"))
    short = ["steps=100", "supervised_steps=50", "warmup_steps=10", "eval_every=50", "--no-progress", "--restart"]
    out = {}
    for model, extra in (("Semiformer", []), ("ViT", ["model=vit_mini_patch4", "teacher=mean"])):
        _cli("semiformer_lib.train", "--config", config, f"output_dir={work}", f"name={model}_1", "threads=1",
             "batch_size=64", *short, *extra, cwd=ROOT)
        subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
                        "semiformer_lib.train", "--config", config, f"output_dir={work}", f"name={model}_2",
                        "threads=1", "batch_size=32", *short, *extra], cwd=ROOT, capture_output=True, text=True,
                       check=True)
        finals = [json.loads((work / f"{model}_{n}" / "results.json").read_text())["final"]["model"]["summed"]
                  for n in (1, 2)]
        out[model] = {"1 process, batch 64": finals[0], "2 processes, batch 32 each": finals[1]}
    return out


def exercise_6_5(profile, train, test, probe) -> dict:
    """benchmarks/throughput.py --cpu-candidates on this machine: its printed table."""
    done = subprocess.run([sys.executable, "benchmarks/throughput.py", "--cpu-candidates"], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return {"output": done.stdout[-3000:]}


def exercise_7_1(profile, train, test, probe) -> dict:
    """The Your data page's run against its supervised twin at the page's 300 steps, then both at the folder
    config's own cpu length (1 000 steps): final test accuracy, summed heads; and the page run's mask rate in its
    first and last pseudo-labeling windows (for exercise 7.2). The page must have run."""
    folder = ROOT / "book" / "runs" / "your_data"
    work = Path("/tmp/semiformer_exercises/7.1")
    config = str(config_path("folder"))
    page = ["supervised_steps=100", "warmup_steps=25", "eval_every=50", "steps=300"]
    out = {}
    for name, extra in (("page run, 300 steps", page), ("twin, 300 steps", [*page, "unlabeled_weight=0"]),
                        ("run, 1 000 steps", []), ("twin, 1 000 steps", ["unlabeled_weight=0"])):
        run_name = name.replace(" ", "_").replace(",", "")
        _cli("semiformer_lib.train", "--config", config, f"data_root={folder / 'garments'}", f"output_dir={work}",
             f"name={run_name}", "threads=2", "--no-progress", "--restart", *extra, cwd=ROOT)
        record = json.loads((work / run_name / "results.json").read_text())
        out[name] = record["final"]["model"]["summed"]
        if name == "page run, 300 steps":            # exercise 7.2's question: how much of the pool passes τ
            rates = [row["mask_rate"] for row in record["curves"] if row.get("mask_rate") is not None]
            out["page run: mask rate, first and last pseudo-labeling window"] = [rates[0], rates[-1]]
    return out


def exercise_7_3(profile, train, test, probe) -> dict:
    """The Your data page's run: how often --head conv and --ema name another class than the default (summed) on its
    50 new images, and how often each is right (the page must have run: book/runs/your_data)."""
    from semiformer_lib.runs.predict import load_run, predict
    run_dir, images = ROOT / "book" / "runs" / "your_data" / "runs" / "garments", ROOT / "book" / "runs" / \
        "your_data" / "new" / "train"
    choices = {"summed": predict(load_run(run_dir), [images]),
               "conv head": predict(load_run(run_dir), [images], head="conv"),
               "EMA, summed": predict(load_run(run_dir, ema=True), [images])}
    truth = [Path(row["path"]).parent.name for row in choices["summed"]]
    out = {}
    for name, rows in choices.items():
        out[name] = {"right": sum(r["class"] == t for r, t in zip(rows, truth)) / len(rows),
                     "differs from summed": sum(r["class"] != d["class"] for r, d in zip(rows, choices["summed"]))}
    return out


EXERCISES = {"2.1": exercise_2_1, "2.3": exercise_2_3, "2.4": exercise_2_4, "3.1": exercise_3_1, "3.2": exercise_3_2,
             "3.4": exercise_3_4, "4.1": exercise_4_1, "4.2": exercise_4_2, "5.1": exercise_5_1, "5.2": exercise_5_2,
             "5.3": exercise_5_3, "6.1": exercise_6_1, "6.3": exercise_6_3, "6.5": exercise_6_5, "7.1": exercise_7_1,
             "7.3": exercise_7_3}


def main() -> None:
    torch.set_num_threads(int(os.environ.get("SEMIFORMER_THREADS", "2")))   # 1 beside another job
    started = time.time()
    profile = get_profile("cpu")
    train = load_fashion_mnist("train")
    test = eval_subset(load_fashion_mnist("test"), profile.run.eval_size)
    probe = eval_subset(test, 250, seed=1)
    path = Path(os.environ.get("EXERCISE_OUTCOMES", HERE / "outcomes.json"))   # another file: a second runner
    parts = sys.argv[1:] or ["1", "3", "4", "6"]                 # chapters to run; the others' outcomes are kept
    outcomes = json.loads(path.read_text()) if path.exists() else {}
    if any(part in ("1", "3", "4", "6") for part in parts):      # the chapters' first notes: one device for all
        outcomes.update({"device": device_name(torch.device("cpu")), "torch": torch.__version__})
    for number in [part for part in parts if part in EXERCISES]:     # the later exercises, one by one
        before = _cpu_minutes()
        outcomes[f"exercise {number}"] = {"device": device_name(torch.device("cpu")),
                                          "result": EXERCISES[number](profile, train, test, probe),
                                          "CPU minutes": _cpu_minutes() - before}
        path.write_text(json.dumps(outcomes, indent=1, ensure_ascii=False) + "\n")
        print(number, json.dumps(outcomes[f"exercise {number}"], ensure_ascii=False)[:600], flush=True)
    groups = [("3", "3.3", lambda: chapter_3()),
              ("6", "6.4", lambda: chapter_6(Path("/tmp/semiformer_exercises"))),
              ("1", "1.1 1.2 1.3 1.4 2.2", lambda: chapter_1_and_2(profile, train, test, probe)),
              ("4", "4.3", lambda: chapter_4(profile, train, test))]
    for chapter, numbers, run in groups:               # each group's notes share its runs: timed together
        if chapter in parts:
            before = _cpu_minutes()
            outcomes.update(run())
            outcomes[f"CPU minutes, exercises {numbers}"] = _cpu_minutes() - before
    outcomes[f"minutes, chapters {' '.join(parts)}"] = (time.time() - started) / 60
    path.write_text(json.dumps(outcomes, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(outcomes, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
