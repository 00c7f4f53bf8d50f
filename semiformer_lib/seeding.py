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
