"""Your own images (``dataset: folder``): a folder of class subfolders trains through the CLI with the shipped
``configs/folder.yaml`` and a finished run names the class of new images; a folder that cannot train is refused
with rc 2, naming what is wrong, before anything is computed."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semiformer_lib.data import DatasetFileError, get_split, load_dataset, load_image_folder
from semiformer_lib.runs.predict import main as predict_main
from semiformer_lib.train.config import CONFIG_DIR
from semiformer_lib.runs.run import main as train_main

CLASSES = ("circles", "stripes", "zebra")          # sorted, as the folder names are read


def picture(kind: int, index: int, size: int, gray: bool) -> Image.Image:
    """A small image of class ``kind``: horizontal stripes whose period depends on the class, with noise."""
    rng = np.random.default_rng(100 * kind + index)
    rows = (np.arange(size)[:, None] // (kind + 2)) % 2 * 180 + rng.integers(0, 60, (size, size))
    array = rows.astype(np.uint8)
    return Image.fromarray(array if gray else np.stack([array, array[::-1], 255 - array], axis=-1))


def make_folder(root: Path, per_class: int = 12, size: int = 40, gray: bool = False, unlabeled: int = 6,
                val: int = 0) -> Path:
    for k, name in enumerate(CLASSES):
        for split, count in (("train", per_class), ("val", val)):
            if count:
                (root / split / name).mkdir(parents=True, exist_ok=True)
                for i in range(count):
                    picture(k, i + 1000 * (split == "val"), size, gray).save(root / split / name / f"{i}.png")
    if unlabeled:
        (root / "unlabeled").mkdir(parents=True, exist_ok=True)
        for i in range(unlabeled):
            picture(i % 3, 500 + i, size + 8, gray).save(root / "unlabeled" / f"u{i}.jpg")
    return root


def test_a_folder_reads_as_a_resident_data_set_with_a_held_out_test_share(tmp_path):
    root = make_folder(tmp_path / "rgb")
    train, test = (load_image_folder(root, split, image_size=32) for split in ("train", "test"))
    assert train.classes == test.classes == CLASSES and train.image_shape == (3, 32, 32)
    assert len(test) == 3 and sorted(test.labels.tolist()) == [0, 1, 2]        # a tenth of 12 per class: 1 each
    assert len(train) == 3 * 11 + 6 and train.labels[-6:].tolist() == [-1] * 6   # unlabeled/ comes last, unknown
    assert torch.bincount(train.labels[:-6]).tolist() == [11, 11, 11]
    assert train.dataset.startswith("folder-") and train.fingerprint
    assert len(train.mean) == 3 and all(0 < s < 1 for s in train.std)
    split = get_split(train, 4, seed=0)
    assert len(split.labeled) == 12 and (train.labels[split.unlabeled] == -1).sum() == 6
    again = load_image_folder(root, "train", image_size=32)
    assert torch.equal(again.images, train.images) and again.fingerprint == train.fingerprint


def test_gray_images_stay_one_channel_and_val_is_the_test_set(tmp_path):
    root = make_folder(tmp_path / "gray", gray=True, unlabeled=0, val=2)
    train, test = (load_dataset("folder", split, root=root, image_size=24) for split in ("train", "test"))
    assert train.image_shape == test.image_shape == (1, 24, 24)
    assert len(train) == 36 and len(test) == 6                                 # all of train/, all of val/


@pytest.mark.parametrize("damage, message", [
    ("no_train", "not found: a folder data set is laid out as"),
    ("empty_class", "holds no image"),
    ("one_class", r"has 1 class folder\(s\) \[.circles.\]; a classifier needs at least two"),
    ("unreadable", "cannot be read as an image"),
    ("val_classes_differ", "the two must match"),
])
def test_a_folder_that_cannot_train_is_refused_naming_the_problem(tmp_path, damage, message):
    root = make_folder(tmp_path / damage, unlabeled=0)
    if damage == "no_train":
        (root / "train").rename(root / "training")
    elif damage == "empty_class":
        (root / "train" / "empty").mkdir()
    elif damage == "one_class":
        for name in CLASSES[1:]:
            for file in (root / "train" / name).iterdir():
                file.unlink()
            (root / "train" / name).rmdir()
    elif damage == "unreadable":
        (root / "train" / "zebra" / "broken.png").write_bytes(b"not a png")
    else:
        (root / "val" / "circles").mkdir(parents=True)
    with pytest.raises(DatasetFileError, match=message):
        load_image_folder(root, "train", image_size=32)


def test_data_root_and_image_size_are_required(tmp_path):
    with pytest.raises(DatasetFileError, match="dataset folder needs data_root"):
        load_dataset("folder", "train", image_size=32)
    with pytest.raises(DatasetFileError, match="needs image_size"):
        load_image_folder(make_folder(tmp_path / "f"), "train")


def test_a_folder_trains_through_the_cli_and_the_run_predicts_its_classes(tmp_path, capsys):
    root = make_folder(tmp_path / "images")
    quick = ["steps=6", "supervised_steps=3", "warmup_steps=2", "eval_every=3", "labels_per_class=4", "batch_size=8",
             "threads=1", "checkpoint_every=6", f"output_dir={tmp_path / 'runs'}", "name=mine", f"data_root={root}"]
    code = train_main(["--config", str(CONFIG_DIR / "folder.yaml"), "--profile", "cpu", *quick, "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert "mine: conv" in capsys.readouterr().out
    new = tmp_path / "new.png"
    picture(1, 77, 50, gray=False).save(new)
    assert predict_main([str(tmp_path / "runs" / "mine"), str(new), str(root / "train" / "circles")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 13 and all(line.split("\t")[1] in CLASSES for line in lines)


def test_a_bad_folder_exits_with_rc_2_before_training(tmp_path, capsys):
    root = make_folder(tmp_path / "images", unlabeled=0)
    (root / "train" / "stripes" / "0.png").write_bytes(b"\x89PNG broken")
    code = train_main(["--config", str(CONFIG_DIR / "folder.yaml"), "--profile", "cpu", f"data_root={root}",
                       f"output_dir={tmp_path / 'runs'}", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "stripes/0.png cannot be read as an image" in err
    assert not (tmp_path / "runs" / "folder" / "checkpoints").exists()
    assert train_main(["--config", str(CONFIG_DIR / "folder.yaml"), "--profile", "cpu",
                       f"output_dir={tmp_path / 'runs'}", "--no-progress"]) == 2
    assert "dataset folder needs data_root=PATH" in capsys.readouterr().err


def test_a_data_set_written_as_an_image_folder_reads_back_as_the_same_images(tmp_path):
    from semiformer_lib.data import ImageSet, write_image_folder

    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (40, 1, 12, 12), dtype=torch.uint8, generator=generator)
    source = ImageSet(images, torch.arange(40) % 4, ("a/b", "c", "d", "e"), (0.5,), (0.25,), "toy/train")
    root = write_image_folder(source, tmp_path / "toy", per_class=6, val_per_class=2, unlabeled=5, seed=3)
    assert sorted(p.name for p in (root / "train").iterdir()) == ["a-b", "c", "d", "e"]   # '/' would nest it
    train, test = (load_image_folder(root, split, image_size=12) for split in ("train", "test"))
    assert len(train) == 4 * 6 + 5 and len(test) == 4 * 2 and (train.labels == -1).sum() == 5
    written = {int(p.stem): p for p in root.rglob("*.png")}
    assert len(written) == 4 * 8 + 5                                            # no image is written twice
    for index, path in written.items():
        assert np.array_equal(np.asarray(Image.open(path)), images[index, 0].numpy())   # lossless, unresized
        if path.parent.name != "unlabeled":
            assert path.parent.name == ("a-b", "c", "d", "e")[index % 4]
    with pytest.raises(FileExistsError, match="already holds files"):
        write_image_folder(source, root, per_class=1)
    with pytest.raises(ValueError, match="class 'a/b' has 10 images, fewer than"):
        write_image_folder(source, tmp_path / "more", per_class=9, val_per_class=2)
