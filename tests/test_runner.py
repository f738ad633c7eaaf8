"""The papermill runner and the book build, on tiny stand-in chapters in a throwaway project.

These check the machinery (parameters, executed copies, failure reporting, smoke banners,
strict Sphinx build) in seconds; tests/test_end_to_end.py runs the real chapters.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from clipdistill import report
from clipdistill.book import build_book
from clipdistill.cli import main
from clipdistill.config import ConfigError
from clipdistill.repository import colab_url, read_repository
from clipdistill.results import CHAPTERS
from clipdistill.runner import ChapterFailed, find_chapters, run_chapters
from clipdistill.session import SMOKE_BANNER, smoke_banner


def make_chapter(path: Path, body: str = "x = 1 + 1\nprint(x)") -> None:
    name = path.stem
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "auto"\noverrides = {}')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# Chapter {name}"),
        params,
        nbformat.v4.new_code_cell(f"import clipdistill as cd\ncfg = cd.setup({name!r}, profile, overrides)"),
        nbformat.v4.new_code_cell(body),
        nbformat.v4.new_code_cell(f"cd.save_results(cfg, {name!r}, {{'answer': 2}})"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture()
def project(tmp_path: Path, repo_root: Path) -> Path:
    """A copy of the book skeleton with a trivial notebook per chapter."""
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(repo_root / name, tmp_path / name)
    shutil.copytree(repo_root / "book", tmp_path / "book",
                    ignore=shutil.ignore_patterns("chapters", "_generated"))
    (tmp_path / "notebooks").mkdir()
    for chapter in CHAPTERS:
        make_chapter(tmp_path / "notebooks" / f"{chapter}.ipynb")
    return tmp_path


def test_find_chapters_by_number_and_errors(project: Path):
    nbs = project / "notebooks"
    assert [p.stem for p in find_chapters(nbs, ["05", "2"])] == ["02_zero_shot_clip", "05_distillation"]
    assert [p.stem for p in find_chapters(nbs, ["07", "06", "05"])] == [
        "05_distillation", "07_colour", "06_results"]  # chapter 06 gathers, so it runs last
    with pytest.raises(ConfigError, match="Unknown chapter '09'"):
        find_chapters(nbs, ["09"])


def test_run_then_book(project: Path, capfd):
    summary = run_chapters("smoke", root=project, overrides={"data_root": str(project / "nodata")})
    # the kernels' own stderr reaches the console: ipykernel's plain-TCP warning must not
    console = capfd.readouterr().err
    assert "All 7 chapter(s) ran" in console
    assert "without encryption" not in console and "IPKernelApp] WARNING" not in console
    assert summary.status == "ok" and [c["status"] for c in summary.chapters] == ["ok"] * len(CHAPTERS)
    assert summary.chapters[-1]["chapter"] == "06_results"  # it gathers the others, so it runs last
    out = project / "book" / "chapters"
    for chapter in CHAPTERS:
        executed = nbformat.read(out / f"{chapter}.ipynb", as_version=4)
        # papermill injected the run's parameters: its cell is hidden, the chapter's own
        # parameters cell (the knobs the exercises turn) is shown
        tags = [c.metadata.get("tags", []) for c in executed.cells if c.cell_type == "code"]
        assert ["parameters"] in tags
        assert any("injected-parameters" in t and "remove-cell" in t for t in tags)
        html = "".join(o.get("data", {}).get("text/html", "") for c in executed.cells
                       if c.cell_type == "code" for o in c.outputs)
        assert smoke_banner(chapter) in html
        res = json.loads((project / "results" / "smoke" / f"{chapter}.json").read_text())
        assert res["smoke"] is True and res["profile"] == "smoke" and res["metrics"] == {"answer": 2}
    # the sources were not touched
    src = nbformat.read(project / "notebooks" / "01_data_prep.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in src.cells if c.cell_type == "code")
    run = json.loads((project / "results" / "smoke" / "run.json").read_text())
    assert run["status"] == "ok" and len(run["chapters"]) == len(CHAPTERS)
    # Re-running one chapter: run.json is that run alone (what `costs record` measures);
    # chapters.json still has every chapter, each with its own latest run, and so does
    # chapter 06's timing table.
    run_chapters("smoke", root=project, overrides={"data_root": str(project / "nodata")},
                 only=["02"])
    results = project / "results" / "smoke"
    again = json.loads((results / "run.json").read_text())
    assert [c["chapter"] for c in again["chapters"]] == ["02_zero_shot_clip"]
    latest = json.loads((results / "chapters.json").read_text())
    assert sorted(latest) == sorted(CHAPTERS)
    assert latest["02_zero_shot_clip"]["run_started"] == again["started"] >= run["started"]
    assert latest["01_data_prep"]["run_started"] == run["started"]
    timing = report.timing_table(SimpleNamespace(profile_dir=lambda: results))
    assert list(timing.index) == sorted(CHAPTERS) and set(timing["status"]) == {"ok"}
    assert timing.loc["02_zero_shot_clip", "finished"] >= timing.loc["06_results", "finished"]

    index = build_book(project, strict=True)
    assert "book/intro.html" in index.read_text()  # the root page redirects to the front page
    front = (index.parent / "book" / "intro.html").read_text()
    assert "SMOKE BUILD" in front and SMOKE_BANNER in front
    pages = list((project / "_build" / "html" / "book" / "chapters").glob("*.html"))
    assert len(pages) == len(CHAPTERS)
    url, branch = read_repository(project)
    for page in pages:
        text = page.read_text()
        assert smoke_banner(page.stem) in text
        # Open in Colab opens the source notebook, not the executed copy the page shows
        assert f'href="{colab_url(url, branch, f"notebooks/{page.stem}.ipynb")}"' in text


def test_failing_chapter_names_the_cell_and_exits_nonzero(project: Path, capsys):
    make_chapter(project / "notebooks" / "03_vlm_descriptions.ipynb",
                 body="raise ValueError('the VLM is on fire')")
    with pytest.raises(ChapterFailed) as info:
        run_chapters("smoke", root=project, only=["02", "03", "04"])
    err = info.value
    assert err.chapter == "03_vlm_descriptions"
    assert "ValueError: the VLM is on fire" in str(err)
    assert "raise ValueError" in err.cell and "cell 4 (In [4])" in err.cell
    assert err.notebook.exists()  # the partly executed copy is there to inspect
    assert not (project / "book" / "chapters" / "04_prompt_ensembles.ipynb").exists()

    rc = main(["run", "--profile", "smoke", "--only", "03", "--root", str(project)])
    assert rc == 1
    msg = capsys.readouterr().err
    assert "Chapter 03_vlm_descriptions failed at cell 4 (In [4])" in msg and "Partly executed notebook" in msg


def test_cli_rejects_bad_input_in_one_line(project: Path, capsys):
    for argv, needle in [
        (["run", "--profile", "fast"], "Unknown profile 'fast'"),
        (["run", "--profile", "smoke", "--set", "knn=3"], "Unknown parameter 'knn'"),
        (["run", "--profile", "smoke", "--set", "epochs=many"], "Bad value for 'epochs'"),
        (["run", "--profile", "smoke", "--only", "42"], "Unknown chapter '42'"),
    ]:
        assert main([*argv, "--root", str(project)]) == 2
        err = capsys.readouterr().err.strip()
        assert needle in err and len(err.splitlines()) == 1


def test_book_refuses_to_build_unexecuted_chapters(project: Path, capsys):
    assert main(["book", "--root", str(project)]) == 2
    assert "Not executed yet" in capsys.readouterr().err


def test_executed_chapters_lose_empty_outputs_and_papermills_parameters(tmp_path: Path):
    """A cleared inner progress bar leaves an empty display output: the book drops it."""
    from clipdistill.runner import _tidy_executed

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("profile = 'auto'", metadata={"tags": ["parameters"]})
    injected = nbformat.v4.new_code_cell("profile = 'smoke'",
                                         metadata={"tags": ["injected-parameters"]})
    cell = nbformat.v4.new_code_cell("work()")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"text/plain": ""}),
        nbformat.v4.new_output("stream", name="stdout", text="\n"),
        nbformat.v4.new_output("display_data", data={"text/plain": "sweep: 100%|##| 2/2"}),
        nbformat.v4.new_output("display_data", data={"text/plain": "", "image/png": "iVBOR"}),
    ]
    nb.cells = [params, injected, cell]
    path = tmp_path / "01.ipynb"
    nbformat.write(nb, path)
    _tidy_executed(path)
    back = nbformat.read(path, as_version=4)
    # The chapter's own parameters cell lists the knobs its exercises turn: it stays.
    # papermill's injected copy is plumbing the banner says in words: it goes.
    assert "remove-cell" not in back.cells[0].metadata["tags"]
    assert "remove-cell" in back.cells[1].metadata["tags"]
    kept = back.cells[2].outputs
    assert len(kept) == 2 and kept[0]["data"]["text/plain"].startswith("sweep")
