"""Bad inputs a skeptical user tries on the full run: each is refused with one clear message (exit code 2 from the
CLI) before any compute, nothing already written is lost, and no file can run code. (The kill-and-resume test sits
with the uninterrupted run it compares against, in test_run.py.)"""
from __future__ import annotations

import errno
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from semiformer_lib.data import DatasetFileError, SplitError, fashion_mnist_dir, load_split, make_split, save_split
from semiformer_lib.data.cifar import load_cifar
from semiformer_lib.data.splits import split_path
from semiformer_lib.train import distributed
from semiformer_lib.runs.checkpoint import FORMAT, CheckpointError, list_checkpoints, load_checkpoint, save_checkpoint
from semiformer_lib.train.config import ConfigError, load_config
from semiformer_lib.runs.results import read_results
from semiformer_lib.runs.run import build_data, main, train
from test_more_datasets import write_cifar
from test_run import TINY, tiny

# A fast one-headed variant for the tests that need a finished run (its final evaluation takes 1 s, not 10 s).
FAST = dict(model="vit_mini_patch4", teacher="mean")


class TouchesAFile:
    """Pickles into a call of ``open(path, "w")``: loading it creates ``path``, the proof that code ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def write_config(tmp_path, **changes):
    path = tmp_path / "run.yaml"
    path.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in {**TINY, **changes}.items()))
    return str(path)


def refused(capsys, argv) -> str:
    """Run the CLI on ``argv``; assert exit code 2 with one ``error:`` line and no traceback; return the line."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


# ---- 1. a data file cannot run code -----------------------------------------------------------------------------

def test_a_cifar_batch_that_would_run_code_is_refused_unloaded(tmp_path):
    write_cifar(tmp_path)
    marker, batch = tmp_path / "code_ran", tmp_path / "cifar-10-batches-py" / "data_batch_2"
    batch.write_bytes(pickle.dumps({b"data": TouchesAFile(marker), b"labels": [0]}))
    with pytest.raises(DatasetFileError, match=rf"{batch}: not a CIFAR batch file: it references (builtins|io)\.open"):
        load_cifar("cifar10", "train", tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_genuine_cifar_batches_load_under_every_pickle_protocol(tmp_path, protocol):
    written = write_cifar(tmp_path)
    for name, (data, labels) in written.items():        # the real CIFAR files are Python 2 protocol-2 pickles
        record = {b"data": data, b"labels": labels, b"batch_label": b"training batch", b"filenames": [b"a.png"]}
        (tmp_path / "cifar-10-batches-py" / name).write_bytes(pickle.dumps(record, protocol=protocol))
    train_set = load_cifar("cifar10", "train", tmp_path)
    assert torch.equal(train_set.images[:6].reshape(6, -1), torch.from_numpy(written["data_batch_1"][0]))


# ---- 2. one run per folder --------------------------------------------------------------------------------------

HOLDER = """import sys, time
from semiformer_lib.runs.lock import hold_run_folder
with hold_run_folder(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_second_run_of_one_folder_is_refused_while_the_first_lives(tmp_path, capsys):
    run_dir = tmp_path / "tiny"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        err = refused(capsys, ["--config", write_config(tmp_path), f"output_dir={tmp_path}", "--no-progress"])
        assert f"{run_dir} is in use by a run that is still going (pid {holder.pid} on " in err
        assert sorted(p.name for p in run_dir.iterdir()) == ["run.lock"]           # nothing was written
    finally:
        holder.kill()
        holder.wait()
    # SIGKILL left the file, which still names the dead holder, but not the lock: the next run takes it at once.
    assert (run_dir / "run.lock").read_text().startswith(f"pid {holder.pid} ")
    from semiformer_lib.runs.lock import hold_run_folder
    with hold_run_folder(run_dir):
        assert (run_dir / "run.lock").read_text().startswith(f"pid {os.getpid()} ")


# ---- 3. the advice after a bad checkpoint names only a checkpoint that loads ------------------------------------

def test_the_advice_after_a_corrupt_checkpoint_names_one_that_was_loaded(tmp_path):
    train(tiny(tmp_path, checkpoint_every=2, keep_checkpoints=3), progress=False, stop_after=6)
    oldest, middle, newest = list_checkpoints(tmp_path / "tiny" / "checkpoints")
    for bad in (newest, middle):                                         # both newest writes cut short
        bad.write_bytes(bad.read_bytes()[:1000])
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(newest)
    assert f"{oldest}, was loaded and checked and is intact" in str(caught.value)
    assert str(middle) not in str(caught.value)
    oldest.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"No older checkpoint of this run is intact either "
                                              r"\(step_000002\.pt, step_000004\.pt checked\)"):
        load_checkpoint(newest)


def test_a_garbage_checkpoint_is_named_as_not_one_of_ours(tmp_path, capsys):
    folder = tmp_path / "tiny" / "checkpoints"
    folder.mkdir(parents=True)
    (folder / "step_000004.pt").write_bytes(np.random.default_rng(0).bytes(4096))
    err = refused(capsys, ["--config", write_config(tmp_path), "--resume", f"output_dir={tmp_path}"])
    assert "step_000004.pt is corrupt or not a checkpoint of this library" in err
    assert "No older checkpoint of this run exists; start the run again with --restart" in err
    assert "weights_only" not in err.lower().replace(" ", "_")


def test_a_malicious_checkpoint_is_refused_without_running_its_code(tmp_path, capsys):
    folder, marker = tmp_path / "tiny" / "checkpoints", tmp_path / "code_ran"
    folder.mkdir(parents=True)
    torch.save({"format": FORMAT, "step": 4, "model": TouchesAFile(marker)}, folder / "step_000004.pt")
    err = refused(capsys, ["--config", write_config(tmp_path), "--resume", f"output_dir={tmp_path}"])
    assert "step_000004.pt is not a checkpoint of this library: it holds Python objects" in err
    assert "weights_only" not in err.lower().replace(" ", "_")         # torch's advice to lift the guard: never
    assert not marker.exists()


# ---- 4, 5. the run reads the checked split file; a split file holds what it claims ------------------------------

def test_the_run_uses_the_split_file_and_refuses_a_tampered_one(tmp_path, monkeypatch, fashion_train, capsys):
    monkeypatch.setattr("semiformer_lib.data.splits.cache_root", lambda: tmp_path / "cache")
    path = split_path("fashion-mnist", 4, 0)
    foreign = make_split(fashion_train, 4, seed=7)                      # a valid split, filed under seed 0's name
    save_split(foreign, fashion_train, path)
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "seed": 0}))
    data = build_data(tiny(tmp_path), distributed.single_process(torch.device("cpu")))
    assert torch.equal(data.labeled.dataset.images, fashion_train.subset(foreign.labeled).images)
    path.write_text(json.dumps({**record, "seed": 0, "source_fingerprint": "0" * 64}))
    err = refused(capsys, ["--config", write_config(tmp_path), f"output_dir={tmp_path}"])
    assert f"{path}: made from other data" in err
    assert not (tmp_path / "tiny" / "checkpoints").exists()


@pytest.mark.parametrize("fault", ["too_few", "one_class", "asked_other", "all_but_listed"])
def test_a_split_file_must_hold_what_it_claims_and_what_was_asked(fashion_train, tmp_path, fault):
    path = save_split(make_split(fashion_train, 40, 0), fashion_train, tmp_path / "s.json")
    record = json.loads(path.read_text())
    asked = {}
    if fault == "too_few":
        record["labeled"] = record["labeled"][:10]
        message = r"claims 40 labels per class \(400 in all\) but holds 10"
    elif fault == "one_class":
        record["labeled"] = np.flatnonzero(fashion_train.labels.numpy() == 0)[:400].tolist()
        message = r"claims 40 labels per class \(400 in all\) but holds 400, with classes \{0: 400, 1: 0, 2: 0"
    elif fault == "asked_other":
        asked = {"labels_per_class": 4}
        message = r"holds the split with labels_per_class 40, but 4 was asked for"
    else:
        record["labels_per_class"] = "all"
        message = r"labels_per_class 'all' does not match labeled"
    path.write_text(json.dumps(record))
    with pytest.raises(SplitError, match=rf"s\.json: {message}"):
        load_split(path, fashion_train, **asked)


# ---- 6, 7. config values and the device: rc 2 and one line, before any compute ----------------------------------

@pytest.mark.parametrize("content", ["", "# only a comment\n", "{}\n"])
def test_an_empty_config_file_is_refused(tmp_path, capsys, content):
    path = tmp_path / "empty.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=rf"config file {path} is empty; it would train the defaults"):
        load_config(path)
    refused(capsys, ["--config", str(path), f"output_dir={tmp_path}"])
    assert not (tmp_path / "run").exists()


def test_a_config_file_that_is_not_yaml_is_named_in_one_line(tmp_path, capsys):
    path = tmp_path / "broken.yaml"
    path.write_text("name: tiny\nsteps: [1, 2\n")
    err = refused(capsys, ["--config", str(path), f"output_dir={tmp_path}"])
    assert err.startswith(f"error: {path} is not valid YAML: expected ',' or ']', but got") and "line 3" in err


@pytest.mark.parametrize("override, message", [
    ("seed=-1", r"'seed' must be in \[0, 2\*\*32\)"),
    ("split_seed=-1", r"'split_seed' must be in \[0, 2\*\*32\)"),
    ("labels_per_class=7000", r"labels_per_class=7000 asks for more images than fashion-mnist/train has of "
                              r"class \d \([^)]+: 6000\); choose at most 6000"),
    ("device=cuda", r"config key 'device' is cuda, but this machine has no CUDA device"),
])
def test_user_errors_exit_2_with_one_line_before_any_compute(tmp_path, capsys, monkeypatch, override, message):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)      # so the device case holds on a GPU machine too
    err = refused(capsys, ["--config", write_config(tmp_path), f"output_dir={tmp_path}", override])
    assert re.search(message, err), err
    assert not (tmp_path / "tiny" / "checkpoints").exists() and not (tmp_path / "tiny" / "metrics.jsonl").exists()


@pytest.mark.parametrize("failure", ["enospc", "torch_writer"])
def test_a_failed_checkpoint_write_keeps_the_last_checkpoint_and_leaves_no_tmp(tmp_path, monkeypatch, failure):
    folder = tmp_path / "checkpoints"
    first = save_checkpoint({"step": 1, "weights": torch.ones(4)}, folder)
    kept = first.read_bytes()

    def full_disk(obj, path):
        with open(path, "wb") as handle:
            handle.write(b"\0" * 65536)                                  # part of the file was written
        if failure == "enospc":
            raise OSError(errno.ENOSPC, "No space left on device")
        raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 64 vs 0\nmore detail")
    monkeypatch.setattr(torch, "save", full_disk)
    cause = "the disk is full" if failure == "enospc" else r"RuntimeError \(\[enforce fail .* vs 0\)"
    with pytest.raises(CheckpointError, match=rf"could not write checkpoint step_000002\.pt in {folder}: {cause}; "
                                              r"[\d.]+ MiB free on that disk\. The earlier checkpoints are kept"):
        save_checkpoint({"step": 2, "weights": torch.ones(4)}, folder)
    assert sorted(p.name for p in folder.iterdir()) == ["step_000001.pt"] and first.read_bytes() == kept


WRITE_OVER_LIMIT = """import resource, signal, sys, torch
from semiformer_lib.runs.checkpoint import CheckpointError, save_checkpoint
save_checkpoint({"step": 1, "weights": torch.ones(10)}, sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)                # a write past the limit fails instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
try:
    save_checkpoint({"step": 2, "weights": torch.ones(1_000_000)}, sys.argv[1])
except CheckpointError as err:
    print(err)
"""


def test_a_real_failed_write_is_reported_and_cleaned_up(tmp_path):
    """torch's own writer failing (files capped at 200 kB by RLIMIT_FSIZE, as a nearly full disk would)."""
    folder = tmp_path / "checkpoints"
    done = subprocess.run([sys.executable, "-c", WRITE_OVER_LIMIT, str(folder)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"could not write checkpoint step_000002.pt in {folder}: " in done.stdout
    assert sorted(p.name for p in folder.iterdir()) == ["step_000001.pt"]
    assert torch.load(folder / "step_000001.pt", weights_only=True)["step"] == 1


# ---- 8. --resume is a flag; overrides go anywhere; a finished run is left alone; wall time spans segments --------

def test_resume_is_a_flag_and_overrides_go_anywhere(tmp_path, capsys):
    err = refused(capsys, ["--config", write_config(tmp_path), "--resume", f"output_dir={tmp_path}"])
    assert f"nothing to resume: {tmp_path / 'tiny' / 'checkpoints'} holds no checkpoint" in err
    assert main(["--config", write_config(tmp_path, **FAST), "--no-progress", "steps=6", "--stop-after", "2",
                 f"output_dir={tmp_path}", "checkpoint_every=2"]) == 0
    assert [p.name for p in list_checkpoints(tmp_path / "tiny" / "checkpoints")] == ["step_000002.pt"]


def test_a_resumed_run_keeps_its_start_and_sums_its_segments_and_a_finished_run_is_left_alone(tmp_path, capsys):
    config = tiny(tmp_path, **FAST)
    train(config, progress=False, stop_after=4)
    clock = load_checkpoint(tmp_path / "tiny" / "checkpoints" / "step_000004.pt")["clock"]
    time.sleep(1.5)                                          # a gap between the segments that must not be counted
    began = time.perf_counter()
    record = train(config, resume=True, progress=False)
    second_segment = time.perf_counter() - began
    artifact = tmp_path / "tiny" / "results.json"
    assert read_results(artifact)["started"] == clock["started"] == record["started"]
    assert clock["wall_seconds"] < record["wall_seconds"] <= clock["wall_seconds"] + second_segment

    before, modified = artifact.read_bytes(), artifact.stat().st_mtime_ns
    checkpoints = sorted((p.name, p.stat().st_mtime_ns) for p in (tmp_path / "tiny" / "checkpoints").iterdir())
    assert main(["--config", write_config(tmp_path, **FAST), "--resume", f"output_dir={tmp_path}"]) == 0
    assert "tiny is already finished" in capsys.readouterr().out
    assert artifact.read_bytes() == before and artifact.stat().st_mtime_ns == modified
    assert sorted((p.name, p.stat().st_mtime_ns) for p in (tmp_path / "tiny" / "checkpoints").iterdir()) == checkpoints


# ---- 9. a missing data file is named ---------------------------------------------------------------------------

def test_a_missing_fashion_mnist_file_is_named(tmp_path, monkeypatch, capsys):
    source = fashion_mnist_dir()
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"):
        shutil.copy(source / name, folder / name)
    monkeypatch.setenv("SEMIFORMER_DATA", str(tmp_path))
    with pytest.raises(DatasetFileError, match=rf"Fashion-MNIST in {folder} is incomplete: "
                                               r"t10k-labels-idx1-ubyte\.gz missing\. Run `python -m data_prep"):
        fashion_mnist_dir()
    err = refused(capsys, ["--config", write_config(tmp_path), f"output_dir={tmp_path / 'runs'}"])
    assert "t10k-labels-idx1-ubyte.gz missing" in err
    monkeypatch.delenv("SEMIFORMER_DATA")                       # the same folder named as a run's data_root
    err = refused(capsys, ["--config", write_config(tmp_path), f"output_dir={tmp_path / 'runs'}",
                           f"data_root={folder}"])
    assert f"Fashion-MNIST in {folder}: t10k-labels-idx1-ubyte.gz missing. Put the four .gz files there" in err


def test_a_run_stopped_on_purpose_ends_its_progress_bar_finished_not_failed(tmp_path, monkeypatch):
    """A notebook's widget bar turns red when it closes short of its total; a deliberate stop_after is no error."""
    from semiformer_lib.train import loop
    closed = []

    class Recorded(loop.tqdm):
        def close(self):
            closed.append((self.n, self.total))
            super().close()
    monkeypatch.setattr(loop, "tqdm", Recorded)
    train(tiny(tmp_path), progress=True, stop_after=4)
    assert closed and closed[-1] == (4, 4)
