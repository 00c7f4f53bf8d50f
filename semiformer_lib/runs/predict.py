"""Use a finished run: load its trained model and name the class of new images.

A run of ``python -m semiformer_lib.train`` ends with ``results.json`` (its config, its data and its accuracies)
and a checkpoint of its last step (:mod:`semiformer_lib.runs.run`). :func:`load_run` turns such a folder back into
a model in eval mode, the preprocessing its images went through and its class names; ``python -m
semiformer_lib.predict RUN_DIR IMAGE_OR_FOLDER ...`` prints one line per image: the path, the class and its
probability.

Which prediction: by default the one the run reports, ``summed`` — the sum of the two heads' logits for a
Semiformer (Weng et al., 2022, Sec. 3), the logits of a one-headed model. ``--head conv`` or ``--head transformer``
takes one head of a two-headed model; ``--ema`` the EMA copy of the weights (the run reports both; chapter 4 and
the run's ``results.json`` say which ended higher).

Preprocessing, as in training: an image file is read with Pillow, converted to the run's channels (gray ``L`` or
``RGB``), resized to the run's ``[C, H, W]`` (bilinear, antialiased) and normalised with the run's mean and std:
``[N, C, H, W]`` floats. Every image is read and checked before the model runs, so a folder with one unreadable
file is refused whole, naming it.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..data import DatasetFileError, load_dataset, to_model_input
from ..data.folder import IMAGE_SUFFIXES
from ..data.folder import read_images as read_image_files
from ..models import create_model
from ..models.interface import HEAD_NAMES, eval_mode, head_logits, is_two_headed
from ..train.config import ConfigError, RunConfig
from .checkpoint import CheckpointError, checkpoint_name, load_checkpoint
from .results import ResultsError, read_results

class PredictError(ValueError):
    """A run folder or an image cannot be used; the message names it and the way out."""


@dataclass
class LoadedRun:
    """A finished run, ready to predict: ``model`` (eval mode, on ``device``), ``config``, ``classes`` (names in
    label order), and the images' ``image_shape`` ``(C, H, W)``, ``mean`` and ``std``."""
    model: nn.Module
    config: RunConfig
    classes: tuple[str, ...]
    image_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    device: torch.device

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images ``[N, C, H, W]`` at the run's shape → normalised model input on the run's device."""
        if tuple(images.shape[1:]) != self.image_shape:
            raise PredictError(f"images are {tuple(images.shape[1:])}, this run takes {self.image_shape}; "
                               "read files with read_images(), which converts and resizes them")
        return to_model_input(images.to(self.device), self.mean, self.std)

    @torch.no_grad()
    def probabilities(self, images: torch.Tensor, head: str = "summed") -> torch.Tensor:
        """Class probabilities ``[N, K]`` of ``head`` for uint8 images ``[N, C, H, W]``."""
        heads = self.heads()
        if head not in heads:
            raise PredictError(f"this run's model ({self.config.model}) has no {head!r} prediction; choose one of "
                               f"{heads}")
        chunks = []
        with eval_mode(self.model):
            for start in range(0, len(images), 256):
                inputs = self.preprocess(images[start:start + 256])
                logits = head_logits(self.model, inputs)
                chosen = sum(logits) if head == "summed" else logits[HEAD_NAMES.index(head)]
                chunks.append(torch.softmax(chosen.float(), dim=-1).cpu())
        return torch.cat(chunks)

    def heads(self) -> tuple[str, ...]:
        """The predictions this model offers: ``conv``, ``transformer`` and ``summed``, or ``summed`` alone."""
        return HEAD_NAMES if is_two_headed(self.model) else ("summed",)


def _finished_record(run_dir: Path) -> dict:
    if not run_dir.is_dir():
        raise PredictError(f"{run_dir} is not a folder; give the folder of a run (output_dir/name)")
    results = run_dir / "results.json"
    if not results.is_file():
        raise PredictError(f"{run_dir} is not a finished run of this library: it has no results.json (a run writes "
                           "it when it ends; continue an unfinished run with python -m semiformer_lib.train "
                           "--config … --resume)")
    try:
        return read_results(results)
    except ResultsError as err:
        raise PredictError(f"{results} is not a results file of this library ({err})") from None


def _input_description(record: dict, config: RunConfig) -> tuple[tuple[str, ...], tuple, tuple, tuple]:
    """``(classes, image_shape, mean, std)`` from the record, or, for runs recorded before they were saved, from
    the data set itself."""
    data = record.get("data", {})
    if data.get("classes") and data.get("image_shape"):
        return tuple(data["classes"]), tuple(data["image_shape"]), tuple(data["mean"]), tuple(data["std"])
    if config.dataset == "imagenet":
        raise PredictError("this ImageNet run was recorded before runs saved their class names; re-run it, or "
                           "predict from Python with the names of its ImageFolder")
    test = load_dataset(config.dataset, "test", root=config.data_root)
    shape = test.image_shape if config.image_size is None else (test.image_shape[0], config.image_size,
                                                                 config.image_size)
    return tuple(test.classes), shape, tuple(test.mean), tuple(test.std)


def load_run(run_dir: str | Path, ema: bool = False, device: str | torch.device = "cpu") -> LoadedRun:
    """The model of the finished run in ``run_dir`` (its last step; ``ema``: the EMA weights) in eval mode on
    ``device``, with its preprocessing and class names. :class:`PredictError` when the folder is not a finished run
    of this library or its last checkpoint is missing or not one of ours."""
    run_dir = Path(run_dir)
    record = _finished_record(run_dir)
    try:
        config = RunConfig(**record["config"])
    except (ConfigError, TypeError) as err:
        raise PredictError(f"{run_dir / 'results.json'}: its config is not one this library can build "
                           f"({err})") from None
    last = run_dir / "checkpoints" / checkpoint_name(record["schedule"]["steps"])
    try:
        state = load_checkpoint(last)
    except CheckpointError as err:
        raise PredictError(f"{run_dir}: the checkpoint of its last step cannot be used: {err}") from None
    if ema and state["ema"] is None:
        raise PredictError(f"{run_dir} kept no EMA weights (ema_decay is null); predict without --ema")
    classes, image_shape, mean, std = _input_description(record, config)
    device = torch.device(device)
    model = create_model(config.model, img_size=image_shape[1], in_chans=image_shape[0], num_classes=len(classes))
    weights = state["model"]
    if ema:     # timm's ModelEmaV3 keeps the averaged model as .module
        weights = {key.removeprefix("module."): value for key, value in state["ema"].items()}
    model.load_state_dict(weights)
    return LoadedRun(model.to(device).eval(), config, classes, image_shape, mean, std, device)


def image_files(paths: list[str | Path]) -> list[Path]:
    """The image files named, and those inside the folders named (recursively, sorted); :class:`PredictError` for
    a path that does not exist or a folder without images."""
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not inside:
                raise PredictError(f"{path} holds no image ({', '.join(IMAGE_SUFFIXES)})")
            found += inside
        elif path.is_file():
            found.append(path)
        else:
            raise PredictError(f"{path} does not exist")
    return found


def read_images(files: list[Path], image_shape: tuple[int, int, int]) -> torch.Tensor:
    """Each file as the run's input, converted to its channels and resized to its size as a folder data set's
    images are (:func:`semiformer_lib.data.folder.read_images`): uint8 ``[N, C, H, W]``."""
    channels, height, width = image_shape
    if height != width:
        raise PredictError(f"this run takes {height}×{width} images; files are read square")
    try:
        return torch.from_numpy(read_image_files(files, channels, height))
    except DatasetFileError as err:
        raise PredictError(f"{err}, or name the images one by one") from None


def predict(run: LoadedRun, paths: list[str | Path], head: str = "summed") -> list[dict]:
    """For each image under ``paths``: ``{"path", "class", "probability"}`` of ``head``'s prediction."""
    files = image_files(paths)
    probabilities = run.probabilities(read_images(files, run.image_shape), head)
    confidence, chosen = probabilities.max(dim=1)
    return [{"path": str(file), "class": run.classes[index], "probability": round(float(p), 4)}
            for file, index, p in zip(files, chosen.tolist(), confidence)]


def main(argv: list[str] | None = None) -> int:
    """The CLI: 0 with one line per image; 2 with one line on stderr when the run or an image cannot be used."""
    parser = argparse.ArgumentParser(prog="python -m semiformer_lib.predict",
                                     description="Name the class of images with a finished training run.")
    parser.add_argument("run_dir", help="the run's folder (output_dir/name of its config)")
    parser.add_argument("paths", nargs="+", metavar="IMAGE_OR_FOLDER", help="image files, or folders of them")
    parser.add_argument("--head", choices=HEAD_NAMES, default="summed",
                        help="which prediction (default: summed, what the run reports)")
    parser.add_argument("--ema", action="store_true", help="use the EMA weights instead of the model's")
    parser.add_argument("--csv", metavar="FILE", help="also write the predictions to FILE (path,class,probability)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    try:
        rows = predict(load_run(args.run_dir, ema=args.ema, device=args.device), args.paths, args.head)
    except PredictError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.csv:                               # the file first: a reader that stops early (| head) loses nothing
        with open(args.csv, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["path", "class", "probability"])
            writer.writeheader()
            writer.writerows(rows)
    try:
        for row in rows:
            print(f"{row['path']}\t{row['class']}\t{row['probability']:.4f}", flush=True)
    except BrokenPipeError:                    # `... | head -n 4` closed stdout: that is the reader's choice, not ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # so the exit flush does not raise again
    return 0


if __name__ == "__main__":
    sys.exit(main())
