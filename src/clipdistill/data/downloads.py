"""Downloads for the ``paper`` profile: Kaggle PetImages and an Open Images sample.

Both are large (786 MB; ~250 KB an image for up to 100,000 images) and both servers are
plain HTTPS, so one helper does the transfer: :func:`fetch` streams to ``<file>.part``,
resumes an interrupted transfer with an HTTP ``Range`` request, checks the length (and a
SHA-256 when one is known), and renames the file into place only when it is whole. A
download that cannot happen (no network, HTTP 403/404, a full disk) raises
:class:`DownloadError` at once; ``sources.py`` turns it into one sentence naming the
command that gets the data by hand and the ``--set`` that points the run at it.

Where the URLs come from:

- PetImages: Microsoft's direct link to ``kagglecatsanddogs_5340.zip`` (the one TensorFlow
  Datasets and Keras use). Microsoft publishes no checksum for it, so the archive is
  checked by what it must contain: every member's CRC-32 (``zipfile.testzip``) and
  12,500 JPEG entries under each of ``PetImages/Cat`` and ``PetImages/Dog`` (0.jpg to
  12499.jpg; about 1,700 of them are corrupt, which chapter 01 reports and skips).
- Open Images V7: the image-level human labels of the validation and test splits
  (``oidv7-{val,test}-annotations-human-imagelabels.csv``) and the class names
  (``oidv7-class-descriptions.csv``) from Google's bucket; the images themselves from the
  public ``open-images-dataset`` S3 bucket as ``<split>/<ImageID>.jpg``, the files the
  official ``downloader.py`` fetches. Those two splits hold ~167,000 images, enough for
  the 100,000 extra images `paper` asks for, and are exhaustively verified for the labels that matter.
"""

from __future__ import annotations

import csv
import hashlib
import http.client
import json
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

from ..io import atomic_write_text
from ..progress import progress_bar
from .splits import seeded_order

__all__ = ["DownloadError", "fetch", "petimages", "petimages_archive", "openimages_sample", "PETIMAGES_URL",
           "OPENIMAGES_LABELS", "OPENIMAGES_CLASSES", "OPENIMAGES_IMAGES", "pet_label_ids"]

PETIMAGES_URL = ("https://download.microsoft.com/download/3/E/1/"
                 "3E1C3F21-ECDB-4869-8368-6DEBA77B919F/kagglecatsanddogs_5340.zip")
PETIMAGES_JPEGS = {"Cat": 12_500, "Dog": 12_500}  # entries per class folder in the archive
_PET_MEMBER = re.compile(r"^PetImages/(Cat|Dog)/([^/]+)$")

_OI = "https://storage.googleapis.com/openimages/v7/"
OPENIMAGES_LABELS = {"validation": _OI + "oidv7-val-annotations-human-imagelabels.csv",
                     "test": _OI + "oidv7-test-annotations-human-imagelabels.csv"}
OPENIMAGES_CLASSES = _OI + "oidv7-class-descriptions.csv"
OPENIMAGES_IMAGES = "https://open-images-dataset.s3.amazonaws.com/{split}/{image_id}.jpg"
# A positive human label whose class name holds one of these words keeps an image out of
# the "other" pool: Cat and Dog, and every breed or kind of either (over-excluding a
# "Hot dog" costs nothing, there are plenty of images).
PET_WORDS = re.compile(r"\b(cats?|dogs?|kittens?|pupp(y|ies))\b", re.IGNORECASE)

TIMEOUT_S = 30.0
CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download that cannot succeed now; ``str(exc)`` says why in a few words."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"no connection ({exc.reason})"
    if isinstance(exc, OSError) and exc.errno == 28:
        return "the disk is full"
    if isinstance(exc, http.client.IncompleteRead):
        return "the connection dropped (rerun to resume)"
    return f"{type(exc).__name__}: {exc}"


def _total_from(response, have: int) -> int | None:
    """The whole file's length from a 200's Content-Length or a 206's Content-Range."""
    rng = response.headers.get("Content-Range", "")
    if rng and "/" in rng and not rng.endswith("/*"):
        return int(rng.rsplit("/", 1)[1])
    length = response.headers.get("Content-Length")
    if length is None or getattr(response, "status", None) == 416:
        return None
    return int(length) + (have if response.status == 206 else 0)


def fetch(url: str, dest: str | os.PathLike, *, size: int | None = None, sha256: str | None = None,
          desc: str = "", progress: bool = True, timeout: float = TIMEOUT_S) -> Path:
    """Download ``url`` to ``dest`` (skipped when ``dest`` exists), resuming a ``.part``.

    ``size`` and ``sha256``, when given, are checked before the rename; a mismatch deletes
    the partial file and raises (a wrong file must not be resumed into a bigger wrong file).
    """
    dest = Path(dest)
    if dest.is_file():
        return dest
    part = dest.with_name(dest.name + ".part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        have = part.stat().st_size if part.is_file() else 0
        headers = {"User-Agent": "clipdistill", **({"Range": f"bytes={have}-"} if have else {})}
        try:
            response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
        except urllib.error.HTTPError as exc:
            if exc.code != 416 or not have:
                raise
            # 416: nothing after byte `have`; whole if the server's length says so.
            if _total_from(exc, have) != have:
                part.unlink()
                return fetch(url, dest, size=size, sha256=sha256, desc=desc, progress=progress,
                             timeout=timeout)
            response, total = None, have
        if response is not None:
            with response:
                if response.status != 206:
                    have = 0  # the server ignored Range: start again
                total = _total_from(response, have)
                bar = progress_bar(None if total is None else total / 1e6, desc or dest.name,
                                   enabled=progress, unit="MB")
                bar.update(have / 1e6)
                with open(part, "ab" if have else "wb") as fh:
                    while block := response.read(CHUNK):
                        fh.write(block)
                        bar.update(len(block) / 1e6)
                    fh.flush()
                    os.fsync(fh.fileno())
                bar.close()
        got = part.stat().st_size
        if total is not None and got < total:  # the connection dropped: keep what came
            raise DownloadError(f"the connection dropped after {got:,} of {total:,} bytes "
                                "(rerun to resume)")
        expected = size if size is not None else total
        if expected is not None and got != expected:
            part.unlink(missing_ok=True)
            raise DownloadError(f"{dest.name} arrived with {got:,} bytes, expected {expected:,}")
        if sha256 and _sha256(part) != sha256.lower():
            part.unlink(missing_ok=True)
            raise DownloadError(f"{dest.name} does not match its published SHA-256")
        os.replace(part, dest)
    except DownloadError:
        raise
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        raise DownloadError(_reason(exc)) from exc
    return dest


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            h.update(block)
    return h.hexdigest()


# -- Kaggle PetImages ---------------------------------------------------------------------

def petimages(root: str | os.PathLike, *, url: str | None = None, progress: bool = True) -> Path:
    """``root/PetImages`` (``Cat/``, ``Dog/``), downloaded, checked and extracted once."""
    root = Path(root)
    target = root / "PetImages"
    if (target / ".complete").is_file():
        return target
    archive = fetch(url or PETIMAGES_URL, root / "kagglecatsanddogs_5340.zip",
                    desc="Kaggle PetImages", progress=progress)
    members = _check_petimages(archive)
    checked = {"file": archive.name, "sha256": _sha256(archive), "bytes": archive.stat().st_size,
               "verified_by": "CRC-32 of every member and the published layout"}
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".PetImages."))
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in members:
                zf.extract(info, tmp)  # names checked by _PET_MEMBER: no path escapes
        # the marker goes last and names the archive it came from (for the provenance)
        atomic_write_text(tmp / "PetImages" / ".complete", json.dumps(checked) + "\n")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp / "PetImages", target)
    except OSError as exc:
        raise DownloadError(f"extracting {archive.name} failed: {_reason(exc)}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def petimages_archive(target: str | os.PathLike) -> dict | None:
    """The archive a downloaded ``PetImages`` folder came from (name, SHA-256, size), as
    :func:`petimages` recorded it; None for a folder that was not downloaded here."""
    try:
        record = json.loads((Path(target) / ".complete").read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _check_petimages(archive: Path) -> list[zipfile.ZipInfo]:
    """Every member's CRC, and the published layout; returns the class folders' files."""
    try:
        with zipfile.ZipFile(archive) as zf:
            bad = zf.testzip()
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        archive.unlink(missing_ok=True)
        raise DownloadError(f"{archive.name} is not a readable zip ({exc})") from exc
    if bad is not None:
        archive.unlink(missing_ok=True)
        raise DownloadError(f"{archive.name} is damaged (CRC error in {bad})")
    members = [i for i in infos if not i.is_dir() and _PET_MEMBER.match(i.filename)]
    for cls, n in PETIMAGES_JPEGS.items():
        got = sum(1 for i in members if i.filename.startswith(f"PetImages/{cls}/")
                  and i.filename.lower().endswith(".jpg"))
        if got != n:
            raise DownloadError(f"{archive.name} has {got:,} JPEGs in PetImages/{cls}, "
                                f"the published archive has {n:,}")
    return members


# -- Open Images ----------------------------------------------------------------------------

def _rows(path: Path) -> Iterator[list[str]]:
    """A CSV file's rows one at a time (the label files are large; never loaded whole)."""
    with open(path, newline="", encoding="utf-8") as fh:
        yield from csv.reader(fh)


def pet_label_ids(classes_csv: Path) -> set[str]:
    """Label ids (``/m/...``) of every class whose name says cat, dog, kitten or puppy."""
    return {row[0] for row in _rows(classes_csv) if len(row) >= 2 and PET_WORDS.search(row[1])}


def eligible_ids(labels_csv: Path, excluded: set[str]) -> set[str]:
    """Image ids in a human-labels file minus those with a positive excluded label."""
    seen: set[str] = set()
    pets: set[str] = set()
    rows = _rows(labels_csv)
    header = next(rows, [])
    col = {name: i for i, name in enumerate(header)}
    if not {"ImageID", "LabelName", "Confidence"} <= set(col):
        raise DownloadError(f"{labels_csv.name} is not an Open Images image-labels file")
    i_id, i_label, i_conf = col["ImageID"], col["LabelName"], col["Confidence"]
    for row in rows:
        seen.add(row[i_id])
        if row[i_label] in excluded and row[i_conf].strip() not in ("0", "0.0"):
            pets.add(row[i_id])
    return seen - pets


def sample_ids(root: Path, seed: int, *, progress: bool = True) -> list[str]:
    """Every non-pet ``<split>/<ImageID>`` of the label files, in one seeded order (so a
    smaller sample is a prefix of a larger one); written once to ``root/sample.txt``."""
    manifest = root / f"sample-seed{seed}.txt"
    if manifest.is_file():
        return manifest.read_text().split()
    classes = fetch(OPENIMAGES_CLASSES, root / "meta" / Path(OPENIMAGES_CLASSES).name,
                    desc="Open Images class names", progress=progress)
    excluded = pet_label_ids(classes)
    names = []
    for split, url in OPENIMAGES_LABELS.items():
        labels = fetch(url, root / "meta" / Path(url).name, desc=f"Open Images {split} labels",
                       progress=progress)
        names += [f"{split}/{i}" for i in eligible_ids(labels, excluded)]
    order = seeded_order(names, seed, "openimages")
    atomic_write_text(manifest, "\n".join(order) + "\n")
    return order


def openimages_sample(root: str | os.PathLike, n: int, *, spare: int = 0, seed: int = 0,
                      workers: int = 8, progress: bool = True) -> list[Path]:
    """The first ``n`` images of the seeded non-pet sample (and up to ``spare`` more, for
    files that turn out unreadable), fetched into ``root/images``; files already there are
    skipped, each is written whole or not at all."""
    root = Path(root)
    order = sample_ids(root, seed, progress=progress)
    if n > len(order):
        raise DownloadError(f"the Open Images label files list {len(order):,} non-pet images, "
                            f"fewer than the {n:,} asked for")
    wanted = [(name, root / "images" / f"{name.replace('/', '-')}.jpg") for name in order[:n + spare]]
    todo = [(name, path) for name, path in wanted if not path.is_file()]
    bar = progress_bar(len(wanted), "Open Images", enabled=progress, unit="img")
    bar.update(len(wanted) - len(todo))

    def one(item: tuple[str, Path]) -> None:
        split, image_id = item[0].split("/", 1)
        fetch(OPENIMAGES_IMAGES.format(split=split, image_id=image_id), item[1], progress=False)

    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for _ in pool.map(one, todo):
                bar.update(1)
    finally:
        bar.close()
    return [path for _, path in wanted]


def ids_file(root: str | os.PathLike, n: int, seed: int = 0) -> Path | None:
    """The first ``n`` sample ids in the official downloader's ``<split>/<id>`` format,
    written beside the manifest (for fetching by hand); None before the manifest exists."""
    root = Path(root)
    manifest = root / f"sample-seed{seed}.txt"
    if not manifest.is_file():
        return None
    out = root / f"downloader-ids-{n}.txt"
    atomic_write_text(out, "\n".join(manifest.read_text().split()[:n]) + "\n")
    return out
