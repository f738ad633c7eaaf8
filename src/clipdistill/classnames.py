"""The class names prompts use: the published ones, wherever a published figure exists.

A folder name is not a class name. Caltech-101 ships ``Faces``, ``Faces_easy``,
``car_side`` and ``yin_yang``; the CLIP authors, CLIP_benchmark and DataComp prompt with
"off-center face", "centered face", "side of a car" and "yin and yang symbol". Prompts
built from folder names would cost points against every published figure, for a reason
that has nothing to do with the model. So every dataset set beside a published number
prompts with that number's class names, kept here as data beside their source
(:data:`SOURCE`); :func:`prompt_names` maps the classes a run found to them.

- Caltech-101: CLIP_benchmark's ``caltech101`` list, in the order of the folders the
  archive ships (:data:`CALTECH101_FOLDERS`); its ``caltech101_vtab`` list (what the
  published figures use) holds the same names in another order.
- Oxford-IIIT Pet: CLIP_benchmark's ``pets`` list (the breeds, capitalised as published;
  the folder-derived names differ only in case).
- ImageNet-1k and ImageNetV2: OpenAI's curated names, as open_clip ships them
  (``IMAGENET_CLASSNAMES``, equal to CLIP_benchmark's ``imagenet1k`` list); classes are
  keyed by their index, ``"000"`` to ``"999"``.
- CIFAR-10 and MNIST: the names torchvision gives the classes, which is what
  CLIP_benchmark prompts with; nothing to map.

``tests/test_classnames.py`` checks every list against a copy of CLIP_benchmark's
``en_classnames.json`` (``tests/data/``).
"""

from __future__ import annotations

from typing import Sequence

from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

__all__ = ["SOURCE", "CALTECH101_FOLDERS", "CALTECH101_NAMES", "OXFORD_PETS_NAMES",
           "IMAGENET_CLASSNAMES", "PUBLISHED_NAMES", "imagenet_key", "prompt_names",
           "all_published"]

SOURCE = {
    "repo": "LAION-AI/CLIP_benchmark",
    "path": "clip_benchmark/datasets/en_classnames.json",
    "commit": "48de38c1689fa6d8b4dd53e3370c669c3bb18117",
}

# Caltech-101's 102 folders, sorted as the archive (and torchvision) list them ...
CALTECH101_FOLDERS: tuple[str, ...] = (
    "BACKGROUND_Google", "Faces", "Faces_easy", "Leopards", "Motorbikes", "accordion",
    "airplanes", "anchor", "ant", "barrel", "bass", "beaver", "binocular", "bonsai", "brain",
    "brontosaurus", "buddha", "butterfly", "camera", "cannon", "car_side", "ceiling_fan",
    "cellphone", "chair", "chandelier", "cougar_body", "cougar_face", "crab", "crayfish",
    "crocodile", "crocodile_head", "cup", "dalmatian", "dollar_bill", "dolphin", "dragonfly",
    "electric_guitar", "elephant", "emu", "euphonium", "ewer", "ferry", "flamingo",
    "flamingo_head", "garfield", "gerenuk", "gramophone", "grand_piano", "hawksbill",
    "headphone", "hedgehog", "helicopter", "ibis", "inline_skate", "joshua_tree", "kangaroo",
    "ketch", "lamp", "laptop", "llama", "lobster", "lotus", "mandolin", "mayfly", "menorah",
    "metronome", "minaret", "nautilus", "octopus", "okapi", "pagoda", "panda", "pigeon",
    "pizza", "platypus", "pyramid", "revolver", "rhino", "rooster", "saxophone", "schooner",
    "scissors", "scorpion", "sea_horse", "snoopy", "soccer_ball", "stapler", "starfish",
    "stegosaurus", "stop_sign", "strawberry", "sunflower", "tick", "trilobite", "umbrella",
    "watch", "water_lilly", "wheelchair", "wild_cat", "windsor_chair", "wrench", "yin_yang",
)
# ... and CLIP_benchmark's names for them, in the same order (copied exactly: the double
# space in "head of a  crocodile" is the published string; CLIP's tokenizer drops it).
CALTECH101_NAMES: tuple[str, ...] = (
    "background", "off-center face", "centered face", "leopard", "motorbike", "accordion",
    "airplane", "anchor", "ant", "barrel", "bass", "beaver", "binocular", "bonsai", "brain",
    "brontosaurus", "buddha", "butterfly", "camera", "cannon", "side of a car", "ceiling fan",
    "cellphone", "chair", "chandelier", "body of a cougar cat", "face of a cougar cat", "crab",
    "crayfish", "crocodile", "head of a  crocodile", "cup", "dalmatian", "dollar bill",
    "dolphin", "dragonfly", "electric guitar", "elephant", "emu", "euphonium", "ewer", "ferry",
    "flamingo", "head of a flamingo", "garfield", "gerenuk", "gramophone", "grand piano",
    "hawksbill", "headphone", "hedgehog", "helicopter", "ibis", "inline skate", "joshua tree",
    "kangaroo", "ketch", "lamp", "laptop", "llama", "lobster", "lotus", "mandolin", "mayfly",
    "menorah", "metronome", "minaret", "nautilus", "octopus", "okapi", "pagoda", "panda",
    "pigeon", "pizza", "platypus", "pyramid", "revolver", "rhino", "rooster", "saxophone",
    "schooner", "scissors", "scorpion", "sea horse", "snoopy (cartoon beagle)", "soccer ball",
    "stapler", "starfish", "stegosaurus", "stop sign", "strawberry", "sunflower", "tick",
    "trilobite", "umbrella", "watch", "water lilly", "wheelchair", "wild cat", "windsor chair",
    "wrench", "yin and yang symbol",
)
OXFORD_PETS_NAMES: tuple[str, ...] = (
    "Abyssinian", "American Bulldog", "American Pit Bull Terrier", "Basset Hound", "Beagle",
    "Bengal", "Birman", "Bombay", "Boxer", "British Shorthair", "Chihuahua", "Egyptian Mau",
    "English Cocker Spaniel", "English Setter", "German Shorthaired", "Great Pyrenees",
    "Havanese", "Japanese Chin", "Keeshond", "Leonberger", "Maine Coon", "Miniature Pinscher",
    "Newfoundland", "Persian", "Pomeranian", "Pug", "Ragdoll", "Russian Blue", "Saint Bernard",
    "Samoyed", "Scottish Terrier", "Shiba Inu", "Siamese", "Sphynx",
    "Staffordshire Bull Terrier", "Wheaten Terrier", "Yorkshire Terrier",
)


def _key(folder: str) -> str:
    """How data/sources.py names a class from its folder (``Faces_easy`` -> ``faces easy``)."""
    return " ".join(folder.replace("_", " ").split()).lower()


def imagenet_key(index: int) -> str:
    """The class key of ImageNet class ``index``: zero-padded, so keys sort in class order."""
    return f"{index:03d}"


# dataset -> {class as data/sources.py names it: published name}
PUBLISHED_NAMES: dict[str, dict[str, str]] = {
    "caltech101": {_key(f): n for f, n in zip(CALTECH101_FOLDERS, CALTECH101_NAMES)},
    "oxford_pets_37": {n.lower(): n for n in OXFORD_PETS_NAMES},
    "imagenet": {imagenet_key(i): n for i, n in enumerate(IMAGENET_CLASSNAMES)},
    "imagenetv2": {imagenet_key(i): n for i, n in enumerate(IMAGENET_CLASSNAMES)},
}


def prompt_names(dataset: str, classes: Sequence[str]) -> list[str]:
    """The names to prompt with for ``classes`` of ``dataset``: the published name where
    one exists, else the class as found (a dataset or folder nobody published)."""
    table = PUBLISHED_NAMES.get(dataset, {})
    return [table.get(str(c), str(c)) for c in classes]


def all_published(dataset: str, names: Sequence[str]) -> bool:
    """Whether every prompt name of a dataset with published names is one of them (chapter
    06 says "class names" differ otherwise). Datasets without a table prompt with their
    own names, which are the published ones (CIFAR-10, MNIST)."""
    table = PUBLISHED_NAMES.get(dataset)
    return table is None or set(map(str, names)) <= set(table.values())
