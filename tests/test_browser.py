"""Open the built book in headless Chromium, as a reader would, and look at every page.

Uses Debian's `chromium` (installed by `make test` when run as root) through Playwright,
which only drives it: nothing is downloaded. Screenshots land in
``<book>/_build/screenshots/`` for a human to look at.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from clipdistill.results import CHAPTERS
from clipdistill.session import SMOKE_BANNER

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
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
            *[html / "book" / f"{p}.html" for p in ("clip_primer", "running", "profiles", "hardware", "references")]]


def test_every_page_renders_cleanly(browser, smoke_book: Path):
    html = smoke_book / "_build" / "html"
    shots = smoke_book / "_build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})
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
        if (is_chapter or name.endswith("intro.html")) and SMOKE_BANNER not in text:
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
    assert len(list(shots.glob("*.png"))) == len(pages(html))
