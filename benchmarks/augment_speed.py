"""Augmentation cost side by side, in one run: the weak view, our per-sample strong view, kornia's own RandAugment
(one policy for the whole batch) + RandomErasing, and one training step of the book's Semiformer for scale.

    .venv/bin/python benchmarks/augment_speed.py [--device cuda] [--batch 448]

Prints milliseconds per batch (median of repeats) and each one's ratio to the training step.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch


def timed(function, repeats: int, device: str) -> float:
    for _ in range(3):                                   # warm-up
        function()
    samples = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        function()
        if device == "cuda":
            torch.cuda.synchronize()
        samples.append(time.perf_counter() - start)
    return 1000 * statistics.median(samples)


def main() -> None:
    import kornia.augmentation as K
    from kornia.augmentation.auto import RandAugment

    from semiformer_lib.data import weak_augment
    from semiformer_lib.models import create_model
    from semiformer_lib.data import strong_augment

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=448, help="unlabeled images per step (μ·B: 7·64)")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    device = args.device
    if device == "cpu":
        torch.set_num_threads(2)
    images = torch.randint(0, 256, (args.batch, 1, 28, 28), dtype=torch.uint8, device=device)
    generator = torch.Generator(device=device).manual_seed(0)
    kornia_policy = torch.nn.Sequential(RandAugment(n=2, m=10), K.RandomErasing(p=1.0, scale=(0.25, 0.25),
                                                                                ratio=(1.0, 1.0), value=0.5))
    model = create_model("semiformer_tiny_patch4").to(device)
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
    inputs = torch.randn(64, 1, 28, 28, device=device)
    labels = torch.randint(0, 10, (64,), device=device)

    def train_step():
        loss = torch.nn.functional.cross_entropy(model(inputs), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    rows = {
        "weak_augment (flip + shift)": lambda: weak_augment(images, generator),
        "strong_augment (per-sample RandAugment + Cutout)": lambda: strong_augment(images, generator),
        "kornia RandAugment(n=2, m=10) + RandomErasing (one policy per batch)":
            lambda: kornia_policy(images.float() / 255),
        "one training step, semiformer_tiny_patch4, batch 64": train_step,
    }
    times = {name: timed(function, args.repeats, device) for name, function in rows.items()}
    step = times["one training step, semiformer_tiny_patch4, batch 64"]
    print(f"device={device} batch={args.batch} torch={torch.__version__}")
    for name, ms in times.items():
        print(f"{ms:8.2f} ms  {ms / step:5.2f}× a training step   {name}")


if __name__ == "__main__":
    main()
