"""Numeric precision: bf16 autocast on CUDA (2–3× the fp32 matmul rate, no loss scaling needed), fp32 on CPU,
where bf16 autocast is slower than fp32 on most processors."""
from __future__ import annotations

import contextlib

import torch


def autocast(device: torch.device | str):
    """``torch.autocast`` to bf16 on CUDA devices; a no-op context elsewhere."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
