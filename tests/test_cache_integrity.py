"""Caches that cannot lie: two writers at once, then a file cut short, then a flipped byte.

Two processes describe and embed the same images into the same caches at the same time;
what they leave must equal one process's work. Then the description file and the
embedding store are cut short, and then a byte is flipped in each: every time the damage
is named in one line, the damaged file or lines are set aside (kept for a look, never
read again), and the entries are computed again, equal to the clean run's.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_vlm_cache import FakeDescriber
from tiny_clip import TINY, make_images, register

from clipdistill import embed, models
from clipdistill.vlm import describe_images, load_cache

REPO = Path(__file__).resolve().parents[1]
WORK = """
import sys
sys.path.insert(0, {tests!r})
from test_vlm_cache import FakeDescriber
from tiny_clip import TINY, register
from clipdistill import embed, models
from clipdistill.embed import store
from clipdistill.vlm import describe_images
register()
store.MERGE_ABOVE = 2  # fold parts into segments while the other process writes
paths = {paths!r}
clip = models.load_clip(TINY, "openai", random_weights=True, cpu_kernels="torch")
order = paths if sys.argv[1] == "0" else paths[::-1]  # the same images, met in other orders
describe_images(FakeDescriber(), order, "p", cache_path={cache!r}, batch_size=2, progress=False)
embed.embed_images(clip, order, cache_dir={store!r}, batch_size=2, num_workers=0, progress=False)
"""


@pytest.fixture
def clip():
    register()
    return models.load_clip(TINY, "openai", random_weights=True, cpu_kernels="torch")


def _run(clip, paths, cache, store) -> tuple[list[str], np.ndarray]:
    """One more run, as a new process would make it (nothing remembered of the files)."""
    from clipdistill.embed.store import EmbeddingStore

    EmbeddingStore._memo.clear()
    texts = describe_images(FakeDescriber(), paths, "p", cache_path=cache, batch_size=2,
                            progress=False)
    rows = embed.embed_images(clip, paths, cache_dir=store, batch_size=2, num_workers=0,
                              progress=False)
    return texts, rows


def _said(caught) -> list[str]:
    return [str(w.message) for w in caught if "not used" in str(w.message)]


def _segment(store: Path, clip) -> Path:
    folder = store / clip.key / "images"
    segments = sorted(p for p in folder.iterdir() if p.name.startswith("seg-"))
    assert segments, sorted(p.name for p in folder.iterdir())
    return segments[0]


def test_two_writers_then_a_cut_then_a_flipped_byte(clip, tmp_path, monkeypatch):
    from clipdistill.embed import store as store_mod

    paths = make_images(tmp_path / "imgs", 12)
    clean = _run(clip, paths, tmp_path / "clean.jsonl", tmp_path / "clean-store")

    cache, store = tmp_path / "d.jsonl", tmp_path / "store"
    script = textwrap.dedent(WORK).format(tests=str(Path(__file__).parent), cache=str(cache),
                                          store=str(store), paths=[str(p) for p in paths])
    procs = [subprocess.Popen([sys.executable, "-c", script, str(i)], cwd=REPO) for i in (0, 1)]
    assert [p.wait(120) for p in procs] == [0, 0]
    assert cache.read_bytes() == (tmp_path / "clean.jsonl").read_bytes()
    monkeypatch.setattr(store_mod, "MERGE_ABOVE", 0)  # the rows end up in one segment
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        texts, rows = _run(clip, paths, cache, store)
    assert not _said(caught) and texts == clean[0] and np.array_equal(rows, clean[1])

    # cut short: the description file mid-line, a segment's rows mid-row
    raw = cache.read_bytes()
    cache.write_bytes(raw[:raw.index(b"\n", len(raw) // 2) + 20])
    emb = _segment(store, clip) / "emb.npy"
    emb.write_bytes(emb.read_bytes()[:-70])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        texts, rows = _run(clip, paths, cache, store)
    said = _said(caught)
    assert len(said) == 2 and all("\n" not in s for s in said), said
    assert "cut short" in said[0] and "holds" in said[1] and "header says" in said[1]
    assert texts == clean[0] and np.array_equal(rows, clean[1])
    assert cache.read_bytes() == (tmp_path / "clean.jsonl").read_bytes()
    assert (store / clip.key / "images" / "set-aside").is_dir()

    # a flipped byte: inside a description's text (still valid JSON) and inside a row
    raw = bytearray(cache.read_bytes())
    at = raw.index(b'"text": "p ') + 12
    raw[at] = ord("0") if raw[at] != ord("0") else ord("1")
    cache.write_bytes(bytes(raw))
    assert len(load_cache(cache, repair=False)) == len(paths) - 1  # never used, even unrepaired
    emb = _segment(store, clip) / "emb.npy"
    data = bytearray(emb.read_bytes())
    data[-9] ^= 0x01
    emb.write_bytes(bytes(data))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        texts, rows = _run(clip, paths, cache, store)
    said = _said(caught)
    assert len(said) == 2, said
    assert "checksum mismatch" in said[0] and "fail their checksum" in said[1]
    assert texts == clean[0] and np.array_equal(rows, clean[1])
    aside = (tmp_path / "d.jsonl.set-aside").read_text().splitlines()
    assert len(aside) == 2  # the cut line, the altered one: kept, with their reasons
