"""Embedding over several processes: shards into one cache, resuming after a kill, the
streamed store (parts, sorted segments, old stores read and migrated)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from clipdistill import embed, models
from clipdistill.embed import store
from test_embed import Counting
from tiny_clip import TINY, make_images, register

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


@pytest.fixture(scope="module")
def clip():
    register()
    return models.load_clip(TINY, "openai", random_weights=True)


def shard_script(paths, cache, shard: int, of: int, slow_s: float = 0.0) -> str:
    """A fresh Python that embeds shard ``shard`` of ``of`` into ``cache``."""
    return textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(TESTS)!r})
        from tiny_clip import TINY, register
        from clipdistill import embed, models
        register()
        clip = models.load_clip(TINY, "openai", random_weights=True)
        encode = clip.encode_image
        def slow(*a, **k):
            time.sleep({slow_s})
            return encode(*a, **k)
        clip.encode_image = slow
        paths = {[str(p) for p in paths]!r}
        embed.embed_to_cache(clip, paths, cache_dir={str(cache)!r}, shard=({shard}, {of}),
                             batch_size=4, num_workers=0, progress=False)
    """)


def test_two_shards_in_two_processes_give_the_rows_of_one_process(clip, tmp_path, monkeypatch):
    paths = make_images(tmp_path / "imgs", 30, seed=5)  # 7 whole batches and a half
    one = embed.embed_images(clip, paths, batch_size=4, num_workers=0, progress=False)
    cache = tmp_path / "cache"
    procs = [subprocess.Popen([sys.executable, "-c", shard_script(paths, cache, i, 2)], cwd=REPO)
             for i in (0, 1)]
    assert [p.wait(120) for p in procs] == [0, 0]
    count = Counting(clip, monkeypatch)
    both = embed.embed_images(clip, paths, cache_dir=cache, num_workers=0, progress=False)
    assert count.images == 0  # every row came from the shards
    assert np.array_equal(both, one)  # bit for bit


def test_a_killed_shard_resumes_where_it_stopped(clip, tmp_path, monkeypatch):
    paths = make_images(tmp_path / "imgs", 24, seed=6)
    cache = tmp_path / "cache"
    folder = cache / clip.key / "images"
    proc = subprocess.Popen([sys.executable, "-c", shard_script(paths, cache, 0, 1, slow_s=0.3)],
                            cwd=REPO)
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if folder.is_dir() and len(list(folder.glob("part-*.npz"))) >= 2:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL, "the shard ended before the kill"
    done = len(embed.EmbeddingStore(folder, clip.embed_dim))
    assert 8 <= done < len(paths)
    count = Counting(clip, monkeypatch)
    counts = embed.embed_to_cache(clip, paths, cache_dir=cache, batch_size=4, num_workers=0,
                                  progress=False)
    assert counts == {"images": len(paths), "embedded": len(paths) - done}
    assert count.images == len(paths) - done
    reference = embed.embed_images(clip, paths, batch_size=4, num_workers=0, progress=False)
    assert np.array_equal(embed.embed_images(clip, paths, cache_dir=cache, num_workers=0,
                                             progress=False), reference)


def test_shards_are_every_nth_block_and_cover_the_list():
    from clipdistill.shards import parse_shard, take_shard

    items = list(range(23))
    parts = [list(take_shard(iter(items), i, 3, block=4)) for i in range(3)]
    assert parts[0] == [0, 1, 2, 3, 12, 13, 14, 15] and parts[2] == [8, 9, 10, 11, 20, 21, 22]
    assert sorted(x for p in parts for x in p) == items
    assert parse_shard("2/3") == (2, 3)
    for bad in ("3/3", "1", "a/b", "-1/2", "0/0"):
        with pytest.raises(ValueError, match="shard"):
            parse_shard(bad)


def test_streaming_takes_any_iterable_and_skips_what_is_there(clip, tmp_path, monkeypatch):
    paths = make_images(tmp_path / "imgs", 10, seed=7)
    cache = tmp_path / "cache"
    monkeypatch.setattr(embed.images, "CHUNK", 3)
    assert embed.embed_to_cache(clip, (p for p in paths[:6]), cache_dir=cache, batch_size=2,
                                num_workers=0, progress=False, total=6) == {"images": 6, "embedded": 6}
    count = Counting(clip, monkeypatch)
    assert embed.embed_to_cache(clip, iter(paths), cache_dir=cache, num_workers=0,
                                progress=False) == {"images": 10, "embedded": 4}
    assert count.images == 4


# -- the store ----------------------------------------------------------------------

def digests(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [bytes(rng.integers(0, 256, 20, dtype=np.uint8)).hex() for _ in range(n)]


def test_segments_merge_in_tiers_and_every_row_stays_findable(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "MERGE_ABOVE", 2)
    monkeypatch.setattr(store, "TIER_WIDTH", 2)
    monkeypatch.setattr(store, "MERGE_BUFFER_BYTES", 4 * 8 * 40)  # a few rows per block
    s = store.EmbeddingStore(tmp_path / "images", 8)
    keys = digests(90) + ["00" * 19 + "00", "ff" * 20]  # the extremes, a trailing zero byte
    rng = np.random.default_rng(1)
    rows = {k: rng.standard_normal(8).astype(np.float32) for k in keys}
    for start in range(0, len(keys), 7):
        batch = keys[start:start + 7] + keys[start:start + 2]  # rows written twice, too
        s.put(batch, np.stack([rows[k] for k in batch]))
        s.merge()
    assert any(p.suffix == ".npz" for p in s.folder.iterdir())  # the last batches wait
    s.merge(above=0)
    assert all(p.name.startswith("seg-") for p in s.folder.iterdir())
    assert len(list(s.folder.iterdir())) == 1  # a tier of two folds at once
    out = np.zeros((len(keys) + 1, 8), np.float32)
    asked = keys[::-1] + [digests(1, seed=9)[0]]
    found = s.fetch(asked, out)
    assert found.tolist() == [True] * len(keys) + [False]
    assert np.array_equal(out[:-1], np.stack([rows[k] for k in asked[:-1]]))
    assert sorted(s.keys()) == sorted(keys) and len(s) == len(keys)
    for seg in s.folder.iterdir():
        k = np.load(seg / "keys.npy")
        assert (k[1:] > k[:-1]).all()  # sorted, unique


def test_a_store_from_before_segments_is_read_then_migrated(tmp_path):
    """Old stores: part-<hash>.npz batches and merged-<hash>.npz, keys as hex strings."""
    folder = tmp_path / "images"
    folder.mkdir()
    keys = digests(12, seed=3)
    emb = np.random.default_rng(2).standard_normal((12, 4)).astype(np.float32)
    np.savez(folder / "merged-0123456789abcdef0123.npz", keys=np.asarray(keys[:8]), emb=emb[:8])
    np.savez(folder / "part-00112233445566778899.npz", keys=np.asarray(keys[8:]), emb=emb[8:])
    s = store.EmbeddingStore(folder, 4)
    out = np.zeros((12, 4), np.float32)
    assert s.fetch(keys, out).all() and np.array_equal(out, emb)
    assert s.merge()
    assert [p.name[:4] for p in folder.iterdir()] == ["seg-"]
    out[:] = 0
    assert s.fetch(keys, out).all() and np.array_equal(out, emb)


def test_keys_must_be_digests(tmp_path):
    s = store.EmbeddingStore(tmp_path / "x", 2)
    with pytest.raises(ValueError, match="sha1 hex digests"):
        s.put(["not-a-digest"], np.zeros((1, 2)))
    with pytest.raises(ValueError, match="sha1 hex digests"):
        s.contains(["zz" * 20])
    assert not (tmp_path / "x").exists()
