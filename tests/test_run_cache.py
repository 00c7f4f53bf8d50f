"""The sweep's run cache: a run trained once is loaded, equal, the next time; anything that could change it trains
anew; a damaged entry is retrained; a process asking for a run another process is training waits for it."""
from __future__ import annotations

import threading
import time

import pytest
import torch

from semiformer_lib.train import ModelSpec, RunConfig, eval_subset, sweep, with_overrides
from semiformer_lib.train import experiments
from semiformer_lib.train.run_cache import RunCache, source_digest

CONFIG = RunConfig(steps=4, batch_size=16, lr=2e-3, warmup_steps=1, eval_every=2, supervised_steps=0,
                   ema_decay=None, train_eval_size=100, threads=1)
NO_FUSION = ModelSpec("no fusion", "semiformer_tiny_patch4", {"fusion": "none"})


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def small_test(fashion_test):
    return eval_subset(fashion_test, 100)


def _rows(run):
    return [{k: v for k, v in row.items() if k != "images_per_second"} for row in run.history.rows]


def _forbid_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a cached run was trained again")
    monkeypatch.setattr(experiments, "train_on_split", refuse)


def test_a_cached_run_is_loaded_equal_to_the_trained_one(fashion_train, small_test, tmp_path, monkeypatch,
                                                          one_thread):
    trained = sweep(["cnn_mini", NO_FUSION], fashion_train, small_test, [4], [0], CONFIG, keep_models=True,
                    progress=False, cache=tmp_path)
    assert len(list(tmp_path.glob("*.run"))) == 2
    _forbid_training(monkeypatch)
    loaded = sweep(["cnn_mini", NO_FUSION], fashion_train, small_test, [4], [0], CONFIG, keep_models=True,
                   progress=False, cache=tmp_path)
    for first, again in zip(trained, loaded):
        assert (again.model_name, again.seed, again.parameters) == (first.model_name, first.seed, first.parameters)
        assert _rows(again) == _rows(first)
        assert type(again.model) is type(first.model) and again.model.training == first.model.training
        for (name, value), expected in zip(again.model.state_dict().items(), first.model.state_dict().values()):
            assert torch.equal(value, expected), name
    assert loaded[1].model.fusion == "none"
    # without keep_models the same entries come back without their models
    assert all(run.model is None for run in sweep(["cnn_mini"], fashion_train, small_test, [4], [0], CONFIG,
                                                  progress=False, cache=tmp_path))


@pytest.mark.parametrize("change", ["config", "seed", "labels", "options", "threads", "test set"])
def test_anything_that_changes_a_run_trains_it_anew(change, fashion_train, small_test, tmp_path, one_thread):
    model, labels, seeds, config, test = "cnn_mini", [4], [0], CONFIG, small_test
    sweep([model], fashion_train, test, labels, seeds, config, progress=False, cache=tmp_path)
    if change == "config":
        config = with_overrides(CONFIG, lr=1e-3)
    elif change == "seed":
        seeds = [1]
    elif change == "labels":
        labels = [5]
    elif change == "options":
        model = ModelSpec("cnn_mini", "cnn_mini", {"padding_mode": "reflect"})
    elif change == "threads":
        torch.set_num_threads(2)
    else:
        test = eval_subset(test, 50)
    sweep([model], fashion_train, test, labels, seeds, config, progress=False, cache=tmp_path)
    assert len(list(tmp_path.glob("*.run"))) == 2


def test_the_key_holds_the_code_the_data_and_torch(fashion_train, small_test, tmp_path):
    cache = RunCache.open(tmp_path, fashion_train, small_test)
    for part in ('"source"', '"torch"', '"processor"', '"train"', '"test"', source_digest(), torch.__version__):
        assert part in cache.context
    package = tmp_path / "package"
    package.mkdir()
    (package / "a.py").write_text("x = 1\n")
    before = source_digest(package)
    (package / "a.py").write_text("x = 2\n")
    assert source_digest(package) != before


def test_a_damaged_entry_is_trained_again_with_a_warning(fashion_train, small_test, tmp_path, one_thread):
    first = sweep(["cnn_mini"], fashion_train, small_test, [4], [0], CONFIG, progress=False, cache=tmp_path)[0]
    entry, = tmp_path.glob("*.run")
    entry.write_bytes(entry.read_bytes()[:100])                   # truncated, as by a full disk
    with pytest.warns(UserWarning, match=rf"run cache entry .*{entry.name} cannot be read"):
        again = sweep(["cnn_mini"], fashion_train, small_test, [4], [0], CONFIG, progress=False,
                      cache=tmp_path)[0]
    assert _rows(again) == _rows(first)
    assert len(entry.read_bytes()) > 100                           # rewritten whole


def test_a_run_being_trained_elsewhere_is_waited_for_then_loaded(fashion_train, small_test, tmp_path,
                                                                  monkeypatch, one_thread):
    """While one holder trains a run (here a thread holding the entry's lock), a second asking for it blocks, then
    loads what the first wrote instead of training it too."""
    trained = sweep(["cnn_mini"], fashion_train, small_test, [4], [0], CONFIG, keep_models=True, progress=False,
                    cache=tmp_path / "first")[0]
    payload = experiments._payload(trained)
    cache = RunCache.open(tmp_path / "shared", fashion_train, small_test)
    key = cache.key(ModelSpec.of("cnn_mini"), 4, 0, with_overrides(CONFIG, seed=0))
    holding = threading.Event()

    def train_elsewhere():
        with cache.hold(key):
            holding.set()
            time.sleep(1.0)
            cache.store(key, payload)

    elsewhere = threading.Thread(target=train_elsewhere)
    elsewhere.start()
    holding.wait()
    _forbid_training(monkeypatch)
    started = time.perf_counter()
    loaded = sweep(["cnn_mini"], fashion_train, small_test, [4], [0], CONFIG, keep_models=True, progress=False,
                   cache=tmp_path / "shared")[0]
    elsewhere.join()
    assert time.perf_counter() - started >= 0.5                    # it waited for the holder
    assert _rows(loaded) == _rows(trained)
