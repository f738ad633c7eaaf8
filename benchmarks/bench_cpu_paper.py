"""The whole CPU ``paper`` run at real shapes, measured like ``cpu_quick`` (see there).

Without a GPU ``paper`` keeps the CPU run's sizes with its own models (ViT-B-16 as the
teacher, five CLIP models compared in chapter 02, two in chapters 04 and 07), so this
says what those models add to the hour. Took 33.6 min on 2 AMD Zen 4 cores in bf16
(2026-12-03).
"""

from __future__ import annotations

from typing import Any

from . import Context
from .bench_cpu_quick import measure

NAME = "cpu_paper"


def bench(ctx: Context) -> dict[str, Any]:
    return measure(ctx, "paper")
