"""The whole ``smoke`` run, cold: six chapters with papermill plus the strict HTML build.

Runs exactly what the test suite's ``smoke_book`` fixture runs: the project skeleton
(``_config.yml``, ``_toc.yml``, ``book/``, ``notebooks/``) copied to a temporary folder,
so the work folder (prepared images, embedding and description caches) starts empty and
the developer's ``book/`` and ``results/`` are untouched; then
``clipdistill.runner.run_chapters("smoke", ...)`` on the real images of ``--data-root``
and ``clipdistill.book.build_book(strict=True)``.

Target: under 10 minutes in all. The ratio is the time taken over that budget (below
1.00 passes); the seconds of each chapter and of the book build are reported too.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import REPO, Context, Row

NAME = "smoke_run"

BUDGET_S = 600.0


def copy_skeleton(root: Path) -> None:
    """The same copy as tests/conftest.py's ``smoke_book`` fixture."""
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "book", root / "book", ignore=shutil.ignore_patterns("chapters", "_generated"))
    shutil.copytree(REPO / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))


def bench(ctx: Context) -> dict[str, Any]:
    from clipdistill.book import build_book
    from clipdistill.runner import run_chapters

    overrides = {"data_root": str(ctx.data_root)} if (ctx.data_root / "PetImages").is_dir() else {}
    if ctx.cuda:
        overrides["device"] = "cuda"
    with tempfile.TemporaryDirectory(prefix="bench-smoke-") as tmp:
        root = Path(tmp)
        copy_skeleton(root)
        t0 = time.perf_counter()
        summary = run_chapters("smoke", root=root, overrides=overrides, progress=False, log=sys.stderr)
        t_chapters = time.perf_counter() - t0
        build_book(root, strict=True, log=sys.stderr)
        total = time.perf_counter() - t0
    chapters = {c["chapter"]: c["seconds"] for c in summary.chapters}
    book_s = total - t_chapters
    per = ", ".join(f"{k.split('_', 1)[0]} {v:.0f}" for k, v in chapters.items())
    ratio = total / BUDGET_S
    rows = [Row(f"whole smoke run: {len(chapters)} chapters + HTML book ({ctx.device})",
                f"{total:.0f} s (chapter s: {per}; book {book_s:.0f})",
                ratio, f"< {BUDGET_S:.0f} s (ratio < 1)", ratio < 1.0)]
    return {"rows": rows, "details": {"total_s": total, "chapters_s": chapters, "book_s": book_s,
                                      "overrides": overrides, "status": summary.status}}
