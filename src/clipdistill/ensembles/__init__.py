"""Chapter 04: prompt ensembles, one class embedding from many prompts.

- ``prototypes``  the averaging (:func:`ensemble`: normalise, average, renormalise), the
                  cached class matrix of a model, and each template's effect
- ``experiment``  the sweep over models x template sets x datasets (resumable, cached),
                  and the supervised baseline on the ImageNet sets
- ``tables``      the sweep in the reference layout, beside the published ImageNet numbers
                  (kept as data in :mod:`clipdistill.published`), and the ranking summary
- ``figures``     the chapter's plots

The command line runs the same sweep: ``clipdistill sweep`` (:mod:`clipdistill.cli`).
"""

from . import figures
from .experiment import (CHAPTER, imagenetv2_origin, load_dataset, load_model,
                         supervised_baseline, sweep, sweep_datasets)
from .prototypes import (class_embeddings, encode_prompts, ensemble, resolve_template_set,
                         template_ranking, top1)
from .tables import (accuracy_table, gap_summary, imagenetv2_table, metrics, published_pattern,
                     published_table, ranking_summary, readable, template_gaps)

__all__ = [
    "ensemble", "encode_prompts", "class_embeddings", "top1", "template_ranking",
    "resolve_template_set", "sweep", "sweep_datasets", "load_dataset", "load_model",
    "accuracy_table", "published_table", "published_pattern", "template_gaps", "gap_summary",
    "ranking_summary", "metrics", "figures", "CHAPTER", "imagenetv2_table", "supervised_baseline",
    "imagenetv2_origin", "readable",
]
