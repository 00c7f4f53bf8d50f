"""Experiments: one training run on a low-label split, and sweeps of them over models, label budgets and seeds.

A chapter asks "how does model M do with N labels per class?" with one call::

    run = train_on_split("vit_mini_patch7", train, test, labels_per_class=40, seed=0, config=config)
    run.history.final_test_acc

The seed fixes the split, the model's initialisation, the batches and the augmentation. A model is a registered
name or a :class:`ModelSpec` — a name with constructor options and a label of its own, for ablations::

    sweep([ModelSpec("no fusion", "semiformer_tiny_patch4", {"fusion": "none"}), "semiformer_tiny_patch4"], ...)

On a CPU, ``sweep(..., workers=2)`` trains two runs side by side, each on half of torch's threads. Small models
scale poorly across threads, so two one-thread runs finish sooner than two two-thread runs one after the other
(``benchmarks/throughput.py --sweep-workers`` measures the ratio). A run's result depends only on its seed and its
thread count, not on which process trained it (tested).

The workers never outnumber the threads the config grants (``threads``, e.g. ``$SEMIFORMER_THREADS``): a sweep
told to use one thread trains one run at a time, in this process. So two chapters executing side by side under
``make test``, one thread each, hold two busy processes on the two cores, not four: the thread grant means what
it says (the whole make test took about as long either way; its cores were busy in both).
"""
from __future__ import annotations

import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from ..data import ImageSet, get_split
from ..models import count_macs, count_parameters, create_model
from ..progress import tqdm
from .config import RunConfig, with_overrides
from .fit import build_state, run_data
from .history import History
from .loop import train_loop
from .run_cache import RunCache


@dataclass(frozen=True)
class ModelSpec:
    """A registered model built with ``options`` (passed to ``create_model``), reported under ``label``."""
    label: str
    name: str
    options: dict = field(default_factory=dict)

    @classmethod
    def of(cls, model: "str | ModelSpec") -> "ModelSpec":
        return model if isinstance(model, ModelSpec) else cls(model, model)


@dataclass
class Run:
    """One finished training run."""
    model_name: str
    labels_per_class: int | str
    seed: int
    history: History
    parameters: int
    model: nn.Module | None = field(default=None, repr=False)

    def record(self) -> dict:
        """A flat row for a results table."""
        return {"model": self.model_name, "labels_per_class": self.labels_per_class, "seed": self.seed,
                "parameters": self.parameters, "train_acc": self.history.final_train_acc,
                "test_acc": self.history.final_test_acc, "seconds": round(self.history.seconds, 1)}


def train_on_split(model_name: "str | ModelSpec", train: ImageSet, test: ImageSet, labels_per_class: int | str,
                   seed: int, config: RunConfig, keep_model: bool = False, progress: bool = True,
                   **model_overrides) -> Run:
    """Train a model (a name or a :class:`ModelSpec`; ``model_overrides`` add constructor options) on the
    ``labels_per_class`` split of ``train`` (made with ``seed``); test on ``test``. The run is named by the
    spec's label."""
    spec = ModelSpec.of(model_name)
    split = get_split(train, labels_per_class, seed)
    labeled = train.subset(split.labeled, name=f"{train.name}[{labels_per_class}/class]")
    run_config = with_overrides(config, seed=seed, model=spec.name)
    state = build_state(run_config, run_data(labeled, test, run_config),
                        model_options=spec.options | model_overrides)
    history = History()
    train_loop(state, (history,), progress=progress,
               desc=f"{spec.label} {labels_per_class}/class seed {seed}")
    return Run(spec.label, labels_per_class, seed, history, count_parameters(state.model),
               state.model if keep_model else None)


def sweep(model_names, train: ImageSet, test: ImageSet, labels_per_class, seeds, config: RunConfig,
          keep_models: bool = False, progress: bool = True, workers: int = 1,
          cache: str | Path | None = None) -> list[Run]:
    """Every combination of model (names or :class:`ModelSpec`) × label budget × seed, with one progress bar over
    the runs (the runs' own step bars stay off: one line per sweep keeps a notebook's output short).

    ``cache``, a folder, keeps every finished CPU run there and loads, instead of training, a run already in it
    (the same model, split, seed, config, data, code, torch and threads; :mod:`.run_cache`): a run that two
    chapters train is trained once.

    ``workers`` > 1 trains that many runs at once in separate processes (CPU only), each with
    ``threads // workers`` torch threads (``threads``: the config's, else torch's current count), and never more
    processes than ``threads``. The runs come back in the same order as with one worker."""
    specs = [ModelSpec.of(m) for m in model_names]
    labels = [spec.label for spec in specs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"two models share a label in {labels}: their runs could not be told apart")
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer ≥ 1, got {workers!r}")
    on_cuda = config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available())
    if workers > 1 and (on_cuda or train.images.device.type != "cpu"):
        raise ValueError(f"workers={workers} trains runs in parallel CPU processes; on {config.device} "
                         f"train one run at a time (workers=1)")
    run_cache = None if cache is None or on_cuda else RunCache.open(cache, train, test)
    macs = {}
    for spec in specs:     # a bad name or option fails here, before any run trains (meta device: shapes only)
        with torch.device("meta"):
            macs[spec.label] = count_macs(_build_model(spec, train), (1, *train.image_shape))
    jobs = [(spec, n, s) for n in labels_per_class for s in seeds for spec in specs]
    # one thread per worker at least: more busy processes than granted threads oversubscribe the cores
    workers = min(workers, len(jobs), config.threads or torch.get_num_threads())
    bar = tqdm(total=len(jobs), desc="runs", disable=not progress, mininterval=1.0)
    if workers == 1:
        runs = []
        for spec, n, seed in jobs:
            bar.set_description(f"{spec.label} {n}/class seed {seed}")
            loaded = False
            if run_cache is None:
                runs.append(train_on_split(spec, train, test, n, seed, config, keep_model=keep_models,
                                           progress=False))
            else:
                payload, loaded = _trained_or_loaded(spec, train, test, n, seed, config, run_cache)
                runs.append(_unpack_run(payload, spec, train, keep_models))
            bar.set_postfix(last_test_acc=f"{runs[-1].history.final_test_acc:.1%}",
                            **({"from": "cache"} if loaded else {}))
            bar.update()
        bar.close()
        return runs
    threads = max(1, (config.threads or torch.get_num_threads()) // workers)
    runs: list[Run | None] = [None] * len(jobs)
    # spawn, not fork: a forked child would inherit the parent's torch thread pool mid-use
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
                               initargs=(train, test, threads, run_cache))
    try:
        bar.set_description(f"runs, {workers} at a time")
        # costliest first, so that the last runs to finish are short ones and no worker idles long at the end
        order = sorted(range(len(jobs)), key=lambda index: -macs[jobs[index][0].label])
        pending = {pool.submit(_train_job, *jobs[index], config, keep_models): index for index in order}
        for done in as_completed(pending):
            try:
                result = done.result()
            except BrokenProcessPool as error:
                raise RuntimeError(
                    "a sweep worker process died (its error is printed above). Workers start by importing the "
                    "program's main module: a script that calls sweep(workers > 1) must do so under "
                    "`if __name__ == '__main__':`; or train one run at a time with workers=1") from error
            run = runs[pending[done]] = _unpack_run(result, jobs[pending[done]][0], train, keep_models)
            bar.set_postfix(last=f"{run.model_name} seed {run.seed}: {run.history.final_test_acc:.1%}")
            bar.update()
    finally:     # on an error or an interrupt, the runs not yet started are dropped, not trained
        pool.shutdown(cancel_futures=True)
        bar.close()
    return runs


_WORKER: dict = {}     # a sweep worker's data sets and run cache, sent once when the process starts


def _start_worker(train: ImageSet, test: ImageSet, threads: int, run_cache: RunCache | None) -> None:
    torch.set_num_threads(threads)
    _WORKER.update(train=train, test=test, cache=run_cache)


def _train_job(spec: ModelSpec, labels_per_class, seed: int, config: RunConfig, keep_model: bool) -> bytes:
    if _WORKER["cache"] is not None:
        return _trained_or_loaded(spec, _WORKER["train"], _WORKER["test"], labels_per_class, seed, config,
                                  _WORKER["cache"])[0]
    return _payload(train_on_split(spec, _WORKER["train"], _WORKER["test"], labels_per_class, seed, config,
                                   keep_model=keep_model, progress=False))


def _trained_or_loaded(spec: ModelSpec, train: ImageSet, test: ImageSet, labels_per_class, seed: int,
                       config: RunConfig, run_cache: RunCache) -> tuple[bytes, bool]:
    """The run's payload from the cache (True), else trained, with its model, and stored (False)."""
    key = run_cache.key(spec, labels_per_class, seed, config)
    with run_cache.hold(key):            # another process training this run: wait for it, then load it
        payload = run_cache.load(key)
        if payload is not None:
            return payload, True
        payload = _payload(train_on_split(spec, train, test, labels_per_class, seed, config, keep_model=True,
                                          progress=False))
        run_cache.store(key, payload)
        return payload, False


def _payload(run: Run) -> bytes:
    # The model travels as its state dict (some models' classes are made at run time and cannot be pickled), and
    # the run is pickled here, by value: the executor would send each tensor as shared memory, one open file each.
    state = None if run.model is None else (run.model.state_dict(), run.model.training)
    return pickle.dumps((replace(run, model=None), state))


def _unpack_run(payload: bytes, spec: ModelSpec, train: ImageSet, keep_model: bool = True) -> Run:
    run, state = pickle.loads(payload)     # from our own worker process or run cache
    if state is None or not keep_model:
        return run
    weights, training = state
    model = _build_model(spec, train)
    model.load_state_dict(weights)
    return replace(run, model=model.train(training))


def _build_model(spec: ModelSpec, train: ImageSet, **overrides) -> nn.Module:
    channels, size, _ = train.image_shape
    return create_model(spec.name, img_size=size, in_chans=channels, num_classes=train.num_classes,
                        **(spec.options | overrides))


def final_metric(runs, metric: str = "test_acc", labels_per_class=None) -> dict[str, dict[int, float]]:
    """``{model: {seed: final value}}`` of ``metric`` (``"test_acc"`` or ``"train_acc"``), optionally for one
    label budget only — the shape the chapters' claims compare."""
    if metric not in ("test_acc", "train_acc"):
        raise ValueError(f"metric must be 'test_acc' or 'train_acc', got {metric!r}")
    table: dict[str, dict[int, float]] = {}
    for run in runs:
        if labels_per_class is None or run.labels_per_class == labels_per_class:
            table.setdefault(run.model_name, {})[run.seed] = getattr(run.history, f"final_{metric}")
    return table


def eval_subset(test: ImageSet, size: int | None, seed: int = 0) -> ImageSet:
    """A fixed random subset of ``size`` test images (the whole set when ``size`` is None or too large)."""
    if size is None or size >= len(test):
        return test
    chosen = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[:size].sort().values
    return test.subset(chosen, name=f"{test.name}[{size}]")
