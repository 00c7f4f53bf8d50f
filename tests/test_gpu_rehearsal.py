"""The GPU path rehearsed on the CPU, so that a first GPU user meets nothing untried but CUDA itself: every shipped
config's gpu profile (or the config, where it has no profiles) and every chapter's gpu plan builds its model and its
schedule (large models on the meta device), and each of their models trains real steps with the GPU's numerics,
bf16 autocast and channels-last convolutions, through the library's own loop."""
from __future__ import annotations

import math

import pytest
import torch
import yaml

from semiformer_lib.models import count_macs, create_model
from semiformer_lib.profiles import PLANS
from semiformer_lib.train.config import CONFIG_DIR, RunConfig, load_config
from semiformer_lib.runs.run import train

# (channels, native size, classes) of each data set's images, as its loader gives them.
INPUTS = {"fashion-mnist": (1, 28, 10), "cifar10": (3, 32, 10), "cifar100": (3, 32, 100), "stl10": (3, 96, 10),
          "imagenet": (3, 224, 1000), "folder": (3, 32, 10)}


def gpu_configs() -> dict[str, RunConfig]:
    configs = {}
    for path in sorted(CONFIG_DIR.rglob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        if "stages" in raw:                          # a grid plan, not a run config
            continue
        profile = "gpu" if "gpu" in (raw.get("profiles") or {}) else None
        config = load_config(path, profile=profile)
        if config.device != "cpu":                   # the long comparisons and the grid are CPU runs by design
            configs[str(path.relative_to(CONFIG_DIR))] = config
    return configs


GPU_CONFIGS = gpu_configs()


@pytest.mark.parametrize("name", sorted(GPU_CONFIGS))
def test_every_shipped_gpu_config_builds_its_model_and_schedule(name):
    config = GPU_CONFIGS[name]
    channels, size, classes = INPUTS[config.dataset]
    size = config.image_size or size
    assert config.device in ("cuda", "auto") and config.precision == "auto" and config.channels_last
    with torch.device("meta"):                       # shapes only: Semiformer-S at 224 px costs nothing here
        model = create_model(config.model, img_size=size, in_chans=channels, num_classes=classes)
    assert count_macs(model, (1, channels, size, size)) > 0
    lengths = config.schedule(128_116 if config.dataset == "imagenet" else 4_000, world_size=8)   # labeled
    assert lengths["steps"] > lengths["supervised_steps"] >= 0 and lengths["warmup_steps"] < lengths["steps"]


def test_every_chapter_model_of_the_gpu_plan_builds():
    plan = PLANS["gpu"]
    names = {plan["vit"], plan["cnn"], plan["semiformer"], *plan["vit_variants"]}
    for name in sorted(names):
        with torch.device("meta"):
            model = create_model(name, img_size=28, in_chans=1, num_classes=10)
        assert count_macs(model, (1, 1, 28, 28)) > 0, name


# Semiformer-S trains here as semiformer_mini_wide_patch4 does: the same classes (Semiformer, FusedBlock, timm's
# Block) at another size. Its own bf16 steps would take minutes on a CPU without bf16 arithmetic, so it is rehearsed
# through its small sibling, and the test below checks that the two are one architecture. (At the rehearsal's 16 px
# a Semiformer takes its small-image stem; the 224 px stem adds a max-pool, built above on the meta device.)
REHEARSED_AS = {"semiformer_small_patch16": "semiformer_mini_wide_patch4"}


def test_a_model_rehearsed_through_a_smaller_sibling_is_the_same_architecture():
    for large, small in REHEARSED_AS.items():
        with torch.device("meta"):               # at one image size, so that both take the 224 px stem
            big = create_model(large, img_size=224, in_chans=3, num_classes=1000)
            tiny = create_model(small, img_size=224, in_chans=3, num_classes=1000, patch_size=16)
        assert type(big) is type(tiny)
        assert {type(m) for m in big.modules()} == {type(m) for m in tiny.modules()}   # the same layer kinds


@pytest.mark.parametrize("model", sorted({REHEARSED_AS.get(c.model, c.model) for c in GPU_CONFIGS.values()}))
def test_each_gpu_model_trains_with_bf16_autocast_and_channels_last_on_the_cpu(model, tmp_path):
    config = RunConfig(name="rehearsal", model=model, dataset="fashion-mnist", labels_per_class=4, image_size=16,
                       steps=2, supervised_steps=1, warmup_steps=1, batch_size=4, unlabeled_ratio=1.0,
                       unlabeled_size=32, eval_every=None, eval_size=8, final_eval_size=8, threshold=0.0,
                       unlabeled_weight=1.0, device="cpu", precision="bf16", channels_last_cpu=True, threads=1,
                       teacher="conv" if "semiformer" in model else "mean", checkpoint_every=2,
                       output_dir=str(tmp_path))
    record = train(config, progress=False)
    row = record["curves"][-1]
    assert record["schedule"]["steps"] == 2 and row["mask_rate"] == 1.0            # τ 0: the pseudo-label step ran
    assert math.isfinite(row["labeled_loss"]) and math.isfinite(row["unlabeled_loss"])
    assert all(0 <= value <= 1 for value in record["final"]["model"].values())
