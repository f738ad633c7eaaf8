"""A reader's second pane: `make lab`'s JupyterLab, driven in headless Chromium.

`clipdistill lab` is started the way `make lab` starts it (same command, same --profile
and --data-root), in a copy of the project. Chapter 01 is opened from JupyterLab's file
browser and run with its own Run > Run All Cells menu; then the test reads what a reader
would see: every cell ran, no traceback, the smoke banner, and a first output saying which
profile ran and why. The results must land where `clipdistill run` puts them, with the
same data, and JupyterLab must neither reach past 127.0.0.1 nor write into the project
beyond what the chapter itself writes. Screenshots, the book and the notebook side by
side among them, land in ``<smoke book>/_build/screenshots/lab/``; ``side_by_side.png``,
scaled to 1440 px, is the committed ``book/figures/side_by_side.png``.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlparse

import pytest
from conftest import SHARED_DATA, copy_project
from test_browser import browser  # noqa: F401 - the fixture: Debian's chromium, headless

from clipdistill.config import ConfigError
from clipdistill.lab import keep_sources_clean, pick_port, run_lab
from clipdistill.offline.hub_server import reader_env
from clipdistill.session import smoke_banner

CHAPTER = "01_data_prep"  # the cheapest chapter that stands alone (~10 s in smoke)
PANE = {"width": 960, "height": 1000}  # each half of a 1920 px screen
RUN_TIMEOUT_MS = 300_000
# The status bar's "Python 3 (ipykernel) | Idle": a kernel started and not busy (the
# toolbar's indicator also reads idle while there is no kernel yet).
KERNEL_IDLE = """() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]
  .some(e => /\\| Idle$/.test(e.textContent.trim()) && !e.textContent.startsWith('No Kernel'))"""
ALL_RAN = f"""() => ({KERNEL_IDLE})() && [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')]
  .every(c => /\\[\\d+\\]/.test(c.querySelector('.jp-InputPrompt').textContent))"""
SETUP_CELL_ON_TOP = """() => {
  const cell = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')]
    .find(c => c.textContent.includes('cd.setup('));
  const pane = cell.closest('.jp-WindowedPanel-outer') || cell.parentElement;
  pane.scrollTop += cell.getBoundingClientRect().top - pane.getBoundingClientRect().top - 8;
}"""
OUTPUTS = """() => Array.from(document.querySelectorAll('.jp-Notebook .jp-OutputArea-output'))
  .map(o => o.textContent)"""


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def lab(tmp_path):
    """`clipdistill lab` as `make lab` runs it, offline, in a copy of the project: yields
    (its URL, the project, what it printed, the data root); stops it as Ctrl-C does."""
    root = copy_project(tmp_path / "project")
    data = SHARED_DATA if (SHARED_DATA / "PetImages").is_dir() else None
    cmd = [str(Path(sys.executable).with_name("clipdistill")), "lab", "--root", str(root),
           "--profile", "auto", *(["--data-root", str(data)] if data else []),
           "--no-browser", "--port", "0"]
    log = (tmp_path / "lab.log").open("w")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True,
                            # a home of its own: messages show "~/.cache/...", as a
                            # reader's do, and the screenshot carries no test paths
                            env=reader_env(tmp_path / "home" / ".cache" / "huggingface",
                                           HF_HUB_OFFLINE="1", HOME=str(tmp_path / "home")))
    url, printed = None, []
    deadline = time.monotonic() + 150
    while url is None and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        printed.append(line)
        url = next(iter(re.findall(r"http://127\.0\.0\.1:\d+/lab/\S+", line)), None)
    try:
        assert url, f"no URL printed: {''.join(printed)}{(tmp_path / 'lab.log').read_text()}"
        yield url, root, "".join(printed) + "".join(proc.stdout.readline() for _ in range(4)), data
    finally:
        proc.send_signal(signal.SIGINT)  # what Ctrl-C does
        try:
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()
    port = urlparse(url).port
    with socket.socket() as sock:  # the server went with it
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "JupyterLab still answers after Ctrl-C"


@pytest.mark.slow
def test_a_chapter_runs_in_jupyterlab_beside_the_book(browser, lab, smoke_book: Path, repo_root):  # noqa: F811
    url, root, printed, data = lab
    assert "index.html" in printed and "(not built yet" in printed  # the book to open beside it
    before = _files(root)
    page = browser.new_page(viewport=PANE)
    foreign: list[str] = []
    page.on("request", lambda r: foreign.append(r.url) if not r.url.startswith(
        ("http://127.0.0.1", "data:", "blob:")) else None)
    page.goto(url)
    page.dblclick(f'.jp-DirListing-item[title^="Name: {CHAPTER}.ipynb"] .jp-DirListing-itemText')
    page.wait_for_function(KERNEL_IDLE, timeout=120_000, polling=250)

    page.click("#jp-MainMenu .lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-item:has(.lm-Menu-itemLabel:text-is('Run All Cells'))")
    page.wait_for_function(ALL_RAN, timeout=RUN_TIMEOUT_MS, polling=500)

    outputs = page.evaluate(OUTPUTS)
    assert not [o for o in outputs if "Traceback (most recent call last)" in o], "a cell failed"
    first = outputs[0]
    assert first.startswith(f"SMOKE RUN: {smoke_banner('01_data_prep')}"), first[:200]
    assert "Profile smoke: CLIPDISTILL_PROFILE (make lab sets it) asked for auto, which chose " \
           "smoke because HF_HUB_OFFLINE is set" in first, first[:400]

    # The same data, caches and results folder as `clipdistill run` (chapter 06 and the
    # front page read results/<profile>/).
    result = json.loads((root / "results" / "smoke" / f"{CHAPTER}.json").read_text())
    assert result["profile"] == "smoke" and result["smoke"] is True
    assert result["config"]["data_root"] == (str(data.resolve()) if data else "")
    assert result["config"]["work_dir"] == str(root / "work")

    shots = smoke_book / "_build" / "screenshots" / "lab"  # beside, not among, test_browser's
    shots.mkdir(parents=True, exist_ok=True)
    page.keyboard.press("Control+b")  # fold the file browser away: the notebook gets the pane
    for _ in range(2):  # the setup cell and its banner at the top; cells above it get their
        page.evaluate(SETUP_CELL_ON_TOP)  # real heights once on screen, so twice
        page.wait_for_timeout(400)
    page.screenshot(path=str(shots / "lab_chapter.png"))
    _side_by_side(browser, smoke_book, shots / "lab_chapter.png", shots / "side_by_side.png")

    # Saving keeps the source as committed (edits would be kept; outputs, no).
    page.keyboard.press("Control+s")
    page.wait_for_function("() => !document.querySelector('.jp-mod-dirty')", timeout=30_000)
    saved = json.loads((root / "notebooks" / f"{CHAPTER}.ipynb").read_text())
    code = [c for c in saved["cells"] if c["cell_type"] == "code"]
    assert code and all(not c["outputs"] and c["execution_count"] is None for c in code)
    assert saved == json.loads((repo_root / "notebooks" / f"{CHAPTER}.ipynb").read_text())
    page.close()

    assert not foreign, f"JupyterLab reached past 127.0.0.1: {sorted(set(foreign))[:5]}"
    new = {f for f in _files(root) - before
           if not f.startswith(("work/", "results/", "notebooks/.ipynb_checkpoints/"))}
    assert not new, f"JupyterLab wrote into the project: {sorted(new)[:10]}"


def _side_by_side(browser, smoke_book: Path, lab_png: Path, out: Path) -> None:  # noqa: F811
    """The book's chapter page on the left, the running notebook on the right."""
    from PIL import Image

    page = browser.new_page(viewport=PANE)
    page.goto((smoke_book / "_build" / "html" / "book" / "chapters" / f"{CHAPTER}.html").as_uri())
    book_png = out.with_name("book_chapter.png")
    page.screenshot(path=str(book_png))
    page.close()
    left, right = Image.open(book_png), Image.open(lab_png)
    both = Image.new("RGB", (left.width + right.width, max(left.height, right.height)), "white")
    both.paste(left, (0, 0))
    both.paste(right, (left.width, 0))
    both.save(out, optimize=True)


def test_saving_a_chapter_keeps_its_edits_and_drops_its_outputs(tmp_path):
    committed = {"kernelspec": {"name": "python3", "display_name": "Python 3"},
                 "language_info": {"name": "python"}}
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "02_zero_shot_clip.ipynb").write_text(
        json.dumps({"cells": [], "metadata": committed}))
    cell = {"cell_type": "code", "source": "knn_k = 7", "execution_count": 3,
            "outputs": [{"output_type": "stream", "name": "stdout", "text": "7"}]}
    prose = {"cell_type": "markdown", "source": "my note"}
    live = {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)"},
            "language_info": {"name": "python", "version": "3.11.7"}, "mine": 1}
    model = {"type": "notebook", "content": {"cells": [dict(cell), prose], "metadata": live}}
    keep_sources_clean(model, "/notebooks/02_zero_shot_clip.ipynb",
                       contents_manager=SimpleNamespace(root_dir=str(tmp_path)))
    assert model["content"]["cells"] == [{**cell, "outputs": [], "execution_count": None}, prose]
    assert model["content"]["metadata"] == {**committed, "mine": 1}
    elsewhere = {"type": "notebook", "content": {"cells": [dict(cell)]}}
    keep_sources_clean(elsewhere, "book/chapters/02_zero_shot_clip.ipynb")  # not a source
    assert elsewhere["content"]["cells"] == [cell]


def test_a_taken_port_gives_way_to_a_free_one():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        port = pick_port(busy)
    assert port != busy and port > 0


def test_lab_refuses_bad_settings_in_one_sentence(tmp_path):
    with pytest.raises(ConfigError, match="Unknown profile 'smok'.*smoke"):
        run_lab(tmp_path, "smok")
    with pytest.raises(ConfigError, match="--data-root .* is not a folder"):
        run_lab(tmp_path, "auto", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="No notebooks/ in"):
        run_lab(tmp_path, "auto")
