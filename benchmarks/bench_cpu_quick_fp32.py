"""The whole CPU ``quick`` run at real shapes with every CPU precision forced to float32
(``clip_cpu_dtype``, ``vlm_dtype``, ``distill_cpu_dtype``), measured like ``cpu_quick``
(see there), in ``work/bench-cpu-quick-fp32``. Run both by name, one after the other, for
bf16's gain on the whole run (``--only cpu_quick,cpu_quick_fp32``): on a CPU without bf16
units the two are the same run.
"""

from __future__ import annotations

from typing import Any

from . import Context
from .bench_cpu_quick import measure

NAME = "cpu_quick_fp32"


def bench(ctx: Context) -> dict[str, Any]:
    return measure(ctx, "quick", fp32=True)
