"""Distilled students vs the ViT-B-32 teacher's image tower, images/s, side by side.

Both are timed the way chapter 05 times them (``clipdistill.distill.images_per_second``
on ``clip_image_tower`` for the teacher and on ``for_inference`` students, with the same
CPU kernels and precision: the network alone on pre-made batches, decoding left out
because it costs both the same; both under the teacher's autocast, on a GPU and on a CPU
where the engine runs bf16; the teacher as the engine runs it, its packed copy), at
batch 32 (256 on a GPU): the teacher at its 224 px, each student at ``student_image_size``
(160, the quick/paper default) with a 512-d head (the teacher's width). Teacher and
students alternate round after round; each student's speed-up is the median of its
per-round ratios. GFLOPs per image are shown for context.

Target: at least 20x the teacher, for the students the project distils for speed: those
a CPU run of the ``quick`` profile trains (``HARDWARE_ADJUSTMENTS["quick"]["students"]``:
tiny_cnn, mobilenet_v3_small). The other students of ``config.Config.students`` (resnet18,
vit_tiny) are the ladder's upper rungs, there to find where fidelity saturates: they cost
only 3-8x fewer FLOPs than the teacher, so no implementation can make them 20x faster.
They get rows with their ratio and FLOPs, and no verdict.
"""

from __future__ import annotations

from typing import Any

from . import Context, Row, fmt_rate, median, paired_ratios, side_by_side
from .bench_embed import load_model

NAME = "student"

TARGET = 20.0
BATCH = 32


def bench(ctx: Context) -> dict[str, Any]:
    import torch

    from clipdistill.config import HARDWARE_ADJUSTMENTS, Config
    from clipdistill.distill import build_student, clip_image_tower, count_flops, for_inference, images_per_second

    cfg = Config()
    size, students = cfg.student_image_size, list(cfg.students)
    fast = set(HARDWARE_ADJUSTMENTS["quick"]["students"])
    clip = load_model(ctx, "ViT-B-32")
    teacher = clip_image_tower(clip)
    t_size = int(clip.info.get("image_size") or 224)
    torch.manual_seed(0)
    # Students as deployed: on a CPU with the teacher's oneDNN-packed kernels (for_inference),
    # packed in bf16 where the teacher autocasts to bf16 on this CPU.
    amp = clip.amp_dtype  # bf16/fp16 on a GPU; bf16 on a CPU with bf16 units; else None
    packed_dtype = amp if amp is not None and not ctx.cuda else torch.float32
    nets = {name: for_inference(build_student(name, clip.embed_dim, size), ctx.device,
                                cpu_kernels=clip.cpu_kernels, dtype=packed_dtype) for name in students}
    batch = 256 if ctx.cuda else BATCH
    # The teacher is ~100x slower: fewer batches keep each timing near a few seconds.
    t_batches = 20 if ctx.cuda else (1 if ctx.quick else 3)
    s_batches = 50 if ctx.cuda else (5 if ctx.quick else 20)
    contenders = {"teacher": lambda: images_per_second(teacher, t_size, batch_size=batch, device=ctx.device,
                                                       n_batches=t_batches, warmup=1, autocast_dtype=amp)}
    for name, net in nets.items():
        contenders[name] = (lambda net=net: images_per_second(net, size, batch_size=batch, device=ctx.device,
                                                              n_batches=s_batches, warmup=2, autocast_dtype=amp))
    rates = side_by_side(contenders, 2 if ctx.quick else 3)
    t_flops = count_flops(teacher, t_size) / 1e9
    rows, details = [], {"batch_size": batch, "teacher_image_size": t_size, "student_image_size": size,
                         "autocast": str(amp), "images_per_s": rates, "teacher_gflops": t_flops,
                         "students": {}}
    teacher_ips = median(rates["teacher"])
    for name, net in nets.items():
        ratio = median(paired_ratios(rates[name], rates["teacher"]))
        gflops = count_flops(net, size) / 1e9
        details["students"][name] = {"speedup": ratio, "gflops": gflops,
                                     "params": sum(p.numel() for p in net.parameters())}
        figures = (f"{fmt_rate(median(rates[name]))} vs {fmt_rate(teacher_ips)} img/s; "
                   f"{gflops:.2f} vs {t_flops:.2f} GFLOPs")
        label = f"student {name} ({size}px) vs ViT-B-32 teacher (224px)"
        if name in fast:
            rows.append(Row(label, figures, ratio, f">= {TARGET:.0f}x", ratio >= TARGET))
        else:
            rows.append(Row(label, figures, ratio, "ladder rung: none", None,
                            note=f"{t_flops / gflops:.1f}x fewer FLOPs than the teacher"))
    return {"rows": rows, "details": details}
