"""A finished run put to use: load_run and ``python -m semiformer_lib.predict`` name the class of image files, with
the run's own preprocessing and heads, and refuse what is not a finished run or not an image."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semiformer_lib.data import load_fashion_mnist, to_model_input
from semiformer_lib.models.interface import head_logits
from semiformer_lib.runs.predict import PredictError, load_run, main, predict
from semiformer_lib.train.config import RunConfig
from semiformer_lib.runs.run import train

TINY = dict(dataset="fashion-mnist", labels_per_class=4, steps=6, supervised_steps=3, warmup_steps=2, batch_size=8,
            unlabeled_ratio=1.0, unlabeled_size=64, eval_every=6, eval_size=50, final_eval_size=50, threads=1,
            checkpoint_every=6, teacher="mean")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A finished two-headed run and a finished CNN run, and six test images written as PNG files."""
    folder = tmp_path_factory.mktemp("predict")
    for name, model in (("pair", "semiformer_cnn_mini"), ("cnn", "cnn_mini")):
        train(RunConfig(**TINY, model=model, name=name, output_dir=str(folder / "runs")), progress=False)
    test = load_fashion_mnist("test")
    (folder / "images" / "more").mkdir(parents=True)
    for index in range(6):
        where = folder / "images" / ("more" if index >= 4 else "") / f"{index}.png"
        Image.fromarray(test.images[index, 0].numpy()).save(where)
    return folder, test.images[:6]


def test_predictions_are_the_runs_own_model_on_the_runs_own_input(runs):
    folder, images = runs
    run = load_run(folder / "runs" / "pair")
    assert run.classes[0] == "T-shirt/top" and run.image_shape == (1, 28, 28) and not run.model.training
    rows = predict(run, [folder / "images"])
    assert [r["path"].split("images/")[1] for r in rows] == ["0.png", "1.png", "2.png", "3.png", "more/4.png",
                                                              "more/5.png"]
    with torch.no_grad():
        conv, transformer = head_logits(run.model, to_model_input(images, run.mean, run.std))
    summed = torch.softmax(conv + transformer, dim=1)
    assert [r["class"] for r in rows] == [run.classes[i] for i in summed.argmax(1).tolist()]
    assert [r["probability"] for r in rows] == pytest.approx(summed.max(1).values.tolist(), abs=1e-4)
    conv_rows = predict(run, [folder / "images"], head="conv")
    assert [r["class"] for r in conv_rows] == [run.classes[i] for i in conv.argmax(1).tolist()]


def test_the_ema_weights_are_the_ones_the_run_averaged(runs):
    folder, images = runs
    plain, averaged = load_run(folder / "runs" / "pair"), load_run(folder / "runs" / "pair", ema=True)
    differs = [not torch.equal(a, b) for a, b in zip(plain.model.parameters(), averaged.model.parameters())]
    assert any(differs)
    assert not torch.equal(plain.probabilities(images), averaged.probabilities(images))


def test_the_command_line_prints_a_line_per_image_and_writes_csv(runs, capsys, tmp_path):
    folder, _ = runs
    rgb = tmp_path / "big_rgb.jpg"                     # another size and mode: converted and resized as in training
    Image.fromarray(np.full((56, 56, 3), 200, dtype=np.uint8)).save(rgb)
    code = main([str(folder / "runs" / "cnn"), str(folder / "images" / "0.png"), str(rgb), "--csv",
                 str(tmp_path / "out.csv")])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and len(lines) == 2 and lines[1].startswith(str(rgb))
    assert (tmp_path / "out.csv").read_text().splitlines()[0] == "path,class,probability"


def test_a_reader_that_stops_early_loses_no_csv_row_and_sees_no_traceback(runs, tmp_path):
    """`python -m semiformer_lib.predict ... --csv F | head -n 4` (chapter 7): head closes the pipe before the
    last line; the CSV must still hold every image and the command must not die with a BrokenPipeError."""
    folder, _ = runs
    out = tmp_path / "all.csv"
    command = [sys.executable, "-m", "semiformer_lib.predict", str(folder / "runs" / "cnn"), str(folder / "images"),
               "--csv", str(out)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdout.close()                                  # the reader is gone before the first line is printed
    stderr = child.stderr.read().decode()
    assert child.wait(timeout=120) == 0, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr
    assert len(out.read_text().splitlines()) == 1 + 6


@pytest.mark.parametrize("problem, message", [
    ("not_a_run", "is not a finished run of this library: it has no results.json"),
    ("no_checkpoint", "the checkpoint of its last step cannot be used"),
    ("bad_image", "cannot be read as an image"),
    ("head_of_a_cnn", "has no 'conv' prediction"),
    ("missing_image", "does not exist"),
])
def test_what_cannot_be_used_is_refused_with_rc_2(runs, tmp_path, capsys, problem, message):
    folder, _ = runs
    run_dir, images, extra = folder / "runs" / "pair", [str(folder / "images")], []
    if problem == "not_a_run":
        run_dir = tmp_path
    elif problem == "no_checkpoint":
        run_dir = tmp_path / "copy"
        shutil.copytree(folder / "runs" / "pair", run_dir)
        shutil.rmtree(run_dir / "checkpoints")
    elif problem == "bad_image":
        (tmp_path / "broken.png").write_bytes(b"not an image")
        images = [str(folder / "images" / "0.png"), str(tmp_path / "broken.png")]
    elif problem == "head_of_a_cnn":
        run_dir, extra = folder / "runs" / "cnn", ["--head", "conv"]
    else:
        images = [str(tmp_path / "nowhere.png")]
    assert main([str(run_dir), *images, *extra]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


def test_load_run_is_the_library_entry_point(runs):
    import semiformer_lib
    folder, _ = runs
    assert semiformer_lib.load_run is load_run
    with pytest.raises(PredictError, match="is not a folder"):
        load_run(folder / "nothing here")


def test_a_run_recorded_before_class_names_were_saved_reads_them_from_its_data_set(runs, tmp_path):
    import json
    folder, images = runs
    copy = Path(shutil.copytree(folder / "runs" / "cnn", tmp_path / "old"))
    record = json.loads((copy / "results.json").read_text())
    assert record["data"]["classes"][9] == "Ankle boot" and record["data"]["image_shape"] == [1, 28, 28]
    for key in ("classes", "image_shape", "mean", "std"):
        del record["data"][key]
    (copy / "results.json").write_text(json.dumps(record))
    old, new = load_run(copy), load_run(folder / "runs" / "cnn")
    assert (old.classes, old.image_shape, old.mean, old.std) == (new.classes, new.image_shape, new.mean, new.std)
    assert torch.equal(old.probabilities(images), new.probabilities(images))
