"""Open the built book in headless Chromium, as a reader would, and look at every page.

Uses Debian's `chromium` (installed by `make test` when run as root) through Playwright,
which only drives it: nothing is downloaded. Pages are read at 1280 px, a common laptop
width, where the text column is 688 px (at 1440 it is wider, and hid overflow a reader
at 1280 saw). Screenshots land in ``<book>/_build/screenshots/`` for a human to look at.

Beyond "it renders", each chapter must read cleanly: no progress bar saved at several
states, no code cell wider than the column, at most one table wider than the column,
an Open in Colab link to its source notebook and a working download-notebook link.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections import Counter
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from clipdistill.results import CHAPTERS
from clipdistill.session import SMOKE_BANNER, smoke_banner

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
VIEWPORT = {"width": 1280, "height": 900}
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM:
        if os.environ.get("CI"):
            pytest.fail("CI needs Debian's chromium for the browser check (make test installs it as root)")
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


def pages(html: Path) -> list[Path]:
    return [html / "book" / "intro.html",
            *[html / "book" / "chapters" / f"{c}.html" for c in CHAPTERS],
            *[html / "book" / f"{p}.html" for p in ("clip_primer", "running", "profiles", "hardware", "engineering", "references")]]


def test_every_page_renders_cleanly(browser, smoke_book: Path):
    html = smoke_book / "_build" / "html"
    shots = smoke_book / "_build" / "screenshots"
    shutil.rmtree(shots, ignore_errors=True)  # a rerun's screenshots, never an older run's
    shots.mkdir(parents=True)
    problems: list[str] = []
    page = browser.new_page(viewport=VIEWPORT)
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    for path in pages(html):
        name = path.relative_to(html).as_posix()
        assert path.is_file(), f"missing page {name}"
        response = page.goto(path.as_uri(), wait_until="load")
        assert response is None or response.ok, name
        text = page.inner_text("main") if page.query_selector("main") else page.inner_text("body")
        page.screenshot(path=str(shots / (path.stem + ".png")), full_page=True)

        if "Traceback (most recent call last)" in text or page.query_selector(".output.traceback, .output.error"):
            problems.append(f"{name}: shows a traceback or error output")
        is_chapter = "/chapters/" in name
        banner = smoke_banner(Path(name).stem) if is_chapter else SMOKE_BANNER
        if (is_chapter or name.endswith("intro.html")) and banner not in text:
            problems.append(f"{name}: smoke banner missing")

        images = page.evaluate(
            "Array.from(document.querySelectorAll('main img')).map(i => "
            "({src: i.getAttribute('src'), w: i.naturalWidth, h: i.naturalHeight}))")
        broken = [i["src"] for i in images if not (i["w"] > 10 and i["h"] > 10)]
        if broken:
            problems.append(f"{name}: images not rendered: {broken[:3]}")
        if is_chapter and not images:
            problems.append(f"{name}: no figures")

        for href in page.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"):
            url = urlparse(href)
            if url.scheme != "file":
                continue
            target = Path(unquote(url.path))
            if not target.exists():
                problems.append(f"{name}: broken link {target.relative_to(html) if html in target.parents else target}")
                continue
            if url.fragment and target.suffix == ".html" and f'id="{url.fragment}"' not in target.read_text():
                problems.append(f"{name}: missing anchor #{url.fragment} in {target.name}")
    page.close()
    assert not js_errors, js_errors[:5]
    assert not problems, "\n".join(problems)
    # one screenshot per page (other tests add theirs to the same folder)
    assert all((shots / (p.stem + ".png")).is_file() for p in pages(html))


# -- each chapter as a reader sees it --------------------------------------------------------
# A tqdm-style line: "<desc>: 42%|####      | 27/64 [...]" (ascii or unicode blocks).
BAR = re.compile(r"^\s*(?P<desc>.*?)\s*(?P<pct>\d{1,3})%\|[^|]*\|\s*(?P<n>[\d.]+[kMG]?)"
                 r"(?:/(?P<total>[\d.]+[kMG]?))?")
MAX_BARS_PER_CELL = 5  # more finished bars than this in one cell is a wall, not a status

# Everything measured in one pass over the page (in the browser's own layout).
MEASURE = """() => {
  const column = document.querySelector('article.bd-article') || document.querySelector('main');
  const style = getComputedStyle(column);
  const width = column.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const firstLine = el => (el.innerText || '').split('\\n').find(l => l.trim()) || '';
  const cells = Array.from(document.querySelectorAll('div.cell')).map(cell => ({
    outputs: Array.from(cell.querySelectorAll('.cell_output .output, .cell_output > div'))
      .filter(o => !o.parentElement.closest('.cell_output .output'))
      .map(o => o.textContent),
  }));
  const code = Array.from(document.querySelectorAll('div.cell_input pre')).map(pre => ({
    scroll: pre.scrollWidth, client: pre.clientWidth, line: firstLine(pre)}));
  const tables = Array.from(document.querySelectorAll('article table')).map(t => ({
    width: t.getBoundingClientRect().width,
    head: Array.from(t.querySelectorAll('th')).slice(0, 4).map(th => th.innerText.trim())}));
  const links = Array.from(document.querySelectorAll('a[href]')).map(a => ({
    href: a.href, cls: a.className, text: a.innerText.trim()}));
  return {column: width, cells, code, tables, links};
}"""


def bar_problems(outputs: list[str]) -> list[str]:
    """What is wrong with one cell's saved progress bars (empty when nothing is)."""
    problems, bars = [], []
    for text in outputs:
        lines = [m for m in (BAR.match(s) for s in re.split(r"[\r\n]+", text)) if m]
        bars += lines
        for desc, count in Counter((m["desc"], m["total"]) for m in lines).items():
            if count > 1:
                problems.append(f"bar {desc[0] or '(no description)'!r} saved at {count} states "
                                "in one output")
    if len(bars) > MAX_BARS_PER_CELL:
        problems.append(f"{len(bars)} progress-bar lines in one cell")
    return problems


def test_bar_detection_on_known_outputs():
    """The rule itself, on text like tqdm's: one final line per bar passes, states do not."""
    done = "embedding images: 100%|##########| 64/64 [00:04<00:00, 15.2img/s]"
    assert bar_problems([done, done.replace("images", "texts")]) == []
    states = "\r".join(f"sweep: {p}%|#   | {p}/100 [00:01<00:09]" for p in (10, 40, 100))
    assert bar_problems([states]) == ["bar 'sweep:' saved at 3 states in one output"]
    assert bar_problems([done.replace("images", f"split {i}") for i in range(7)]) == [
        "7 progress-bar lines in one cell"]
    assert bar_problems(["accuracy: 97% of 200 images"]) == []


@pytest.fixture(scope="module")
def chapters_seen(browser, smoke_book: Path) -> dict[str, dict]:
    """Each chapter page, measured once at the viewport's width (and screenshotted)."""
    html = smoke_book / "_build" / "html"
    shots = smoke_book / "_build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport=VIEWPORT)
    seen = {}
    for chapter in CHAPTERS:
        path = html / "book" / "chapters" / f"{chapter}.html"
        page.goto(path.as_uri(), wait_until="load")
        page.screenshot(path=str(shots / f"{chapter}_{VIEWPORT['width']}.png"), full_page=True)
        seen[chapter] = {"path": path, **page.evaluate(MEASURE)}
    page.close()
    return seen


def test_no_progress_bar_is_saved_at_several_states(chapters_seen):
    problems = [f"{chapter}, cell {i}: {p}" for chapter, seen in chapters_seen.items()
                for i, cell in enumerate(seen["cells"]) for p in bar_problems(cell["outputs"])]
    assert not problems, "\n".join(problems)


def test_code_cells_fit_the_column(chapters_seen):
    problems = []
    for chapter, seen in chapters_seen.items():
        wide = [c for c in seen["code"] if c["scroll"] > c["client"] + 1]
        if wide:
            problems.append(f"{chapter}: {len(wide)} of {len(seen['code'])} code cells wider than "
                            f"the column, first: {wide[0]['line'][:60]!r}")
    assert not problems, "\n".join(problems)


def test_at_most_one_wide_table_per_chapter(chapters_seen):
    problems = []
    for chapter, seen in chapters_seen.items():
        wide = [t for t in seen["tables"] if t["width"] > seen["column"] + 1]
        if len(wide) > 1:
            problems.append(f"{chapter}: {len(wide)} tables wider than the {seen['column']:.0f} px "
                            "column: " + "; ".join(
                                f"{t['width']:.0f} px ({', '.join(t['head'])})" for t in wide))
    assert not problems, "\n".join(problems)


def test_every_chapter_opens_in_colab_and_downloads_as_a_notebook(chapters_seen):
    problems = []
    for chapter, seen in chapters_seen.items():
        colab = [a for a in seen["links"] if a["href"].startswith("https://colab.research.google.com/")]
        if not any(a["href"].endswith(f"/notebooks/{chapter}.ipynb") for a in colab):
            problems.append(f"{chapter}: no Open in Colab link to notebooks/{chapter}.ipynb "
                            f"(found {[a['href'] for a in colab]})")
        download = [a for a in seen["links"]  # the theme's name for it varies by version
                    if ("download-notebook-button" in a["cls"] or "download-source-button" in a["cls"])
                    and a["href"].endswith(".ipynb")]
        if not download:
            problems.append(f"{chapter}: no download-notebook link")
            continue
        target = Path(unquote(urlparse(download[0]["href"]).path))
        try:
            nb = json.loads(target.read_text())
        except (OSError, ValueError) as exc:
            problems.append(f"{chapter}: the download link gives no notebook ({exc})")
            continue
        if not nb.get("cells") or target.name != f"{chapter}.ipynb":
            problems.append(f"{chapter}: the download link gives {target.name}, not this chapter")
    assert not problems, "\n".join(problems)
