"""The semi-supervised training loop (Semiformer Sec. 3.2 and 4.1; FixMatch), top to bottom in one function.

``fit_semi_supervised`` trains any classifier — a Semiformer (two heads) or a single ViT / CNN — on a few labeled
images and many unlabeled ones:

    for step in 1..steps:
        x, y   = B labeled images, weak view α(x)                        # [B, C, H, W], [B]
        if step ≤ supervised_steps:  L = L_x                            # the paper's supervised warm-up
        else:
            u   = μB unlabeled images                                    # [μB, C, H, W]
            t   = teacher(α(u)) in eval mode, no gradient                # conv head | transformer | fused | EMA
            ŷ,m = argmax softmax(t), 1[max ≥ τ]
            L   = L_x(α(x)) + λ · L_u(𝒜(u); ŷ, m)                        # one forward for α(x) and 𝒜(u)
        AdamW step; warm-up + cosine learning rate; EMA update
        every eval_every steps: accuracy of the model (each head) and of its EMA on the test set

Diagnostics are kept as data, per step, on the device (no host sync until an evaluation): the mask rate, the
accuracy of the pseudo-labels against the unlabeled images' true labels (all of them, and the confident ones),
the loss terms; per-class mask rates are accumulated between evaluations. The true labels of the unlabeled images
are read for these diagnostics only — never by the loss.

The same function runs the baselines: ``unlabeled_weight=0`` (or no unlabeled set) is supervised training with
the same recipe; a one-headed model with ``teacher="fused"`` and ``threshold=0.95`` is FixMatch.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from ..data import ImageSet, strong_augment, to_model_input, weak_augment
from ..models.interface import eval_mode, head_logits, is_two_headed
from ..precision import autocast
from ..progress import tqdm
from ..seeding import make_generator
from ..ssl.ema import ema_model
from ..ssl.objective import TEACHERS, Objective, semi_supervised_objective, supervised_loss
from ..ssl.teachers import teacher_predictions
from .evaluate import accuracy, head_accuracies
from .schedule import warmup_cosine


@dataclass(frozen=True)
class SemiConfig:
    """Hyper-parameters of :func:`fit_semi_supervised`; checked on creation, before any compute.

    ``unlabeled_ratio`` is FixMatch's μ: unlabeled images per labeled one in a step (so the labeled fraction of the
    batch is 1 / (1 + μ)). ``supervised_steps`` is the warm-up on labels alone before pseudo-labels start.
    """
    steps: int = 300
    batch_size: int = 64
    unlabeled_ratio: int = 7
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_steps: int = 30
    supervised_steps: int = 0
    teacher: str = "conv"
    threshold: float = 0.7
    unlabeled_weight: float = 4.0
    soft_targets: bool = False
    label_smoothing: float = 0.0
    ema_decay: float = 0.999
    eval_every: int | None = 50
    strong_ops: int = 2
    cutout: float = 0.5
    probe_size: int = 1000
    schedule_start: int = 0
    schedule_steps: int | None = None

    def __post_init__(self):
        checks = [("steps", self.steps >= 1, "≥ 1"), ("batch_size", self.batch_size >= 1, "≥ 1"),
                  ("unlabeled_ratio", self.unlabeled_ratio >= 1, "≥ 1"), ("lr", self.lr > 0, "> 0"),
                  ("weight_decay", self.weight_decay >= 0, "≥ 0"),
                  ("warmup_steps", 0 <= self.warmup_steps <= (self.schedule_steps or self.steps),
                   f"in [0, steps={self.schedule_steps or self.steps}]"),
                  ("supervised_steps", 0 <= self.supervised_steps <= self.steps, f"in [0, steps={self.steps}]"),
                  ("teacher", self.teacher in TEACHERS, f"one of {TEACHERS}"),
                  ("threshold", 0 <= self.threshold <= 1, "in [0, 1]"),
                  ("unlabeled_weight", self.unlabeled_weight >= 0, "≥ 0"),
                  ("label_smoothing", 0 <= self.label_smoothing < 1, "in [0, 1)"),
                  ("ema_decay", 0 <= self.ema_decay < 1, "in [0, 1)"),
                  ("eval_every", self.eval_every is None or self.eval_every >= 1, "≥ 1 or None"),
                  ("strong_ops", self.strong_ops >= 0, "≥ 0"), ("cutout", 0 <= self.cutout < 1, "in [0, 1)"),
                  ("probe_size", self.probe_size >= 0, "≥ 0"),
                  ("schedule_start", self.schedule_start >= 0, "≥ 0"),
                  ("schedule_steps",
                   self.schedule_steps is None or self.schedule_steps >= self.schedule_start + self.steps,
                   f"≥ schedule_start + steps = {self.schedule_start + self.steps} (or None)")]
        for name, ok, rule in checks:
            if not ok:
                raise ValueError(f"SemiConfig.{name} must be {rule}, got {getattr(self, name)!r}")

    @property
    def labeled_fraction(self) -> float:
        return 1 / (1 + self.unlabeled_ratio)


@dataclass
class SemiHistory:
    """What a semi-supervised run measured, as plain data.

    Per step (index ``i`` ↔ step ``i + 1``): ``mask_rate``, ``pseudo_acc`` (all pseudo-labels),
    ``confident_acc`` (the confident ones; NaN when none), ``labeled_loss``, ``unlabeled_loss`` (NaN during the
    supervised warm-up). Per evaluation (indexed like ``step``): test accuracy of the model (``test_acc``), of each
    head (``head_acc``: dicts, empty for a one-headed model), of the EMA model (``ema_acc``), and the per-class
    mask rate since the previous evaluation (``class_mask_rate``: lists of ``num_classes``).

    Teacher probe (``config.probe_size`` unlabeled images, un-augmented): at each evaluation (``probe_step``) every
    available teacher's confidence and argmax, ``probe_confidence[teacher]`` and ``probe_predicted[teacher]``
    ``[evals, N]`` (CPU tensors), and the images' true labels ``probe_labels`` ``[N]`` — read by
    :func:`semiformer_lib.analysis.threshold_tradeoff` at any threshold after the run.
    """
    mask_rate: list[float] = field(default_factory=list)
    pseudo_acc: list[float] = field(default_factory=list)
    confident_acc: list[float] = field(default_factory=list)
    labeled_loss: list[float] = field(default_factory=list)
    unlabeled_loss: list[float] = field(default_factory=list)
    step: list[int] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    head_acc: list[dict] = field(default_factory=list)
    ema_acc: list[float] = field(default_factory=list)
    class_mask_rate: list[list[float]] = field(default_factory=list)
    probe_confidence: dict[str, torch.Tensor] = field(default_factory=dict)
    probe_predicted: dict[str, torch.Tensor] = field(default_factory=dict)
    probe_labels: torch.Tensor | None = None
    probe_step: list[int] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def final_test_acc(self) -> float:
        return self.test_acc[-1]

    @property
    def final_ema_acc(self) -> float:
        return self.ema_acc[-1]

    def as_dict(self) -> dict:
        return asdict(self)

    def pseudo_label_mean(self, name: str, steps: int, end: bool = False) -> float:
        """Mean of a per-step diagnostic (``"mask_rate"``, ``"pseudo_acc"``, ``"confident_acc"``) over the first
        ``steps`` pseudo-labeling steps (the last ones with ``end=True``); warm-up steps and steps without a value
        are skipped."""
        if name not in ("mask_rate", "pseudo_acc", "confident_acc"):
            raise ValueError(f"no per-step pseudo-label diagnostic {name!r}; "
                             "use mask_rate, pseudo_acc or confident_acc")
        values = [v for v in getattr(self, name) if v == v]
        window = values[-steps:] if end else values[:steps]
        if not window:
            raise ValueError(f"this run has no {name} values (no pseudo-labeling step)")
        return sum(window) / len(window)

    def after(self, earlier: "SemiHistory") -> "SemiHistory":
        """This run's history continued from ``earlier``'s (a run that started from the model ``earlier`` trained):
        the per-step and per-evaluation lists of both, this run's steps shifted by ``earlier``'s length, its seconds
        added. The teacher probe stays this run's own (``probe_step`` shifted)."""
        offset = len(earlier.labeled_loss)
        joined = SemiHistory(**{name: getattr(earlier, name) + getattr(self, name) for name in
                                ("mask_rate", "pseudo_acc", "confident_acc", "labeled_loss", "unlabeled_loss",
                                 "test_acc", "head_acc", "ema_acc", "class_mask_rate")})
        joined.step = earlier.step + [s + offset for s in self.step]
        joined.probe_confidence, joined.probe_predicted = self.probe_confidence, self.probe_predicted
        joined.probe_labels, joined.probe_step = self.probe_labels, [s + offset for s in self.probe_step]
        joined.seconds = earlier.seconds + self.seconds
        return joined


def semi_supervised_step(model: nn.Module, weak_x: torch.Tensor, labels: torch.Tensor, weak_u: torch.Tensor,
                         strong_u: torch.Tensor, teacher: str = "conv", threshold: float = 0.7,
                         unlabeled_weight: float = 4.0, soft_targets: bool = False, label_smoothing: float = 0.0,
                         averaged: nn.Module | None = None, student: nn.Module | None = None,
                         precision: str = "auto") -> Objective:
    """The loss of one pseudo-labeling step, shared by :func:`fit_semi_supervised` and the full run: the model's
    forward passes, then :func:`~semiformer_lib.ssl.objective.semi_supervised_objective` (Eq. 1–4) on their logits,
    so the function chapter 4 shows is the one that trains.

    ``weak_x`` ``[B, C, H, W]`` and ``labels`` ``[B]``: the labeled weak views; ``weak_u`` / ``strong_u``
    ``[μB, C, H, W]``: the unlabeled images' two views (normalised floats). The teacher predicts on ``weak_u`` in
    eval mode without gradient (``averaged``: the EMA wrapper, for ``teacher="ema"``); the students — every head of
    ``student`` (default ``model``; the run passes its DDP wrapper, whose forward returns the heads' logits) — see
    ``weak_x`` and ``strong_u`` in one forward. ``precision``: see :func:`semiformer_lib.train.autocast`.
    """
    device = weak_x.device
    with torch.no_grad(), autocast(device, precision):
        if teacher == "ema":
            if averaged is None:
                raise ValueError("teacher='ema' needs the EMA model (averaged=)")
            weak_heads, ema_logits = (), averaged.module(weak_u)
        else:
            with eval_mode(model):                             # the official engine predicts pseudo-labels in eval mode
                weak_heads, ema_logits = head_logits(model, weak_u), None
    batch = weak_x.shape[0]
    with autocast(device, precision):
        inputs = torch.cat([weak_x, strong_u])
        heads = tuple(student(inputs)) if student is not None else head_logits(model, inputs)   # [B + μB, K] each
        return semi_supervised_objective(
            labeled_heads=tuple(h[:batch] for h in heads), labels=labels, weak_heads=weak_heads,
            strong_heads=tuple(h[batch:] for h in heads), teacher=teacher, threshold=threshold,
            unlabeled_weight=unlabeled_weight, soft=soft_targets, label_smoothing=label_smoothing,
            ema_logits=ema_logits)


# One of the library's three training loops; the one-loop redesign (issue 17) replaces it, and with it this noqa.
def fit_semi_supervised(model: nn.Module, labeled: ImageSet, unlabeled: ImageSet | None, test: ImageSet,  # noqa: C901
                        config: SemiConfig = SemiConfig(), seed: int = 0, progress: bool = True,
                        desc: str = "semi-supervised") -> SemiHistory:
    """Train ``model`` with pseudo-labels on ``unlabeled`` (see the module docstring); returns the history.

    ``unlabeled`` may be None (or ``config.unlabeled_weight`` 0): then only the labeled term is trained, with the
    same recipe — the supervised baseline. Model initialisation is the caller's (seed before creating it).
    """
    sets = [s for s in (labeled, unlabeled, test) if s is not None]
    if len({s.device for s in sets}) != 1:
        raise ValueError(f"labeled, unlabeled and test sets must be on one device, got {[str(s.device) for s in sets]}")
    if len({s.image_shape for s in sets}) != 1:
        raise ValueError(f"image shapes differ: {[s.image_shape for s in sets]}")
    semi = unlabeled is not None and config.unlabeled_weight > 0
    if semi and config.teacher in ("conv", "transformer") and not is_two_headed(model):
        raise ValueError(f"teacher={config.teacher!r} needs a two-headed model; {type(model).__name__} has one head "
                         "(use teacher='fused' or 'ema')")
    device = labeled.device
    model.to(device).train()
    averaged = ema_model(model, config.ema_decay)                 # eval mode: predicts with running BN statistics
    generator = make_generator(seed, device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                  fused=device.type == "cuda")
    scheduler = warmup_cosine(optimizer, config.schedule_steps or config.steps, config.warmup_steps,
                              start=config.schedule_start)
    num_classes = labeled.num_classes
    # per-step diagnostics: [steps, 5] = mask rate, pseudo acc, confident acc, L_x, L_u
    per_step = torch.full((config.steps, 5), float("nan"), device=device)
    class_seen = torch.zeros(num_classes, device=device)
    class_masked = torch.zeros(num_classes, device=device)
    history = SemiHistory()
    unlabeled_batch = config.batch_size * config.unlabeled_ratio
    probe = unlabeled.subset(torch.arange(min(config.probe_size, len(unlabeled)))) if (
        unlabeled is not None and config.probe_size) else None
    probed: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}
    started = time.perf_counter()
    bar = tqdm(range(1, config.steps + 1), desc=desc, leave=False, disable=not progress, mininterval=1.0)
    for step in bar:
        index = torch.randint(0, len(labeled), (config.batch_size,), device=device, generator=generator)
        labels = labeled.labels[index]
        weak_x = to_model_input(weak_augment(labeled.images[index], generator), labeled.mean, labeled.std)
        if semi and step > config.supervised_steps:
            u_index = torch.randint(0, len(unlabeled), (unlabeled_batch,), device=device, generator=generator)
            u_images = unlabeled.images[u_index]                                          # [μB, C, H, W] uint8
            weak_u = to_model_input(weak_augment(u_images, generator), labeled.mean, labeled.std)
            strong_u = to_model_input(strong_augment(u_images, generator, config.strong_ops, config.cutout),
                                      labeled.mean, labeled.std)
            step_objective = semi_supervised_step(model, weak_x, labels, weak_u, strong_u, config.teacher,
                                                  config.threshold, config.unlabeled_weight, config.soft_targets,
                                                  config.label_smoothing, averaged)
            loss, labeled_loss, unlabeled_loss = step_objective.total, step_objective.labeled, step_objective.unlabeled
            pseudo = step_objective.pseudo
            truth = unlabeled.labels[u_index]
            correct = (pseudo.predicted == truth).float()
            confident = (correct * pseudo.mask).sum() / pseudo.mask.sum()                # NaN when none passed
            per_step[step - 1] = torch.stack([pseudo.mask_rate, correct.mean(), confident,
                                              labeled_loss.detach(), unlabeled_loss.detach()])
            class_seen += torch.bincount(truth, minlength=num_classes)
            class_masked += torch.bincount(truth, weights=pseudo.mask, minlength=num_classes)
        else:
            with autocast(device):
                loss = supervised_loss(head_logits(model, weak_x), labels, config.label_smoothing)
            per_step[step - 1, 3] = loss.detach()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        averaged.update(model, step=step)
        if step == config.steps or (config.eval_every and step % config.eval_every == 0):
            history.step.append(step)
            if is_two_headed(model):
                heads_now = head_accuracies(model, test)
                history.head_acc.append(heads_now)
                history.test_acc.append(heads_now["summed"])
            else:
                history.head_acc.append({})
                history.test_acc.append(accuracy(model, test).item())
            history.ema_acc.append(accuracy(averaged.module, test).item())
            rate = torch.where(class_seen > 0, class_masked / class_seen.clamp(min=1), float("nan"))
            history.class_mask_rate.append(rate.tolist())
            class_seen.zero_()
            class_masked.zero_()
            if probe is not None:
                history.probe_step.append(step)
                for name, verdict in teacher_predictions(model, probe, averaged.module).items():
                    probed.setdefault(name, []).append(verdict)
            bar.set_postfix(test=f"{history.test_acc[-1]:.1%}", ema=f"{history.ema_acc[-1]:.1%}")
    columns = per_step.T.tolist()                                                      # one host sync at the end
    (history.mask_rate, history.pseudo_acc, history.confident_acc, history.labeled_loss,
     history.unlabeled_loss) = columns
    for name, verdicts in probed.items():
        history.probe_confidence[name] = torch.stack([c for c, _ in verdicts]).cpu()         # [evals, N]
        history.probe_predicted[name] = torch.stack([p for _, p in verdicts]).cpu()
    if probe is not None:
        history.probe_labels = probe.labels.cpu()
    history.seconds = time.perf_counter() - started
    return history
