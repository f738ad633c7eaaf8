"""Run every benchmark, print one table, write it as JSON.

    .venv/bin/python -m benchmarks [--only NAME,...] [--device cpu|cuda] [--data-root DIR]
                                   [--json PATH] [--quick]

Benchmarks (in the order they run): resize, embed, cache, memory, student, vlm, vlm_cpu,
vlm_server, smoke_run, and store, cpu_quick, cpu_quick_fp32 and cpu_paper only when
``--only`` names them (store fills a cache with a million images, 40-60 min; the whole CPU
``quick`` or ``paper`` run at real shapes: up to an hour each; cpu_quick_fp32 is ``quick``
with every CPU precision forced to float32).
``--quick`` shrinks every benchmark to a code-path check of a few minutes and leaves out
``smoke_run`` (it cannot be shrunk: it is the whole smoke book) unless ``--only`` names it.
Figures are ratios of things measured side by side in this run; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Sequence

from . import DEFAULT_DATA, REPO, Context, Row, load_average, machine_info, quiet_env

BENCHMARKS = ("resize", "embed", "cache", "memory", "store", "student", "vlm", "vlm_cpu", "vlm_server",
              "smoke_run", "cpu_quick", "cpu_quick_fp32", "cpu_paper", "imagenetv2_cpu")
SLOW = ("smoke_run",)  # left out by --quick unless asked for by name
BY_NAME_ONLY = ("store", "cpu_quick", "cpu_quick_fp32", "cpu_paper", "imagenetv2_cpu")  # 20-100 min each: only by name


def _module(name: str):
    return importlib.import_module(f"benchmarks.bench_{name}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--data-root", default=str(DEFAULT_DATA),
                    help="folder holding dogs-vs-cats/train and PetImages (default ../shared/data)")
    ap.add_argument("--json", default="", help="where to write the JSON (default "
                    "benchmarks/results/<timestamp>.json)")
    ap.add_argument("--quick", action="store_true", help="small sizes, few rounds; skips smoke_run")
    args = ap.parse_args(argv)
    picked = [n.strip() for n in args.only.split(",") if n.strip()]
    bad = [n for n in picked if n not in BENCHMARKS]
    if bad:
        ap.error(f"unknown benchmark {bad[0]!r}. Valid: {', '.join(BENCHMARKS)}.")
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            ap.error("--device cuda, but torch sees no CUDA GPU on this machine.")
    if not Path(args.data_root).is_dir():
        ap.error(f"--data-root {args.data_root!r} is not a folder.")
    args.picked = picked or [n for n in BENCHMARKS
                             if n not in BY_NAME_ONLY and not (args.quick and n in SLOW)]
    return args


def format_table(rows: list[Row]) -> str:
    head = ("benchmark", "measured", "ratio", "target", "verdict")
    body = [(r.benchmark, r.figures + (f" [{r.note}]" if r.note else ""),
             "" if r.ratio is None else f"{r.ratio:.2f}", r.target, r.verdict) for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    line = lambda cells: " | ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(head), "-+-".join("-" * w for w in widths), *(line(b) for b in body)])


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    quiet_env()
    args = parse_args(argv)
    ctx = Context(device=args.device, data_root=Path(args.data_root), quick=args.quick)
    report: dict[str, Any] = {"machine": machine_info(args.device), "quick": args.quick,
                              "data_root": str(ctx.data_root), "benchmarks": {}}
    rows: list[Row] = []
    for name in args.picked:
        print(f"[benchmarks] {name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        entry: dict[str, Any] = {"load_average_before": load_average()}
        try:
            out = _module(name).bench(ctx)
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the rest
            traceback.print_exc()
            out = {"rows": [Row(name, f"ERROR: {type(exc).__name__}: {exc}"[:200], None, "", False)],
                   "details": {"error": traceback.format_exc()}}
        entry.update(seconds=round(time.perf_counter() - t0, 1), load_average_after=load_average(),
                     rows=[r.to_dict() for r in out["rows"]], details=out.get("details", {}))
        report["benchmarks"][name] = entry
        rows.extend(out["rows"])
        print(f"[benchmarks] {name} done in {entry['seconds']:.0f} s", file=sys.stderr, flush=True)
    report["machine"]["load_average_end"] = load_average()
    table = format_table(rows)
    report["table"] = table
    m = report["machine"]
    print(f"\nclipdistill benchmarks, {m['date']}, {m['host_cpu']} ({m['cpu_count']} cores)"
          f"{', ' + m['gpu'] if m.get('gpu') else ''}, device {args.device}"
          f"{', QUICK' if args.quick else ''}; load average {m['load_average_start']} -> "
          f"{m['load_average_end']}\n")
    print(table)
    path = Path(args.json) if args.json else (
        REPO / "benchmarks" / "results" / f"{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nJSON: {path}")
    return report


if __name__ == "__main__":
    main()
