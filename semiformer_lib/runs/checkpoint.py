"""Checkpoints of the full run: written atomically, loaded safely, rotated.

A checkpoint holds everything a run needs to continue exactly where it stopped: the model, optimizer, learning-rate
scheduler and EMA state, the step, every random generator (torch CPU and CUDA, NumPy, Python, and each batch
source's own, which is also the sampler's position) and the metrics gathered so far.

* Writing goes to ``<name>.tmp`` first, then ``os.replace`` renames it: a crash mid-write leaves the previous
  checkpoint untouched, never half a file under the real name. A write that fails (a full disk) removes its
  ``.tmp`` and raises :class:`CheckpointError` naming the folder and the cause; older checkpoints are kept.
* Reading uses ``torch.load(weights_only=True)`` — no pickled code runs — and any failure (truncated file, foreign
  file, a file holding Python objects, missing entries) raises :class:`CheckpointError`: the file is not a
  checkpoint of this library. The message names the newest *older* checkpoint that was itself loaded and checked
  (or says that none is intact); torch's own advice to retry with ``weights_only=False`` is never passed on.
* Files are ``step_<000123>.pt`` in the run's ``checkpoints/`` folder; the newest ``keep`` are kept.
"""
from __future__ import annotations

import errno
import os
import pickle
import re
import shutil
from pathlib import Path

import torch

PATTERN = re.compile(r"step_(\d+)\.pt$")
REQUIRED = ("format", "step", "model", "optimizer", "scheduler", "ema", "rng", "sources", "diagnostics", "metrics")
FORMAT = "semiformer-run/2"            # /2: the one loop's TrainState (diagnostics by name)


class CheckpointError(RuntimeError):
    """A checkpoint cannot be read or does not belong to this run; the message names the file and the way out."""


def checkpoint_name(step: int) -> str:
    return f"step_{step:06d}.pt"


def list_checkpoints(folder: str | Path) -> list[Path]:
    """The checkpoints in ``folder``, oldest first (by step)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := PATTERN.search(p.name))]
    return [p for _, p in sorted(found)]


def save_checkpoint(state: dict, folder: str | Path, keep: int = 2) -> Path:
    """Write ``state`` (must hold ``step``) as ``folder/step_N.pt`` atomically; delete all but the newest ``keep``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / checkpoint_name(int(state["step"]))
    temporary = path.with_suffix(".pt.tmp")
    try:
        torch.save({"format": FORMAT, **state}, temporary)
        with open(temporary, "rb") as handle:                # on disk before the rename makes it the real one
            os.fsync(handle.fileno())
    except (OSError, RuntimeError) as err:                   # torch reports a full disk as a RuntimeError
        temporary.unlink(missing_ok=True)
        raise CheckpointError(f"could not write checkpoint {path.name} in {folder}: {_write_failure(err, folder)}. "
                              "The earlier checkpoints are kept; free some space (or set output_dir= elsewhere) "
                              "and continue with --resume") from None
    os.replace(temporary, path)
    for old in list_checkpoints(folder)[:-keep]:
        old.unlink()
    return path


def _write_failure(err: Exception, folder: Path) -> str:
    """Why a checkpoint write failed, in words, with the space left on the folder's disk."""
    try:
        free = f"; {shutil.disk_usage(folder).free / 2**20:.1f} MiB free on that disk"
    except OSError:
        free = ""
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        return f"the disk is full{free}"
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__} ({first_line}){free}"


def _step_of(path: Path) -> int | None:
    match = PATTERN.search(path.name)
    return int(match.group(1)) if match else None


def _read_checkpoint(path: Path) -> dict:
    """The checkpoint at ``path``, checked; :class:`CheckpointError` (without advice) when it is not one."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:                     # torch raises RuntimeError, EOFError, … on truncated or foreign files
        forbidden = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        if isinstance(err, pickle.UnpicklingError) and forbidden:   # weights_only refused an object: never load it
            raise CheckpointError(f"{path} is not a checkpoint of this library: it holds Python objects ("
                                  f"{forbidden.group(1)}) beyond tensors and plain data, and such a file is never "
                                  "loaded (loading it could run code).") from None
        raise CheckpointError(f"{path} is corrupt or not a checkpoint of this library: it cannot be read "
                              f"({type(err).__name__}; a write cut short, or another kind of file).") from None
    missing = [key for key in REQUIRED if not isinstance(state, dict) or key not in state]
    if missing or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a checkpoint of this library ({FORMAT}): missing "
                              f"{missing or 'format'}.")
    return state


def _intact_fallback(path: Path) -> str:
    """Advice after ``path`` failed to load: the newest older checkpoint of its folder that loads and checks."""
    step = _step_of(path)
    older = [p for p in list_checkpoints(path.parent) if p != path and (step is None or _step_of(p) < step)]
    for candidate in reversed(older):
        try:
            _read_checkpoint(candidate)
        except CheckpointError:
            continue
        return (f" The newest older checkpoint, {candidate}, was loaded and checked and is intact: continue from it "
                f"with --resume-from {candidate}.")
    if older:
        return (f" No older checkpoint of this run is intact either ({', '.join(p.name for p in older)} checked); "
                "start the run again with --restart.")
    return " No older checkpoint of this run exists; start the run again with --restart."


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint (``weights_only=True``) and check its entries; :class:`CheckpointError` when it is bad."""
    path = Path(path)
    try:
        return _read_checkpoint(path)
    except CheckpointError as err:
        raise CheckpointError(f"{err}{_intact_fallback(path)}") from None


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The newest checkpoint in ``folder`` (None when there is none)."""
    found = list_checkpoints(folder)
    return found[-1] if found else None
