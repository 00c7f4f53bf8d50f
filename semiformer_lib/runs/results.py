"""The results artifact of a run: one JSON file, the only way a run's numbers enter the book.

``results.json`` (written atomically at the end of a run, by rank 0) holds::

    format        "semiformer-results/1"
    config        every RunConfig key as run
    provenance    git commit (and whether the tree had uncommitted changes), device name, processes, torch /
                  timm / Python versions, host, start time
    schedule      steps, supervised_steps, warmup_steps, steps_per_epoch
    wall_seconds  the whole run; train_seconds: optimizer steps only (no evaluation, no checkpoint writing)
    images_per_second   labeled + unlabeled images through the model per second of training, all processes
    final         test accuracy of the model and of its EMA on the full test set, per head:
                  {"model": {"conv", "transformer", "summed"}, "ema": {...}} ("summed" alone for one-headed models)
    curves        per evaluation: step, lr, each head's and the EMA's accuracy, and the mean of the per-step
                  pseudo-label diagnostics since the previous evaluation (mask_rate, pseudo_acc, confident_acc,
                  labeled_loss, unlabeled_loss)

:func:`read_results` checks the format; :func:`results_table` lays several artifacts side by side.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import torch

from ..machine import device_name

FORMAT = "semiformer-results/1"


class ResultsError(RuntimeError):
    """A results file is missing or malformed; the message names it."""


def git_commit(folder: str | Path | None = None) -> tuple[str | None, bool | None]:
    """The commit checked out in ``folder`` (default: the library's) and whether the tree has uncommitted changes;
    ``(None, None)`` outside a git checkout."""
    folder = Path(folder) if folder else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip() != ""
        return commit, dirty
    except (OSError, subprocess.SubprocessError):
        return None, None


def provenance(device: torch.device, world_size: int) -> dict:
    import timm
    commit, dirty = git_commit()
    return {"git_commit": commit, "git_dirty": dirty, "device": device_name(device), "device_type": device.type,
            "processes": world_size, "torch": torch.__version__, "timm": timm.__version__,
            "python": sys.version.split()[0], "host": platform.node()}


def write_results(record: dict, path: str | Path) -> Path:
    """Write ``record`` as JSON via a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps({"format": FORMAT, **record}, indent=1))
    os.replace(temporary, path)
    return path


def read_results(path: str | Path) -> dict:
    """Read and check a results artifact."""
    path = Path(path)
    if not path.is_file():
        raise ResultsError(f"results file {path} not found; a finished run writes <output_dir>/<name>/results.json")
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ResultsError(f"results file {path} is not valid JSON ({err}); re-run the run that made it") from err
    missing = [k for k in ("config", "provenance", "final", "curves", "schedule") if k not in record]
    if record.get("format") != FORMAT or missing:
        raise ResultsError(f"results file {path} is not a {FORMAT} artifact (missing {missing or 'format'})")
    record["path"] = str(path)
    return record


def results_table(records: dict[str, dict]):
    """One row per artifact (``{label: record}``), the key columns first: what ran and its final accuracies (each
    head, the summed prediction, the EMA's), then what it cost (minutes, images per second) and where it ran."""
    import pandas as pd
    rows = []
    for label, record in records.items():
        final, prov, config = record["final"], record["provenance"], record["config"]
        row = {"run": label, "model": config["model"], "steps": record["schedule"]["steps"]}
        for head, value in final["model"].items():
            row[f"{head} %"] = 100 * value
        if "ema" in final:                             # a run with ema_decay null keeps no EMA copy
            row["EMA %"] = 100 * final["ema"]["summed"]
        row.update({"minutes": record["wall_seconds"] / 60, "images/s": record["images_per_second"],
                    "device": prov["device"], "processes": prov["processes"],
                    "commit": (prov["git_commit"] or "?")[:8]})
        rows.append(row)
    return pd.DataFrame(rows).set_index("run")
