"""CIFAR-10/100, STL-10 and ImageNet-style trees: the parsers, the archive checks and the streamed source, on small
files the tests write (the real archives download on users' machines only)."""
from __future__ import annotations

import hashlib
import pickle
import tarfile

import numpy as np
import pytest
import torch

from data_prep import archives
from data_prep import imagenet as imagenet_prep
from data_prep.__main__ import main as data_prep_main
from semiformer_lib.data import DatasetFileError, StreamedSource, load_dataset
from semiformer_lib.data.imagenet import image_folder, labeled_indices, read_label_list, train_transform


def write_cifar(root, name="cifar10", per_batch=6, seed=0):
    """A miniature CIFAR tree: the real layout and keys, ``per_batch`` images per batch file. Returns the pixels."""
    rng = np.random.default_rng(seed)
    layout = {"cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"],
                          "batches.meta", b"label_names", b"labels", 10),
              "cifar100": ("cifar-100-python", ["train"], ["test"], "meta", b"fine_label_names", b"fine_labels", 100)}
    folder_name, train_files, test_files, meta, names_key, labels_key, classes = layout[name]
    folder = root / folder_name
    folder.mkdir(parents=True)
    written = {}
    for file_name in train_files + test_files:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, classes, per_batch).tolist()
        (folder / file_name).write_bytes(pickle.dumps({b"data": data, labels_key: labels}))
        written[file_name] = (data, labels)
    (folder / meta).write_bytes(pickle.dumps({names_key: [f"class{k}".encode() for k in range(classes)]}))
    return written


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_parser_reads_planes_as_channels(tmp_path, name):
    written = write_cifar(tmp_path, name)
    train = load_dataset(name, "train", root=tmp_path)
    first_file = "data_batch_1" if name == "cifar10" else "train"
    data, labels = written[first_file]
    assert train.images.shape[1:] == (3, 32, 32) and train.images.dtype == torch.uint8
    # The second image's green plane is bytes 1024…2047 of its row.
    assert torch.equal(train.images[1, 1].flatten(), torch.from_numpy(data[1, 1024:2048]))
    assert train.labels[:len(labels)].tolist() == labels
    assert len(train) == (30 if name == "cifar10" else 6) and train.num_classes == (10 if name == "cifar10" else 100)
    assert len(load_dataset(name, "test", root=tmp_path)) == 6


def test_a_truncated_cifar_batch_is_named(tmp_path):
    write_cifar(tmp_path)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:500])
    with pytest.raises(DatasetFileError, match=r"data_batch_3: not a CIFAR batch file.*python -m data_prep cifar10"):
        load_dataset("cifar10", "train", root=tmp_path)


def _tar(source_root, folder_name, target):
    with tarfile.open(target, "w:gz") as archive:
        archive.add(source_root / folder_name, arcname=folder_name)
    return hashlib.md5(target.read_bytes()).hexdigest()


def test_data_prep_checks_the_archive_md5_then_unpacks_and_validates(tmp_path):
    build, root = tmp_path / "build", tmp_path / "cifar10"
    write_cifar(build)
    root.mkdir()
    md5 = _tar(build, "cifar-10-batches-py", root / "cifar-10-python.tar.gz")
    spec = archives.Archive("https://example.invalid/cifar.tgz", "cifar-10-python.tar.gz", md5, "cifar-10-batches-py")
    assert archives.prepare("cifar10", root, allow_download=False, archive=spec) == root
    assert len(load_dataset("cifar10", "train", root=root)) == 30


def test_data_prep_removes_an_archive_with_the_wrong_md5(tmp_path):
    build, root = tmp_path / "build", tmp_path / "cifar10"
    write_cifar(build)
    root.mkdir()
    _tar(build, "cifar-10-batches-py", root / "cifar-10-python.tar.gz")
    spec = archives.archive_of("cifar10")                      # the real MD5: this archive cannot match it
    with pytest.raises(DatasetFileError, match=r"cifar-10-python.tar.gz: MD5 does not match .*removed"):
        archives.prepare("cifar10", root, allow_download=False, archive=spec)
    assert not (root / "cifar-10-python.tar.gz").exists()


def test_missing_archive_without_download_says_where_to_get_it(tmp_path, capsys):
    assert data_prep_main(["cifar100", "--root", str(tmp_path), "--no-download"]) == 1
    assert "cifar-100-python.tar.gz from https://www.cs.toronto.edu" in capsys.readouterr().err


def write_stl10(root, train=4, test=3, unlabeled=5, seed=0):
    rng = np.random.default_rng(seed)
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    images = {}
    for split, count in (("train", train), ("test", test), ("unlabeled", unlabeled)):
        hwc = rng.integers(0, 256, (count, 3, 96, 96), dtype=np.uint8)       # [N, C, H, W]
        hwc.transpose(0, 1, 3, 2).tofile(folder / f"{split}_X.bin")           # stored column-major
        images[split] = hwc
        if split != "unlabeled":
            np.asarray(rng.integers(1, 11, count), dtype=np.uint8).tofile(folder / f"{split}_y.bin")
    (folder / "class_names.txt").write_text("\n".join(f"class {k}" for k in range(10)) + "\n")
    return images


def test_stl10_parser_undoes_column_major_order_and_marks_unlabeled(tmp_path):
    images = write_stl10(tmp_path)
    train = load_dataset("stl10", "train", root=tmp_path)
    assert train.images.shape == (9, 3, 96, 96)
    assert torch.equal(train.images[1], torch.from_numpy(images["train"][1]))
    assert torch.equal(train.images[4], torch.from_numpy(images["unlabeled"][0]))
    assert (train.labels[:4] >= 0).all() and (train.labels[4:] == -1).all()
    assert train.classes[3] == "class 3"
    labels_file = tmp_path / "stl10_binary" / "test_y.bin"
    labels_file.write_bytes(labels_file.read_bytes()[:2])
    with pytest.raises(DatasetFileError, match=r"test_y.bin: 2 labels \(expected 3"):
        load_dataset("stl10", "test", root=tmp_path)


def write_image_tree(root, classes=3, per_class=8, size=40):
    from PIL import Image
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for k in range(classes):
            folder = root / split / f"n0000000{k}"
            folder.mkdir(parents=True)
            for i in range(per_class if split == "train" else 2):
                pixels = rng.integers(0, 256, (size, size + 6, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"n0000000{k}_{i}.png")


def test_imagenet_label_lists_and_the_streamed_source_resume_position(tmp_path):
    write_image_tree(tmp_path)
    lists = imagenet_prep.prepare(tmp_path, percents=(25,), seed=3)
    names = read_label_list(lists[0])
    assert len(names) == 6 and len({n.split("_")[0] for n in names}) == 3       # 2 of 8 per class
    dataset = image_folder(tmp_path, "train", train_transform(16))
    labeled, unlabeled = labeled_indices(dataset, names)
    assert len(labeled) == 6 and len(unlabeled) == 18
    source = StreamedSource(dataset, unlabeled, batch_size=4, seed=0, device="cpu", workers=0, strong=(2, 0.5))
    first = [source.next_batch() for _ in range(3)]                # 18 // 4 = 4 batches an epoch
    assert first[0].weak.shape == (4, 3, 16, 16) and first[0].weak.dtype == torch.uint8
    assert first[0].strong.shape == (4, 3, 16, 16)
    state = source.state_dict()
    after = source.next_batch().labels
    again = StreamedSource(dataset, unlabeled, batch_size=4, seed=0, device="cpu", workers=0, strong=(2, 0.5))
    again.load_state_dict(state)
    assert torch.equal(again.next_batch().labels, after)           # the same images, in the same order
    assert (source.epoch, source.position) == (1, 0)
    with pytest.raises(DatasetFileError, match=r"2 of its 3 names are not in"):
        labeled_indices(dataset, ["n00000000_0.png", "elsewhere_1.JPEG", "elsewhere_2.JPEG"])
    with pytest.raises(DatasetFileError, match="no such folder"):
        image_folder(tmp_path / "nowhere", "train")


def test_a_streamed_pool_cut_and_the_curve_images_are_seeded_draws_over_every_class(tmp_path):
    from semiformer_lib.data.run_data import streamed_run_data
    from semiformer_lib.data.splits import seeded_subset
    write_image_tree(tmp_path)
    options = dict(image_size=16, label_percent=25, label_list=None, split_seed=5, batch_size=2, unlabeled_batch=2,
                   seed=0, strong=(2, 0.5), workers=0, device=torch.device("cpu"))
    data = streamed_run_data(tmp_path, unlabeled_size=6, eval_size=3, **options)
    pool = data.unlabeled.subset.indices                 # 6 of the 18 unlabeled images, not class 0's first 6
    dataset = data.unlabeled.subset.dataset
    assert len(pool) == 6 and len({dataset.samples[i][1] for i in pool}) > 1
    assert pool == streamed_run_data(tmp_path, unlabeled_size=6, eval_size=3, **options).unlabeled.subset.indices
    curve_labels = torch.cat([labels for _, labels in data.curve_batches()])
    val_labels = [k for k in range(3) for _ in range(2)]                         # 2 images a class, sorted
    assert curve_labels.tolist() == [val_labels[i] for i in seeded_subset(torch.arange(6), 3, 5)]
    assert curve_labels.tolist() != val_labels[:3]                               # not the head of the folder
    assert len(torch.cat([labels for _, labels in data.final_batches()])) == 6
    index = torch.arange(10, 30)
    assert torch.equal(seeded_subset(index, None, 1), index) and torch.equal(seeded_subset(index, 25, 1), index)
    drawn = seeded_subset(index, 5, 1)
    assert len(drawn) == 5 and torch.equal(drawn, drawn.sort().values)
    assert torch.equal(drawn, seeded_subset(index, 5, 1))


def test_a_run_streams_an_image_tree_end_to_end(tmp_path):
    from semiformer_lib.train.config import RunConfig
    from semiformer_lib.runs.run import train
    write_image_tree(tmp_path / "tree")
    config = RunConfig(name="tree", dataset="imagenet", data_root=str(tmp_path / "tree"), labels_per_class=None,
                       label_percent=25, model="vit_mini_patch4", image_size=16, steps=4, supervised_steps=2,
                       warmup_steps=1, batch_size=2, unlabeled_ratio=1.0, teacher="mean", workers=0, eval_every=2,
                       checkpoint_every=4, output_dir=str(tmp_path / "runs"))
    record = train(config, progress=False)
    assert {key: record["data"][key] for key in ("labeled", "unlabeled", "test")} == {
        "labeled": 6, "unlabeled": 18, "test": 6}
    assert record["data"]["classes"] == ["n00000000", "n00000001", "n00000002"]      # what a prediction names
    assert record["data"]["image_shape"] == [3, 16, 16] and len(record["data"]["mean"]) == 3
    assert record["curves"][-1]["mask_rate"] is not None and 0 <= record["final"]["model"]["summed"] <= 1
