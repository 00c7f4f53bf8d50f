"""Training throughput of the full run's step, optimized vs plain, side by side in one run.

    .venv/bin/python benchmarks/throughput.py [--device cuda|cpu] [--steps 20] [--peak-tflops 989]
    .venv/bin/python benchmarks/throughput.py --cpu-candidates     # CPU speed-ups for the long runs, side by side
    .venv/bin/python benchmarks/throughput.py --sweep-workers      # a chapter's sweep: 1 two-thread run vs 2 one-thread

Two workloads, each timed twice on synthetic uint8 images resident on the device:

* ``semiformer-s`` — Semiformer-S/16 with the ImageNet recipe's step: 108 labeled + round(0.125·108) unlabeled images
  per GPU at 224 px (on CPU: 4 + 4 images at 96 px, so it finishes in a minute);
* ``fashion-mnist`` — the book's Fashion-MNIST config (its gpu profile on CUDA, its cpu profile elsewhere).

``optimized`` is what ``semiformer_lib.train`` does: bf16 autocast and channels_last on CUDA, fused AdamW, EMA with
foreach ops, optionally ``torch.compile`` (``--compile``); ``plain`` is fp32 eager, channels-first, a for-loop
AdamW and a for-loop EMA. Both run the library's step (weak + strong views on the device, the teacher's
pseudo-labels, one student forward, backward, AdamW, EMA). Printed: images/s (labeled + unlabeled) and, where the
device's peak bf16 rate is known (or given), the model FLOPs utilisation: 2 · MACs/image · (3 · students +
teachers) per step over time × peak.
"""
from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import torch
from timm.utils import ModelEmaV3


from semiformer_lib.data import strong_augment, to_model_input, weak_augment
from semiformer_lib.models import count_macs, create_model
from semiformer_lib.models.interface import HeadsModule
from semiformer_lib.train import build_optimizer, semi_supervised_step
from semiformer_lib.train.config import config_path, load_config

# Dense bf16 tensor-core peaks from the vendors' data sheets (SXM parts), for the MFU estimate only.
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0}


def peak_tflops(device: torch.device, given: float | None) -> float | None:
    if given:
        return given
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        return next((peak for key, peak in PEAK_BF16_TFLOPS.items() if key in name), None)
    return None


def workloads(device: torch.device) -> list[dict]:
    on_gpu = device.type == "cuda"
    imagenet = load_config(config_path("imagenet_10pct"))
    fashion = load_config(config_path("fashion_mnist_40"), profile="gpu" if on_gpu else "cpu")
    return [
        {"name": "semiformer-s", "model": imagenet.model, "size": 224 if on_gpu else 96, "channels": 3,
         "classes": 1000, "labeled": imagenet.batch_size if on_gpu else 4,
         "unlabeled": imagenet.unlabeled_per_step() if on_gpu else 4, "config": imagenet},
        {"name": "fashion-mnist", "model": fashion.model, "size": 28, "channels": 1, "classes": 10,
         "labeled": fashion.batch_size, "unlabeled": fashion.unlabeled_per_step(), "config": fashion},
    ]


def measure(work: dict, optimized: bool, device: torch.device, steps: int, compile_model: bool,
            precision: str | None = None, channels_last: bool | None = None) -> dict:
    """Seconds per step of the library's training step for ``work`` (median over ``steps`` after 3 warm-ups);
    ``precision`` overrides the case's (``"bf16"``: autocast on any device), ``channels_last`` its memory format
    (default: NHWC when optimized on CUDA)."""
    torch.manual_seed(0)
    config = work["config"]
    model = create_model(work["model"], img_size=work["size"], in_chans=work["channels"],
                         num_classes=work["classes"]).to(device)
    if channels_last is None:
        channels_last = optimized and device.type == "cuda"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    student = HeadsModule(model)
    if optimized and compile_model:
        student = torch.compile(student)
    optimizer = (build_optimizer(model, config.lr, config.weight_decay) if optimized else
                 torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, foreach=False))
    averaged = ModelEmaV3(model, decay=config.ema_decay, use_warmup=True, foreach=optimized)
    generator = torch.Generator(device=device).manual_seed(0)
    shape = (work["channels"], work["size"], work["size"])
    labeled = torch.randint(0, 256, (work["labeled"], *shape), dtype=torch.uint8, device=device, generator=generator)
    unlabeled = torch.randint(0, 256, (work["unlabeled"], *shape), dtype=torch.uint8, device=device,
                              generator=generator)
    labels = torch.randint(0, work["classes"], (work["labeled"],), device=device, generator=generator)
    mean, std = (0.5,) * work["channels"], (0.25,) * work["channels"]
    precision = precision or ("auto" if optimized else "fp32")

    def prepare(images):
        x = to_model_input(images, mean, std)
        return x.contiguous(memory_format=torch.channels_last) if channels_last else x

    def one_step(step):
        objective = semi_supervised_step(
            model, prepare(weak_augment(labeled, generator)), labels, prepare(weak_augment(unlabeled, generator)),
            prepare(strong_augment(unlabeled, generator, config.strong_ops, config.cutout)), teacher=config.teacher,
            threshold=config.threshold, unlabeled_weight=config.unlabeled_weight, averaged=averaged.module,
            student=student, precision=precision)
        optimizer.zero_grad(set_to_none=True)
        objective.total.backward()
        optimizer.step()
        averaged.update(model, step=step)

    def synchronize():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for step in range(1, 4):                                         # warm-up (and compilation)
        one_step(step)
    samples = []
    for step in range(4, 4 + steps):
        synchronize()
        started = time.perf_counter()
        one_step(step)
        synchronize()
        samples.append(time.perf_counter() - started)
    seconds = statistics.median(samples)
    macs = count_macs(model, (1, *shape))
    students, teachers = work["labeled"] + work["unlabeled"], work["unlabeled"]
    return {"seconds": seconds, "images_per_second": students / seconds,
            "flops_per_step": 2 * macs * (3 * students + teachers)}


def cpu_candidates(steps: int) -> None:
    """The speed-ups a long CPU run could use, side by side on the steps of the comparison's models (issues 18 and
    28): fp32 eager (what the runs use), channels_last (NHWC convolutions), bf16 autocast (fast where the CPU has bf16
    instructions: AMX, AVX512-BF16) and ``torch.compile`` in fp32."""
    device = torch.device("cpu")
    config = load_config(config_path("payoff/base"))
    cases = {"fp32 eager": dict(compile_model=False), "channels_last": dict(compile_model=False, channels_last=True),
             "bf16 autocast": dict(compile_model=False, precision="bf16"), "fp32 compiled": dict(compile_model=True)}
    print(f"{config.batch_size}+{config.unlabeled_per_step()} images/step, {torch.get_num_threads()} threads, "
          f"{steps} timed steps per case")
    for model in ("cnn_mini", "semiformer_cnn_mini", "vit_mini_patch4", "semiformer_tiny_wide_patch4"):
        work = {"name": model, "model": model, "size": 28, "channels": 1, "classes": 10,
                "labeled": config.batch_size, "unlabeled": config.unlabeled_per_step(),
                "config": replace(config, teacher="mean" if model.startswith(("cnn", "vit")) else config.teacher)}
        baseline = None
        for label, options in cases.items():
            result = measure(work, True, device, steps, **options)
            baseline = baseline or result["seconds"]
            print(f"{model:<28} {label:<14} {1e3 * result['seconds']:>7.1f} ms/step  "
                  f"{baseline / result['seconds']:.2f}×", flush=True)


def sweep_workers(steps: int) -> None:
    """A chapter's sweep on the cpu profile, timed whole (set-up included): its runs one at a time with all of the
    profile's threads, against ``profile.sweep_workers`` runs at once with a share of them each (``sweep(workers=…)``).
    The models are the ones chapters 2 and 3 sweep; each trains ``steps`` steps on the 40-per-class split."""
    from semiformer_lib import get_profile
    from semiformer_lib.data import load_fashion_mnist
    from semiformer_lib.train import eval_subset, sweep, with_overrides

    profile = get_profile("cpu")
    train = load_fashion_mnist("train")
    test = eval_subset(load_fashion_mnist("test"), profile.run.eval_size)
    config = with_overrides(profile.run, steps=steps, warmup_steps=min(profile.run.warmup_steps, steps),
                            augment=False, eval_every=None)
    models = [profile.vit, "vit_mini_patch4_relpos", profile.cnn, profile.semiformer]
    threads = config.threads or torch.get_num_threads()
    print(f"{len(models)} models × 2 seeds, {steps} steps each; cpu profile: {threads} threads, "
          f"{profile.sweep_workers} workers")
    seconds = {}
    for workers in (1, profile.sweep_workers):
        start = time.perf_counter()
        sweep(models, train, test, [40], [0, 1], config, progress=False, workers=workers)
        seconds[workers] = time.perf_counter() - start
        per_run = threads // workers
        print(f"{workers} at a time, {per_run} thread{'s' * (per_run > 1)} each: {seconds[workers]:6.1f} s  "
              f"{seconds[1] / seconds[workers]:.2f}×", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per case (default 20 GPU, 5 CPU)")
    parser.add_argument("--compile", action="store_true", help="also torch.compile the optimized step")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the device's peak bf16 TFLOP/s, for MFU")
    parser.add_argument("--cpu-candidates", action="store_true",
                        help="instead: fp32 vs bf16 autocast vs torch.compile for the long CPU runs' step")
    parser.add_argument("--sweep-workers", action="store_true",
                        help="instead: a chapter's CPU sweep, one run at a time vs the cpu profile's workers")
    args = parser.parse_args()
    if args.cpu_candidates:
        cpu_candidates(args.steps or 5)
        return
    if args.sweep_workers:
        sweep_workers(args.steps or 300)
        return
    device = torch.device(args.device)
    steps = args.steps or (20 if device.type == "cuda" else 5)
    peak = peak_tflops(device, args.peak_tflops)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}; torch {torch.__version__}; {steps} timed steps per case; "
          f"peak bf16: {f'{peak:g} TFLOP/s' if peak else 'unknown (MFU not shown; pass --peak-tflops)'}")
    header = f"{'workload':<14} {'images/step':>11} {'plain img/s':>12} {'optimized img/s':>16} {'ratio':>6}"
    print(header + (f" {'MFU plain':>9} {'MFU opt.':>9}" if peak else ""))
    for work in workloads(device):
        plain = measure(work, False, device, steps, False)
        fast = measure(work, True, device, steps, args.compile)
        line = (f"{work['name']:<14} {work['labeled']:>5}+{work['unlabeled']:<5} {plain['images_per_second']:>12.1f} "
                f"{fast['images_per_second']:>16.1f} {fast['images_per_second'] / plain['images_per_second']:>5.2f}×")
        if peak:
            mfu = [r["flops_per_step"] / r["seconds"] / (peak * 1e12) for r in (plain, fast)]
            line += f" {100 * mfu[0]:>8.1f}% {100 * mfu[1]:>8.1f}%"
        print(line, flush=True)


if __name__ == "__main__":
    main()
