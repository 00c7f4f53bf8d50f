"""The book's long comparison, read from its committed artifacts (chapter 5; Semiformer Sec. 4.2's question at
Fashion-MNIST scale: do unlabeled images, labeled by the conv branch, lift a model above its labels alone?).

Each run of the comparison is a CLI artifact folder (``results.json`` + ``metrics.jsonl``, read and checked by
:func:`semiformer_lib.runs.replay.read_artifact`) named ``long_<method>_s<seed>`` for a pseudo-labeling run and
``long_<method>_twin_s<seed>`` for its supervised twin (the same config with λ = 0). :func:`read_long_comparison`
turns a folder of them into two tables:

* ``finals`` — one row per run: ``method, twin, seed`` and the final test accuracy (all 10 000 images) of each head
  (``conv``, ``transformer``, ``summed``; one-headed models: ``summed`` only) and of the EMA's summed prediction,
  with the wall time, the device and the commit (``commit``, ``dirty``: whether the tree had uncommitted changes);
* ``curves`` — one row per run and evaluation: the same accuracies on the curve's test images, and the
  pseudo-label diagnostics of the window that ended there (``mask_rate``, ``pseudo_acc``: all pseudo-labels,
  ``confident_acc``: those past τ; null during the supervised warm-up).

From them: :meth:`LongComparison.lift` (SSL − twin, final, per seed), :meth:`LongComparison.gap_over_steps`
(SSL − twin at every evaluation) and :func:`crossover_step` (from which step on the gap stays positive).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..runs.replay import Artifact, ArtifactError, read_artifact

RUN_NAME = re.compile(r"long_(?P<method>[a-z0-9_]+?)(?P<twin>_twin)?_s(?P<seed>\d+)$")
METHOD_LABELS = {"semiformer": "Semiformer", "fixmatch_vit": "FixMatch ViT", "fixmatch_cnn": "FixMatch CNN"}
HEADS = ("conv", "transformer", "summed")
DIAGNOSTICS = ("mask_rate", "pseudo_acc", "confident_acc")


@dataclass
class LongComparison:
    """The long comparison's runs as tables (see the module docstring)."""
    finals: pd.DataFrame
    curves: pd.DataFrame
    supervised_steps: int

    @property
    def methods(self) -> list[str]:
        return list(dict.fromkeys(self.finals["method"]))

    @property
    def seeds(self) -> list[int]:
        return sorted(set(self.finals["seed"]))

    def final(self, head: str = "summed") -> pd.DataFrame:
        """Final test accuracy of ``head``: rows ``(method, twin)``, columns seeds."""
        return self.finals.pivot_table(index=["method", "twin"], columns="seed", values=head, sort=False)

    def lift(self, head: str = "summed") -> pd.DataFrame:
        """SSL − twin final test accuracy of ``head``: rows seeds, columns methods (NaN where a head is missing)."""
        final = self.final(head) if head in self.finals else None
        return pd.DataFrame({method: final.loc[(method, False)] - final.loc[(method, True)]
                             for method in self.methods if final is not None and (method, True) in final.index})

    def gap_over_steps(self, head: str = "summed") -> pd.DataFrame:
        """SSL − twin accuracy of ``head`` at every evaluation: rows steps, columns ``(method, seed)``."""
        table = self.curves.pivot_table(index="step", columns=["method", "twin", "seed"], values=head, sort=False)
        gaps = {(method, seed): table[(method, False, seed)] - table[(method, True, seed)]
                for method in self.methods for seed in self.seeds
                if (method, False, seed) in table and (method, True, seed) in table}
        return pd.DataFrame(gaps).rename_axis(columns=["method", "seed"])

    def pseudo_label_quality(self) -> pd.DataFrame:
        """The pseudo-labeling runs' diagnostics per evaluation window after the warm-up: ``method, seed, step``
        and :data:`DIAGNOSTICS`."""
        ssl = self.curves[~self.curves["twin"] & self.curves["mask_rate"].notna()]
        return ssl[["method", "seed", "step", *DIAGNOSTICS]].reset_index(drop=True)


def crossover_step(gap: pd.Series) -> int | None:
    """The first step from which ``gap`` (indexed by step) stays above zero to the end; None if it ends ≤ 0."""
    below = gap[gap <= 0]
    if len(below) == 0:
        return int(gap.index[0])
    after = gap.index[gap.index > below.index[-1]]
    return int(after[0]) if len(after) else None


def _identify(artifact: Artifact) -> dict:
    """``method, twin, seed`` of a run from its folder's name, checked against its config."""
    name = artifact.folder.name
    match = RUN_NAME.match(name)
    if match is None:
        raise ArtifactError(f"{artifact.folder}: not a long-comparison run (names are long_<method>[_twin]_s<seed>)")
    config, twin = artifact.record["config"], match["twin"] is not None
    if twin != (config["unlabeled_weight"] == 0) or int(match["seed"]) != config["seed"]:
        raise ArtifactError(f"{artifact.folder}: its name says twin={twin}, seed {match['seed']}, but its config "
                            f"has unlabeled_weight {config['unlabeled_weight']}, seed {config['seed']}")
    method = METHOD_LABELS.get(match["method"], match["method"])
    return {"method": method, "twin": twin, "seed": config["seed"]}


def _accuracies(measured: dict) -> dict:
    row = {head: measured["model"].get(head) for head in HEADS}
    row["ema"] = measured.get("ema", {}).get("summed")
    return row


def read_long_comparison(root: str | Path) -> LongComparison:
    """Every ``long_*`` artifact below ``root``, checked, as a :class:`LongComparison`."""
    folders = sorted(path.parent for path in Path(root).rglob("results.json") if RUN_NAME.match(path.parent.name))
    if not folders:
        raise ArtifactError(f"{root}: no long-comparison artifact (long_<method>[_twin]_s<seed>/results.json)")
    finals, curves, warm_ups = [], [], set()
    for folder in folders:
        artifact = read_artifact(folder)
        who, record = _identify(artifact), artifact.record
        warm_ups.add(record["schedule"]["supervised_steps"])
        finals.append({**who, **_accuracies(record["final"]), "minutes": record["wall_seconds"] / 60,
                       "device": record["provenance"]["device"], "steps": record["schedule"]["steps"],
                       "commit": record["provenance"]["git_commit"], "dirty": record["provenance"]["git_dirty"]})
        curves += [{**who, "step": row["step"], **_accuracies(row), **{k: row.get(k) for k in DIAGNOSTICS}}
                   for row in artifact.rows]
    if len(warm_ups) != 1:
        raise ArtifactError(f"{root}: the long runs do not share one supervised warm-up ({sorted(warm_ups)} steps)")
    curves = pd.DataFrame(curves)
    curves[list(DIAGNOSTICS)] = curves[list(DIAGNOSTICS)].astype(float)
    return LongComparison(pd.DataFrame(finals), curves, warm_ups.pop())
