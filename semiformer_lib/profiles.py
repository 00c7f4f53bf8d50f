"""Run profiles: how big every experiment in the book is.

* ``cpu`` — CI scale: each chapter re-runs in minutes on a 2-core machine and still shows its phenomenon.
  The default when no CUDA device is present.
* ``gpu`` — the same experiments at full size (longer training, full test set, more seeds). The default with CUDA.

``SEMIFORMER_PROFILE=cpu|gpu`` overrides the choice; ``get_profile("gpu")`` picks one explicitly.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace

import torch


@dataclass(frozen=True)
class Profile:
    """Experiment sizes. Chapters read every knob from here, never from literals.

    Attributes:
        name: ``"cpu"`` or ``"gpu"``.
        device: where tensors live (``"cpu"`` or ``"cuda"``).
        steps: optimizer steps of one training run.
        batch_size: labeled images per step.
        lr, weight_decay: AdamW settings; warmup_fraction: share of ``steps`` spent warming up.
        eval_every: steps between evaluations on the evaluation subset (curves).
        eval_size: test images used for evaluation (None = the whole test set).
        seeds: seeds of the headline comparisons; sweep_seeds: seeds of each point of a sweep.
        labels_per_class: the label budgets of a label-efficiency sweep.
        vit, cnn: model names (see :func:`semiformer_lib.models.available_models`).
        vit_variants: ViTs with a spatial prior that chapter 2 compares with ``vit`` and ``cnn`` (the cpu
            profile leaves out ``vit_mini_patch2``: its 196 tokens cost 5× a patch-4 step there).
        semiformer: the fused model of chapters 3 on (the cpu profile's has one block per conv stage).
        ablation_steps: steps of each run of chapter 3's fusion ablation (18 runs: five fusion configurations and
            the plain ViT on three seeds). The cpu profile trains them 240 steps, not 300, to keep the chapter
            within its six-minute budget; the per-direction effects it asserts were measured at both lengths.
        ssl_semiformer: chapter 4's model: ``semiformer`` with the paper's channel ratio 4 (a conv teacher with
            Semiformer-S's share of the parameters).
        ssl_warmup_steps: supervised steps every chapter-4 method starts with (the paper's warm-up, shared by the
            supervised twin and the pseudo-labeling runs of a model); ssl_steps: steps after it.
        unlabeled_ratio: μ, unlabeled images per labeled one in a step; unlabeled_size: the unlabeled pool
            (None = every training image that is not labeled).
        threads: CPU threads for torch (None = torch's default).
    """
    name: str
    device: str
    steps: int
    batch_size: int
    lr: float
    weight_decay: float
    warmup_fraction: float
    eval_every: int
    eval_size: int | None
    seeds: tuple[int, ...]
    sweep_seeds: tuple[int, ...]
    labels_per_class: tuple[int, ...]
    vit: str
    cnn: str
    vit_variants: tuple[str, ...] = ()
    semiformer: str = "semiformer_mini_patch4"
    ablation_steps: int | None = None
    ssl_semiformer: str = "semiformer_mini_wide_patch4"
    ssl_warmup_steps: int = 500
    ssl_steps: int = 1000
    unlabeled_ratio: int = 3
    unlabeled_size: int | None = None
    threads: int | None = None

    @property
    def fusion_ablation_steps(self) -> int:
        return self.ablation_steps or self.steps

    @property
    def warmup_steps(self) -> int:
        return max(1, round(self.warmup_fraction * self.steps))

    def describe(self) -> str:
        return (f"profile={self.name} device={self.device} steps={self.steps} batch={self.batch_size} "
                f"models={self.vit}/{self.cnn} seeds={list(self.seeds)}")


PROFILES = {
    "cpu": Profile(name="cpu", device="cpu", steps=300, batch_size=64, lr=1e-3, weight_decay=0.05,
                   warmup_fraction=0.1, eval_every=50, eval_size=2000, seeds=(0, 1, 2), sweep_seeds=(0,),
                   labels_per_class=(4, 10, 40, 100, 600), vit="vit_mini_patch4", cnn="cnn_mini",
                   vit_variants=("vit_mini_patch4_convstem", "vit_mini_patch4_relpos", "vit_mini_patch4_nopos",
                                 "vit_mini_patch7"),
                   semiformer="semiformer_tiny_patch4", ablation_steps=240,
                   ssl_semiformer="semiformer_tiny_wide_patch4",
                   ssl_warmup_steps=120, ssl_steps=80, unlabeled_ratio=1, unlabeled_size=10000, threads=2),
    "gpu": Profile(name="gpu", device="cuda", steps=1500, batch_size=128, lr=1e-3, weight_decay=0.05,
                   warmup_fraction=0.05, eval_every=250, eval_size=None, seeds=(0, 1, 2), sweep_seeds=(0, 1, 2),
                   labels_per_class=(4, 10, 40, 100, 600), vit="vit_mini_patch4", cnn="cnn_mini",
                   vit_variants=("vit_mini_patch4_convstem", "vit_mini_patch4_relpos", "vit_mini_patch4_nopos",
                                 "vit_mini_patch7", "vit_mini_patch2"),
                   semiformer="semiformer_mini_patch4"),
}


def get_profile(name: str | None = None, **overrides) -> Profile:
    """The profile ``name``; else ``$SEMIFORMER_PROFILE``; else ``gpu`` with CUDA and ``cpu`` without.

    Keyword ``overrides`` replace fields (``get_profile("cpu", steps=100)``). Asking for ``gpu`` without a
    CUDA device is an error, not a silent fall-back to a run that would take hours.
    """
    name = name or os.environ.get("SEMIFORMER_PROFILE") or ("gpu" if torch.cuda.is_available() else "cpu")
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r} (from SEMIFORMER_PROFILE or the argument); "
                         f"choose one of {sorted(PROFILES)}")
    profile = PROFILES[name]
    if profile.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"profile {name!r} needs a CUDA device and none is available; "
                           "use SEMIFORMER_PROFILE=cpu")
    unknown = set(overrides) - set(Profile.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown profile field(s) {sorted(unknown)}; fields: {sorted(Profile.__dataclass_fields__)}")
    profile = replace(profile, **overrides)
    if profile.threads:
        torch.set_num_threads(profile.threads)
    return profile
