"""The book's plan: which experiments every chapter runs, and how big, at each profile.

* ``cpu`` — CI scale: each chapter re-runs in minutes on a 2-core machine and still shows its phenomenon.
  The default when no CUDA device is present.
* ``gpu`` — the same experiments at full size (longer training, the full test set, more seeds). The default with
  CUDA.

How each run trains is a :class:`~semiformer_lib.train.RunConfig`: ``profile.run``, read from
``semiformer_lib/configs/book.yaml`` with that file's profile of the same name applied — the one profile system of
the library (:func:`~semiformer_lib.train.config.choose_profile`: the name asked for, else ``$SEMIFORMER_PROFILE``,
else ``gpu`` with CUDA and ``cpu`` without). What is planned here is what no single run knows: the models compared,
the seeds and the label budgets.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch

from .train.config import RunConfig, choose_profile, config_path, load_config


@dataclass(frozen=True)
class Profile:
    """The book's experiments at one size. Chapters read every knob from here or from ``run``, never from literals.

    Attributes:
        name: ``"cpu"`` or ``"gpu"``.
        run: the :class:`RunConfig` of the chapters' runs (``configs/book.yaml`` at this profile).
        seeds: seeds of the headline comparisons; sweep_seeds: seeds of each point of a sweep.
        labels_per_class: the label budgets of a label-efficiency sweep.
        vit, cnn: model names (see :func:`semiformer_lib.models.available_models`).
        vit_variants: ViTs with a spatial prior that chapter 2 compares with ``vit`` and ``cnn`` (the cpu
            profile leaves out ``vit_mini_patch2``: its 196 tokens cost 5× a patch-4 step there).
        semiformer: the fused model of chapter 3 (the cpu profile's has one block per conv stage).
        ablation_steps: steps of each run of chapter 3's fusion ablation (four or five fusion configurations and
            the plain ViT, on three seeds). The cpu profile trains them 240 steps, not 300, to keep the chapter
            within its budget; the per-direction effects it asserts were measured at both lengths.
        injection_ablation: whether that ablation also trains the two-way model with Conformer's injection
            point. The cpu profile leaves those three runs out: the chapter makes no claim on them at its scale,
            and they cost a sixth of its time (exercise 1 trains them).
        sweep_workers: runs a sweep trains at once (:func:`~semiformer_lib.train.sweep`). The cpu profile trains two
            one-thread runs side by side: the small models use two threads poorly, so the pair finishes sooner
            than two two-thread runs in turn (``benchmarks/throughput.py --sweep-workers``). A GPU trains one
            run at a time, and so does a chapter granted one thread (``$SEMIFORMER_THREADS=1``, as under
            ``make test``, where two chapters share the two cores).
        run_cache: the folder where the chapters' sweeps keep their finished runs (relative to the notebook), so
            that a run two chapters share — chapter 1's ViT and CNN at 40 labels per class, its well-fed ViT,
            which chapter 2 trains too — is trained once on a machine (:mod:`~semiformer_lib.train.run_cache`;
            never on CUDA). None: train every run.
    """
    name: str
    run: RunConfig
    seeds: tuple[int, ...]
    sweep_seeds: tuple[int, ...]
    labels_per_class: tuple[int, ...]
    vit: str
    cnn: str
    vit_variants: tuple[str, ...] = ()
    semiformer: str = "semiformer_mini_patch4"
    ablation_steps: int | None = None
    injection_ablation: bool = True
    sweep_workers: int = 1
    run_cache: str | None = "runs/cache"

    @property
    def device(self) -> str:
        """Where the chapters' tensors live: the run config's device."""
        return self.run.device

    @property
    def fusion_ablation_steps(self) -> int:
        return self.ablation_steps or self.run.steps

    def describe(self) -> str:
        return (f"profile={self.name} device={self.device} steps={self.run.steps} batch={self.run.batch_size} "
                f"models={self.vit}/{self.cnn} seeds={list(self.seeds)}")


PLANS = {
    "cpu": dict(seeds=(0, 1, 2), sweep_seeds=(0,), labels_per_class=(4, 10, 40, 100, 600), vit="vit_mini_patch4",
                cnn="cnn_mini", vit_variants=("vit_mini_patch4_convstem", "vit_mini_patch4_relpos",
                                              "vit_mini_patch4_nopos", "vit_mini_patch7"),
                semiformer="semiformer_tiny_patch4", ablation_steps=240, injection_ablation=False,
                sweep_workers=2),
    "gpu": dict(seeds=(0, 1, 2), sweep_seeds=(0, 1, 2), labels_per_class=(4, 10, 40, 100, 600),
                vit="vit_mini_patch4", cnn="cnn_mini",
                vit_variants=("vit_mini_patch4_convstem", "vit_mini_patch4_relpos", "vit_mini_patch4_nopos",
                              "vit_mini_patch7", "vit_mini_patch2"),
                semiformer="semiformer_mini_patch4"),
}


def get_profile(name: str | None = None, **overrides) -> Profile:
    """The profile ``name`` (else :func:`choose_profile`'s), with plan ``overrides`` (``get_profile(vit=…)``).

    Asking for ``gpu`` without a CUDA device is an error, not a silent fall-back to a run that would take hours.
    Run knobs (steps, batch size, …) are changed on ``profile.run`` with
    :func:`~semiformer_lib.train.with_overrides`. The profile's ``threads`` are applied to torch here.
    """
    name = choose_profile(name, tuple(PLANS))
    if name not in PLANS:
        raise ValueError(f"unknown profile {name!r} (from SEMIFORMER_PROFILE or the argument); "
                         f"choose one of {sorted(PLANS)}")
    plan_fields = {f.name for f in fields(Profile)} - {"name", "run"}
    run_keys = [key for key in overrides if key in RunConfig.__dataclass_fields__]
    if run_keys:
        raise ValueError(f"{run_keys} are run settings, not the plan's: change them on profile.run with "
                         f"with_overrides(profile.run, {run_keys[0]}=…)")
    unknown = set(overrides) - plan_fields
    if unknown:
        raise ValueError(f"unknown profile field(s) {sorted(unknown)}; fields: {sorted(plan_fields)}")
    run = load_config(config_path("book"), profile=name)
    if run.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"profile {name!r} needs a CUDA device and none is available; use SEMIFORMER_PROFILE=cpu")
    if run.threads:
        torch.set_num_threads(run.threads)
    return replace(Profile(name=name, run=run, **PLANS[name]), **overrides)


TRAIN_IMAGES = 60_000        # Fashion-MNIST's training set: the labeled images plus the unlabeled pool


def budgets(name: str | None = None):
    """What each chapter's runs train on at profile ``name`` — steps, images per step, labeled images and unlabeled
    pool, passes over the labels, test images — read from the configs the chapters use, one row per kind of run.
    Why the same supervised ViT scores differently in two chapters: it trained a different number of steps."""
    import pandas as pd
    profile = get_profile(name)
    fashion = load_config(config_path("fashion_mnist_40"), profile=profile.name)
    runs = {"1–2 · ViT and CNN on labels alone": (profile.run, "labels only"),
            "3 · fusion ablation": (replace(profile.run, steps=profile.fusion_ablation_steps), "labels only"),
            "4 · live comparison": (fashion, "SSL and twin"),
            "4 · long comparison (committed artifacts)": (load_config(config_path("long/semiformer")), "SSL and twin"),
            "5 · the full run": (fashion, "SSL")}
    rows = {}
    for label, (config, kind) in runs.items():
        labeled = 10 * config.labels_per_class
        pseudo_labels = kind != "labels only"
        warm_up = config.supervised_steps if pseudo_labels else config.steps
        rows[label] = {"runs": kind, "steps": config.steps, "labels-only steps": warm_up,
                       "labeled / step": config.batch_size,
                       "unlabeled / step": config.unlabeled_per_step() if pseudo_labels else 0,
                       "labeled images": labeled,
                       "unlabeled pool": (config.unlabeled_size or TRAIN_IMAGES - labeled) if pseudo_labels else 0,
                       "passes over the labels": round(config.steps * config.batch_size / labeled, 1),
                       "test images (curves)": config.eval_size or 10_000}
    return pd.DataFrame(rows).T.rename_axis(f"chapter · runs ({profile.name} profile)")
