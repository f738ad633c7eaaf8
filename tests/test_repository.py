"""One repository URL behind the Colab links and every notebook's install cell."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from clipdistill.cli import main
from clipdistill.config import ConfigError
from clipdistill.repository import (INSTALL_CELL_ID, PLACEHOLDER_URL, colab_url, disagreements,
                                    install_cell_source, normalise_url, read_repository,
                                    set_repository)

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    shutil.copy(REPO / "_config.yml", tmp_path / "_config.yml")
    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return tmp_path


def test_config_and_every_notebook_agree():
    assert CHAPTERS
    assert disagreements(REPO) == []


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_install_cell_comes_first_hidden_and_plain_python(path: Path):
    code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    cell = code[0]
    assert cell.id == INSTALL_CELL_ID and cell.metadata["tags"] == ["remove-cell"]
    assert "parameters" in code[1].metadata.get("tags", [])  # papermill injects after it
    ast.parse(cell.source)  # no ! or % magics
    assert max(len(line) for line in cell.source.splitlines()) <= 80


def _run_install_cell(source: str, monkeypatch, on_colab: bool) -> list:
    calls: list = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append((a, k)))
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(compile(source, "install-cell", "exec"), {})
    return calls


def test_install_cell_installs_on_colab_only(monkeypatch):
    source = install_cell_source("https://github.com/someone/clipdistill", "v1.2")
    assert _run_install_cell(source, monkeypatch, on_colab=False) == []
    ((argv,), kwargs), = _run_install_cell(source, monkeypatch, on_colab=True)
    assert argv[:4] == [sys.executable, "-m", "pip", "install"] and kwargs == {"check": True}
    assert argv[-1] == "clipdistill @ git+https://github.com/someone/clipdistill@v1.2"


def test_colab_url_opens_the_source_notebook():
    assert colab_url("https://github.com/someone/clipdistill.git/", "main",
                     "notebooks/02_zero_shot_clip.ipynb") == (
        "https://colab.research.google.com/github/someone/clipdistill/blob/main/"
        "notebooks/02_zero_shot_clip.ipynb")


@pytest.mark.parametrize("bad", ["https://gitlab.com/a/b", "github.com/a/b", "https://github.com/a",
                                 "https://github.com/a/b/tree/main"])
def test_bad_urls_fail_in_one_sentence(bad: str):
    with pytest.raises(ConfigError, match="is not https://github.com/OWNER/NAME"):
        normalise_url(bad)


def test_set_repository_rewrites_config_and_notebooks_together(project: Path):
    assert read_repository(project) == (PLACEHOLDER_URL, "main")
    comments = [line for line in (project / "_config.yml").read_text().splitlines()
                if line.lstrip().startswith("#")]
    changed = set_repository(project, "https://github.com/someone/fork.git", "gh-pages-src")
    assert read_repository(project) == ("https://github.com/someone/fork", "gh-pages-src")
    assert project / "_config.yml" in changed and len(changed) == 1 + len(CHAPTERS)
    assert disagreements(project) == []
    text = (project / "_config.yml").read_text()
    assert all(c in text.splitlines() for c in comments)  # nothing else in the file moved
    for path in (project / "notebooks").glob("*.ipynb"):
        text = path.read_text()
        assert "github.com/someone/fork" in text and "@gh-pages-src" in text
        assert PLACEHOLDER_URL not in text
    assert set_repository(project, "https://github.com/someone/fork", "gh-pages-src") == []


def test_a_stale_notebook_is_caught_and_a_new_one_gets_the_cell(project: Path):
    stale = project / "notebooks" / CHAPTERS[0].name
    stale.write_text(stale.read_text().replace(PLACEHOLDER_URL, "https://github.com/old/one"))
    new = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# New"),
                                          nbformat.v4.new_code_cell("profile = 'auto'")])
    nbformat.write(new, project / "notebooks" / "08_new.ipynb")
    problems = disagreements(project)
    assert problems == [f"{stale.name}: the install cell is not for {PLACEHOLDER_URL}@main",
                        "08_new.ipynb: the first code cell is not the Colab install cell"]
    assert main(["set-repository", PLACEHOLDER_URL, "--root", str(project)]) == 0
    assert disagreements(project) == []
    cells = nbformat.read(project / "notebooks" / "08_new.ipynb", as_version=4).cells
    assert [c.get("id") for c in cells][1] == INSTALL_CELL_ID  # before the first code cell


def test_cli_rejects_a_bad_url_in_one_line(project: Path, capsys):
    assert main(["set-repository", "https://example.com/x", "--root", str(project)]) == 2
    err = capsys.readouterr().err.strip()
    assert "is not https://github.com/OWNER/NAME" in err and len(err.splitlines()) == 1
    assert disagreements(project) == []  # nothing was half-written
