"""Runs: what the command line does with a training run, one layer above :mod:`semiformer_lib.train`.

* :mod:`.run` — the full run of a :class:`~semiformer_lib.train.RunConfig` (``python -m semiformer_lib.train``):
  builds its data, model and state, trains on one process or many, and leaves a folder behind;
* :mod:`.checkpoint` — that folder's checkpoints, written atomically and read safely; :mod:`.lock` — one process
  per folder;
* :mod:`.results` — its ``results.json`` artifact, with the machine and commit it came from;
* :mod:`.replay` — re-running a committed artifact's windows and comparing them (what ``make test`` checks);
* :mod:`.grid` — a tuning grid of runs (``python -m semiformer_lib.runs.grid PLAN``);
* :mod:`.predict` — a finished run put to use (:func:`load_run`, ``python -m semiformer_lib.predict``).
"""
from .checkpoint import CheckpointError, latest_checkpoint, list_checkpoints, load_checkpoint
from .predict import LoadedRun, PredictError, load_run, predict
from .results import ResultsError, read_results, results_table
from .run import RunError, train

__all__ = ["CheckpointError", "latest_checkpoint", "list_checkpoints", "load_checkpoint", "LoadedRun",
           "PredictError", "load_run", "predict", "ResultsError", "read_results", "results_table", "RunError",
           "train"]
