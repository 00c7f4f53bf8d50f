"""Seeding: one integer fixes a run.

On CPU the same seed gives bit-identical metrics (tested). On CUDA, some kernels (atomics in backward passes)
are not deterministic; runs agree statistically but not bit for bit.
"""
from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A private ``torch.Generator`` on ``device`` for data sampling and augmentation, independent of model init."""
    generator = torch.Generator(device=torch.device(device))
    generator.manual_seed(seed)
    return generator


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
