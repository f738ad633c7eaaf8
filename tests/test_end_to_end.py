"""Every real chapter executes in `smoke`, writes labelled results, and the book builds.

This is the CLIP_benchmark habit: the whole pipeline, end to end, on small real data.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from clipdistill.results import CHAPTERS
from clipdistill.runner import RUN_LAST
from clipdistill.session import smoke_banner

pytestmark = pytest.mark.slow


def test_every_chapter_ran_and_labelled_itself(smoke_book: Path):
    run = json.loads((smoke_book / "results" / "smoke" / "run.json").read_text())
    assert run["status"] == "ok"
    assert [c["chapter"] for c in run["chapters"]] == [c for c in CHAPTERS if c not in RUN_LAST] + [
        c for c in CHAPTERS if c in RUN_LAST]
    for chapter in CHAPTERS:
        res = json.loads((smoke_book / "results" / "smoke" / f"{chapter}.json").read_text())
        assert res["smoke"] is True and res["profile"] == "smoke"
        assert res["metrics"], f"{chapter} saved no metrics"
        nb = nbformat.read(smoke_book / "book" / "chapters" / f"{chapter}.ipynb", as_version=4)
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        assert not [o for o in outputs if o.get("output_type") == "error"], chapter
        html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
        assert smoke_banner(chapter) in html, f"{chapter} has no smoke banner"


def test_each_chapter_saved_figures(smoke_book: Path):
    for chapter in CHAPTERS:
        pngs = list((smoke_book / "results" / "smoke").glob(f"{chapter}_*.png"))
        assert pngs, f"{chapter} saved no figure"
        assert all(p.stat().st_size > 1000 for p in pngs)


# Figures a reader would rather look at than read (each chapter saves them by these names).
TEACHING_FIGURES = {
    "02_zero_shot_clip": ["one_image", "contrastive_batch", "knn_by_k"],
    "03_vlm_descriptions": ["pipeline", "pixels_vs_words", "disagreements"],
    "05_distillation": ["pipeline", "speed_vs_f1", "projection_energy"],
}


def test_the_teaching_figures_exist(smoke_book: Path):
    for chapter, names in TEACHING_FIGURES.items():
        for name in names:
            png = smoke_book / "results" / "smoke" / f"{chapter}_{name}.png"
            assert png.is_file() and png.stat().st_size > 1000, png.name


def test_every_chapter_states_what_its_run_found_and_prints_no_stray_values(smoke_book: Path):
    """A computed 'What this run found' whose sentences reach the results file, and no
    return value such as PosixPath('...') left under a cell."""
    for chapter in CHAPTERS:
        nb = nbformat.read(smoke_book / "book" / "chapters" / f"{chapter}.ipynb", as_version=4)
        heads = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"
                 and "## What this run found" in c.source]
        assert heads, f"{chapter} has no 'What this run found' section"
        after = [c for c in nb.cells[heads[-1]:] if c.cell_type == "code"]
        assert after and any(o for c in after for o in c.outputs), chapter
        res = json.loads((smoke_book / "results" / "smoke" / f"{chapter}.json").read_text())
        assert res["metrics"].get("findings"), f"{chapter} saved no findings"
        text = json.dumps([c.outputs for c in nb.cells if c.cell_type == "code"])
        assert "PosixPath(" not in text, f"{chapter} prints a PosixPath"


def test_book_has_every_chapter_page_with_banner(smoke_book: Path):
    html = smoke_book / "_build" / "html"
    front = (html / "book" / "intro.html").read_text()
    assert "SMOKE BUILD" in front
    for chapter in CHAPTERS:
        page = html / "book" / "chapters" / f"{chapter}.html"
        assert page.is_file(), chapter
        assert smoke_banner(chapter) in page.read_text()


def test_the_smoke_vlm_mirrors_the_hardware(smoke_book: Path):
    """Without a GPU smoke runs the tiny SmolVLM (as CPU quick runs SmolVLM-256M), with one
    the tiny Qwen2.5-VL; either way chapter 05 distils from a description teacher."""
    from clipdistill.config import TINY_SMOLVLM, TINY_VLM
    from clipdistill.device import accelerator_available

    expected = TINY_VLM if accelerator_available() else TINY_SMOLVLM
    res = {c: json.loads((smoke_book / "results" / "smoke" / f"{c}.json").read_text())
           for c in ("03_vlm_descriptions", "05_distillation")}
    assert res["03_vlm_descriptions"]["models"]["vlm"] == expected
    assert res["03_vlm_descriptions"]["models"]["describer"]["model"] == expected
    assert res["05_distillation"]["models"]["vlm"] == expected
    assert "generic" in {row["teacher"] for row in res["05_distillation"]["metrics"]["sweep"]}


def test_papermill_parameters_reach_a_real_chapter(smoke_book: Path, tmp_path: Path):
    """`papermill -p` / `-y` as a reader types them: chapter 06 reads a copy of the run."""
    results = tmp_path / "results"
    shutil.copytree(smoke_book / "results", results)
    notebooks = smoke_book / "notebooks"
    subprocess.run([sys.executable, "-m", "papermill", str(notebooks / "06_results.ipynb"),
                    str(tmp_path / "06.ipynb"), "-p", "results_dir", str(results),
                    "-y", "profile: smoke", "--cwd", str(notebooks)],
                   check=True, capture_output=True)
    saved = json.loads((results / "smoke" / "06_results.json").read_text())
    assert saved["config"]["results_dir"] == str(results)
    assert saved["metrics"]["chapters_with_results"] == [c for c in CHAPTERS if c not in RUN_LAST]
