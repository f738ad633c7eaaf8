"""Execute the chapters headlessly with papermill, in order, and say clearly what happened.

The sources in ``notebooks/`` are never written to: executed copies go to
``book/chapters/`` (what the book renders), and a summary of the run (profile, time per
chapter, status) to ``results/<profile>/run.json``. ``run.json`` is this run alone (what
``clipdistill costs record`` measures); ``chapters.json`` keeps each chapter's latest run,
so a later ``--only 02`` does not hide when the other chapters ran (chapter 06's table).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from .config import ConfigError, resolve
from .io import atomic_write_json

__all__ = ["ChapterFailed", "RunSummary", "RUN_LAST", "find_chapters", "run_chapters",
           "latest_chapter_runs"]

# papermill's injected cell repeats, as plumbing, what the banner under it says in words.
# The chapter's own parameters cell stays: it lists the knobs its exercises turn.
HIDDEN_TAGS = ("injected-parameters",)
# Chapter 06 gathers every other chapter's results, so it runs after all of them (07 too);
# the book keeps the numbered order.
RUN_LAST = ("06_results",)
# Each chapter's latest run, beside run.json (this run only): see the module doc.
LATEST_FILE = "chapters.json"


class ChapterFailed(RuntimeError):
    """A chapter raised: carries what a reader needs to find the failing cell."""

    def __init__(self, chapter: str, cell: str, error: str, notebook: Path):
        self.chapter, self.cell, self.error, self.notebook = chapter, cell, error, notebook
        super().__init__(
            f"Chapter {chapter} failed at {cell}: {error}\n"
            f"Partly executed notebook: {notebook}"
        )


@dataclass
class RunSummary:
    profile: str
    smoke: bool
    overrides: dict[str, Any]
    chapters: list[dict[str, Any]] = field(default_factory=list)
    started: str = ""
    status: str = "running"


def find_chapters(notebooks_dir: Path, only: Sequence[str] | None = None) -> list[Path]:
    """The numbered chapter notebooks in run order (:data:`RUN_LAST` last); ``only`` picks
    by number ("02") or name."""
    chapters = sorted(notebooks_dir.glob("[0-9][0-9]_*.ipynb"), key=_run_order)
    if not chapters:
        raise ConfigError(f"No chapter notebooks (NN_name.ipynb) found in {notebooks_dir}.")
    if not only:
        return chapters
    picked = []
    for want in only:
        want = want.strip()
        match = [p for p in chapters if p.stem == want or p.stem.split("_", 1)[0] == want.zfill(2)]
        if not match:
            names = ", ".join(p.stem for p in chapters)
            raise ConfigError(f"Unknown chapter {want!r}. Valid: {names}.")
        picked.extend(m for m in match if m not in picked)
    return sorted(picked, key=_run_order)


def _run_order(path: Path) -> tuple[bool, str]:
    return path.stem in RUN_LAST, path.name


def _tidy_executed(nb_path: Path) -> None:
    """What the book shows of an executed chapter: papermill's injected cell tagged
    ``remove-cell`` (plumbing; the banner says which profile ran), and no empty outputs (a progress bar made with ``leave=False``
    clears its text when done but would leave an empty box behind)."""
    import nbformat

    nb = nbformat.read(nb_path, as_version=4)
    changed = False
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if any(t in tags for t in HIDDEN_TAGS) and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
            changed = True
        kept = [o for o in cell.get("outputs", []) if not _empty_output(o)]
        if len(kept) != len(cell.get("outputs", [])):
            cell.outputs, changed = kept, True
    if changed:
        nbformat.write(nb, nb_path)


@contextlib.contextmanager
def _kernel_env(**defaults: str) -> Iterator[None]:
    """Environment the chapter kernels inherit: ``defaults`` where the user set nothing."""
    added = {k: v for k, v in defaults.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


def _empty_output(output: Any) -> bool:
    if output.get("output_type") == "stream":
        return not "".join(output.get("text", "")).strip()
    if output.get("output_type") == "display_data":
        data = output.get("data", {})
        return set(data) <= {"text/plain"} and not "".join(data.get("text/plain", "")).strip()
    return False


def kernel_config() -> Any:
    """Settings for the kernel manager papermill starts each chapter with.

    ipykernel 7 warns on stderr at every start when its channels are plain TCP ("Kernel
    is running over TCP without encryption"). jupyter_client >= 8.7 can provision CurveZMQ
    keys for kernels whose kernelspec declares ``supported_encryption: curve`` (the
    default python3 kernel does): ``transport_encryption = "auto"`` encrypts them and the
    warning has nothing to say. Without libsodium in pyzmq, IPC sockets (POSIX) do the same.
    """
    import zmq
    from jupyter_client.manager import KernelManager
    from traitlets.config import Config as TraitletsConfig

    if zmq.has("curve") and KernelManager.class_traits().get("transport_encryption"):
        return TraitletsConfig({"KernelManager": {"transport_encryption": "auto"}})
    if sys.platform != "win32":
        return TraitletsConfig({"KernelManager": {"transport": "ipc"}})
    return TraitletsConfig()


def _failure(exc: Exception, chapter: str, out: Path) -> ChapterFailed:
    exec_count = getattr(exc, "exec_count", None)
    cell_index = getattr(exc, "cell_index", None)
    # cell_index counts cells of the executed copy (papermill's injected cell included),
    # which is the notebook the message points the reader to.
    where = f"cell {cell_index}" if cell_index is not None else "a cell"
    if exec_count is not None:
        where += f" (In [{exec_count}])"
    source = (getattr(exc, "source", "") or "").strip().splitlines()
    if source:
        where += f" `{source[0][:80]}`"
    ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
    return ChapterFailed(chapter, where, f"{ename}: {evalue}".strip(), out)


def _keep_real_chapters(cfg: Any, chapters: Sequence[Path], output_dir: Path) -> None:
    """``auto`` fell back to smoke: refuse to overwrite chapters a real profile executed."""
    real: dict[str, str] = {}
    for src in chapters:
        out = output_dir / src.name
        try:
            executed = executed_parameters(out)["parameters"].get("profile") if out.is_file() else None
        except (OSError, ValueError):
            continue  # unreadable: nothing worth keeping
        if executed and executed != "smoke":
            real[src.stem] = executed
    if real:
        why = cfg.profile_note.split(": ", 1)[-1]
        raise ConfigError(
            f"{output_dir} holds {len(real)} chapter(s) executed with the "
            f"{', '.join(sorted(set(real.values())))} profile ({', '.join(real)}), and profile "
            f"'auto' fell back to 'smoke' (random weights) because {why}: not replacing them; "
            "run with --profile smoke to overwrite them on purpose."
        )


def run_chapters(
    profile: str = "auto",
    *,
    only: Sequence[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    root: Path | str = ".",
    notebooks_dir: Path | str | None = None,
    output_dir: Path | str | None = None,
    progress: bool | None = None,
    log: Any = None,
) -> RunSummary:
    """Run the chapters with papermill; raise ChapterFailed on the first failing chapter.

    The profile and overrides are validated here first (a typo costs a second, not a
    kernel start), and ``auto`` is resolved once so every chapter of a run agrees.
    """
    log = log or sys.stderr
    root = Path(root).resolve()
    notebooks_dir = Path(notebooks_dir) if notebooks_dir else root / "notebooks"
    output_dir = Path(output_dir) if output_dir else root / "book" / "chapters"
    overrides = dict(overrides or {})
    if overrides.get("data_root"):
        overrides["data_root"] = str(Path(overrides["data_root"]).expanduser().resolve())
    cfg = resolve(profile, overrides)  # validates; raises ConfigError
    chapters = find_chapters(notebooks_dir, only)
    if profile == "auto" and cfg.smoke:
        _keep_real_chapters(cfg, chapters, output_dir)
    if not cfg.smoke and any(not c.stem.startswith(("01", "06")) for c in chapters):
        from . import hub  # before chapter 01's downloads: a silent hub fails the run in seconds

        for weights in hub.profile_weights(cfg):
            hub.require(weights)
    import papermill as pm  # after validation: a typo should not wait for this import

    if progress is None:
        progress = sys.stderr.isatty()

    summary = RunSummary(profile=cfg.profile, smoke=cfg.smoke, overrides=overrides,
                         started=_now())
    results_dir = Path(cfg.results_dir)
    if not results_dir.is_absolute():
        results_dir = root / results_dir
    summary_path = results_dir / cfg.profile / "run.json"
    latest_path = summary_path.with_name(LATEST_FILE)
    output_dir.mkdir(parents=True, exist_ok=True)
    label = f"{cfg.profile} (SMOKE: random weights, numbers are not results)" if cfg.smoke else cfg.profile
    print(f"clipdistill run: profile {label}; {len(chapters)} chapter(s)", file=log)
    if cfg.profile_note:
        print(f"  {cfg.profile_note}", file=log)

    def save_summary() -> None:
        atomic_write_json(summary_path, summary.__dict__)
        latest = _read_latest(latest_path)
        for e in summary.chapters:
            latest[e["chapter"]] = {**e, "run_started": summary.started}
        atomic_write_json(latest_path, latest)

    for i, src in enumerate(chapters, 1):
        out = output_dir / src.name
        print(f"[{i}/{len(chapters)}] {src.stem} ...", file=log, flush=True)
        start = time.perf_counter()
        entry: dict[str, Any] = {"chapter": src.stem, "status": "running"}
        summary.chapters.append(entry)
        try:
            with _kernel_env(HF_HUB_DISABLE_PROGRESS_BARS="1"):  # download/loading bars: a line per state
                pm.execute_notebook(
                    str(src), str(out),
                    parameters={"profile": cfg.profile, "overrides": overrides},
                    cwd=str(notebooks_dir),
                    progress_bar=progress,
                    request_save_on_cell_execute=True,
                    log_output=False,
                    config=kernel_config(),
                )
        except Exception as exc:  # papermill wraps kernel errors in PapermillExecutionError
            entry.update(status="failed", seconds=round(time.perf_counter() - start, 1),
                         finished=_now())
            summary.status = "failed"
            failure = _failure(exc, src.stem, out)
            entry["error"] = str(failure)
            save_summary()
            if out.exists():
                _tidy_executed(out)
            raise failure from exc
        _tidy_executed(out)
        entry.update(status="ok", seconds=round(time.perf_counter() - start, 1), finished=_now())
        print(f"      done in {entry['seconds']:.1f} s -> {out}", file=log, flush=True)
        save_summary()
    summary.status = "ok"
    save_summary()
    total = sum(c["seconds"] for c in summary.chapters)
    print(f"All {len(chapters)} chapter(s) ran in {total:.0f} s. Build the book: clipdistill book",
          file=log)
    return summary


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _read_latest(path: Path) -> dict[str, Any]:
    """``chapters.json``: {chapter: its latest entry}; empty when missing or unreadable."""
    try:
        latest = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return latest if isinstance(latest, dict) else {}


def latest_chapter_runs(profile_dir: Path) -> list[dict[str, Any]]:
    """Each chapter's latest entry under ``clipdistill run`` (``chapters.json``; for results
    written before it existed, ``run.json``'s); ``[]`` when none was run that way."""
    profile_dir = Path(profile_dir)
    latest = _read_latest(profile_dir / LATEST_FILE)
    if latest:
        return list(latest.values())
    run = _read_latest(profile_dir / "run.json")
    return list(run.get("chapters", []))


def executed_parameters(nb_path: Path) -> dict[str, Any]:
    """The profile/overrides papermill recorded in an executed chapter (for the front page)."""
    meta = json.loads(Path(nb_path).read_text()).get("metadata", {}).get("papermill", {})
    return {"parameters": meta.get("parameters", {}), "duration": meta.get("duration"),
            "end_time": meta.get("end_time"), "exception": meta.get("exception")}
