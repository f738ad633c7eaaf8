"""The chapter's experiment: students x train sizes x extra images x teachers.

Every (train split, extra, teacher, student) cell is one :func:`train_student` run plus one
evaluation, both cached under ``work_dir/distill/runs/<key>/`` (``done.json`` and
``eval-<hash>.json``): rerunning the sweep after an interruption skips finished cells,
resumes the interrupted one from its last epoch and starts the rest.

Extra images are a *prefix* of one seeded "other" pool (``data.load_other_pool`` is
nested), so the run with 10,000 extra images sees the 1,000 of the run before it plus
9,000 more: the curves differ by the amount of extra data, not by which images were drawn.

The headline (:func:`headline`) picks each student's cell by its cosine to the teacher on
``validate`` (:func:`chosen_cells`), never by its score on ``knn/test``: the best of
several noisy test scores would flatter the student by the luck of the draw.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..io import array_digest, atomic_write_json, stable_hash
from ..progress import nested, progress_bar
from .evaluate import clip_image_tower, embed_with_student, fidelity, for_inference, knn_report, model_cost
from .students import TargetProjection, build_student, student_names
from .teachers import Teachers, check_teachers
from .train import TrainSettings, autocast_dtype, train_student

__all__ = ["run_sweep", "cost_table", "chosen_cells", "headline", "headline_metrics", "SweepSpec",
           "check_sweep", "PREDICTIONS"]

EVAL_VERSION = 2  # 2: the evaluation keeps the student's knn/test predictions

# Per-image columns of the sweep's frame (for the headline's paired interval); too long
# for the results file, which keeps the scores.
PREDICTIONS = ("knn_pred", "teacher_pred", "test_labels")


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """Which cells to run; each list defaults to the cfg field of the same name."""

    students: tuple[str, ...]
    train_splits: tuple[str, ...]
    extra_images: tuple[int, ...]
    teachers: tuple[str, ...]
    student_dim: int

    @classmethod
    def from_config(cls, cfg: Any, **override: Any) -> "SweepSpec":
        unknown = set(override) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            valid = ", ".join(f.name for f in dataclasses.fields(cls))
            raise TypeError(f"Unknown sweep setting(s) {', '.join(sorted(unknown))}. Valid: {valid}.")
        pick = lambda name, field: override.get(name) if override.get(name) is not None else field  # noqa: E731
        return cls(students=tuple(pick("students", cfg.students)),
                   train_splits=tuple(pick("train_splits", cfg.distill_splits)),
                   extra_images=tuple(int(n) for n in pick("extra_images", cfg.extra_images)),
                   teachers=tuple(pick("teachers", cfg.teachers)),
                   student_dim=int(pick("student_dim", cfg.student_dim)))

    @property
    def n_runs(self) -> int:
        return len(self.students) * len(self.train_splits) * len(self.extra_images) * len(self.teachers)

    def overview(self, cfg: Any) -> pd.Series:
        """What the sweep will train, one line per axis: the table chapter 05 opens with."""
        return pd.Series({
            "students": ", ".join(self.students),
            "train sets": ", ".join(self.train_splits),
            "extra unlabelled images": ", ".join(map(str, self.extra_images)),
            "teachers": ", ".join(self.teachers),
            "student output": f"{self.student_dim}-d" if self.student_dim else "teacher's size",
            "runs": self.n_runs, "epochs (max)": cfg.epochs,
            "student image size": cfg.student_image_size,
        }, name=f"profile {cfg.profile}")


    def unanswered(self) -> list[str]:
        """The chapter's questions this sweep cannot answer, and which profile, with a GPU,
        answers each (a CPU run trains on one set, without extra images or every teacher):
        one whole sentence each, to stand alone in a list."""
        from ..config import resolve

        gpu = {p: SweepSpec.from_config(resolve(p, accelerator=True)) for p in ("quick", "paper")}

        def where(axis: str) -> str:
            return " and ".join(f"`{p}` sweeps {', '.join(map(str, getattr(s, axis)))}"
                                for p, s in gpu.items() if len(getattr(s, axis)) > 1)

        out = []
        if len(self.train_splits) < 2:
            out.append(f"This run trained on the {self.train_splits[0]} split only, so "
                       "it cannot say how much more training data helps; "
                       f"{where('train_splits')} (with a GPU).")
        if len(self.extra_images) < 2:
            out.append(f"This run used {self.extra_images[0]:,} extra images only, so it "
                       "cannot say whether extra unlabelled images help; "
                       f"{where('extra_images')} (with a GPU).")
        for t in dict.fromkeys(t for s in gpu.values() for t in s.teachers):
            if t not in self.teachers:
                have = " and ".join(f"`{p}`" for p, s in gpu.items() if t in s.teachers)
                out.append(f"This run did not distil from the `{t}` teacher; {have} do "
                           "(with a GPU).")
        return out


def check_sweep(cfg: Any, spec: SweepSpec) -> None:
    """Every bad name or number fails here, in one sentence, before anything loads."""
    for s in spec.students:
        if s not in student_names():
            raise ValueError(f"Unknown student {s!r}. Valid: {', '.join(student_names())}.")
    check_teachers(spec.teachers, cfg)
    for f in spec.train_splits:
        # knn itself may be one (the CPU run's): distilling is label-free and knn/test,
        # the only images the kNN score and fidelity are measured on, stays unseen.
        parts = cfg.splits.get(f, {})
        if "train" not in parts or "validate" not in parts:
            have = [k for k, v in cfg.splits.items() if "train" in v and "validate" in v]
            raise ValueError(f"Distillation split {f!r} needs train and validate splits in "
                             f"cfg.splits. Valid: {', '.join(have)}.")
    if "knn" not in cfg.splits or not {"train", "test"} <= set(cfg.splits["knn"]):
        raise ValueError("The kNN evaluation needs cfg.splits['knn'] with train and test parts.")
    if any(n < 0 for n in spec.extra_images):
        raise ValueError(f"extra_images must be counts >= 0, got {list(spec.extra_images)}.")
    if spec.student_dim < 0:
        raise ValueError(f"student_dim must be 0 (the teacher's size) or positive, got {spec.student_dim}.")


def _eval_path(run_dir: Path, knn_key: str) -> Path:
    return run_dir / f"eval-{knn_key}.json"


def run_sweep(cfg: Any, *, source: Teachers | None = None, progress: bool = True,
              **override: Any) -> pd.DataFrame:
    """Run (or read back) every cell; one row per cell.

    ``source`` supplies the teachers' embeddings (one CLIP, one describer for the whole
    sweep; built from ``cfg`` when not given). ``override`` may replace ``students``, ``train_splits``, ``extra_images``, ``teachers``
    (a list of names) or ``student_dim`` for this call. Columns: the cell (``split``,
    ``n_train``, ``n_extra``, ``teacher``, ``student``, ``dim``), the student's size
    (``params``, ``gflops``), training (``epochs_run``, ``best_epoch``, ``val_cosine``),
    ``fidelity`` (mean cosine to the teacher on ``knn/test``), the kNN scores on
    ``knn/test`` (``knn_accuracy``, ``knn_f1``, in points) and the teacher's own
    (``teacher_f1`` at full size; ``teacher_dim_f1`` in the student's space), and the
    per-image :data:`PREDICTIONS` on ``knn/test`` (the student's, the full-size teacher's,
    the true labels) for the headline's paired interval.
    """
    import torch

    from .. import data
    from ..session import torch_device

    spec = SweepSpec.from_config(cfg, **override)
    check_sweep(cfg, spec)
    teach = source or Teachers(cfg, progress=progress)
    device = torch_device(cfg)
    knn_tr, knn_te = data.load_split(cfg, "knn", "train"), data.load_split(cfg, "knn", "test")
    splits = {f: (data.load_split(cfg, f, "train"), data.load_split(cfg, f, "validate"))
              for f in spec.train_splits}
    others = data.load_other_pool(cfg, max(spec.extra_images, default=0))

    rows: list[dict[str, Any]] = []
    bar = progress_bar(spec.n_runs, "distillation sweep", enabled=progress, unit="run")
    with nested():  # the teachers' embedding and describing bars clear when done
        for teacher in spec.teachers:
            knn_tr_t, knn_te_t = teach(teacher, knn_tr.paths), teach(teacher, knn_te.paths)
            full_dim = knn_tr_t.shape[1]
            teacher_rep = knn_report(knn_tr_t, knn_tr.labels, knn_te_t, knn_te.labels,
                                     knn_te.classes, cfg.knn_k)
            teacher_f1, teacher_pred = teacher_rep["macro_f1"], teacher_rep["pred"].tolist()
            extra_t = teach(teacher, others) if others else np.zeros((0, full_dim), np.float32)
            for split in spec.train_splits:
                tr, va = splits[split]
                tr_t, va_t = teach(teacher, tr.paths), teach(teacher, va.paths)
                for n_extra in spec.extra_images:
                    extra = list(others[:n_extra])  # fewer only if the pool allowed it (allow_fewer)
                    n_extra = len(extra)
                    paths = list(tr.paths) + extra
                    targets = np.concatenate([tr_t, extra_t[:n_extra]])
                    val_t, ktr, kte = va_t, knn_tr_t, knn_te_t
                    dim = spec.student_dim or full_dim
                    teacher_dim_f1 = teacher_f1
                    if dim != full_dim:
                        # The compact teacher: fitted on this cell's training targets only.
                        proj = TargetProjection.fit(targets, dim)
                        targets, val_t, ktr, kte = proj(targets), proj(va_t), proj(knn_tr_t), proj(knn_te_t)
                        teacher_dim_f1 = knn_report(ktr, knn_tr.labels, kte, knn_te.labels,
                                                    knn_te.classes, cfg.knn_k)["macro_f1"]
                    knn_key = stable_hash(EVAL_VERSION, [str(p) for p in knn_tr.paths + knn_te.paths],
                                          array_digest(ktr), array_digest(kte), cfg.knn_k,
                                          knn_tr.labels, knn_te.labels)
                    for student in spec.students:
                        label = f"{teacher} {split} +{n_extra} {student}"
                        bar.set_postfix_str(label)
                        settings = TrainSettings.from_config(cfg, student, dim)

                        def tick(epoch: int, row: dict, label: str = label,
                                 total: int = settings.epochs) -> None:
                            # One bar for the whole sweep; the epoch shows in its postfix.
                            bar.set_postfix_str(f"{label} epoch {epoch + 1}/{total} "
                                                f"val_cos {row['val_cosine']:.3f}")

                        res = train_student(paths, targets, va.paths, val_t, settings, cfg.work_dir,
                                            device=device, progress=False, on_epoch_end=tick)
                        ev_path = _eval_path(res.run_dir, knn_key)
                        if ev_path.is_file():
                            ev = json.loads(ev_path.read_text())
                        else:
                            amp = autocast_dtype(settings)  # evaluated as it was trained
                            kw = dict(image_size=settings.image_size, work_dir=cfg.work_dir,
                                      batch_size=cfg.distill_batch_size, device=device,
                                      autocast_dtype=amp)
                            deployed = for_inference(res.model, device, cpu_kernels=cfg.clip_cpu_kernels,
                                                     dtype=amp or torch.float32)
                            s_tr = embed_with_student(deployed, knn_tr.paths, **kw)
                            s_te = embed_with_student(deployed, knn_te.paths, **kw)
                            rep = knn_report(s_tr, knn_tr.labels, s_te, knn_te.labels,
                                             knn_te.classes, cfg.knn_k)
                            cost = model_cost(res.model, settings.image_size, measure_speed=False)
                            ev = {"knn_accuracy": rep["accuracy"], "knn_f1": rep["macro_f1"],
                                  "fidelity": fidelity(s_te, kte), "params": cost["params"],
                                  "gflops": cost["gflops"], "report": rep["report"],
                                  "pred": rep["pred"].tolist()}
                            atomic_write_json(ev_path, ev)
                        rows.append({
                            "split": split, "n_train": len(tr), "n_extra": n_extra,
                            "teacher": teacher, "student": student, "dim": dim,
                            "params": ev["params"], "gflops": ev["gflops"],
                            "epochs_run": res.epochs_run, "best_epoch": res.best_epoch,
                            "val_cosine": res.best_val_cosine, "fidelity": ev["fidelity"],
                            "knn_accuracy": ev["knn_accuracy"], "knn_f1": ev["knn_f1"],
                            "teacher_f1": teacher_f1, "teacher_dim_f1": teacher_dim_f1,
                            "run_key": res.key, "knn_pred": ev["pred"],
                            "teacher_pred": teacher_pred,
                            "test_labels": [int(y) for y in knn_te.labels],
                        })
                        bar.update(1)
    bar.close()
    return pd.DataFrame(rows)


def cost_table(cfg: Any, *, source: Teachers | None = None, students: Sequence[str] | None = None,
               student_dim: int | None = None, measure_speed: bool = True) -> pd.DataFrame:
    """Parameters, GFLOPs per image and images/s of each student and of the teachers.

    Students and CLIP's image tower are measured the same way:
    :func:`evaluate.images_per_second`, the network alone on
    ``cfg.distill_batch_size`` random images, ``cfg.distill_speed_batches`` timed batches,
    on ``torch_device(cfg)``, with the teacher's autocast setting and CPU kernels (students
    as deployed: :func:`evaluate.for_inference`). The description teachers' row is the
    VLM alone, from chapter 03's timing file where there is one: measured end to end on
    real images (preprocessing, generation, decoding), a different method, and without
    the CLIP text tower their embedding also needs.
    """
    import torch

    from ..session import torch_device

    teach = source or Teachers(cfg)
    device = torch_device(cfg)
    dim = (student_dim if student_dim is not None else cfg.student_dim) or teach.dim
    clip = teach.clip
    # The teacher embeds under its autocast setting (bf16/fp16 on a GPU): time the
    # students under the same one, or the ratio would flatter the teacher's precision.
    kw = dict(measure_speed=measure_speed, batch_size=cfg.distill_batch_size, device=device,
              n_batches=cfg.distill_speed_batches, autocast_dtype=clip.amp_dtype)
    rows = []
    for name in students if students is not None else cfg.students:
        torch.manual_seed(cfg.seed)
        model = for_inference(build_student(name, dim, cfg.student_image_size), device,
                              cpu_kernels=clip.cpu_kernels,
                              dtype=clip.amp_dtype if device.type == "cpu" and clip.amp_dtype else torch.float32)
        rows.append({"model": name, "role": "student", "image_size": cfg.student_image_size,
                     **model_cost(model, cfg.student_image_size, **kw)})
    size = int(clip.info.get("image_size") or 224)
    cost = model_cost(clip_image_tower(clip), size, **kw)
    cost["params"] = int(clip.info.get("params", {}).get("image", cost["params"]))
    rows.append({"model": f"CLIP {clip.name} image tower", "role": "teacher:image",
                 "image_size": size, **cost})
    for t in cfg.teachers:
        if t != "image":
            ips = teach.images_per_second(t)
            short = str(cfg.vlm_model).rsplit("/", 1)[-1]
            rows.append({"model": f"VLM alone, {t} prompt: {short} (ch. 3)",
                         "role": f"teacher:{t}",
                         "image_size": np.nan, "params": np.nan, "gflops": np.nan,
                         "images_per_s": np.nan if ips is None else ips})
    return pd.DataFrame(rows)


def chosen_cells(results: pd.DataFrame) -> pd.DataFrame:
    """Each (teacher, student, embedding size)'s cell with the highest ``val_cosine``.

    Chosen on ``validate``, images held out from training and from ``knn/test``, so the
    chosen cell's ``knn/test`` score is an honest estimate; the highest of its test
    scores would not be (each train set has its own ``validate`` images, all drawn alike).
    A tie goes to the cell the sweep ran first.
    """
    order = results.sort_values("val_cosine", ascending=False, kind="stable")
    return order.drop_duplicates(["teacher", "student", "dim"])


def _gap_interval(pick: pd.Series) -> tuple[float, float, int]:
    """The paired-bootstrap 95% interval of teacher F1 - student F1 on ``knn/test``
    (NaN where the frame has no per-image predictions)."""
    from ..findings import paired_gap

    if any(c not in pick.index for c in PREDICTIONS):
        return np.nan, np.nan, 0
    gap = paired_gap(pick["test_labels"], pick["teacher_pred"], pick["knn_pred"])
    return gap.low, gap.high, gap.n


def headline(results: pd.DataFrame, costs: pd.DataFrame, tolerance: float = 1.0) -> pd.DataFrame:
    """Per teacher: the smallest student within ``tolerance`` F1 points of its teacher.

    Each student counts with one cell (train set, extra images), the one
    :func:`chosen_cells` picks on ``validate``; "its teacher" is the full-size teacher's
    kNN F1 on the same ``knn/test``. The smallest is by parameters. Where no student gets
    within reach, the closest one is shown with ``within=False``. ``gap_low`` and
    ``gap_high`` bound the gap (teacher minus student, points) with a paired bootstrap
    over the test images. Speed-ups divide the student's images/s by the CLIP image
    tower's (the image teacher's cost) and by the teacher's own pipeline where it was
    timed (for a description teacher, chapter 3's end-to-end VLM timing: a different
    method from the network-alone timing of the rest, so a rough ratio).
    """
    speed = costs.set_index("model")["images_per_s"] if "images_per_s" in costs else pd.Series(dtype=float)
    clip_row = costs[costs["role"] == "teacher:image"]
    clip_ips = float(clip_row["images_per_s"].iloc[0]) if "images_per_s" in costs and len(clip_row) else np.nan
    clip_params = float(clip_row["params"].iloc[0]) if len(clip_row) else np.nan
    rows = []
    for teacher, group in results.groupby("teacher", sort=False):
        cells = chosen_cells(group)
        cells = cells.assign(gap=cells["teacher_f1"] - cells["knn_f1"])
        ok = cells[cells["gap"] <= tolerance]
        pick = ok.sort_values(["params", "gap"]).iloc[0] if len(ok) else cells.sort_values("gap").iloc[0]
        low, high, n_test = _gap_interval(pick)
        own = costs[costs["role"] == f"teacher:{teacher}"]
        own_ips = float(own["images_per_s"].iloc[0]) if "images_per_s" in costs and len(own) else np.nan
        s_ips = float(speed.get(pick["student"], np.nan))
        rows.append({
            "teacher": teacher, "student": pick["student"], "within": bool(len(ok)),
            "dim": int(pick["dim"]), "split": pick["split"], "n_extra": int(pick["n_extra"]),
            "student_f1": pick["knn_f1"], "teacher_f1": pick["teacher_f1"], "gap": pick["gap"],
            "gap_low": low, "gap_high": high, "n_test": n_test,
            "params": int(pick["params"]), "params_vs_clip_image": pick["params"] / clip_params,
            "student_images_per_s": s_ips, "speedup_vs_clip_image": s_ips / clip_ips,
            "speedup_vs_teacher": s_ips / own_ips,
        })
        r = rows[-1]
        # One number for chapter 06: for a description teacher, against its VLM where
        # that was timed, else against CLIP's image tower (the image teacher's cost; a
        # description teacher never runs it, and its own cost was not measured).
        own = teacher != "image" and np.isfinite(r["speedup_vs_teacher"])
        r["speedup"] = r["speedup_vs_teacher"] if own else r["speedup_vs_clip_image"]
        r["speedup_basis"] = "VLM generation (chapter 3 timing)" if own else "CLIP image tower"
    return pd.DataFrame(rows)


def headline_metrics(table: pd.DataFrame) -> dict[str, Any]:
    """The headline as ``{teacher: {column: value}}`` with plain JSON types (NaN -> None)."""
    return json.loads(table.set_index("teacher").to_json(orient="index")) if len(table) else {}
