"""The configuration of every training run — a chapter's, a comparison's, the CLI's — read from a YAML file plus
``key=value`` overrides: :class:`RunConfig` is the library's one config.

A config file is a flat mapping of :class:`RunConfig` fields and, optionally, ``profiles:`` — named groups of
overrides (``cpu``, ``gpu``) of which one is applied, chosen by :func:`choose_profile`: the one asked for
(``profile=`` or ``--profile``), else ``$SEMIFORMER_PROFILE``, else ``gpu`` on a CUDA machine and ``cpu`` elsewhere.
The book's chapters size their runs the same way, from ``configs/book.yaml``. Every value is checked before any data
is read or any model is built: an unknown key (with the nearest known one suggested), a wrong type or an out-of-
range value raises :class:`ConfigError` naming the key, the file and the allowed values.

Lengths are given in steps (``steps``, ``supervised_steps``, ``warmup_steps``) or in epochs (``epochs``,
``supervised_epochs``, ``warmup_epochs``), not both. One epoch is one pass over the labeled images at the phase's
global labeled batch, as in the official script (an epoch is its labeled loader): ``ceil(N_labeled / (world_size ·
b))`` steps, with ``b = B`` in the supervised phase and ``b = int(B · labeled_share)`` after it when the share is set.

The paper's recipe (Weng et al., 2022, Sec. 4.1) on ImageNet: Semiformer-S/16 at 224 px, AdamW lr 1e-3, weight
decay 0.05, cosine schedule with 5 warm-up epochs, 108 images per GPU (all labeled in the 30 supervised epochs,
then 13 labeled + 95 unlabeled: the official ``--mu 0.125``, here ``labeled_share``), τ = 0.7, λ = 4, label
smoothing 0.1, EMA 0.99996, 300 epochs in all (10 % labels) or 600 (1 %); predictions are the sum of both heads'
logits.
"""
from __future__ import annotations

import difflib
import math
import os
import re
import typing
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch
import yaml

from ..ssl.objective import TEACHERS

DATASET_NAMES = ("fashion-mnist", "cifar10", "cifar100", "stl10", "imagenet", "folder")
PRECISIONS = ("auto", "bf16", "fp32")
RUN_NAME = re.compile(r"[A-Za-z0-9._-]+")        # one path component: no separator, no "..", nothing to expand


class ConfigError(ValueError):
    """A run configuration is invalid; the message names the key, where it came from and what is allowed."""


@dataclass(frozen=True)
class RunConfig:
    """Every knob of a run. Defaults are the book's Fashion-MNIST run at the cpu profile's size."""
    name: str = "run"
    dataset: str = "fashion-mnist"
    data_root: str | None = None          # None → the dataset's default folder (see semiformer_lib.data); dataset
                                          # folder: your images, data_root/train/<class>/* (semiformer_lib.data.folder)
    labels_per_class: int | None = 40     # class-balanced labeled subset …
    label_percent: float | None = None    # … or a share of the training images (ImageNet 1 / 10)
    label_list: str | None = None         # … or a file of labeled image names (e.g. SimCLR's 1 % / 10 % lists)
    split_seed: int = 0
    unlabeled_size: int | None = None     # cap on the unlabeled pool (None = every image that is not labeled)
    seed: int = 0
    model: str = "semiformer_tiny_wide_patch4"
    image_size: int | None = None         # None = the dataset's native size
    drop_path_rate: float = 0.0
    steps: int | None = 300
    epochs: float | None = None
    supervised_steps: int | None = 120
    supervised_epochs: float | None = None
    warmup_steps: int | None = 30
    warmup_epochs: float | None = None
    batch_size: int = 64                  # labeled images per device and step (with labeled_share: all images)
    unlabeled_ratio: float = 1.0          # μ: unlabeled images per labeled one (round(μ·B) per device and step)
    labeled_share: float | None = None    # the official script's --mu: after the supervised phase a device's
                                          # batch_size images are int(B·share) labeled + the rest unlabeled
                                          # (before it, B labeled); unlabeled_ratio is then unused
    lr: float = 1e-3
    weight_decay: float = 0.05
    teacher: str = "conv"
    threshold: float = 0.7
    unlabeled_weight: float = 4.0
    soft_targets: bool = False            # train on the teacher's distribution instead of its argmax
    label_smoothing: float = 0.0
    ema_decay: float | None = 0.999       # None = no EMA copy (and no "ema" teacher)
    augment: bool = True                  # weak view of the labeled images (False: the images as they are)
    strong_ops: int = 2
    cutout: float = 0.5
    eval_every: int | None = 50           # None = evaluate after the last step only
    eval_size: int | None = None          # test images per evaluation (None = all)
    final_eval_size: int | None = None    # test images of the final evaluation (None = all; quick checks use fewer)
    train_eval_size: int = 0              # labeled images whose accuracy each evaluation also measures (0 = none)
    probe_size: int = 0                   # unlabeled images every teacher is probed on at each evaluation
    checkpoint_every: int = 100
    keep_checkpoints: int = 2
    output_dir: str = "runs"
    device: str = "auto"                  # auto | cpu | cuda
    precision: str = "auto"               # auto = bf16 autocast on CUDA, fp32 on CPU
    channels_last: bool = True            # conv branch in NHWC on CUDA (on CPU only with channels_last_cpu)
    channels_last_cpu: bool = False       # NHWC on CPU too: 1.2-1.3x per step for the book's conv models
                                          # (benchmarks/throughput.py --cpu-candidates); off by default so that
                                          # artifacts recorded without it still replay bit for bit
    compile: bool = False                 # torch.compile the model
    workers: int = 8                      # DataLoader workers of streamed datasets
    threads: int | None = None            # CPU threads torch uses (None = torch's default)
    profile: str | None = None            # the profile that was applied (set by load_config)

    def __post_init__(self):
        _check_types(self)
        checks = [
            ("name", RUN_NAME.fullmatch(self.name) is not None and self.name not in (".", ".."),
             "one folder name of letters, digits and . _ - (the run lives in output_dir/name, and nothing of it "
             "may be written or deleted outside that folder)"),
            ("dataset", self.dataset in DATASET_NAMES, f"one of {DATASET_NAMES}"),
            ("labels_per_class", self.labels_per_class is None or self.labels_per_class >= 1, "≥ 1 or null"),
            ("label_percent", self.label_percent is None or 0 < self.label_percent <= 100, "in (0, 100] or null"),
            ("labels_per_class", sum(v is not None for v in (self.labels_per_class, self.label_percent,
                                                              self.label_list)) == 1,
             "set, or label_percent, or label_list: exactly one of the three (set the others to null)"),
            ("unlabeled_size", self.unlabeled_size is None or self.unlabeled_size >= 1, "≥ 1 or null"),
            ("split_seed", 0 <= self.split_seed < 2**32, "in [0, 2**32) (NumPy's seed range)"),
            ("seed", 0 <= self.seed < 2**32, "in [0, 2**32) (NumPy's seed range)"),
            ("image_size", self.image_size is None or self.image_size >= 8, "≥ 8 or null"),
            ("drop_path_rate", 0 <= self.drop_path_rate < 1, "in [0, 1)"),
            ("steps", (self.steps is None) != (self.epochs is None), "set, or epochs: exactly one of the two"),
            ("steps", self.steps is None or self.steps >= 1, "≥ 1"),
            ("epochs", self.epochs is None or self.epochs > 0, "> 0"),
            ("supervised_steps", self.supervised_steps is None or self.supervised_epochs is None,
             "null when supervised_epochs is set (one of the two)"),
            ("supervised_steps", self.supervised_steps is None or self.supervised_steps >= 0, "≥ 0"),
            ("supervised_epochs", self.supervised_epochs is None or self.supervised_epochs >= 0, "≥ 0"),
            ("warmup_steps", self.warmup_steps is None or self.warmup_epochs is None,
             "null when warmup_epochs is set (one of the two)"),
            ("warmup_steps", self.warmup_steps is None or self.warmup_steps >= 0, "≥ 0"),
            ("warmup_epochs", self.warmup_epochs is None or self.warmup_epochs >= 0, "≥ 0"),
            ("batch_size", self.batch_size >= 1, "≥ 1"),
            ("unlabeled_ratio", 0 < self.unlabeled_ratio <= 64 and math.isfinite(self.unlabeled_ratio), "in (0, 64]"),
            ("labeled_share", self.labeled_share is None or 0 < self.labeled_share < 1, "in (0, 1) or null"),
            ("labeled_share", self.labeled_share is None or 1 <= int(self.batch_size * self.labeled_share)
             < self.batch_size, "null, or a share of batch_size leaving at least one labeled and one unlabeled "
             "image (int(batch_size · labeled_share) in [1, batch_size))"),
            ("unlabeled_ratio", self.labeled_share is None or self.unlabeled_ratio == 1.0,
             "left at 1 when labeled_share is set (the share alone splits the batch)"),
            ("lr", 0 < self.lr < 1, "in (0, 1)"),
            ("weight_decay", 0 <= self.weight_decay < 1, "in [0, 1)"),
            ("teacher", self.teacher in TEACHERS, f"one of {TEACHERS}"),
            ("threshold", 0 <= self.threshold <= 1, "in [0, 1]"),
            ("unlabeled_weight", self.unlabeled_weight >= 0, "≥ 0"),
            ("label_smoothing", 0 <= self.label_smoothing < 1, "in [0, 1)"),
            ("ema_decay", self.ema_decay is None or 0 <= self.ema_decay < 1, "in [0, 1) or null"),
            ("teacher", self.teacher != "ema" or self.ema_decay is not None, "not ema when ema_decay is null"),
            ("strong_ops", 0 <= self.strong_ops <= 8, "in [0, 8]"),
            ("cutout", 0 <= self.cutout < 1, "in [0, 1)"),
            ("eval_every", self.eval_every is None or self.eval_every >= 1, "≥ 1 or null"),
            ("eval_size", self.eval_size is None or self.eval_size >= 1, "≥ 1 or null"),
            ("final_eval_size", self.final_eval_size is None or self.final_eval_size >= 1, "≥ 1 or null"),
            ("final_eval_size", self.final_eval_size is None or self.dataset != "imagenet",
             "null for imagenet (its validation set is streamed)"),
            ("train_eval_size", self.train_eval_size >= 0, "≥ 0"),
            ("probe_size", self.probe_size >= 0, "≥ 0"),
            ("probe_size", self.probe_size == 0 or self.dataset != "imagenet", "0 for imagenet (a streamed pool)"),
            ("checkpoint_every", self.checkpoint_every >= 1, "≥ 1"),
            ("keep_checkpoints", self.keep_checkpoints >= 1, "≥ 1"),
            ("device", self.device in ("auto", "cpu", "cuda"), "auto, cpu or cuda"),
            ("precision", self.precision in PRECISIONS, f"one of {PRECISIONS}"),
            ("workers", self.workers >= 0, "≥ 0"),
            ("threads", self.threads is None or self.threads >= 1, "≥ 1 or null"),
        ]
        for key, ok, rule in checks:
            if not ok:
                raise ConfigError(f"config key {key!r} must be {rule}; got {getattr(self, key)!r}")
        from ..models import available_models
        if self.model not in available_models():
            close = difflib.get_close_matches(self.model, available_models(), n=1)
            raise ConfigError(f"config key 'model' names no registered model: {self.model!r}"
                              + (f" — did you mean {close[0]!r}?" if close else "")
                              + f" Available: {', '.join(available_models())}")
        if self.steps is not None and self.supervised_steps is not None and self.supervised_steps > self.steps:
            raise ConfigError(f"config key 'supervised_steps' ({self.supervised_steps}) must be ≤ steps ({self.steps})")
        if self.steps is not None and self.warmup_steps is not None and self.warmup_steps > self.steps:
            raise ConfigError(f"config key 'warmup_steps' ({self.warmup_steps}) must be ≤ steps ({self.steps})")

    def as_dict(self) -> dict:
        return asdict(self)

    def uses_channels_last(self, device: torch.device) -> bool:
        """Whether the model and its inputs go NHWC on ``device``: on CUDA with ``channels_last``, on CPU only with
        ``channels_last_cpu`` as well."""
        return self.channels_last and (device.type == "cuda" or (device.type == "cpu" and self.channels_last_cpu))

    def labeled_per_step(self, pseudo_labeling: bool = True) -> int:
        """Labeled images per device and step: ``B``; with ``labeled_share``, ``int(B·share)`` on pseudo-labeling
        steps (the official script's ``int(batch_size · mu)``: 13 of 108)."""
        if self.labeled_share is None or not pseudo_labeling:
            return self.batch_size
        return int(self.batch_size * self.labeled_share)

    def unlabeled_per_step(self) -> int:
        """Unlabeled images per device and step: ``round(μ·B)``, at least 1; with ``labeled_share``, the rest of
        the batch (95 of 108)."""
        if self.labeled_share is not None:
            return self.batch_size - self.labeled_per_step()
        return max(1, round(self.unlabeled_ratio * self.batch_size))

    def schedule(self, labeled_images: int, world_size: int = 1) -> dict[str, int]:
        """The run's lengths in optimizer steps: ``steps``, ``supervised_steps``, ``warmup_steps`` and
        ``steps_per_epoch`` (of the pseudo-labeling phase; see the module docstring)."""
        semi = self.unlabeled_weight > 0
        epoch_before, epoch_after = (max(1, math.ceil(labeled_images / (world_size * self.labeled_per_step(phase))))
                                     for phase in (False, semi))
        supervised_end = ((self.supervised_epochs or 0) if self.supervised_steps is None
                          else self.supervised_steps / epoch_before)             # in epochs

        def length(steps, epochs, default=0):
            if steps is not None:
                return steps
            if epochs is None:
                return default
            before = min(epochs, supervised_end)
            return max(0, round(before * epoch_before + (epochs - before) * epoch_after))

        total = length(self.steps, self.epochs)
        lengths = {"steps": total, "supervised_steps": length(self.supervised_steps, self.supervised_epochs),
                   "warmup_steps": length(self.warmup_steps, self.warmup_epochs), "steps_per_epoch": epoch_after}
        for key in ("supervised_steps", "warmup_steps"):
            if lengths[key] > total:
                raise ConfigError(f"{key} = {lengths[key]} exceeds the run's {total} steps")
        return lengths


def _allowed_types(annotation) -> tuple[type, ...]:
    hint = eval(annotation, vars(typing)) if isinstance(annotation, str) else annotation  # "int | None" → types
    parts = typing.get_args(hint) or (hint,)
    return tuple(type(None) if p is None else p for p in parts)


def _check_types(config: RunConfig) -> None:
    for spec in fields(config):
        value = getattr(config, spec.name)
        allowed = _allowed_types(spec.type)
        if isinstance(value, bool) and bool not in allowed:
            ok = False
        elif isinstance(value, int) and float in allowed and not isinstance(value, bool):
            ok = True                                                   # 1 where a float is expected is fine
        else:
            ok = isinstance(value, allowed)
        if not ok:
            names = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
            raise ConfigError(f"config key {spec.name!r} must be {names}; got {value!r} ({type(value).__name__})")


KNOWN_KEYS = tuple(f.name for f in fields(RunConfig))


def _unknown_key(key: str, source: str) -> ConfigError:
    close = difflib.get_close_matches(key, KNOWN_KEYS, n=1)
    hint = f" — did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"unknown config key {key!r} in {source}{hint} Known keys: {', '.join(KNOWN_KEYS)}")


def parse_overrides(pairs: list[str]) -> dict:
    """``["steps=100", "teacher=ema"]`` → ``{"steps": 100, "teacher": "ema"}`` (values read as YAML scalars)."""
    parsed = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {pair!r} is not key=value (e.g. steps=100)")
        parsed[key.strip()] = yaml.safe_load(text) if text.strip() else None
    return parsed


def _read_config_file(path: Path) -> tuple[dict, dict]:
    """``(values, profiles)`` of a YAML config file, refused with a :class:`ConfigError` naming it when it is
    missing, not YAML, or not a mapping."""
    if path.is_dir():
        raise ConfigError(f"{path} is a folder; --config takes a YAML file in it, e.g. {path / 'base.yaml'} "
                          "(the book's configs are in semiformer_lib/configs/)")
    if not path.is_file():
        raise ConfigError(f"config file {path} not found (the book's configs are in semiformer_lib/configs/)")
    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:            # one line: the problem and where, not the YAML parser's drawing
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{path} is not valid YAML: {getattr(err, 'problem', None) or err}{where}") from None
    if loaded is None or loaded == {}:           # an empty file would silently train the defaults
        raise ConfigError(f"config file {path} is empty; it would train the defaults. Copy a config from "
                          "semiformer_lib/configs/ (from Python, load_config() without a path gives the defaults)")
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path} must hold a mapping of config keys, got {type(loaded).__name__}")
    profiles = loaded.pop("profiles", {}) or {}
    return loaded, profiles


def choose_profile(profile: str | None = None, available=("cpu", "gpu")) -> str:
    """The profile a run applies — the one system behind config files and the book's chapters: ``profile`` when
    given, else ``$SEMIFORMER_PROFILE``, else ``gpu`` where CUDA is present (and ``available`` has it), else
    ``cpu``."""
    import torch
    return (profile or os.environ.get("SEMIFORMER_PROFILE")
            or ("gpu" if torch.cuda.is_available() and "gpu" in available else "cpu"))


def _chosen_profile(profiles: dict, profile: str | None, source: str) -> str | None:
    """The profile to apply (:func:`choose_profile`); None when the file has no profiles. Its keys are checked
    here, so a typo names the profile."""
    if not profiles:
        if profile is not None:
            raise ConfigError(f"profile {profile!r} asked for, but {source} defines no profiles")
        return None
    profile = choose_profile(profile, tuple(profiles))
    if profile not in profiles:
        raise ConfigError(f"profile {profile!r} is not in {source}; it has {sorted(profiles)}")
    for key in profiles[profile]:
        if key not in KNOWN_KEYS:
            raise _unknown_key(key, f"{source} (profile {profile})")
    return profile


THREADS_VARIABLE = "SEMIFORMER_THREADS"


def _threads_from_environment() -> dict:
    """``{"threads": n}`` from ``$SEMIFORMER_THREADS`` (the machine's say over the config file's, below an explicit
    override): how ``make test`` runs two chapters at a time on two cores, one thread each."""
    text = os.environ.get(THREADS_VARIABLE, "").strip()
    if not text:
        return {}
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"${THREADS_VARIABLE} must be a whole number ≥ 1 (CPU threads per run); got {text!r}")
    return {"threads": int(text)}


def load_config(path: str | Path | None = None, overrides: dict | list[str] | None = None,
                profile: str | None = None) -> RunConfig:
    """Read a config file (or start from the defaults), apply its profile, then ``$SEMIFORMER_THREADS`` (when set),
    then ``overrides``; validate."""
    values, profiles = _read_config_file(Path(path)) if path is not None else ({}, {})
    source = str(Path(path)) if path is not None else "the defaults"
    if isinstance(overrides, list):
        overrides = parse_overrides(overrides)
    overrides = dict(overrides or {})
    profile = _chosen_profile(profiles, overrides.pop("profile", None) or profile, source)
    if profile is not None:
        values.update(profiles[profile])
    for key in [*values, *overrides]:
        if key not in KNOWN_KEYS:
            raise _unknown_key(key, source if key in values else "the overrides")
    values.update(_threads_from_environment())
    values.update(overrides)
    values["profile"] = profile
    try:
        return RunConfig(**values)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None


def with_overrides(config: RunConfig, **changes) -> RunConfig:
    """``config`` with some keys changed, validated again."""
    for key in changes:
        if key not in KNOWN_KEYS:
            raise _unknown_key(key, "the overrides")
    return replace(config, **changes)


CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


def config_path(name: str) -> Path:
    """A config shipped with the library: ``config_path("fashion_mnist_40")`` → ``…/configs/fashion_mnist_40.yaml``."""
    path = CONFIG_DIR / f"{name}.yaml"
    if not path.is_file():
        shipped = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
        raise ConfigError(f"no shipped config {name!r}; available: {shipped}")
    return path


def shipped_configs(profile: str = "cpu") -> dict[str, RunConfig]:
    """Every config shipped in ``semiformer_lib/configs``, loaded (``profile`` where a config has profiles)."""
    configs = {}
    for path in sorted(CONFIG_DIR.glob("*.yaml")):
        has_profiles = "profiles" in (yaml.safe_load(path.read_text()) or {})
        configs[path.stem] = load_config(path, profile=profile if has_profiles else None)
    return configs
