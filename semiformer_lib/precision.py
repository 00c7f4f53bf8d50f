"""Numeric precision: bf16 autocast on CUDA (2–3× the fp32 matmul rate, no loss scaling needed), fp32 on CPU,
where bf16 autocast is slower than fp32 on most processors. ``precision="fp32"`` turns autocast off everywhere
(the benchmark's plain baseline); ``"bf16"`` asks for it on any device."""
from __future__ import annotations

import contextlib

import torch


def autocast(device: torch.device | str, precision: str = "auto"):
    """``torch.autocast`` to bf16 on CUDA devices (``"auto"``) or wherever ``precision="bf16"``; otherwise a no-op."""
    device = torch.device(device)
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision must be auto, bf16 or fp32, got {precision!r}")
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
