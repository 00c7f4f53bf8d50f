"""Replay verification: a committed run artifact is checked by re-running its start from its own config.

An artifact is a run folder holding ``results.json`` (:mod:`.results`) and ``metrics.jsonl`` (one row per
evaluation, :mod:`.run`). :func:`verify_artifacts` checks each one in three ways, cheapest first:

1. **schema and provenance** — both files parse, the format is known, the provenance names a commit, a device and
   the versions, the config is still a valid :class:`~.config.RunConfig`, the rows sit every ``eval_every`` steps up
   to ``steps``, and the final accuracies are fractions;
2. **the two files agree** — ``results.json``'s ``curves`` equal ``metrics.jsonl``'s rows, field for field (a number
   edited in one file and not the other is caught here, whatever its step);
3. **the start replays** (CPU artifacts only) — the run's first evaluation window (``eval_every`` steps from step 0,
   built by :func:`.run.state_from_config`, the function the CLI trains with) is re-run on this machine's CPU with the
   artifact's thread count, and its row is compared with the artifact's first row: accuracies of every head and of
   the EMA, the losses, the pseudo-label diagnostics and the learning rate.

4. **a window past the warm-up replays** (CPU artifacts holding :data:`WINDOW_FILE`) — the first window cannot
   check the pseudo-labels: it ends inside the supervised warm-up. An artifact may therefore carry a checkpoint of
   its run at the first evaluation at or after the warm-up's end (step S, written by :func:`write_window_start`,
   which re-runs the config to S and keeps the file only when it then replays the next window exactly). The window
   S → S + ``eval_every``, in which the teacher's pseudo-labels act, is re-run from it and compared with the
   artifact's row at its end, within the spread measured for that window (1 vs 2 threads, stored in the file).

Artifacts whose configs agree up to the end of the first window share one replay: when that window ends inside the
supervised warm-up, the pseudo-label keys (:data:`.comparisons.AFTER_WARM_UP`) cannot have acted yet, so a run and
its supervised twin (λ = 0) start identically. ``one_seed=True`` (``make test``) replays the first window of one
seed per config — the others of that config differ only in their seed — and every window past the warm-up.

Float arithmetic differs between machines, so the comparison is bitwise only where the arithmetic is the same (the
same CPU and library build: a replay on the machine that made the artifact reproduces it bit for bit). Elsewhere it
holds within a :class:`Tolerance` read from ``replay_spread.json`` beside the artifacts: the spread measured between
1 and 2 threads (which changes the summation order, as another machine's kernels would), times
:data:`SPREAD_MARGIN`. ``python -m semiformer_lib.runs.replay FOLDER --measure-spread`` measures and writes it.
GPU artifacts (``device_type`` cuda) get checks 1 and 2 only.

    python -m semiformer_lib.runs.replay book/results          # verify every artifact below the folder
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Collection, Iterator

import torch

from ..train import distributed
from ..train.comparisons import AFTER_WARM_UP
from ..train.config import ConfigError, RunConfig
from ..train.loop import train_loop
from .results import FORMAT, provenance
from .run import state_from_config

SPREAD_FILE = "replay_spread.json"
WINDOW_FILE = "replay_window.pt"   # an artifact's checkpoint at the start of a window past the warm-up (check 4)
SPREAD_MARGIN = 3.0          # tolerance = margin × the largest 1-vs-2-thread difference measured for that quantity
PROVENANCE_KEYS = ("git_commit", "device", "device_type", "processes", "torch", "timm", "python")
ACCURACY_GROUPS = ("model", "ema")
SCALARS = ("lr", "mask_rate", "pseudo_acc", "confident_acc", "labeled_loss", "unlabeled_loss")
NOT_COMPARED = ("images_per_second",)           # wall-clock: differs on every run


class ArtifactError(ValueError):
    """An artifact is malformed, hand-edited, or no longer reproduced by its config; the message names the file."""


@dataclass
class Artifact:
    """One run folder: its ``results.json`` record and its ``metrics.jsonl`` rows."""
    folder: Path
    record: dict
    rows: list[dict]

    @property
    def config(self) -> RunConfig:
        return RunConfig(**self.record["config"])

    @property
    def on_cpu(self) -> bool:
        return self.record["provenance"]["device_type"] == "cpu"

    @property
    def first_step(self) -> int:
        return self.rows[0]["step"]


@dataclass(frozen=True)
class Tolerance:
    """How far a replayed row may sit from the artifact's: absolute, in accuracy (a fraction) and in loss."""
    accuracy: float = 0.0
    loss: float = 0.0
    source: str = "bitwise"

    def allowed(self, key: str) -> float:
        return {"loss": self.loss, "lr": 0.0, "accuracy": self.accuracy}[_kind(key)]


@dataclass
class Verdict:
    """What :func:`verify_artifacts` found for one artifact."""
    folder: Path
    replayed: bool = False
    bitwise: bool = False
    largest: dict[str, float] = field(default_factory=dict)     # largest |difference| per quantity kind
    seconds: float = 0.0
    window: tuple[int, int] | None = None                        # the window past the warm-up replayed (check 4)
    window_bitwise: bool = False
    elsewhere: bool = False                                      # its replays are run by another check


# --- reading and the checks that need no compute ----------------------------------------------------------------

def _fail(path: Path, problem: str) -> ArtifactError:
    return ArtifactError(f"{path}: {problem}. Artifacts are written by `python -m semiformer_lib.train` and never "
                         "edited by hand: re-run the config to regenerate the folder")


def _read_files(results: Path, metrics: Path) -> tuple[dict, list[dict]]:
    """The two files of an artifact, parsed."""
    for path in (results, metrics):
        if not path.is_file():
            raise _fail(path, "missing (an artifact is a folder with results.json and metrics.jsonl)")
    try:
        record = json.loads(results.read_text())
    except json.JSONDecodeError as err:
        raise _fail(results, f"not valid JSON ({err})") from None
    try:
        rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    except json.JSONDecodeError as err:
        raise _fail(metrics, f"a line is not valid JSON ({err})") from None
    return record, rows


def read_artifact(folder: str | Path) -> Artifact:
    """Read a run folder and run checks 1 and 2 of the module docstring; :class:`ArtifactError` names the file."""
    folder = Path(folder)
    results, metrics = folder / "results.json", folder / "metrics.jsonl"
    record, rows = _read_files(results, metrics)
    if record.get("format") != FORMAT:
        raise _fail(results, f"format {record.get('format')!r}, expected {FORMAT!r}")
    missing = [k for k in ("config", "provenance", "schedule", "final", "curves", "wall_seconds") if k not in record]
    missing += [f"provenance.{k}" for k in PROVENANCE_KEYS if k not in record.get("provenance", {})]
    if missing:
        raise _fail(results, f"lacks {', '.join(missing)}")
    if record["provenance"]["device_type"] not in ("cpu", "cuda"):
        raise _fail(results, f"provenance.device_type {record['provenance']['device_type']!r} is neither cpu nor cuda")
    try:
        config = RunConfig(**record["config"])
    except (ConfigError, TypeError) as err:
        raise _fail(results, f"its config is no longer a valid RunConfig ({err})") from None
    _check_rows(record, rows, config, metrics)
    return Artifact(folder, record, rows)


def _check_rows(record: dict, rows: list[dict], config: RunConfig, metrics: Path) -> None:
    """The rows equal the record's curves, sit every ``eval_every`` steps, and the final accuracies are fractions."""
    if not rows:
        raise _fail(metrics, "holds no row")
    if rows != record["curves"]:
        step = next((a.get("step") for a, b in zip(rows, record["curves"]) if a != b), "the end")
        raise _fail(metrics, f"disagrees with results.json's curves at step {step}: one of the two was edited")
    steps, every = record["schedule"]["steps"], config.eval_every
    expected = list(range(every, steps + 1, every)) if every else []
    expected += [steps] if not expected or expected[-1] != steps else []
    if [row.get("step") for row in rows] != expected:
        raise _fail(metrics, f"its rows sit at steps {[row.get('step') for row in rows]}, not every {every} "
                             f"steps to {steps}")
    finals = [v for group in record["final"].values() for v in group.values()]
    if not finals or not all(isinstance(v, float) and 0 <= v <= 1 for v in finals):
        raise _fail(metrics.with_name("results.json"),
                    f"final accuracies {record['final']} are not fractions in [0, 1]")


def find_artifacts(root: str | Path, names: list[str] | None = None) -> list[Artifact]:
    """Every artifact (a folder with ``results.json`` or ``metrics.jsonl``) below ``root`` — only those whose folder
    is named in ``names``, when given — read and checked, in path order."""
    root = Path(root)
    folders = sorted({path.parent for path in root.rglob("results.json")} |
                     {path.parent for path in root.rglob("metrics.jsonl")})
    if names is not None:
        missing = set(names) - {folder.name for folder in folders}
        if missing:
            raise ArtifactError(f"{root}: no artifact named {sorted(missing)} below it")
        folders = [folder for folder in folders if folder.name in names]
    if not folders:
        raise ArtifactError(f"{root}: no artifact (a folder with results.json and metrics.jsonl) below it")
    return [read_artifact(folder) for folder in folders]


# --- the replay -------------------------------------------------------------------------------------------------

def replay_key(artifact: Artifact) -> str:
    """What decides the artifact's first window: its config without the name, the output folder and — when the
    window ends inside the supervised warm-up — the pseudo-label keys, which have not acted yet."""
    config = dict(artifact.record["config"])
    for key in ("name", "output_dir", "profile", "checkpoint_every", "keep_checkpoints", "workers"):
        config.pop(key, None)
    if artifact.first_step <= artifact.record["schedule"]["supervised_steps"]:
        for key in AFTER_WARM_UP:
            config.pop(key, None)
    return json.dumps(config, sort_keys=True)


@contextlib.contextmanager
def _torch_threads(config: RunConfig, threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` torch threads (default: the config's), restoring the count afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads or config.threads or before)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _cpu_state(config: RunConfig, start: dict | None):
    """The run of ``config`` on this machine's CPU at step 0, or at the saved ``start`` (a copy of it: the optimizer
    adopts the saved moment tensors as they are and would update them in place)."""
    state = state_from_config(config, distributed.single_process(torch.device("cpu")))
    if start is not None:
        state.load_state_dict(copy.deepcopy(start))
    return state


def replay_first_window(config: RunConfig, until: int, threads: int | None = None) -> dict:
    """Re-run ``config`` on this machine's CPU from step 0 to step ``until`` (its first evaluation) and return that
    evaluation's metrics row. ``threads`` defaults to the config's; torch's thread count is restored afterwards."""
    return replay_window(config, None, until, threads)


def _flatten(row: dict) -> dict[str, float | None]:
    """``{"model.conv": 0.43, "lr": 0.001, …}``: the compared quantities of a metrics row."""
    flat = {key: row.get(key) for key in SCALARS}
    for group in ACCURACY_GROUPS:
        flat.update({f"{group}.{head}": value for head, value in row.get(group, {}).items()})
    flat.update({f"class_mask_rate.{i}": v for i, v in enumerate(row.get("class_mask_rate") or [])})
    return flat


def _kind(key: str) -> str:
    return "loss" if key.endswith("loss") else ("lr" if key == "lr" else "accuracy")


def row_differences(replayed: dict, recorded: dict) -> dict[str, float]:
    """``{quantity: |replayed − recorded|}`` for every compared quantity; ``inf`` where one is missing or null and the
    other is not."""
    ours, theirs = _flatten(replayed), _flatten(recorded)
    differences = {}
    for key in sorted(set(ours) | set(theirs)):
        a, b = ours.get(key), theirs.get(key)
        if a is None and b is None:
            continue
        if a is None or b is None or (isinstance(a, float) and math.isnan(a)) != (isinstance(b, float)
                                                                                  and math.isnan(b)):
            differences[key] = math.inf
        else:
            differences[key] = 0.0 if a == b or (math.isnan(a) and math.isnan(b)) else abs(a - b)
    return differences


def read_tolerance(root: str | Path) -> Tolerance:
    """The tolerance of ``root``'s artifacts: :data:`SPREAD_MARGIN` × the spread in the nearest
    ``replay_spread.json`` in ``root`` or a folder above it (so that ``book/results/long`` is judged by the spread
    measured for ``book/results``); bitwise (zero) when no spread was measured."""
    root = Path(root)
    above = [Path(os.path.relpath(folder)) for folder in root.resolve().parents]    # named as root is: relative
    path = next((folder / SPREAD_FILE for folder in (root, *above) if (folder / SPREAD_FILE).is_file()), None)
    if path is None:
        return Tolerance()
    try:
        spread = json.loads(path.read_text())["largest"]
        return Tolerance(accuracy=SPREAD_MARGIN * spread["accuracy"], loss=SPREAD_MARGIN * spread["loss"],
                         source=f"{SPREAD_MARGIN:g} × the 1-vs-2-thread spread in {path}")
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ArtifactError(f"{path}: not a spread measurement ({err!r}); re-measure it with "
                            f"python -m semiformer_lib.runs.replay {root} --measure-spread") from None


def seedless_key(artifact: Artifact) -> str:
    """The artifact's :func:`replay_key` without its seeds: artifacts sharing it differ only in their seed."""
    config = json.loads(replay_key(artifact))
    for key in ("seed", "split_seed"):
        config.pop(key, None)
    return json.dumps(config, sort_keys=True)


def verify_artifacts(root: str | Path, names: list[str] | None = None, tolerance: Tolerance | None = None,
                     progress: bool = True, one_seed: bool = False,
                     replayed_elsewhere: Collection[str] = ()) -> list[Verdict]:
    """Check every artifact below ``root`` (those named in ``names``, when given; see the module docstring); raise
    :class:`ArtifactError` naming the first file that fails, else return one :class:`Verdict` per artifact.
    ``one_seed``: replay the first window of one seed per config only (checks 1, 2 and 4 still run for all).
    ``replayed_elsewhere``: folder names whose checks 3 and 4 another check runs (``make test``: chapter 6's replay
    cell, for the grid's winner and its twin); their recorded first row stands in for the replay of their config,
    so the artifacts that share that first window are still compared with it."""
    artifacts = find_artifacts(root, names)              # checks 1 and 2 for all, before any compute
    tolerance = tolerance or read_tolerance(root)
    verdicts, replays, seedless = [], {}, set()
    elsewhere = [a for a in artifacts if a.on_cpu and a.folder.name in replayed_elsewhere]
    for artifact in elsewhere:
        replays.setdefault(replay_key(artifact), artifact.rows[0])
        seedless.add(seedless_key(artifact))
    for artifact in artifacts:
        verdict = Verdict(artifact.folder)
        verdicts.append(verdict)
        if not artifact.on_cpu:
            continue
        if artifact in elsewhere:
            verdict.elsewhere = True
            continue
        if (artifact.folder / WINDOW_FILE).is_file():
            _verify_window(artifact, verdict, tolerance, progress)
        key = replay_key(artifact)
        if one_seed and key not in replays and seedless_key(artifact) in seedless:
            continue                                     # another seed of this config was replayed
        seedless.add(seedless_key(artifact))
        started = time.perf_counter()
        if key not in replays:
            if progress:
                print(f"replaying {artifact.folder} to step {artifact.first_step} …", flush=True)
            replays[key] = replay_first_window(artifact.config, artifact.first_step)
        verdict.seconds = time.perf_counter() - started
        _compare_first_row(artifact, verdict, replays[key], tolerance)
    return verdicts


def _compare_first_row(artifact: Artifact, verdict: Verdict, replayed: dict, tolerance: Tolerance) -> None:
    """Check 3's verdict: the replayed first row against the artifact's, within ``tolerance``."""
    differences = row_differences(replayed, artifact.rows[0])
    beyond = {k: d for k, d in differences.items() if d > tolerance.allowed(k)}
    if beyond:
        shown = ", ".join(f"{k}: replayed {_flatten(replayed).get(k)} vs recorded "
                          f"{_flatten(artifact.rows[0]).get(k)}" for k in sorted(beyond))
        raise ArtifactError(f"{artifact.folder / 'metrics.jsonl'}: its first row (step {artifact.first_step}) is "
                            f"not reproduced by its config ({shown}; tolerance: {tolerance.source}). Either "
                            "the file was edited or the code no longer computes what made it: re-run the config "
                            "to regenerate the folder")
    verdict.replayed, verdict.bitwise = True, all(d == 0 for d in differences.values())
    for k, d in differences.items():
        verdict.largest[_kind(k)] = max(verdict.largest.get(_kind(k), 0.0), d)


def _window(artifact: Artifact) -> tuple[int, int]:
    """The window check 4 replays: from the first evaluation at or after the warm-up's end to the next one."""
    every, warm_up = artifact.config.eval_every, artifact.record["schedule"]["supervised_steps"]
    steps = [row["step"] for row in artifact.rows]
    start = next((step for step in steps if step >= warm_up), None)
    if start is None or start == steps[-1]:
        raise ArtifactError(f"{artifact.folder}: no evaluation window after its warm-up ({warm_up} steps, evaluations "
                            f"at {steps[0]}…{steps[-1]}) to replay")
    return start, start + every


def replay_window(config: RunConfig, start: dict | None, until: int, threads: int | None = None) -> dict:
    """Re-run ``config`` on this machine's CPU from the saved state ``start`` (None: step 0) to step ``until`` and
    return the metrics row of that step."""
    with _torch_threads(config, threads):
        state = _cpu_state(config, start)
        train_loop(state, until=until, progress=False)
    row = next((row for row in state.metrics if row["step"] == until), None)
    if row is None:
        raise ArtifactError(f"the replay of {config.name} from step {start['step'] if start else 0} made no "
                            f"evaluation at step {until}: its eval_every changed")
    return row


def _read_window_start(artifact: Artifact) -> dict:
    path = artifact.folder / WINDOW_FILE
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        start, spread = saved["state"], saved["spread"]
        int(start["step"]), float(spread["accuracy"]), float(spread["loss"])
    except Exception as err:     # truncated, foreign or from another version: name it and the fix
        raise ArtifactError(f"{path}: not a window start written by write_window_start (reading it raised "
                            f"{type(err).__name__}: truncated, foreign or of another format); rewrite it with "
                            f"python -m semiformer_lib.runs.replay {artifact.folder} --write-window") from None
    if int(start["step"]) != _window(artifact)[0]:
        raise ArtifactError(f"{path}: saved at step {start['step']}, not at the window's start "
                            f"{_window(artifact)[0]}; rewrite it with --write-window")
    return saved


def _verify_window(artifact: Artifact, verdict: Verdict, tolerance: Tolerance, progress: bool) -> None:
    """Check 4: replay the window past the warm-up from the artifact's saved start and compare its last row."""
    saved = _read_window_start(artifact)
    start, end = _window(artifact)
    if progress:
        print(f"replaying {artifact.folder} from step {start} to step {end} (pseudo-labels acting) …", flush=True)
    replayed = replay_window(artifact.config, saved["state"], end)
    recorded = next(row for row in artifact.rows if row["step"] == end)
    # the spread measured for this window, times the margin, or the folder's tolerance where that is larger
    allowed = tolerance if tolerance.source == "bitwise" else Tolerance(
        accuracy=max(tolerance.accuracy, SPREAD_MARGIN * saved["spread"]["accuracy"]),
        loss=max(tolerance.loss, SPREAD_MARGIN * saved["spread"]["loss"]))
    differences = row_differences(replayed, recorded)
    beyond = {k: d for k, d in differences.items() if d > allowed.allowed(k)}
    if beyond:
        shown = ", ".join(f"{k}: replayed {_flatten(replayed).get(k)} vs recorded {_flatten(recorded).get(k)}"
                          for k in sorted(beyond))
        raise ArtifactError(f"{artifact.folder / 'metrics.jsonl'}: its row at step {end} is not reproduced from "
                            f"{WINDOW_FILE} ({shown}). Either a file was edited or the code no longer computes what "
                            "made it: re-run the config to regenerate the folder")
    verdict.window, verdict.window_bitwise = (start, end), all(d == 0 for d in differences.values())


def write_window_start(folder: str | Path, threads: int | None = None) -> Path:
    """Re-run the artifact in ``folder`` from step 0 to the start S of its first window past the warm-up, measure
    that window's 1-vs-2-thread spread, and save the state at S with the spread as :data:`WINDOW_FILE` — only if
    the window replayed from it reproduces the artifact's row at S + ``eval_every`` exactly (so only on the machine
    kind that made the artifact)."""
    artifact = read_artifact(folder)
    if not artifact.on_cpu:
        raise ArtifactError(f"{artifact.folder}: a GPU artifact; its windows cannot be replayed exactly on a CPU")
    start, end = _window(artifact)
    config = artifact.config
    own = threads or config.threads or torch.get_num_threads()
    with _torch_threads(config, own):
        state = _cpu_state(config, None)
        train_loop(state, until=start, progress=True, desc=f"{config.name} to step {start}")
        saved = state.state_dict()
    recorded = next(row for row in artifact.rows if row["step"] == end)
    replays = {n: replay_window(config, saved, end, threads=n) for n in sorted({own, 1, 2})}
    if any(row_differences(replays[own], recorded).values()):
        machine = provenance(torch.device("cpu"), 1)["device"]
        raise ArtifactError(f"{artifact.folder}: the window {start} → {end} replayed from a fresh start does not "
                            f"reproduce the artifact's row exactly on this machine ({machine}); write the window "
                            "start on the machine kind that made the artifact")
    differences = row_differences(replays[1], replays[2])
    spread = {kind: max([d for k, d in differences.items() if _kind(k) == kind], default=0.0)
              for kind in ("accuracy", "loss")}
    path = artifact.folder / WINDOW_FILE
    torch.save({"state": saved, "spread": spread, "window": [start, end],
                "measured": "1 vs 2 CPU threads, replayed from this state",
                "provenance": json.loads(json.dumps(provenance(torch.device("cpu"), 1), default=str))}, path)
    return path


def measure_spread(root: str | Path) -> dict:
    """Replay each distinct first window of ``root``'s CPU artifacts with 1 and with 2 threads and record the
    largest difference per quantity kind — the measurement :func:`read_tolerance` scales."""
    artifacts = [a for a in find_artifacts(root) if a.on_cpu]
    groups = {replay_key(a): a for a in artifacts}
    largest, windows = {"accuracy": 0.0, "loss": 0.0, "lr": 0.0}, []
    for artifact in groups.values():
        one, two = (replay_first_window(artifact.config, artifact.first_step, threads=n) for n in (1, 2))
        differences = row_differences(one, two)
        worst = {kind: max([d for k, d in differences.items() if _kind(k) == kind], default=0.0)
                 for kind in largest}
        windows.append({"artifact": str(artifact.folder), "step": artifact.first_step, "largest": worst})
        largest = {kind: max(largest[kind], worst[kind]) for kind in largest}
        print(f"{artifact.folder}: 1 vs 2 threads, largest differences {worst}", flush=True)
    return {"measured": "the first evaluation window of each distinct replay, with 1 and with 2 CPU threads",
            "provenance": provenance(torch.device("cpu"), 1), "largest": largest, "windows": windows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m semiformer_lib.runs.replay",
                                     description="Verify committed run artifacts by replaying their first window.")
    parser.add_argument("root", help="a folder holding run folders (results.json + metrics.jsonl), e.g. book/results")
    parser.add_argument("--measure-spread", action="store_true",
                        help=f"measure the 1-vs-2-thread spread and write it to ROOT/{SPREAD_FILE}")
    parser.add_argument("--one-seed", action="store_true",
                        help="replay the first window of one seed per config (windows past the warm-up: all)")
    parser.add_argument("--write-window", action="store_true",
                        help=f"ROOT is one artifact: save its state at its first window past the warm-up as "
                             f"ROOT/{WINDOW_FILE} (re-runs the config to there; checked before it is kept)")
    args = parser.parse_args(argv)
    try:
        if args.write_window:
            path = write_window_start(args.root)
            print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")
            return 0
        if args.measure_spread:
            spread = measure_spread(args.root)
            (Path(args.root) / SPREAD_FILE).write_text(json.dumps(spread, indent=1) + "\n")
            print(f"largest 1-vs-2-thread differences: {spread['largest']}")
            return 0
        started = time.perf_counter()
        verdicts = verify_artifacts(args.root, one_seed=args.one_seed)
    except ArtifactError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    replayed, windows = [v for v in verdicts if v.replayed], [v for v in verdicts if v.window]
    print(f"{len(verdicts)} artifacts verified ({len(replayed)} first windows replayed, "
          f"{sum(v.bitwise for v in replayed)} bit for bit; {len(windows)} windows past the warm-up, "
          f"{sum(v.window_bitwise for v in windows)} bit for bit) in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
