"""A stand-in for the ImageNetV2 archive: the real layout, generated pictures, any size.

``imagenetv2-matched-frequency.tar.gz`` holds
``imagenetv2-matched-frequency-format-val/<class index>/<name>.jpeg``. This writes a
``tar.gz`` laid out the same way, with generated shapes (never ImageNet's classes), so a
smoke run, the tests and the benchmarks go through the real download, checksum and
extraction code of :mod:`clipdistill.data.imagenetv2` without the 1.3 GB file.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

from ..io import atomic_path, stable_hash
from .synthetic_data import shape_image, synthetic_class_names

__all__ = ["build_archive"]

TOP = "imagenetv2-matched-frequency-format-val"


def build_archive(path: str | os.PathLike, *, classes: int = 20, per_class: int = 2,
                  seed: int = 0) -> dict[str, int | str]:
    """Write the archive to ``path`` (once; atomically) and return its ``size`` and
    ``sha256``, which :func:`clipdistill.data.imagenetv2.imagenetv2` checks it against.

    Class ``i`` shows the ``i``-th generated shape class, so classes differ in content;
    up to 49 classes (the generated set's limit), at least 1.
    """
    path = Path(path)
    if not path.is_file():
        names = synthetic_class_names(classes)
        with atomic_path(path) as tmp:
            with tarfile.open(tmp, "w:gz") as tar:
                for index, shape in enumerate(names):
                    for i in range(per_class):
                        buf = io.BytesIO()
                        shape_image(shape, seed, i).save(buf, format="JPEG", quality=85)
                        info = tarfile.TarInfo(f"{TOP}/{index}/{stable_hash(seed, index, i)}.jpeg")
                        info.size = buf.getbuffer().nbytes
                        buf.seek(0)
                        tar.addfile(info, buf)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"size": path.stat().st_size, "sha256": digest}
