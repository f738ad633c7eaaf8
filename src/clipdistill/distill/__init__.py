"""Chapter 05: distilling CLIP (and VLM-description) embeddings into small students.

- ``students``  the student family (tiny CNN -> ViT-Tiny) and the compact 64-d targets
- ``train``     (image, teacher embedding) training with checkpoints, resume, early stop
- ``evaluate``  kNN report, fidelity, parameters, FLOPs, images/s
- ``teachers``  the three teachers' embeddings, read from chapters 02/03's caches
- ``sweep``     students x train sizes x extra images x teachers (resumable), costs, headline
- ``figures``   the chapter's plots
"""

from . import figures
from .evaluate import (clip_image_tower, count_flops, count_params, embed_with_student, for_inference,
                       fidelity, images_per_second, knn_report, model_cost)
from .students import (STUDENTS, DimensionMismatchError, Student, TargetProjection,
                       build_student, student_names)
from .sweep import SweepSpec, cost_table, headline, headline_metrics, run_sweep
from .teachers import TEACHERS, Teachers, teacher_embeddings
from .train import TrainResult, TrainSettings, cosine_loss, train_student

__all__ = [
    "STUDENTS", "Student", "build_student", "student_names", "TargetProjection",
    "DimensionMismatchError", "TrainSettings", "TrainResult", "train_student", "cosine_loss",
    "embed_with_student", "for_inference", "fidelity", "knn_report", "count_params", "count_flops",
    "images_per_second", "model_cost", "clip_image_tower", "TEACHERS", "Teachers", "teacher_embeddings",
    "SweepSpec", "run_sweep", "cost_table", "headline", "headline_metrics", "figures",
]
