"""Where images come from: class-per-folder trees, torchvision downloads, generated sets.

Every source ends up as the same thing, a :class:`Source`: for each class, a mapping from a
unique file name to a path. Torchvision sets that ship as arrays (CIFAR-10, MNIST) are
written out once as class-per-folder PNGs under ``work_dir/sources``, so everything
downstream handles one layout only.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..config import Config
from ..io import atomic_write_text, stable_hash
from ..offline import synthetic_data as synthetic
from . import downloads
from .errors import DataError
from .manifests import torchvision_archives
from .splits import layout

__all__ = [
    "DataError",
    "Source",
    "class_name",
    "scan_class_folders",
    "scan_tree",
    "find_petimages",
    "resolve_pets_source",
    "labelled_source",
    "other_source",
    "LABELLED_SETS",
]


LABELLED_SETS: tuple[str, ...] = ("cats_dogs", "oxford_pets_37", "cifar10", "mnist", "caltech101")
# Caltech-101 classes that show cats or dogs (real, wild or drawn) never enter the "other"
# pool; neither does the background class. The copy in ../shared/data already lacks them.
CALTECH_NOT_OTHER = {"dalmatian", "wild cat", "leopards", "cougar body", "cougar face", "snoopy",
                     "garfield", "background google"}
CALTECH_NOT_A_CLASS = {"background google"}
_DONE = ".complete"  # marker written last when a folder has been exported completely


@dataclass
class Source:
    """A labelled pool of image files. ``files[class][name] = path``; names are unique in a class."""

    name: str  # petimages | oxford_pets | folder | synthetic | cifar10 | mnist | ...
    root: Path
    files: dict[str, dict[str, Path]]
    note: str = ""  # why this source was chosen
    synthetic: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        return sorted(self.files)

    @property
    def found(self) -> int:
        return sum(len(v) for v in self.files.values())

    def identity(self) -> dict:
        """What decides the content of anything derived from this source (for cache keys)."""
        return {"name": self.name, "root": str(self.root)}

    def fingerprint(self, files: dict[str, dict[str, Path]] | None = None) -> str:
        """Hash of every file's name, size and modification time: changes when the data does."""
        files = self.files if files is None else files
        rows = []
        for cls in sorted(files):
            for key, path in sorted(files[cls].items()):
                try:
                    st = path.stat()
                    rows.append((cls, key, st.st_size, st.st_mtime_ns))
                except OSError:
                    rows.append((cls, key, -1, -1))
        return stable_hash(self.identity(), rows)


def class_name(folder: str) -> str:
    """Folder name -> class name: lowercase, underscores as spaces (``Faces_easy`` -> ``faces easy``)."""
    return " ".join(folder.replace("_", " ").split()).lower()


def _visible(p: Path) -> bool:
    return not p.name.startswith(".")


def scan_tree(root: str | Path) -> dict[str, Path]:
    """Every regular, non-hidden file under ``root`` (recursively), keyed by relative path."""
    root = Path(root)
    out: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fname in sorted(filenames):
            if fname.startswith("."):
                continue
            path = Path(dirpath) / fname
            out[path.relative_to(root).as_posix()] = path
    return out


def scan_class_folders(root: str | Path, exclude: set[str] | frozenset[str] = frozenset()) -> dict[str, dict[str, Path]]:
    """``root/<Class>/**`` -> ``{class: {relative name: path}}``.

    Every file counts, image or not (a ``Thumbs.db`` is *found*, then skipped with its
    reason), except hidden files such as ``.DS_Store``.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"No folder at {root}: expected one sub-folder per class (e.g. Cat/, Dog/).")
    out: dict[str, dict[str, Path]] = {}
    seen: dict[str, str] = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and _visible(p)):
        name = class_name(sub.name)
        if name in exclude:
            continue
        if name in seen:
            raise DataError(f"Folders {seen[name]!r} and {sub.name!r} in {root} both map to class {name!r}; rename one.")
        seen[name] = sub.name
        out[name] = scan_tree(sub)
    if not out:
        raise DataError(f"No class folders in {root}: expected one sub-folder per class (e.g. Cat/, Dog/).")
    return out


def find_petimages(data_root: str | Path | None) -> Path | None:
    """The Kaggle PetImages folder (``Cat/``, ``Dog/``) in or at ``data_root``, if any."""
    if not data_root:
        return None
    root = Path(data_root)
    for cand in (root / "PetImages", root, *sorted(root.glob("*/PetImages"))):
        if cand.is_dir() and {"cat", "dog"} <= {p.name.lower() for p in cand.iterdir() if p.is_dir()}:
            return cand
    return None


def _downloads_allowed(cfg: Config) -> bool:
    """Smoke runs are offline by definition: they never try the network."""
    return not cfg.smoke


def _download(what: str, fn: Callable[[], object]) -> object:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn()
    except Exception as exc:  # noqa: BLE001 - any failure becomes one clear sentence
        raise DataError(
            f"Could not download {what} through torchvision ({type(exc).__name__}: {exc}); "
            "point data_root at a folder that has it (see ../shared/data/README.md) or use the "
            "smoke profile, which generates a stand-in set."
        ) from None


def _work(cfg: Config, *parts: str) -> Path:
    return Path(cfg.work_dir).joinpath(*parts)


# -- Oxford-IIIT Pet -----------------------------------------------------------------------

def _oxford_dir(cfg: Config) -> Path:
    return _work(cfg, "downloads", "oxford-iiit-pet")


def _oxford_present(cfg: Config) -> bool:
    d = _oxford_dir(cfg)
    return (d / "annotations" / "trainval.txt").is_file() and (d / "images").is_dir()


def _oxford(cfg: Config, breeds: bool) -> Source:
    """Oxford-IIIT Pet, trainval and test pooled (we make our own splits): species or breeds."""
    if not _oxford_present(cfg):
        if not _downloads_allowed(cfg):
            raise DataError("Oxford-IIIT Pet is not in work_dir and a smoke run does not download; "
                            "use pets_source=auto (generated stand-in) or a data_root with PetImages.")
        from torchvision.datasets import OxfordIIITPet

        root = _work(cfg, "downloads")
        for split in ("trainval", "test"):
            _download("Oxford-IIIT Pet", lambda s=split: OxfordIIITPet(str(root), split=s, download=True))
    d = _oxford_dir(cfg)
    files: dict[str, dict[str, Path]] = {}
    for listing in ("trainval.txt", "test.txt"):
        for line in (d / "annotations" / listing).read_text().splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            image_id, _breed_id, species, *_ = line.split()
            cls = class_name(image_id.rsplit("_", 1)[0]) if breeds else ("cat", "dog")[int(species) - 1]
            files.setdefault(cls, {})[f"{image_id}.jpg"] = d / "images" / f"{image_id}.jpg"
    name = "oxford_pets_37" if breeds else "oxford_pets"
    return Source(name, d, files, note="Oxford-IIIT Pet (torchvision download in work_dir)",
                  extra={"archives": torchvision_archives(name)})


# -- generated stand-ins ---------------------------------------------------------------------

def _synthetic(cfg: Config, name: str, classes: list[str], per_class: int, note: str) -> Source:
    root = _work(cfg, "sources", f"synthetic-{stable_hash('shapes-v1', cfg.seed, length=8)}")
    synthetic.make_shapes_dataset(root, classes, per_class, seed=cfg.seed)
    files = {c: {k: p for k, p in sorted(scan_tree(root / c).items())[:per_class]} for c in classes}
    return Source(name, root, files, note=note, synthetic=True)


def pets_needed_per_class(cfg: Config) -> int:
    """Images per class that every split in ``cfg.splits`` needs together (see splits.py)."""
    return max((stop for *_, stop in layout(cfg.splits)), default=0)


# -- the pets source -------------------------------------------------------------------------

def resolve_pets_source(cfg: Config) -> Source:
    """The cat/dog image pool chapters 01-05 use, following ``cfg.pets_source``.

    ``auto``: PetImages in ``data_root`` if it is there; else Oxford-IIIT Pet (already
    downloaded, or downloadable outside smoke); else, in smoke, a generated two-class set of
    *shapes* (``circle``, ``square``) that stands in for cats and dogs.
    """
    choice = cfg.pets_source
    pets = find_petimages(cfg.data_root)
    if choice == "auto":
        if pets is not None:
            choice, why = "petimages", f"auto: found PetImages at {pets}"
        elif _oxford_present(cfg) or _downloads_allowed(cfg):
            choice, why = "oxford_pets", "auto: no PetImages in data_root, so Oxford-IIIT Pet"
        else:
            choice, why = "synthetic", ("auto: smoke run without pet images (no PetImages in data_root, "
                                        "offline), so a generated stand-in of shapes")
    else:
        why = f"pets_source={choice}"
    if choice == "petimages":
        if pets is None:
            if not _downloads_allowed(cfg):
                raise DataError(f"pets_source='petimages' needs data_root pointing at a folder with PetImages/Cat "
                                f"and PetImages/Dog (data_root={cfg.data_root!r}).")
            pets, why = _petimages_download(cfg), f"{why}: Microsoft's download, in work_dir"
        archive = downloads.petimages_archive(pets)
        return Source("petimages", pets, scan_class_folders(pets), note=why,
                      extra={"archives": [archive]} if archive else {})
    if choice == "folder":
        if not cfg.pets_dir:
            raise DataError("pets_source='folder' needs pets_dir: a folder with one sub-folder per class.")
        return Source("folder", Path(cfg.pets_dir), scan_class_folders(cfg.pets_dir), note=why)
    if choice == "oxford_pets":
        src = _oxford(cfg, breeds=False)
        src.note = why
        return src
    if choice == "synthetic":
        n = pets_needed_per_class(cfg)
        n = n + max(8, n // 10)  # a little more than the splits need, as with real data
        return _synthetic(cfg, "synthetic", list(synthetic.SYNTHETIC_PETS), n, why)
    raise DataError(f"Unknown pets_source {choice!r}. Valid: auto, petimages, oxford_pets, folder, synthetic.")


# -- labelled evaluation sets ----------------------------------------------------------------

def _class_folder(data_root: str, *candidates: str) -> Path | None:
    if not data_root:
        return None
    for rel in candidates:
        p = Path(data_root) / rel
        if p.is_dir() and any(c.is_dir() for c in p.iterdir()):
            return p
    return None


def _export_arrays(dest: Path, images, labels, classes: list[str]) -> None:
    """Write an in-memory set as ``dest/<class>/<index>.png``; the marker goes last, so a
    half-written folder is simply written again."""
    from PIL import Image

    for i, (img, lab) in enumerate(zip(images, labels)):
        folder = dest / classes[int(lab)]
        folder.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="PNG")
        (folder / f"{i:05d}.png").write_bytes(buf.getvalue())
    atomic_write_text(dest / _DONE, "ok\n")


def _torchvision_arrays(cfg: Config, name: str) -> Path:
    dest = _work(cfg, "sources", f"{name}-test")
    if (dest / _DONE).is_file():
        return dest
    from torchvision import datasets

    root = str(_work(cfg, "downloads"))
    if name == "cifar10":
        ds = _download("CIFAR-10", lambda: datasets.CIFAR10(root, train=False, download=True))
        _export_arrays(dest, ds.data, ds.targets, list(ds.classes))
    else:
        ds = _download("MNIST", lambda: datasets.MNIST(root, train=False, download=True))
        _export_arrays(dest, ds.data.numpy(), ds.targets.numpy(), [str(d) for d in range(10)])
    return dest


def _caltech_download(cfg: Config) -> Path:
    root = _work(cfg, "downloads")
    cats = root / "caltech101" / "101_ObjectCategories"
    if not cats.is_dir():
        from torchvision import datasets

        _download("Caltech-101", lambda: datasets.Caltech101(str(root), download=True))
    return cats


# Classes of each generated stand-in: as many as the real set, except Caltech-101 (94),
# whose stand-in keeps 20 so a smoke run stays quick.
_N_CLASSES = {"cats_dogs": 2, "oxford_pets_37": 37, "cifar10": 10, "mnist": 10, "caltech101": 20}


def labelled_source(cfg: Config, name: str, per_class: int) -> Source:
    """The labelled set ``name``: a folder in data_root, else a torchvision download (not in
    smoke), else (smoke) a generated stand-in with the same number of classes."""
    if name not in LABELLED_SETS:
        raise DataError(f"Unknown labelled set {name!r}. Valid: {', '.join(LABELLED_SETS)}.")
    if name == "cats_dogs":
        return resolve_pets_source(cfg)  # the same pool the pets chapters use
    folder = {
        "cifar10": _class_folder(cfg.data_root, "cifar10/test", "cifar10"),
        "mnist": _class_folder(cfg.data_root, "mnist/test", "mnist"),
        "caltech101": _class_folder(cfg.data_root, "caltech101", "caltech101/101_ObjectCategories"),
        "oxford_pets_37": None,
    }[name]
    if folder is not None:
        return Source(name, folder, scan_class_folders(folder, CALTECH_NOT_A_CLASS),
                      note=f"folder {folder}")
    exported = _work(cfg, "sources", f"{name}-test")
    if name in ("cifar10", "mnist") and ((exported / _DONE).is_file() or _downloads_allowed(cfg)):
        root = _torchvision_arrays(cfg, name)
        return Source(name, root, scan_class_folders(root), note="torchvision download in work_dir",
                      extra={"archives": torchvision_archives(name)})
    if name == "oxford_pets_37" and (_oxford_present(cfg) or _downloads_allowed(cfg)):
        return _oxford(cfg, breeds=True)
    caltech = _work(cfg, "downloads", "caltech101", "101_ObjectCategories")
    if name == "caltech101" and (caltech.is_dir() or _downloads_allowed(cfg)):
        root = _caltech_download(cfg)
        return Source(name, root, scan_class_folders(root, CALTECH_NOT_A_CLASS),
                      note="torchvision download in work_dir")
    classes = synthetic.synthetic_class_names(_N_CLASSES[name])
    return _synthetic(cfg, name, classes, per_class,
                      f"smoke run without {name} in data_root: a generated stand-in of shapes")


# -- the "other" pool --------------------------------------------------------------------------

def _pool(name: str, root: Path, files: dict[str, Path], note: str, synthetic_: bool = False) -> Source:
    return Source(name, root, {"other": files}, note=note, synthetic=synthetic_)


def other_source(cfg: Config, n: int) -> Source:
    """Unlabelled non-pet images for distillation, following ``cfg.other_source``.

    ``auto``: Caltech-101 in data_root; else ``other_dir`` if set; else a Caltech-101
    download (not in smoke); else (smoke) generated shapes that are neither stand-in pet.
    """
    choice = cfg.other_source
    local = _class_folder(cfg.data_root, "caltech101", "caltech101/101_ObjectCategories")
    if choice == "auto":
        if local is not None:
            choice = "caltech101"
        elif cfg.other_dir:
            choice = "folder"
        elif _downloads_allowed(cfg) or _work(cfg, "downloads", "caltech101", "101_ObjectCategories").is_dir():
            choice = "caltech101"
        else:
            choice = "synthetic"
    if choice == "caltech101":
        root = local if local is not None else None
        if root is None:
            if not (_downloads_allowed(cfg) or _work(cfg, "downloads", "caltech101", "101_ObjectCategories").is_dir()):
                raise DataError("other_source='caltech101' needs data_root with caltech101/ in a smoke run "
                                "(it does not download); use other_source=auto or synthetic.")
            root = _caltech_download(cfg)
        by_class = scan_class_folders(root, CALTECH_NOT_OTHER)
        files = {f"{c}/{k}": p for c, fs in by_class.items() for k, p in fs.items()}
        return _pool("caltech101", root, files, f"Caltech-101 at {root}, pet classes left out")
    if choice == "openimages" and not cfg.other_dir and _downloads_allowed(cfg):
        return _openimages_download(cfg, n)
    if choice in ("openimages", "folder"):
        if not cfg.other_dir or not Path(cfg.other_dir).is_dir():
            raise DataError(f"other_source={choice!r} needs other_dir: a folder of non-pet images "
                            f"(any layout; got {cfg.other_dir!r}).")
        return _pool(choice, Path(cfg.other_dir), scan_tree(cfg.other_dir), f"{choice} images in {cfg.other_dir}")
    if choice == "synthetic":
        per_shape = -(-n // len(synthetic.SYNTHETIC_OTHER)) + 2
        src = _synthetic(cfg, "synthetic_other", list(synthetic.SYNTHETIC_OTHER), per_shape,
                         "generated shapes (no other images available offline)")
        files = {f"{c}/{k}": p for c, fs in src.files.items() for k, p in fs.items()}
        return _pool("synthetic", src.root, files, src.note, synthetic_=True)
    raise DataError(f"Unknown other_source {choice!r}. Valid: auto, caltech101, openimages, folder, synthetic.")


# -- downloads for the paper profile (see downloads.py) ----------------------------------------

def _petimages_download(cfg: Config) -> Path:
    """Kaggle PetImages from Microsoft, into work_dir/downloads, or one sentence saying how."""
    root = _work(cfg, "downloads")
    try:
        return downloads.petimages(root)
    except downloads.DownloadError as exc:
        raise DataError(
            f"Could not download Kaggle PetImages ({exc}); fetch it by hand with `curl -L -C - -o "
            f"{root}/pets.zip {downloads.PETIMAGES_URL} && unzip -q {root}/pets.zip -d {root}` and rerun "
            f"with --set data_root={root}.") from None


def _openimages_download(cfg: Config, n: int) -> Source:
    """A seeded sample of non-pet Open Images, fetched into work_dir/downloads/openimages."""
    root = _work(cfg, "downloads", "openimages")
    spare = max(2, n // 100)  # chapter 01 skips files it cannot read
    try:
        paths = downloads.openimages_sample(root, n, spare=spare, seed=cfg.seed)
    except downloads.DownloadError as exc:
        ids = downloads.ids_file(root, n + spare, cfg.seed)
        if ids is None:  # the label files did not come: fetch them, the rest follows
            urls = " ".join([downloads.OPENIMAGES_CLASSES, *downloads.OPENIMAGES_LABELS.values()])
            how = (f"`(mkdir -p {root}/meta && cd {root}/meta && curl -L -C - --remote-name-all {urls})` "
                   "and rerun the same command")
        else:
            how = (f"openimages/dataset's `python downloader.py {ids} --download_folder {root}/by_hand` "
                   f"and rerun with --set other_dir={root}/by_hand")
        raise DataError(f"Could not download the Open Images sample ({exc}); fetch it by hand with "
                        f"{how}.") from None
    note = f"a seeded sample of {len(paths):,} Open Images without cats or dogs, in {root}"
    return _pool("openimages", root / "images", {p.name: p for p in paths}, note)
