"""Chapter 05: distilling CLIP (and VLM-description) embeddings into small students.

- ``students``    the student family (tiny CNN -> ViT-Tiny) and the compact 64-d targets
- ``train``       the training loop: one epoch, validation, early stopping, resume
- ``image_cache`` the images decoded once, in content-defined chunks shared across runs
- ``inputs``      pixels to tensors, seeded label-free augmentation, batches
- ``checkpoints`` a run on disk: its key, a checkpoint every epoch, the finished record
- ``evaluate``    kNN report, fidelity, parameters, FLOPs, images/s
- ``teachers``    the three teachers' embeddings, read from chapters 02/03's caches
- ``sweep``       students x train sizes x extra images x teachers (resumable), costs, headline
- ``figures``     the chapter's plots
- ``present``     its tables for the reader (names, units, rounding) and sentence pieces
"""

from . import figures, present
from .evaluate import (clip_image_tower, count_flops, count_params, embed_with_student, for_inference,
                       fidelity, images_per_second, knn_report, model_cost)
from .image_cache import image_store
from .students import (STUDENTS, DimensionMismatchError, Student, TargetProjection,
                       build_student, student_names)
from .sweep import SweepSpec, chosen_cells, cost_table, headline, headline_metrics, run_sweep
from .teachers import TEACHERS, Teachers, teacher_embeddings
from .train import (TrainResult, TrainSettings, cosine_loss, make_optimiser, mean_cosine,
                    train_one_epoch, train_student)

__all__ = [
    "STUDENTS", "Student", "build_student", "student_names", "TargetProjection",
    "DimensionMismatchError", "TrainSettings", "TrainResult", "train_student", "cosine_loss",
    "train_one_epoch", "mean_cosine", "make_optimiser", "image_store",
    "embed_with_student", "for_inference", "fidelity", "knn_report", "count_params", "count_flops",
    "images_per_second", "model_cost", "clip_image_tower", "TEACHERS", "Teachers", "teacher_embeddings",
    "SweepSpec", "run_sweep", "cost_table", "chosen_cells", "headline", "headline_metrics", "figures",
    "present",
]
