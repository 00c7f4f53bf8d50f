"""The machine a number was measured on, in words: the processor's name and the device a run used (artifacts,
run-cache keys and exercise outcomes record it, because float results differ between CPU kinds)."""
from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def processor_name() -> str:
    """The CPU's model name (from ``/proc/cpuinfo`` on Linux, else what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    """``"NVIDIA H100 80GB HBM3"`` on CUDA; the processor and core count on CPU."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU: {processor_name()} ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"
