"""Checkpoints of the full run: written atomically, loaded safely, rotated.

A checkpoint holds everything a run needs to continue exactly where it stopped: the model, optimizer, learning-rate
scheduler and EMA state, the step, every random generator (torch CPU and CUDA, NumPy, Python, and each batch
source's own, which is also the sampler's position) and the metrics gathered so far.

* Writing goes to ``<name>.tmp`` first, then ``os.replace`` renames it: a crash mid-write leaves the previous
  checkpoint untouched, never half a file under the real name.
* Reading uses ``torch.load(weights_only=True)`` — no pickled code runs — and any failure (truncated file, foreign
  file, missing entry) raises :class:`CheckpointError` naming the file and the previous good checkpoint.
* Files are ``step_<000123>.pt`` in the run's ``checkpoints/`` folder; the newest ``keep`` are kept.
"""
from __future__ import annotations

import os
import random
import re
from pathlib import Path

import numpy as np
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
    torch.save({"format": FORMAT, **state}, temporary)
    with open(temporary, "rb") as handle:                    # on disk before the rename makes it the real one
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    for old in list_checkpoints(folder)[:-keep]:
        old.unlink()
    return path


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint (``weights_only=True``) and check its entries; :class:`CheckpointError` when it is bad."""
    path = Path(path)
    others = [p for p in list_checkpoints(path.parent) if p != path]
    fallback = (f" The previous checkpoint {others[-1]} is intact: resume from it with --resume {others[-1]}."
                if others else " No other checkpoint of this run exists; start the run again without --resume.")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found.{fallback}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:                     # torch raises RuntimeError, UnpicklingError, EOFError, … on bad files
        raise CheckpointError(f"checkpoint {path} is corrupt or not a checkpoint ({type(err).__name__}: "
                              f"{str(err).splitlines()[0] if str(err) else ''}).{fallback}") from err
    missing = [key for key in REQUIRED if not isinstance(state, dict) or key not in state]
    if missing or state.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} is not a {FORMAT} checkpoint (missing {missing or 'format'})."
                              f"{fallback}")
    return state


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The newest checkpoint in ``folder`` (None when there is none)."""
    found = list_checkpoints(folder)
    return found[-1] if found else None


def capture_rng() -> dict:
    """Every global random generator's state (torch CPU, CUDA if present, NumPy, Python) as checkpointable data."""
    numpy_state = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": {"name": numpy_state[0], "keys": torch.from_numpy(numpy_state[1].astype("int64")),
                      "pos": int(numpy_state[2]), "has_gauss": int(numpy_state[3]), "gauss": float(numpy_state[4])},
            "python": _python_state(random.getstate())}


def _python_state(state) -> dict:
    version, internal, gauss = state
    return {"version": version, "internal": torch.tensor(internal, dtype=torch.int64), "gauss": gauss}


def restore_rng(saved: dict) -> None:
    """Undo :func:`capture_rng`."""
    torch.set_rng_state(saved["torch"])
    if saved["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(saved["cuda"])
    n = saved["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype("uint32"), n["pos"], n["has_gauss"], n["gauss"]))
    p = saved["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["internal"].tolist()), p["gauss"]))
