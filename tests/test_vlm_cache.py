"""The description cache: resume after a kill, no duplicates, never regenerate.

A fake describer (text = a function of the image bytes and prompt) keeps these fast; the
real tiny Qwen2.5-VL goes through the same driver in test_vlm_tiny.py.
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clipdistill import vlm
from clipdistill.vlm import DescribeError, describe_images, load_cache, throughput

REPO = Path(__file__).resolve().parents[1]


class FakeDescriber:
    """Deterministic: the text depends only on the image bytes, the prompt and ``tag``."""

    def __init__(self, tag: str = "v1", fail_after_batches: int | None = None):
        self.key = json.dumps({"backend": "fake", "tag": tag})
        self.calls: list[list[str]] = []
        self.fail_after = fail_after_batches

    def describe(self, paths, prompt):
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise KeyboardInterrupt("simulated Ctrl-C")
        self.calls.append([Path(p).name for p in paths])
        return [f"{prompt[:8]} {hashlib.sha1(Path(p).read_bytes()).hexdigest()[:10]}" for p in paths]


def make_images(folder: Path, n: int, seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        arr = rng.integers(0, 255, size=(20 + i, 24, 3), dtype=np.uint8)
        p = folder / f"img{i:02d}.png"
        Image.fromarray(arr).save(p)
        paths.append(p)
    return paths


def written_lines(cache: Path) -> int:
    """Lines in a cache file and in every process's part of it."""
    files = [cache, *sorted(cache.parent.glob(cache.name + ".parts/*.jsonl"))]
    return sum(f.read_bytes().count(b"\n") for f in files if f.is_file())


def kill_once_written(script: str, cache: Path, lines: int = 2, timeout: float = 60) -> int:
    """Run ``script`` in a fresh Python, SIGKILL it as soon as ``cache`` (with its parts)
    holds ``lines`` lines, and return its exit code (``-SIGKILL`` when the kill landed
    mid-run)."""
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            if written_lines(cache) >= lines:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    return proc.returncode


@pytest.fixture
def images(tmp_path):
    return make_images(tmp_path / "imgs", 10)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_progress_bar_names_what_it_describes(images, tmp_path, capsys):
    describe_images(FakeDescriber(), images[:2], "describe it", cache_path=tmp_path / "d.jsonl",
                    label="describing generic, test")
    assert "describing generic, test: 100%" in capsys.readouterr().err


def test_describes_in_order_and_never_regenerates(images, tmp_path):
    cache = tmp_path / "d.jsonl"
    fake = FakeDescriber()
    texts = describe_images(fake, images, "describe it", cache_path=cache, batch_size=3, progress=False)
    assert texts == FakeDescriber().describe(images, "describe it")
    assert [len(c) for c in fake.calls] == [3, 3, 3, 1]  # appended batch by batch
    assert len(lines(cache)) == 10

    again = FakeDescriber()
    assert describe_images(again, images[::-1], "describe it", cache_path=cache, progress=False) == texts[::-1]
    assert again.calls == []  # identical settings: nothing generated
    # Another prompt or other settings are other descriptions, in the same file.
    other = FakeDescriber(tag="v2")
    describe_images(other, images[:2], "describe it", cache_path=cache, progress=False)
    describe_images(again, images[:2], "another prompt", cache_path=cache, progress=False)
    assert len(other.calls) == 1 and len(again.calls) == 1
    assert len(lines(cache)) == 14


def test_records_are_keyed_by_content_not_name(images, tmp_path):
    cache = tmp_path / "d.jsonl"
    copy = tmp_path / "renamed.png"
    copy.write_bytes(images[0].read_bytes())
    fake = FakeDescriber()
    texts = describe_images(fake, [images[0], copy, images[1], images[0]], "p", cache_path=cache,
                            progress=False)
    assert texts[0] == texts[1] == texts[3]
    assert sum(len(c) for c in fake.calls) == 2  # identical bytes described once
    recs = lines(cache)
    assert len(recs) == 2
    assert [r["id"] for r in recs] == sorted(r["id"] for r in recs)  # the merged file's order
    first = next(r for r in recs if r["path"] == str(images[0]))
    assert first["image"] == hashlib.sha1(images[0].read_bytes()).hexdigest()
    assert first["describer"] == fake.key and first["prompt"] == "p"
    assert first["id"] == vlm.record_id(first["image"], fake.key, "p")


def test_interrupted_run_resumes_to_the_same_file(images, tmp_path):
    clean = tmp_path / "clean.jsonl"
    describe_images(FakeDescriber(), images, "p", cache_path=clean, batch_size=3, progress=False)

    cache = tmp_path / "resumed.jsonl"
    with pytest.raises(KeyboardInterrupt):
        describe_images(FakeDescriber(fail_after_batches=2), images, "p", cache_path=cache,
                        batch_size=3, progress=False)
    assert len(lines(cache)) == 6  # the two finished batches survived
    rerun = FakeDescriber()
    describe_images(rerun, images, "p", cache_path=cache, batch_size=3, progress=False)
    assert [n for c in rerun.calls for n in c] == [p.name for p in images[6:]]
    assert cache.read_bytes() == clean.read_bytes()


def test_torn_last_line_is_cut_and_regenerated(images, tmp_path):
    clean = tmp_path / "clean.jsonl"
    describe_images(FakeDescriber(), images, "p", cache_path=clean, batch_size=4, progress=False)
    cache = tmp_path / "torn.jsonl"
    raw = clean.read_bytes()
    cut = raw.index(b"\n", raw.index(b"\n") + 1) + 30  # two whole lines, then half a line
    cache.write_bytes(raw[:cut])
    assert len(load_cache(cache)) == 2
    assert cache.read_bytes() == raw[:raw.index(b"\n", raw.index(b"\n") + 1) + 1]  # repaired on disk
    rerun = FakeDescriber()
    describe_images(rerun, images, "p", cache_path=cache, batch_size=4, progress=False)
    assert sum(len(c) for c in rerun.calls) == 8
    assert len(lines(cache)) == 10


def test_duplicated_lines_are_dropped(images, tmp_path):
    cache = tmp_path / "d.jsonl"
    describe_images(FakeDescriber(), images[:3], "p", cache_path=cache, progress=False)
    text = cache.read_text()
    cache.write_text(text + text.splitlines(keepends=True)[1] + "not json\n")
    assert len(load_cache(cache)) == 3
    assert cache.read_text() == text


def test_kill_mid_run_then_rerun_equals_uninterrupted_run(images, tmp_path):
    """A real SIGKILL of a describing process, then a rerun in this one."""
    clean = tmp_path / "clean.jsonl"
    describe_images(FakeDescriber(), images, "p", cache_path=clean, batch_size=2, progress=False)

    cache = tmp_path / "killed.jsonl"
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_vlm_cache import FakeDescriber
        from clipdistill.vlm import describe_images

        class Slow(FakeDescriber):
            def describe(self, paths, prompt):
                time.sleep(0.4)
                return super().describe(paths, prompt)

        paths = {[str(p) for p in images]!r}
        describe_images(Slow(), paths, "p", cache_path={str(cache)!r}, batch_size=2, progress=False)
    """)
    assert kill_once_written(script, cache) == -signal.SIGKILL, "the run ended before the kill"
    done_before = len(load_cache(cache, repair=False))
    assert 2 <= done_before < len(images)

    rerun = FakeDescriber()
    describe_images(rerun, images, "p", cache_path=cache, batch_size=2, progress=False)
    assert sum(len(c) for c in rerun.calls) == len(images) - done_before
    assert cache.read_bytes() == clean.read_bytes()
    ids = [r["id"] for r in lines(cache)]
    assert len(ids) == len(set(ids)) == len(images)


def test_partial_batch_is_kept_when_a_describer_gives_up(images, tmp_path):
    class Flaky(FakeDescriber):
        def describe(self, paths, prompt):
            texts = super().describe(paths, prompt)
            if any(p.name == "img04.png" for p in paths):
                partial = {i: t for i, (p, t) in enumerate(zip(paths, texts)) if p.name != "img04.png"}
                raise DescribeError("img04.png: server said no", partial=partial)
            return texts

    cache = tmp_path / "d.jsonl"
    with pytest.raises(DescribeError, match="img04"):
        describe_images(Flaky(), images, "p", cache_path=cache, batch_size=3, progress=False)
    names = {Path(r["path"]).name for r in lines(cache)}
    assert names == {"img00.png", "img01.png", "img02.png", "img03.png", "img05.png"}
    rerun = FakeDescriber()
    describe_images(rerun, images, "p", cache_path=cache, batch_size=3, progress=False)
    assert rerun.calls[0][0] == "img04.png"
    assert sum(len(c) for c in rerun.calls) == 5


def test_throughput_is_recorded_beside_the_cache(images, tmp_path):
    cache = tmp_path / "d.jsonl"
    fake = FakeDescriber()
    assert throughput(cache) is None
    describe_images(fake, images, "p", cache_path=cache, batch_size=4, progress=False)
    t = throughput(cache, fake.key)
    assert t["images"] == 10 and t["seconds"] >= 0
    describe_images(fake, images, "p", cache_path=cache, progress=False)  # all cached
    assert throughput(cache, fake.key)["images"] == 10
    assert all("seconds" not in r for r in lines(cache))  # timing never enters the cache


def test_bad_input_fails_clearly(images, tmp_path):
    cache = tmp_path / "d.jsonl"
    with pytest.raises(ValueError, match="prompt"):
        describe_images(FakeDescriber(), images, "  ", cache_path=cache)
    with pytest.raises(FileNotFoundError, match="nope.png"):
        describe_images(FakeDescriber(), [tmp_path / "nope.png"], "p", cache_path=cache)
    with pytest.raises(ValueError, match="batch_size"):
        describe_images(FakeDescriber(), images, "p", cache_path=cache, batch_size=0)
    assert not cache.exists()


def test_open_rgb_handles_odd_modes(tmp_path):
    rgba = tmp_path / "a.png"
    Image.new("RGBA", (8, 6), (255, 0, 0, 0)).save(rgba)
    gray = tmp_path / "g.png"
    Image.new("L", (5, 7), 128).save(gray)
    rotated = tmp_path / "r.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    Image.new("RGB", (10, 4)).save(rotated, exif=exif)
    assert vlm.open_rgb(rgba).mode == "RGB"
    assert vlm.open_rgb(gray).size == (5, 7)
    assert vlm.open_rgb(rotated).size == (4, 10)


def test_cache_path_follows_settings(tmp_path):
    from clipdistill import resolve

    cfg = resolve("quick", {"work_dir": str(tmp_path), "vlm_backend": "openai",
                            "vlm_api_base": "http://127.0.0.1:9/v1"}, accelerator=False,
                  weights_reachable=(True, "test"))
    a = vlm.description_cache_path(cfg, "generic")
    assert a.parent == tmp_path / "vlm" / "descriptions" and a.suffix == ".jsonl"
    assert "generic" in a.name
    assert vlm.description_cache_path(cfg, "specific") != a
    cfg.vlm_max_new_tokens += 1
    assert vlm.description_cache_path(cfg, "generic") != a
    with pytest.raises(KeyError, match="Valid: generic, specific"):
        vlm.description_cache_path(cfg, "genric")


# -- several processes, several machines ------------------------------------------------

def test_two_processes_write_their_own_parts_and_merge_into_one_file(images, tmp_path):
    """Two shards at once (as two cluster workers would): each appends only to its own
    part; the merged file equals one process's run, byte for byte."""
    clean = tmp_path / "clean.jsonl"
    describe_images(FakeDescriber(), images, "p", cache_path=clean, progress=False)
    cache = tmp_path / "shared.jsonl"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_vlm_cache import FakeDescriber
        from clipdistill.vlm import describe_images
        paths = {[str(p) for p in images]!r}
        shard = int(sys.argv[1])
        describe_images(FakeDescriber(), paths[shard::2], "p", cache_path={str(cache)!r},
                        batch_size=2, progress=False)
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(i)], cwd=REPO) for i in (0, 1)]
    assert [p.wait(60) for p in procs] == [0, 0]
    assert cache.read_bytes() == clean.read_bytes()
    assert not (tmp_path / "shared.jsonl.parts").exists()  # both parts folded and removed
    rerun = FakeDescriber()
    describe_images(rerun, images, "p", cache_path=cache, progress=False)
    assert rerun.calls == []


def test_another_machines_live_part_is_read_but_kept(images, tmp_path, monkeypatch):
    from clipdistill.vlm import cache as cache_mod

    cache = tmp_path / "d.jsonl"
    describe_images(FakeDescriber(), images[:4], "p", cache_path=cache, progress=False)
    recs = lines(cache)
    part = cache_mod.parts_dir(cache) / "00000000000000000001-elsewhere.example-4242.live.jsonl"
    part.parent.mkdir()
    other = {**recs[0], "prompt": "q", "text": "from elsewhere"}
    other = cache_mod.seal({**other, "id": cache_mod.record_id(other["image"], other["describer"], "q")})
    part.write_text(json.dumps(other) + "\n" + '{"id": "torn')
    assert load_cache(cache)[other["id"]]["text"] == "from elsewhere"  # read at once
    assert part.is_file()  # its writer may still be running on that machine
    assert len(lines(cache)) == 5  # but its whole lines are folded in already
    monkeypatch.setattr(cache_mod, "STALE_S", -1.0)  # silent for longer than STALE_S
    assert len(load_cache(cache)) == 5 and not part.exists()


def test_a_merge_in_progress_elsewhere_is_left_alone(images, tmp_path, monkeypatch):
    from clipdistill.io import exclusive_lock
    from clipdistill.vlm import base
    from clipdistill.vlm import cache as cache_mod

    monkeypatch.setattr(base, "MERGE_WAIT_S", 0.2)  # the end of a run waits this long for it
    cache = tmp_path / "d.jsonl"
    with exclusive_lock(cache.with_name(cache.name + ".lock")) as held:
        assert held
        describe_images(FakeDescriber(), images[:3], "p", cache_path=cache, progress=False)
        assert not cache.exists() and len(list(cache_mod.parts_dir(cache).glob("*.jsonl"))) == 1
        assert len(load_cache(cache)) == 3  # readers see the part meanwhile
    assert len(load_cache(cache)) == 3 and len(lines(cache)) == 3


def test_a_lock_left_by_a_killed_process_is_broken(tmp_path):
    from clipdistill.io import exclusive_lock, writer_id

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    lock = tmp_path / "x.lock"
    lock.write_text(writer_id().rpartition("-")[0] + f"-{proc.pid}")  # this machine, process gone
    with exclusive_lock(lock) as held:
        assert held and lock.read_text() == writer_id()
    assert not lock.exists()
    lock.write_text("some-other-machine-123")  # can't tell: kept until stale_s
    with exclusive_lock(lock, stale_s=3600) as held:
        assert not held
    with exclusive_lock(lock, stale_s=-1) as held:
        assert held
