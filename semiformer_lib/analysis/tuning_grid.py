"""A tuning grid's artifacts as tables: every method at every grid point, beside its twin, its seeds and its cost.

The grid is run by :mod:`semiformer_lib.runs.grid` (issue 28: does the Semiformer built on the book's CNN beat
FixMatch on that CNN when both are tuned alike?). Its artifacts are CLI run folders named
``<method>_<teacher>_t<τ>_l<labels>_s<seed>`` (a pseudo-labeling run) or ``<method>_twin_l<labels>_s<seed>`` (its
supervised twin, λ = 0). :func:`read_grid` reads and checks every one below a folder into :class:`GridComparison`:

* ``runs`` — one row per run: ``name, method, twin, teacher, threshold, labels, seed``, its ``model``, ``steps``
  and ``supervised_steps``, the final test accuracy (all 10 000 images) of each head (``conv``, ``transformer``,
  ``summed``; one-headed models: ``summed`` only) and of the EMA's prediction (``ema``), the wall time in minutes,
  and the multiply-accumulates of one pseudo-labeling step (``gmacs_per_step``: ``MACs/image · (3·(B + μB) + μB)``
  — forward and backward of the students on the labeled and the strong views, one forward of the teacher on the
  weak views; a twin's step is ``3·B``);
* ``curves`` — one row per run and evaluation, the same accuracies on the curve's test images.

From them: :meth:`GridComparison.points` (one method's grid at one seed, best first),
:meth:`GridComparison.best_point` (the runner's rule for the point confirmed on more seeds),
:meth:`GridComparison.seeds` (chosen points across seeds), :meth:`GridComparison.lift` (each run minus its twin of
the same seed), :meth:`GridComparison.summary` (every grid point's means over its seeds, with its cost),
:meth:`GridComparison.gap_over_steps` (a run minus its twin at every evaluation),
:meth:`GridComparison.head_gap_over_steps` (one head minus another within a run, at every evaluation) and
:meth:`GridComparison.pseudo_label_quality` (how many pseudo-labels passed τ and how many were right, per window).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd
import torch

from ..data import load_dataset
from ..models import count_macs, create_model
from ..runs.replay import ArtifactError, read_artifact

RUN_NAME = re.compile(r"(?P<method>[a-z0-9_]+?)_(?:(?P<teacher>conv|transformer|mean|ema)_t(?P<tau>[0-9.]+)|twin)"
                      r"_l(?P<labels>\d+)_s(?P<seed>\d+)$")
HEADS = ("conv", "transformer", "summed")
# what each evaluation row says of the pseudo-labels of its window (the true labels are read for this only)
WINDOW_DIAGNOSTICS = ("mask_rate", "pseudo_acc", "confident_acc")


@lru_cache(maxsize=None)
def macs_per_image(model: str, dataset: str, image_size: int | None = None) -> int:
    """Multiply-accumulates of one forward pass of a registered model on one image of a resident data set (at
    ``image_size`` when set), counted on the meta device."""
    test = load_dataset(dataset, "test")
    image_shape, num_classes = test.image_shape, test.num_classes
    if image_size is not None:
        image_shape = (image_shape[0], image_size, image_size)
    with torch.device("meta"):
        network = create_model(model, img_size=image_shape[1], in_chans=image_shape[0], num_classes=num_classes)
    return count_macs(network, (1, *image_shape))


def step_macs(per_image: int, labeled: int, unlabeled: int, pseudo_labeling: bool) -> int:
    """Multiply-accumulates of one training step: a backward pass costs about two forward passes, so the students
    cost ``3·(B + μB)`` forward passes and the teacher ``μB``; a supervised step ``3·B``."""
    return per_image * (3 * (labeled + unlabeled) + unlabeled if pseudo_labeling else 3 * labeled)


@dataclass
class GridComparison:
    """A grid's runs as tables (see the module docstring)."""
    runs: pd.DataFrame
    curves: pd.DataFrame

    @property
    def methods(self) -> list[str]:
        return list(dict.fromkeys(self.runs["method"]))

    @property
    def supervised_steps(self) -> int:
        """The warm-up on labels alone, shared by every run of the grid (its curves are comparable step by step)."""
        steps = set(self.runs["supervised_steps"])
        if len(steps) != 1:
            raise ValueError(f"the grid's runs differ in supervised_steps: {sorted(steps)}")
        return int(steps.pop())

    def points(self, method: str, labels: int, seed: int) -> pd.DataFrame:
        """``method``'s pseudo-labeling runs at one label budget and seed, best first, with its twin last."""
        rows = self.runs[(self.runs["method"] == method) & (self.runs["labels"] == labels)
                         & (self.runs["seed"] == seed)]
        return pd.concat([rows[~rows["twin"]].sort_values("summed", ascending=False, kind="stable"),
                          rows[rows["twin"]]]).reset_index(drop=True)

    def runs_at(self, labels: int, method: str, point: tuple[str, float] | None) -> pd.DataFrame:
        """``method``'s runs at one label budget at grid point ``(teacher, τ)``, or its twins when ``point`` is None."""
        return _at(self.runs, labels, method, point)

    def best_point(self, method: str, labels: int, seed: int) -> tuple[str, float]:
        """``(teacher, τ)`` of ``method``'s best final summed accuracy at one seed, ties to the first run — the rule
        by which :mod:`semiformer_lib.runs.grid` picks the point a ``best_of`` stage runs on more seeds."""
        best = self.points(method, labels, seed).iloc[0]
        if best["twin"]:
            raise ValueError(f"{method} has no pseudo-labeling run at {labels} labels per class, seed {seed}")
        return best["teacher"], float(best["threshold"])

    def seeds(self, labels: int, chosen: dict[str, tuple], head: str = "summed") -> pd.DataFrame:
        """Final accuracy of ``head`` for chosen runs across seeds: ``chosen`` maps a row label to
        ``(method, teacher, τ)``, or to ``(method, None)`` for the method's twin; columns are the seeds that every
        chosen run has, then their mean."""
        table = {label: self.runs_at(labels, choice[0], choice[1:] if choice[1] is not None else None)
                 .set_index("seed")[head] for label, choice in chosen.items()}
        frame = pd.DataFrame(table).T.dropna(axis=1)
        return frame.assign(mean=frame.mean(axis=1))

    def gap_over_steps(self, labels: int, chosen: dict[str, tuple[str, str, float]],
                       column: str = "ema") -> pd.DataFrame:
        """Each chosen run's ``column`` (``ema``: its EMA's summed prediction; or a head) minus its twin's at every
        evaluation, on the curve's test images: ``chosen`` maps a label to ``(method, teacher, τ)``; rows are
        steps, columns ``(label, seed)`` (the input of :func:`semiformer_lib.viz.plot_gap_over_steps`)."""
        gaps = {}
        for label, (method, *point) in chosen.items():
            mine, twins = _at(self.curves, labels, method, point), _at(self.curves, labels, method, None)
            for seed in sorted(set(mine["seed"]) & set(twins["seed"])):
                run = mine[mine["seed"] == seed].set_index("step")[column]
                gaps[(label, seed)] = run - twins[twins["seed"] == seed].set_index("step")[column]
        return pd.DataFrame(gaps).rename_axis(index="step", columns=["method", "seed"])

    def head_gap_over_steps(self, labels: int, chosen: dict[str, tuple[str, str, float]], minuend: str = "summed",
                            subtrahend: str = "conv") -> pd.DataFrame:
        """One head minus another *within* each chosen run at every evaluation, on the curve's test images (default:
        the summed prediction minus the conv head alone — does the transformer head add at inference?): ``chosen``
        maps a label to ``(method, teacher, τ)``; rows are steps, columns ``(label, seed)``, as
        :meth:`gap_over_steps`."""
        gaps = {}
        for label, (method, *point) in chosen.items():
            rows = _at(self.curves, labels, method, point)
            for seed, run in rows.groupby("seed"):
                run = run.set_index("step")
                gaps[(label, seed)] = run[minuend].astype(float) - run[subtrahend].astype(float)
        return pd.DataFrame(gaps).rename_axis(index="step", columns=["method", "seed"])

    def pseudo_label_quality(self, labels: int, chosen: dict[str, tuple[str, str, float]]) -> pd.DataFrame:
        """The chosen runs' pseudo-label diagnostics per evaluation window after the warm-up (mean over the window's
        steps): ``method`` (the label of ``chosen``), ``seed, step, mask_rate, pseudo_acc, confident_acc`` (the
        input of :func:`semiformer_lib.viz.plot_pseudo_label_windows`)."""
        frames = []
        for label, (method, *point) in chosen.items():
            rows = _at(self.curves, labels, method, point)
            rows = rows[rows["mask_rate"].notna()]
            frames.append(rows.assign(method=label)[["method", "seed", "step", *WINDOW_DIAGNOSTICS]])
        return pd.concat(frames).reset_index(drop=True)

    def summary(self, labels: int) -> pd.DataFrame:
        """Every grid point at one label budget, best mean first within each method: its seeds, the mean final
        accuracy of the summed prediction, of each head and of the EMA, the mean lift over the twin of the same
        seed, the multiply-accumulates of one step and the mean wall time."""
        lifts = self.lift().set_index("name")["lift"]
        rows = self.runs[(self.runs["labels"] == labels) & ~self.runs["twin"]].copy()
        rows["lift"] = rows["name"].map(lifts)
        table = (rows.groupby(["method", "teacher", "threshold"], sort=False)
                 .agg(seeds=("seed", lambda s: tuple(sorted(s))), summed=("summed", "mean"), conv=("conv", "mean"),
                      transformer=("transformer", "mean"), ema=("ema", "mean"), lift=("lift", "mean"),
                      gmacs_per_step=("gmacs_per_step", "first"), minutes=("minutes", "mean"))
                 .reset_index())
        order = {method: i for i, method in enumerate(self.methods)}
        table["order"] = table["method"].map(order)
        return (table.sort_values(["order", "summed"], ascending=[True, False], kind="stable")
                .drop(columns="order").reset_index(drop=True))

    def lift(self, head: str = "summed") -> pd.DataFrame:
        """Each pseudo-labeling run's final ``head`` accuracy minus its twin's (same method, labels and seed)."""
        twins = self.runs[self.runs["twin"]].set_index(["method", "labels", "seed"])[head]
        runs = self.runs[~self.runs["twin"]].copy()
        runs["lift"] = [row[head] - twins.get((row["method"], row["labels"], row["seed"]), float("nan"))
                        for _, row in runs.iterrows()]
        return runs[["name", "method", "teacher", "threshold", "labels", "seed", head, "lift"]].reset_index(drop=True)


def _at(frame: pd.DataFrame, labels: int, method: str, point) -> pd.DataFrame:
    """The rows of ``frame`` (``runs`` or ``curves``) of ``method`` at one label budget: at grid point
    ``(teacher, τ)``, or its twins when ``point`` is None."""
    rows = frame[(frame["labels"] == labels) & (frame["method"] == method)]
    if point is None:
        return rows[rows["twin"]]
    teacher, threshold = point
    return rows[~rows["twin"] & (rows["teacher"] == teacher) & (rows["threshold"] == threshold)]


def _identify(folder: Path, config: dict) -> dict:
    """``method, twin, teacher, threshold, labels, seed`` from the folder's name, checked against its config."""
    match = RUN_NAME.match(folder.name)
    if match is None:
        raise ArtifactError(f"{folder}: not a grid run (names are <method>_<teacher>_t<tau>_l<labels>_s<seed> or "
                            "<method>_twin_l<labels>_s<seed>)")
    twin = match["teacher"] is None
    said = (twin, int(match["labels"]), int(match["seed"]))
    done = (config["unlabeled_weight"] == 0, config["labels_per_class"], config["seed"])
    if not twin:
        said, done = (*said, match["teacher"], float(match["tau"])), (*done, config["teacher"], config["threshold"])
    if said != done:
        raise ArtifactError(f"{folder}: its name says (twin, labels, seed[, teacher, tau]) = {said}, its config {done}")
    return {"method": match["method"], "twin": twin, "teacher": None if twin else config["teacher"],
            "threshold": None if twin else config["threshold"], "labels": config["labels_per_class"],
            "seed": config["seed"]}


def read_grid(root: str | Path) -> GridComparison:
    """Every grid artifact below ``root``, checked (:func:`~semiformer_lib.runs.replay.read_artifact`), as a
    :class:`GridComparison`."""
    folders = sorted(path.parent for path in Path(root).rglob("results.json"))
    if not folders:
        raise ArtifactError(f"{root}: no grid artifact (<run name>/results.json)")
    runs, curves = [], []
    for folder in folders:
        artifact = read_artifact(folder)
        record, config = artifact.record, artifact.record["config"]
        who = {"name": folder.name, **_identify(folder, config)}
        per_image = macs_per_image(config["model"], config["dataset"], config["image_size"])
        labeled = config["batch_size"]
        unlabeled = max(1, round(config["unlabeled_ratio"] * labeled))
        accuracies = {head: record["final"]["model"].get(head) for head in HEADS}
        runs.append({**who, "model": config["model"], "steps": config["steps"],
                     "supervised_steps": config["supervised_steps"], **accuracies,
                     "ema": record["final"].get("ema", {}).get("summed"),
                     "minutes": record["wall_seconds"] / 60, "gmacs_per_step":
                     step_macs(per_image, labeled, unlabeled, not who["twin"]) / 1e9,
                     "device": record["provenance"]["device"], "commit": record["provenance"]["git_commit"],
                     "dirty": record["provenance"].get("git_dirty")})
        curves += [{**who, "step": row["step"], **{h: row["model"].get(h) for h in HEADS},
                    "ema": row.get("ema", {}).get("summed"),
                    **{name: row.get(name) for name in WINDOW_DIAGNOSTICS}} for row in artifact.rows]
    return GridComparison(pd.DataFrame(runs), pd.DataFrame(curves))
