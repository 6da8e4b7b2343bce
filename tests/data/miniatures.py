"""Miniature copies of the paper's datasets in their original distribution formats: the same
file and folder names, pickle keys and .mat variables, a few tiny images per class."""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

from hpo.data.mio_tcd import CLASS_NAMES as MIO_CLASSES

CIFAR_NAMES = [b"apple", b"aquarium_fish", b"baby", b"bear", b"beaver"]
BREEDS = ["n02085620-Chihuahua", "n02085782-Japanese_spaniel", "n02085936-Maltese_dog"]
BREED_COLOURS = [(220, 30, 30), (30, 200, 40), (40, 50, 210)]
DOG_SIZES = [(40, 30), (24, 50), (33, 33)]  # (width, height): varying, as in the real images


def _cifar_batch(labels, seed):
    n = len(labels)
    rng = np.random.default_rng(seed)
    return {b"batch_label": b"training batch 1 of 1", b"filenames": [b"x_%d.png" % i for i in range(n)],
            b"fine_labels": [int(v) for v in labels], b"coarse_labels": [0] * n,
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8)}


def cifar100(folder: Path, n_train=6, n_test=4, as_archive=True, per_class=False):
    """cifar-100-python.tar.gz as distributed: cifar-100-python/{train,test,meta}, pickles of
    dicts with bytes keys (protocol 2, what the Python 2 originals load as). Labels are random,
    or with `per_class` n_train and n_test images of every class, as in the real archive.
    Returns the path and the parts' contents."""
    n_classes = len(CIFAR_NAMES)
    if per_class:
        rng = np.random.default_rng(0)
        train_labels, test_labels = (rng.permutation(np.arange(n * n_classes) % n_classes) for n in (n_train, n_test))
    else:
        train_labels, test_labels = (np.random.default_rng(s).integers(0, n_classes, n)
                                     for s, n in ((1, n_train), (2, n_test)))
    parts = {"train": _cifar_batch(train_labels, 1), "test": _cifar_batch(test_labels, 2),
             "meta": {b"fine_label_names": CIFAR_NAMES, b"coarse_label_names": [b"fruit"]}}
    blobs = {f"cifar-100-python/{name}": pickle.dumps(content, protocol=2) for name, content in parts.items()}
    if as_archive:
        path = folder / "cifar-100-python.tar.gz"
        with tarfile.open(path, "w:gz") as tar:
            for name, blob in blobs.items():
                info = tarfile.TarInfo(name)
                info.size = len(blob)
                tar.addfile(info, io.BytesIO(blob))
    else:
        path = folder / "cifar-100-python"
        path.mkdir()
        for name, blob in blobs.items():
            (folder / name).write_bytes(blob)
    return path, parts


def _cell(strings):
    """A MATLAB cell array (N, 1) of char arrays, as in the .mat files of lists.tar."""
    cell = np.empty((len(strings), 1), dtype=object)
    for i, s in enumerate(strings):
        cell[i, 0] = np.array([s])
    return cell


def save_dog_list(path: Path, files, labels):
    scipy.io.savemat(path, {"file_list": _cell(files),
                            "annotation_list": _cell([f.removesuffix(".jpg") for f in files]),
                            "labels": np.array(labels, dtype=np.float64).reshape(-1, 1)})


def is_official_train(position: int) -> bool:
    """Which images of file_list.mat the miniature's train_list.mat holds (the rest: test_list.mat)."""
    return position % 3 != 1


def stanford_dogs(folder: Path, as_tars=True, per_class=(3, 3, 2)):
    """images.tar (Images/<wnid>-<breed>/<wnid>_<n>.jpg) and lists.tar (file_list.mat,
    train_list.mat, test_list.mat), or their contents. Returns the relative paths and 0-based labels."""
    staged = folder / "staged" if as_tars else folder
    files, labels = [], []
    for label, (breed, count) in enumerate(zip(BREEDS, per_class, strict=True)):
        (staged / "Images" / breed).mkdir(parents=True)
        for k in range(count):
            name = f"{breed}/{breed.split('-')[0]}_{1000 + k}.jpg"
            image = Image.new("RGB", DOG_SIZES[k % 3], BREED_COLOURS[label])
            if label == 1 and k == 2:
                image = image.convert("L")  # a few originals are greyscale
            image.save(staged / "Images" / name, quality=95)
            files.append(name)
            labels.append(label + 1)  # 1-based, as MATLAB writes them
    save_dog_list(staged / "file_list.mat", files, labels)
    for name, keep in (("train_list.mat", True), ("test_list.mat", False)):
        chosen = [i for i in range(len(files)) if is_official_train(i) == keep]
        save_dog_list(staged / name, [files[i] for i in chosen], [labels[i] for i in chosen])
    if as_tars:
        with tarfile.open(folder / "images.tar", "w") as tar:
            tar.add(staged / "Images", arcname="Images")
        with tarfile.open(folder / "lists.tar", "w") as tar:
            for name in ("file_list.mat", "train_list.mat", "test_list.mat"):
                tar.add(staged / name, arcname=name)
    return files, np.array(labels) - 1


def mio_colour(label):
    return (20 * label + 10, 250 - 20 * label, 120)


def mio_tcd(parent: Path, per_class=2, gt=True):
    """MIO-TCD-Classification/: train/<class>/<8-digit id>.jpg, gt_train.csv (`id,label`, no
    header) and an unlabelled test/. `per_class`: one count for all 11 classes, or one each.
    Returns the root and the labels in loading order."""
    counts = [per_class] * len(MIO_CLASSES) if isinstance(per_class, int) else list(per_class)
    root = parent / "MIO-TCD-Classification"
    rows, labels, next_id = [], [], 0
    for label, (name, count) in enumerate(zip(MIO_CLASSES, counts, strict=True)):
        (root / "train" / name).mkdir(parents=True)
        for k in range(count):
            image_id = f"{next_id:08d}"
            next_id += 1
            image = Image.new("RGB", (20 + 7 * (k % 3), 15 + 3 * label), mio_colour(label))  # varying sizes
            image.save(root / "train" / name / f"{image_id}.jpg")
            rows.append(f"{image_id},{name}")
            labels.append(label)
    (root / "test").mkdir()
    Image.new("RGB", (9, 9)).save(root / "test" / "00900000.jpg")
    if gt:
        (root / "gt_train.csv").write_text("\n".join(rows) + "\n")
    return root, labels
