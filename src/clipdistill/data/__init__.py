"""Chapter 01: where the images come from, how they are made safe and resized, the splits.

The four calls other chapters use::

    prep = data.prepare_pets(cfg)                 # resize + every split in cfg.splits (idempotent)
    split = data.load_split(cfg, "knn", "train")  # one split: .paths, .labels, .classes, .name
    ds = data.load_labelled(cfg, "cifar10", 50)   # a seeded per-class sample of a labelled set
    others = data.load_other_pool(cfg, 1000)      # non-pet images for distillation

Modules: ``sources`` (folders, torchvision, generated), ``images`` (safe open, convert,
resize), ``splits`` (seeded, leak-free layout), ``bad_files`` (the bad-file zoo),
``prepare`` (the pipeline and work_dir layout), ``figures`` (the chapter's plots). The
generated stand-in set lives with the other offline stand-ins, in
:mod:`clipdistill.offline.synthetic_data`.
"""

from .bad_files import BAD_FILE_KINDS, make_bad_files
from .images import BadImage, ConvertJob, ConvertResult, convert_file, convert_many, fit, open_rgb
from .prepare import PetsPrep, image_hw, load_labelled, load_other_pool, load_split, prepare_pets
from .sources import LABELLED_SETS, DataError, Source, resolve_pets_source
from .splits import Split, layout

__all__ = [
    "prepare_pets",
    "load_split",
    "load_labelled",
    "load_other_pool",
    "PetsPrep",
    "Split",
    "DataError",
    "Source",
    "LABELLED_SETS",
    "resolve_pets_source",
    "image_hw",
    "layout",
    "open_rgb",
    "fit",
    "convert_file",
    "convert_many",
    "ConvertJob",
    "ConvertResult",
    "BadImage",
    "make_bad_files",
    "BAD_FILE_KINDS",
]
