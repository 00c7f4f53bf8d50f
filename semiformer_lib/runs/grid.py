"""A tuning grid run through the CLI: every method gets the same knobs, the same recipe and the same budget.

A comparison is only as fair as its tuning. A *plan* (YAML) names one base config, the methods (a model and the
teachers it can use), the grid every method shares (τ, λ) and the stages:

    base: base.yaml                      # every run is this config plus its overrides
    overrides: {}                        # optional: changes to the base that every run shares (plan_5k: length)
    results: book/results/payoff         # where each finished run's artifact is copied
    methods:
      pair:         {model: semiformer_cnn_mini, teachers: [conv, mean, ema]}
      fixmatch_cnn: {model: cnn_mini, teachers: [mean]}
    thresholds: [0.7, 0.95]
    unlabeled_weights: [1.0]
    stages:
      - {name: screen, labels_per_class: [40], seeds: [0]}                 # the whole grid, one seed
      - {name: confirm, labels_per_class: [40], seeds: [1, 2], best_of: screen}

A stage with ``best_of`` runs, for each method, only the grid point that ended best in that earlier stage (highest
final test accuracy of the summed prediction; ties go to the first in grid order) — the same rule for every method,
so no method is tuned by hand. A method may instead pin its own ``thresholds`` (a subset of the plan's), with one
teacher, to run the point an earlier plan's screen chose (``plan_5k.yaml``: the Semiformer at its 4-label screen
winner, 2.5× longer, beside FixMatch at both thresholds). Every stage also runs each method's supervised twin
(λ = 0: the same model, data and steps on the labels alone) at each of its seeds. Run names say what differs:
``pair_conv_t0.7_l40_s0``, ``fixmatch_cnn_mean_t0.95_l40_s1``, ``pair_twin_l40_s0``.

``python -m semiformer_lib.runs.grid PLAN [--jobs 2] [--stage NAME] [--list]`` runs every run of the plan whose
artifact is missing (a stage that takes the best of another starts once that one has finished), ``jobs`` at a
time, each a ``python -m semiformer_lib.train`` process on one CPU thread, and copies ``results.json`` and
``metrics.jsonl`` to ``results/<name>/`` as each one finishes (so an interrupted grid keeps what finished; run it
again to go on). Artifacts must come from a committed tree: a dirty one is refused unless ``--allow-dirty`` (for a
trial; its artifacts then record ``git_dirty: true``).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..train.config import ConfigError, load_config
from .results import git_commit

TWIN = "twin"


@dataclass(frozen=True)
class GridRun:
    """One run of a plan: its name, the stage it belongs to, its method and the overrides of the base config."""
    name: str
    stage: str
    method: str
    overrides: dict

    def arguments(self) -> list[str]:
        return [f"{key}={value}" for key, value in self.overrides.items()]


@dataclass
class Plan:
    """A plan file, read and checked (see the module docstring)."""
    path: Path
    base: Path
    results: Path
    methods: dict[str, dict]
    thresholds: list[float]
    unlabeled_weights: list[float]
    stages: list[dict]
    overrides: dict


# the keys each run sets itself (its method, grid point, labels and seed): a plan's shared overrides leave them alone
RUN_KEYS = ("model", "labels_per_class", "seed", "split_seed", "teacher", "threshold", "unlabeled_weight", "name")


def read_plan(path: str | Path) -> Plan:
    """Read and check a plan; every run's config is validated before anything trains."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"plan file {path} not found")
    raw = yaml.safe_load(path.read_text()) or {}
    missing = [key for key in ("base", "results", "methods", "thresholds", "stages") if key not in raw]
    if missing:
        raise ConfigError(f"plan {path} lacks {', '.join(missing)}")
    plan = Plan(path, (path.parent / raw["base"]).resolve(), Path(raw["results"]), raw["methods"],
                [float(t) for t in raw["thresholds"]], [float(w) for w in raw.get("unlabeled_weights", [1.0])],
                raw["stages"], dict(raw.get("overrides") or {}))
    clashing = sorted(set(plan.overrides) & set(RUN_KEYS))
    if clashing:
        raise ConfigError(f"plan {path}: its overrides set {', '.join(clashing)}, which each run sets itself")
    names = [stage.get("name") for stage in plan.stages]
    for stage in plan.stages:
        if stage.get("best_of") is not None and stage["best_of"] not in names[:names.index(stage["name"])]:
            raise ConfigError(f"plan {path}: stage {stage['name']!r} takes the best of {stage['best_of']!r}, "
                              "which is not an earlier stage")
    for method, spec in plan.methods.items():
        if TWIN in method.split("_") or not spec.get("model") or not spec.get("teachers"):
            raise ConfigError(f"plan {path}: method {method!r} needs a model and teachers, and no '_twin' in its name")
        spec["thresholds"] = [float(t) for t in spec.get("thresholds", plan.thresholds)]
        if not spec["thresholds"] or not set(spec["thresholds"]) <= set(plan.thresholds):
            raise ConfigError(f"plan {path}: method {method!r} pins thresholds {spec['thresholds']}, which must be "
                              f"some of the plan's {plan.thresholds}")
    return plan


def _number(value: float) -> str:
    return f"{value:g}"


def grid_points(plan: Plan, method: str) -> list[dict]:
    """The method's grid, in order: every τ × λ × teacher it can use (the first τ's points first); its own pinned
    thresholds, when it has them, in the plan's order."""
    pinned = plan.methods[method]["thresholds"]                      # the plan's, unless the method pins its own
    return [{"teacher": teacher, "threshold": tau, "unlabeled_weight": weight}
            for tau in plan.thresholds if tau in pinned for weight in plan.unlabeled_weights
            for teacher in plan.methods[method]["teachers"]]


def run_name(method: str, point: dict | None, labels: int, seed: int, multiple_weights: bool = False) -> str:
    if point is None:
        return f"{method}_{TWIN}_l{labels}_s{seed}"
    weight = f"_w{_number(point['unlabeled_weight'])}" if multiple_weights else ""
    return f"{method}_{point['teacher']}_t{_number(point['threshold'])}{weight}_l{labels}_s{seed}"


def final_accuracy(results: Path, name: str) -> float | None:
    """The final summed test accuracy of run ``name`` below ``results``, or None while it has no artifact."""
    path = results / name / "results.json"
    return json.loads(path.read_text())["final"]["model"]["summed"] if path.is_file() else None


def best_point(plan: Plan, method: str, stage: dict, results: Path) -> dict | None:
    """The grid point of ``method`` that ended best in ``stage`` (mean over its seeds and label budgets), or None
    while any of that stage's runs of the method is unfinished."""
    scores = []
    for point in grid_points(plan, method):
        finals = [final_accuracy(results, run_name(method, point, labels, seed, len(plan.unlabeled_weights) > 1))
                  for labels in stage["labels_per_class"] for seed in stage["seeds"]]
        if any(value is None for value in finals):
            return None
        scores.append(sum(finals) / len(finals))
    return grid_points(plan, method)[scores.index(max(scores))]


def stage_points(plan: Plan, stage: dict, results: Path) -> tuple[dict[str, list[dict]], list[str]]:
    """The grid points each of ``stage``'s methods runs (all of them, or the best of an earlier stage), and a note
    for each method that waits on that earlier stage."""
    points, waiting = {}, []
    for method in stage.get("methods", list(plan.methods)):
        if method not in plan.methods:
            raise ConfigError(f"plan {plan.path}: stage {stage['name']!r} names no method {method!r}")
        if not stage.get("best_of"):
            points[method] = grid_points(plan, method)
            continue
        earlier = next(s for s in plan.stages if s["name"] == stage["best_of"])
        best = best_point(plan, method, earlier, results)
        if best is None:
            waiting.append(f"{stage['name']}: {method} waits for stage {stage['best_of']!r} to finish")
        else:
            points[method] = [best]
    return points, waiting


def plan_runs(plan: Plan, results: Path | None = None) -> tuple[list[GridRun], list[str]]:
    """Every run the plan asks for now, and a note for each stage that waits on an earlier one. Stage by stage; in a
    stage, label budget by budget and seed by seed, the methods take turns (each method's first grid point, then
    its twin, then the rest), so that an interrupted stage has begun every method."""
    results = plan.results if results is None else results
    runs, waiting = [], []
    for stage in plan.stages:
        points, waits = stage_points(plan, stage, results)
        waiting += waits
        for labels in stage["labels_per_class"]:
            for seed in stage["seeds"]:
                turns = []
                for method, chosen in points.items():
                    common = {**plan.overrides, "model": plan.methods[method]["model"], "labels_per_class": labels,
                              "seed": seed, "split_seed": seed}
                    own = [GridRun(run_name(method, point, labels, seed, len(plan.unlabeled_weights) > 1),
                                   stage["name"], method, {**common, **point}) for point in chosen]
                    own.insert(1, GridRun(run_name(method, None, labels, seed), stage["name"], method,
                                          {**common, **chosen[0], "unlabeled_weight": 0.0}))
                    turns.append(own)
                for turn in range(max(map(len, turns), default=0)):
                    runs += [own[turn] for own in turns if turn < len(own)]
    unique = {}
    for run in runs:                                      # a run two stages ask for runs once, in the first
        unique.setdefault(run.name, GridRun(run.name, run.stage, run.method, {**run.overrides, "name": run.name}))
    return list(unique.values()), waiting


def missing_runs(plan: Plan, results: Path, stage: str | None = None, skip=()) -> tuple[list[GridRun], list[str]]:
    """The plan's runs (of ``stage``, when given) that have no artifact yet and are not in ``skip``, in order, and
    the notes of the stages still waiting."""
    runs, waiting = plan_runs(plan, results)
    return [run for run in runs if (stage is None or run.stage == stage) and run.name not in skip
            and not (results / run.name / "results.json").is_file()], waiting


def _launch(plan: Plan, run: GridRun, python: str) -> tuple:
    """Start ``run`` as a CLI process on one thread; ``(process, log handle, run folder, start time)``."""
    config = load_config(plan.base, run.arguments())
    log = Path(config.output_dir) / f"{run.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [python, "-m", "semiformer_lib.train", "--config", str(plan.base), *run.arguments(), "--no-progress"]
    handle = log.open("w")
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "SEMIFORMER_THREADS": "1"}
    process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=environment)
    print(f"started  {run.name}", flush=True)
    return process, handle, Path(config.output_dir) / run.name, time.perf_counter()


def _collect(name: str, launched: tuple, results: Path) -> bool:
    """A run's process has ended: copy its artifact to ``results/name`` and say so; False when it failed."""
    process, handle, folder, started = launched
    handle.close()
    minutes = (time.perf_counter() - started) / 60
    if process.returncode != 0 or not (folder / "results.json").is_file():
        print(f"FAILED   {name} (exit {process.returncode}, {minutes:.1f} min): see {handle.name}", flush=True)
        return False
    target = results / name
    target.mkdir(parents=True, exist_ok=True)
    for file in ("results.json", "metrics.jsonl"):
        shutil.copy2(folder / file, target / file)
    print(f"finished {name}: {100 * final_accuracy(results, name):.2f} % in {minutes:.1f} min", flush=True)
    return True


def run_grid(plan: Plan, jobs: int = 2, stage: str | None = None, allow_dirty: bool = False,
             results: Path | None = None, python: str = sys.executable) -> int:
    """Run the plan's missing runs, ``jobs`` at a time (see the module docstring), until none is left: a stage that
    takes the best of an earlier one starts as soon as that one has finished. Returns how many runs failed."""
    results = plan.results if results is None else results
    _, dirty = git_commit()
    if dirty and not allow_dirty:
        raise ConfigError("the library's git tree has uncommitted changes: commit them first, so that every artifact "
                          "names the code that made it (or pass --allow-dirty for a trial)")
    todo, waiting = missing_runs(plan, results, stage)
    for run in todo:                    # every config checked before the first run starts
        load_config(plan.base, run.arguments())
    print(f"{len(todo)} runs to do now, {jobs} at a time; artifacts to {results}"
          + "".join(f"\n  {w}" for w in waiting), flush=True)
    running, started, failed = {}, set(), 0
    while True:
        queue, _ = missing_runs(plan, results, stage, skip=started)      # finished stages unlock the next ones
        while queue and len(running) < jobs:
            run = queue.pop(0)
            started.add(run.name)
            running[run.name] = _launch(plan, run, python)
        if not running:
            return failed
        time.sleep(2)
        for name in [name for name, launched in running.items() if launched[0].poll() is not None]:
            failed += not _collect(name, running.pop(name), results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m semiformer_lib.runs.grid", description=__doc__.splitlines()[0])
    parser.add_argument("plan", help="a plan file, e.g. semiformer_lib/configs/payoff/plan.yaml")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time, one CPU thread each (default 2)")
    parser.add_argument("--stage", help="only this stage's runs")
    parser.add_argument("--results", type=Path, help="copy artifacts here instead of the plan's results folder")
    parser.add_argument("--list", action="store_true", help="print the runs and whether each is done; train nothing")
    parser.add_argument("--allow-dirty", action="store_true", help="run from a tree with uncommitted changes")
    args = parser.parse_args(argv)
    try:
        plan = read_plan(args.plan)
        results = args.results or plan.results
        if args.list:
            runs, waiting = plan_runs(plan, results)
            for run in runs:
                final = final_accuracy(results, run.name)
                print(f"{run.stage:<8} {run.name:<40} " + ("—" if final is None else f"{100 * final:.2f} %"))
            print("\n".join(waiting))
            return 0
        return 1 if run_grid(plan, args.jobs, args.stage, args.allow_dirty, results) else 0
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
