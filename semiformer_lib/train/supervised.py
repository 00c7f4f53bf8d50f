"""Supervised training: the whole loop, top to bottom, in one function.

``fit`` trains a classifier on a resident labeled set (the few labels of a low-label split):

    for step in 1..steps:
        idx     = random batch of labeled indices                        # [B], sampled on the device
        x       = normalise(weak_augment(images[idx]))                    # [B, C, H, W] float
        loss    = cross_entropy(model(x), labels[idx])                    # bf16 autocast on CUDA;
                                                                          # two-headed models: mean of the heads' CE
        AdamW step; warm-up + cosine learning rate
        every eval_every steps: accuracy on the labeled set and the test subset

Losses are summed on the device and read once per evaluation, so the loop never waits on the host between
evaluations. The chapters' semi-supervised engine (chapter 4) extends this loop; it does not replace it.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from ..data import ImageSet, to_model_input, weak_augment
from ..models.interface import head_logits
from ..precision import autocast
from ..progress import tqdm
from ..seeding import make_generator
from ..ssl.objective import supervised_loss
from .evaluate import accuracy
from .schedule import warmup_cosine


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of :func:`fit`; checked on creation so a bad value fails before any compute."""
    steps: int = 300
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_steps: int = 30
    eval_every: int | None = 50
    train_eval_size: int = 2000
    label_smoothing: float = 0.0
    augment: bool = True

    def __post_init__(self):
        checks = [("steps", self.steps >= 1, "≥ 1"), ("batch_size", self.batch_size >= 1, "≥ 1"),
                  ("lr", self.lr > 0, "> 0"), ("weight_decay", self.weight_decay >= 0, "≥ 0"),
                  ("warmup_steps", 0 <= self.warmup_steps <= self.steps, f"in [0, steps={self.steps}]"),
                  ("eval_every", self.eval_every is None or self.eval_every >= 1, "≥ 1 or None"),
                  ("train_eval_size", self.train_eval_size >= 1, "≥ 1"),
                  ("label_smoothing", 0 <= self.label_smoothing < 1, "in [0, 1)")]
        for name, ok, rule in checks:
            if not ok:
                raise ValueError(f"TrainConfig.{name} must be {rule}, got {getattr(self, name)!r}")

    @classmethod
    def from_profile(cls, profile, **overrides) -> "TrainConfig":
        """The training settings of a :class:`~semiformer_lib.profiles.Profile`, with optional overrides."""
        values = dict(steps=profile.steps, batch_size=profile.batch_size, lr=profile.lr,
                      weight_decay=profile.weight_decay, warmup_steps=profile.warmup_steps,
                      eval_every=profile.eval_every)
        values.update(overrides)
        return cls(**values)


@dataclass
class History:
    """What a run measured, as plain data (lists indexed like ``step``)."""
    step: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)   # mean training loss since the previous evaluation
    train_acc: list[float] = field(default_factory=list)    # accuracy on (up to train_eval_size) labeled images
    test_acc: list[float] = field(default_factory=list)     # accuracy on the test set given to fit
    lr: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def final_test_acc(self) -> float:
        return self.test_acc[-1]

    @property
    def final_train_acc(self) -> float:
        return self.train_acc[-1]

    def as_dict(self) -> dict:
        return asdict(self)


def classification_loss(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor,
                        label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy of ``model`` on a batch. A two-headed model (e.g. Semiformer) is trained as the paper trains
    it: each head gets its own cross-entropy and the loss is their mean; its prediction at test time is still
    ``model(x)``, the sum of the heads' logits."""
    return supervised_loss(head_logits(model, inputs), labels, label_smoothing)


def fit(model: nn.Module, labeled: ImageSet, test: ImageSet, config: TrainConfig = TrainConfig(), seed: int = 0,
        progress: bool = True, desc: str = "train") -> History:
    """Train ``model`` on ``labeled`` with AdamW and warm-up + cosine; evaluate on ``test``.

    The model is moved to ``labeled.device``. Batches and augmentation are drawn from a generator seeded with
    ``seed`` (model initialisation is the caller's: seed before creating the model). Evaluations happen every
    ``config.eval_every`` steps and always after the last step. Returns the :class:`History`.
    """
    if labeled.device != test.device:
        raise ValueError(f"labeled set is on {labeled.device} but test set on {test.device}; move both with .to()")
    if labeled.image_shape != test.image_shape:
        raise ValueError(f"labeled images are {labeled.image_shape} but test images {test.image_shape}")
    device = labeled.device
    model.to(device).train()
    generator = make_generator(seed, device)
    train_probe = labeled if len(labeled) <= config.train_eval_size else labeled.subset(
        torch.randperm(len(labeled), generator=make_generator(seed, "cpu"))[:config.train_eval_size])
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                  fused=device.type == "cuda")
    scheduler = warmup_cosine(optimizer, config.steps, config.warmup_steps)
    history = History()
    loss_sum = torch.zeros((), device=device)
    steps_since_eval = 0
    started = time.perf_counter()
    bar = tqdm(range(1, config.steps + 1), desc=desc, leave=False, disable=not progress, mininterval=1.0)
    for step in bar:
        index = torch.randint(0, len(labeled), (config.batch_size,), device=device, generator=generator)
        images = labeled.images[index]                                            # [B, C, H, W] uint8
        if config.augment:
            images = weak_augment(images, generator)
        inputs = to_model_input(images, labeled.mean, labeled.std)                # [B, C, H, W] float
        with autocast(device):
            loss = classification_loss(model, inputs, labeled.labels[index], config.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        loss_sum += loss.detach()
        steps_since_eval += 1
        if step == config.steps or (config.eval_every and step % config.eval_every == 0):
            history.step.append(step)
            history.train_loss.append((loss_sum / steps_since_eval).item())
            history.train_acc.append(accuracy(model, train_probe).item())
            history.test_acc.append(accuracy(model, test).item())
            history.lr.append(scheduler.get_last_lr()[0])
            loss_sum.zero_()
            steps_since_eval = 0
            bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}", test=f"{history.test_acc[-1]:.1%}")
    history.seconds = time.perf_counter() - started
    return history
