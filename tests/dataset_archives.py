"""Small archives in the exact formats torchvision downloads, and how to point it at them.

torchvision's dataset classes carry their download URLs and checksums as class attributes.
:func:`serve_torchvision_sets` builds a few-image Oxford-IIIT Pet, CIFAR-10 and MNIST in
the real archive layouts (tar.gz of JPEGs and annotation lists, tar.gz of pickled batches,
gzipped IDX files), and returns the attribute values that send torchvision's own download,
checksum and extract code to a server on 127.0.0.1 instead of the internet.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np

# Oxford-IIIT Pet: breed -> species (1 cat, 2 dog), as in its annotation lists.
PET_BREEDS = {"Abyssinian": 1, "Bengal": 1, "beagle": 2, "pug": 2}
PET_IMAGES_PER_BREED = 3
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
PER_CLASS = 2  # CIFAR-10 and MNIST test images per class


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _tar_gz(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _jpeg(rng: np.random.Generator, size=(48, 40)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


def oxford_pets(folder: Path, rng: np.random.Generator) -> list[tuple[str, str]]:
    """images.tar.gz (``images/<Breed>_<n>.jpg``) and annotations.tar.gz (trainval/test lists)."""
    images, rows = {}, {"trainval": [], "test": []}
    for breed_id, (breed, species) in enumerate(PET_BREEDS.items(), 1):
        for n in range(1, PET_IMAGES_PER_BREED + 1):
            image_id = f"{breed}_{n}"
            images[f"images/{image_id}.jpg"] = _jpeg(rng)
            split = "test" if n == PET_IMAGES_PER_BREED else "trainval"
            rows[split].append(f"{image_id} {breed_id} {species} {n}")
    header = "#Image CLASS-ID SPECIES BREED ID\n"
    _tar_gz(folder / "images.tar.gz", images)
    _tar_gz(folder / "annotations.tar.gz", {
        f"annotations/{split}.txt": ("\n".join(lines) + "\n").encode() for split, lines in rows.items()
    } | {"annotations/list.txt": (header + "\n".join(rows["trainval"] + rows["test"]) + "\n").encode()})
    return [(name, _md5(folder / name)) for name in ("images.tar.gz", "annotations.tar.gz")]


def cifar10(folder: Path, rng: np.random.Generator) -> dict:
    """cifar-10-python.tar.gz: five training batches, a test batch and batches.meta, pickled."""
    def batch(n_per_class: int) -> bytes:
        labels = [c for c in range(10) for _ in range(n_per_class)]
        data = rng.integers(0, 255, (len(labels), 3072), dtype=np.uint8)
        return pickle.dumps({"batch_label": "b", "labels": labels, "data": data, "filenames": []})

    members = {f"cifar-10-batches-py/data_batch_{i}": batch(1) for i in range(1, 6)}
    members["cifar-10-batches-py/test_batch"] = batch(PER_CLASS)
    members["cifar-10-batches-py/batches.meta"] = pickle.dumps(
        {"label_names": CIFAR_CLASSES, "num_cases_per_batch": 10, "num_vis": 3072})
    _tar_gz(folder / "cifar-10-python.tar.gz", members)
    md5 = {name.split("/")[-1]: hashlib.md5(data).hexdigest() for name, data in members.items()}
    return {
        "url": None,  # filled in by serve_torchvision_sets
        "tgz_md5": _md5(folder / "cifar-10-python.tar.gz"),
        "train_list": [[f"data_batch_{i}", md5[f"data_batch_{i}"]] for i in range(1, 6)],
        "test_list": [["test_batch", md5["test_batch"]]],
        "meta": {"filename": "batches.meta", "key": "label_names", "md5": md5["batches.meta"]},
    }


def _idx_images(images: np.ndarray) -> bytes:
    n, h, w = images.shape
    return struct.pack(">IIII", 2051, n, h, w) + images.astype(np.uint8).tobytes()


def _idx_labels(labels: np.ndarray) -> bytes:
    return struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes()


def mnist(folder: Path, rng: np.random.Generator) -> list[tuple[str, str]]:
    """The four gzipped IDX files MNIST is published as."""
    out = []
    for prefix, per_class in (("train", 1), ("t10k", PER_CLASS)):
        labels = np.repeat(np.arange(10), per_class)
        images = rng.integers(0, 255, (len(labels), 28, 28))
        for kind, data in (("images-idx3-ubyte", _idx_images(images)), ("labels-idx1-ubyte", _idx_labels(labels))):
            name = f"{prefix}-{kind}.gz"
            (folder / name).write_bytes(gzip.compress(data))
            out.append((name, _md5(folder / name)))
    return out


def serve_torchvision_sets(folder: Path, base_url_of) -> dict[type, dict]:
    """Build the three sets in ``folder``; ``base_url_of(folder)`` is where a server serves
    it. Returns ``{dataset class: {attribute: value}}`` to monkeypatch."""
    from torchvision import datasets

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    pets = oxford_pets(folder, rng)
    cifar = cifar10(folder, rng)
    digits = mnist(folder, rng)
    base = base_url_of(folder).rstrip("/")
    cifar["url"] = f"{base}/cifar-10-python.tar.gz"
    return {
        datasets.OxfordIIITPet: {"_RESOURCES": tuple((f"{base}/{name}", md5) for name, md5 in pets)},
        datasets.CIFAR10: cifar,
        datasets.MNIST: {"mirrors": [f"{base}/"], "resources": digits},
    }
