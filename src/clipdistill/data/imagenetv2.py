"""ImageNetV2 (matched frequency): an ImageNet test set a reader can download.

ImageNet-1k's validation set needs a login and a licence form, so no profile can fetch
it. ImageNetV2 (Recht et al., 2019) is 10,000 new test images for the same 1,000
classes, 10 a class, collected by ImageNet's own protocol; OpenCLIP's results table and
CLIP_benchmark both report on it, so our numbers have published counterparts.

One ``tar.gz`` on the Hugging Face hub (the file TensorFlow Datasets and CLIP_benchmark
download) holds ``imagenetv2-matched-frequency-format-val/<class index>/<name>.jpeg``.
:func:`imagenetv2` fetches it with :func:`clipdistill.data.downloads.fetch` (resumable,
its length and SHA-256 checked against TFDS's ``checksums.tsv``, see :data:`ARCHIVE`),
checks the layout (1,000 folders ``0`` to ``999``, 10 JPEGs each) and extracts it once.
``HF_ENDPOINT`` is honoured, so a hub mirror serves it too; with ``HF_HUB_OFFLINE`` set
nothing is fetched.

Classes are keyed ``"000"`` to ``"999"`` (:func:`clipdistill.classnames.imagenet_key`),
which sort in class order and map to OpenAI's curated class names.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import tempfile
from pathlib import Path

from ..io import atomic_write_text
from .downloads import DownloadError, _reason, _sha256, fetch

__all__ = ["ARCHIVE", "FOLDER", "archive_url", "imagenetv2", "find_imagenetv2", "class_files",
           "extract"]

ARCHIVE = {
    "repo": "vaishaal/ImageNetV2",  # a Hugging Face dataset repository
    "file": "imagenetv2-matched-frequency.tar.gz",
    "revision": "main",
    "top": "imagenetv2-matched-frequency-format-val",  # the one folder inside
    "size": 1_264_079_360,
    "sha256": "f0c37fdf925916b19ea1323cd9a2208cdb6959ba2c32eef2a7fc393835c9ca7c",
    "classes": 1000,
    "per_class": 10,
    # where size and sha256 come from
    "source": "tensorflow/datasets, tensorflow_datasets/datasets/imagenet_v2/checksums.tsv "
              "at commit 2ca105ac864eb8b1ff7f8de3d1e4b9dbf8b3022a",
}
FOLDER = "imagenetv2-matched-frequency"  # the extracted copy in work_dir/downloads
_MEMBER = re.compile(r"^(?:\./)?[^/]+/(\d{1,3})/([^/]+\.jpe?g)$", re.IGNORECASE)


def archive_url(endpoint: str | None = None) -> str:
    """The archive's URL on the hub (``HF_ENDPOINT``, or huggingface.co)."""
    from .. import hub

    base = (endpoint or hub.endpoint()).rstrip("/")
    return f"{base}/datasets/{ARCHIVE['repo']}/resolve/{ARCHIVE['revision']}/{ARCHIVE['file']}"


def find_imagenetv2(data_root: str | os.PathLike | None) -> Path | None:
    """An extracted copy in or at ``data_root`` (ours, TFDS's or CLIP_benchmark's name)."""
    if not data_root:
        return None
    root = Path(data_root)
    for cand in (root / FOLDER, root / ARCHIVE["top"], root / "ImageNetV2-matched-frequency",
                 root):
        if cand.is_dir() and (cand / "0").is_dir() and all(
                d.name.isdigit() for d in cand.iterdir() if d.is_dir()):
            return cand  # the number of classes is checked where it is used
    return None


def class_files(folder: str | os.PathLike) -> dict[str, dict[str, Path]]:
    """``{class key: {file name: path}}`` of an extracted copy; the key is zero-padded."""
    from ..classnames import imagenet_key
    from .sources import scan_tree

    folder = Path(folder)
    return {imagenet_key(int(d.name)): scan_tree(d)
            for d in sorted(folder.iterdir(), key=lambda p: p.name) if d.is_dir() and d.name.isdigit()}


def imagenetv2(root: str | os.PathLike, *, url: str | None = None, size: int | None = None,
               sha256: str | None = None, classes: int | None = None, per_class: int | None = None,
               progress: bool = True) -> Path:
    """``root/imagenetv2-matched-frequency``: downloaded, checked and extracted once.

    The keyword arguments default to the published archive (:data:`ARCHIVE`); a stand-in
    archive (tests, smoke runs) passes its own.
    """
    from .. import hub

    root = Path(root)
    target = root / FOLDER
    if (target / ".complete").is_file():
        return target
    size = ARCHIVE["size"] if size is None else size
    sha256 = ARCHIVE["sha256"] if sha256 is None else sha256
    archive = root / ARCHIVE["file"]
    if archive.is_file():  # placed by hand, or left by an interrupted extraction
        got = archive.stat().st_size
        if got != size or (sha256 and _sha256(archive) != sha256.lower()):
            archive.unlink()
            raise DownloadError(f"{archive.name} ({got:,} bytes) is not the published archive "
                                "(its length or SHA-256 differs); it was removed")
    else:
        if url is None and hub.offline():
            raise DownloadError("HF_HUB_OFFLINE is set, so nothing is downloaded from the hub")
        fetch(url or archive_url(), archive, size=size, sha256=sha256, desc="ImageNetV2",
              progress=progress)
    extract(archive, target, classes=ARCHIVE["classes"] if classes is None else classes,
            per_class=ARCHIVE["per_class"] if per_class is None else per_class)
    archive.unlink(missing_ok=True)  # 1.3 GB: the extracted copy is what the runs read
    return target


def extract(archive: Path, target: Path, *, classes: int, per_class: int) -> Path:
    """Unpack the class folders into ``target`` (whole or not at all) and check the layout:
    ``classes`` folders ``0`` ... ``classes - 1``, ``per_class`` JPEGs each."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    counts: dict[int, int] = {}
    try:
        with tarfile.open(archive, "r|gz") as tar:  # one streaming pass over 1.3 GB
            for info in tar:
                match = _MEMBER.match(info.name)
                if not info.isfile() or match is None:
                    continue
                index = int(match.group(1))
                out = tmp / str(index) / Path(match.group(2)).name  # no path from the archive
                out.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(info) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                counts[index] = counts.get(index, 0) + 1
        want = {i: per_class for i in range(classes)}
        if counts != want:
            wrong = sorted(set(want) ^ set(counts)) or [i for i in want if counts[i] != per_class]
            raise DownloadError(
                f"{archive.name} holds {sum(counts.values()):,} JPEGs in {len(counts):,} class "
                f"folders, the published archive {classes * per_class:,} in {classes:,} "
                f"({per_class} each; first difference: class {wrong[0]})")
        atomic_write_text(tmp / ".complete", "ok\n")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    except (tarfile.TarError, EOFError, OSError) as exc:
        archive.unlink(missing_ok=True)
        raise DownloadError(f"{archive.name} could not be unpacked ({_reason(exc)})") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


# -- where a run finds it ------------------------------------------------------------------

STANDIN = {"classes": 20, "per_class": 2}  # the smoke run's generated archive


def locate(cfg) -> tuple[Path, str, bool]:
    """``(folder, note, synthetic)``: a copy in ``data_root``, else the one in
    ``work_dir/downloads`` (downloaded now unless a smoke run), else, in smoke, a generated
    stand-in archive unpacked by the same code. Failures are one sentence with the way out."""
    from .sources import DataError

    found = find_imagenetv2(cfg.data_root)
    if found is not None:
        return found, f"ImageNetV2 at {found}", False
    downloads = Path(cfg.work_dir) / "downloads"
    if (downloads / FOLDER / ".complete").is_file() or not cfg.smoke:
        try:
            folder = imagenetv2(downloads)
        except DownloadError as exc:
            archive = downloads / ARCHIVE["file"]
            raise DataError(
                f"Could not download ImageNetV2 ({exc}); fetch it by hand with `curl -L -o "
                f"{archive} {archive_url()}` and rerun the same command (the archive is "
                f"checked, unpacked and deleted), or drop 'imagenetv2' from "
                "ensemble_datasets.") from None
        return folder, f"ImageNetV2 matched-frequency, downloaded to {folder}", False
    from ..io import stable_hash
    from ..offline.imagenetv2_archive import build_archive

    where = Path(cfg.work_dir) / "sources" / f"imagenetv2-standin-{stable_hash(STANDIN, cfg.seed, length=8)}"
    if not (where / FOLDER / ".complete").is_file():
        where.mkdir(parents=True, exist_ok=True)
        made = build_archive(where / ARCHIVE["file"], seed=cfg.seed, **STANDIN)
        imagenetv2(where, progress=False, **made, **STANDIN)
    return (where / FOLDER, "smoke run: a generated stand-in archive in ImageNetV2's layout "
                            f"({STANDIN['classes']} classes of shapes)", True)
