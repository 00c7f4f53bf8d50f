"""Data: resident datasets, low-label splits and on-device augmentation, weak and strong (the first step of the
story)."""
from .augment import default_padding, weak_augment
from .datasets import (FASHION_MNIST_CLASSES, ImageSet, cache_root, dataset_root, fashion_mnist_dir, load_fashion_mnist,
                       to_model_input)
from .sources import Batch, ResidentSource, StreamedSource
from .idx import DatasetFileError
from .folder import load_image_folder, write_image_folder
from .resident import RESIDENT_DATASETS, load_dataset
from .splits import (STANDARD_LABELS_PER_CLASS, LowLabelSplit, SplitError, get_split, load_split, make_split,
                     save_split, split_path)
from .strong_augment import strong_augment, strong_ops

__all__ = [
    "FASHION_MNIST_CLASSES", "RESIDENT_DATASETS", "dataset_root", "Batch", "ResidentSource",
    "StreamedSource", "ImageSet", "cache_root", "load_image_folder", "write_image_folder", "fashion_mnist_dir",
    "load_dataset", "load_fashion_mnist",
    "to_model_input", "default_padding", "weak_augment", "DatasetFileError", "STANDARD_LABELS_PER_CLASS",
    "LowLabelSplit", "SplitError", "get_split", "load_split", "make_split", "save_split", "split_path",
    "strong_augment", "strong_ops",
]
