"""The machine's limit: how many matrix-multiply FLOP/s this CPU gives, in fp32 and bf16.

An encoder's images/s times its FLOPs per image, divided by this, is the share of the
machine it uses. Measured in the same run as the encoders (rounds alternate with them),
because on a shared or throttled machine the limit moves with the load, too.

The rate is the better of torch's own ``mm`` (MKL in fp32 on x86 wheels, oneDNN in bf16)
and oneDNN's packed linear (the engine's kernel), on an ``n x n`` product: the fastest
this torch build multiplies big matrices, not a vendor's peak figure.
"""

from __future__ import annotations

import time
from typing import Any, Callable

__all__ = ["matmul_gflops", "share", "SIZE", "QUICK_SIZE"]

SIZE = 4096  # the product the first measurement used
QUICK_SIZE = 2048


def matmul_gflops(dtype: Any, n: int = SIZE, reps: int = 3) -> Callable[[], float]:
    """A callable timing ``reps`` n x n products in ``dtype`` (GFLOP/s, best kernel)."""
    import torch

    from clipdistill.embed import onednn

    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(dtype)
    b = torch.randn(n, n, generator=gen).to(dtype)
    kernels = {"torch.mm": lambda: torch.mm(a, b)}
    if onednn.available(dtype):
        packed = onednn._pack(b, dtype)  # (out, in): a @ b.T, the same FLOPs
        kernels["onednn"] = lambda: torch.ops.mkldnn._linear_pointwise(a, packed, None, "none", [], "")
    flops = 2.0 * n ** 3

    @torch.inference_mode()
    def go() -> float:
        best = 0.0
        for run in kernels.values():
            run()  # warm: primitive creation, page faults
            t0 = time.perf_counter()
            for _ in range(reps):
                run()
            best = max(best, flops * reps / (time.perf_counter() - t0) / 1e9)
        return best

    return go


def share(images_per_s: list[float], gflops_per_image: float, limit_gflops: list[float]) -> list[float]:
    """Per round: the fraction of the round's matmul limit an encoder used."""
    return [r * gflops_per_image / lim for r, lim in zip(images_per_s, limit_gflops) if lim > 0]
