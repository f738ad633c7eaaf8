"""The openai backend at scale, against the stand-in server (real HTTP on 127.0.0.1).

A sliding window of requests, each text written the moment it arrives; several servers,
least busy first, one of them killed mid-run; the pixel budget applied by the client
exactly as the local processor applies it.
"""

from __future__ import annotations

import base64
import io
import json
import signal
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from clipdistill import vlm
from clipdistill.offline.vlm_server import StandInVLM, stand_in_text, start_process
from clipdistill.vlm import OpenAIDescriber, describe_images
from clipdistill.vlm.endpoints import EndpointPool
from clipdistill.vlm.window import sliding_window
from conftest import SHARED_DATA
from test_vlm_cache import kill_once_written, lines, written_lines

PROMPT = "describe this image in a sentence."


@pytest.fixture
def images(tmp_path) -> list[Path]:
    rng = np.random.default_rng(7)
    out = []
    for i in range(48):
        p = tmp_path / "imgs" / f"im{i:02d}.jpg"
        p.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)).save(p, quality=90)
        out.append(p)
    return out


def describer(bases, **kw) -> OpenAIDescriber:
    opts = dict(max_new_tokens=16, concurrency=4, timeout_s=10.0, max_retries=3, backoff_s=0.05)
    opts.update(kw)
    return OpenAIDescriber("stand-in-vlm", bases, **opts)


def expected(paths, prompt=PROMPT) -> list[str]:
    return [stand_in_text(p.read_bytes(), prompt) for p in paths]


# -- the window ---------------------------------------------------------------------

def test_the_window_keeps_every_slot_busy_and_yields_as_items_finish():
    running, most, started = [0], [0], set()
    lock = threading.Lock()
    release = {i: threading.Event() for i in range(12)}

    def work(i):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            started.add(i)
        release[i].wait(10)
        with lock:
            running[0] -= 1
        if i == 5:
            raise ValueError("five")
        return i * 10

    results = []
    consumer = threading.Thread(target=lambda: results.extend(sliding_window(work, iter(range(12)), 4)))
    consumer.start()
    finish = (3, 1, 0, 2, 7, 6, 5, 4, 11, 10, 9, 8)
    for n, i in enumerate(finish):
        _wait_for(lambda: i in started)  # a slot freed up: the next item began at once
        release[i].set()
        _wait_for(lambda: len(results) == n + 1)
    consumer.join(10)
    assert [item for item, _, _ in results] == list(finish)  # as they finish, not as given
    for item, result, error in results:
        assert (error is None and result == item * 10) or (item == 5 and isinstance(error, ValueError))
    assert most[0] == 4
    with pytest.raises(ValueError, match="at least one"):
        next(sliding_window(work, [], 0))


def _wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_the_pool_prefers_the_least_busy_and_skips_a_dead_endpoint():
    pool = EndpointPool(["a", "b"], per_endpoint=2, cooldown_s=0.05)
    first, second = pool.acquire(), pool.acquire()
    assert (first.url, second.url) == ("a", "b")  # one each before doubling up
    pool.release(second, reachable=False)  # b refused a connection: down
    assert pool.alive() == 1
    assert pool.acquire().url == "a"  # b is skipped; a takes its second request
    time.sleep(0.06)  # b's cooldown is over
    probe = pool.acquire()  # a is full: b gets one probe
    assert probe.url == "b" and probe.probing
    pool.release(probe, reachable=True)
    assert pool.alive() == 2


# -- describing through servers ---------------------------------------------------------

def test_each_description_lands_in_the_cache_as_it_arrives(images, tmp_path):
    with StandInVLM(mean_s=0.01) as server:
        d = describer(server.base_url)
        cache = tmp_path / "c.jsonl"
        texts = describe_images(d, images, PROMPT, cache_path=cache, progress=False)
        assert texts == expected(images)
        assert server.served == len(images)
        assert len(lines(cache)) == len(images) and not (tmp_path / "c.jsonl.parts").exists()
        assert vlm.throughput(cache, d.key)["images"] == len(images)
        again = describe_images(d, images[::-1], PROMPT, cache_path=cache, progress=False)
        assert again == texts[::-1] and server.served == len(images)  # nothing asked twice


def test_a_killed_client_loses_nothing_it_was_told(images, tmp_path):
    """SIGKILL a describing process mid-run; the rerun asks only for what is missing."""
    with StandInVLM(mean_s=0.15, seed=1) as server:
        cache = tmp_path / "killed.jsonl"
        script = textwrap.dedent(f"""
            from clipdistill.vlm import OpenAIDescriber, describe_images
            d = OpenAIDescriber("stand-in-vlm", {server.base_url!r}, concurrency=2,
                                max_new_tokens=16)
            describe_images(d, {[str(p) for p in images]!r}, {PROMPT!r},
                            cache_path={str(cache)!r}, progress=False)
        """)
        assert kill_once_written(script, cache, lines=6) == -signal.SIGKILL
        kept = len(vlm.load_cache(cache, repair=False))
        assert 6 <= kept < len(images)
        _wait_for(lambda: server.active == 0)  # what the dead client had in flight
        before = server.served
        texts = describe_images(describer(server.base_url), images, PROMPT, cache_path=cache,
                                progress=False)
        assert texts == expected(images)
        assert server.served - before == len(images) - kept
        ids = [r["id"] for r in lines(cache)]
        assert len(ids) == len(set(ids)) == len(images)


def test_killing_one_of_two_servers_mid_run_loses_no_description(images, tmp_path):
    survivor, doomed = start_process(mean_s=0.05, seed=1), start_process(mean_s=0.05, seed=2)
    try:
        d = describer([survivor[1], doomed[1]], concurrency=3)
        cache = tmp_path / "two.jsonl"
        killed = threading.Event()

        def kill_when_a_third_is_done():
            deadline = time.monotonic() + 60
            while written_lines(cache) < len(images) // 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            doomed[0].send_signal(signal.SIGKILL)
            killed.set()

        killer = threading.Thread(target=kill_when_a_third_is_done, daemon=True)
        killer.start()
        texts = describe_images(d, images, PROMPT, cache_path=cache, progress=False)
        killer.join(5)
        assert killed.is_set() and doomed[0].wait(5) == -signal.SIGKILL
        assert texts == expected(images)  # every image, its own description
        ids = [r["id"] for r in lines(cache)]
        assert len(ids) == len(set(ids)) == len(images)  # each exactly once
        down = next(e for e in d.pool.endpoints if e.url.startswith(doomed[1]))
        up = next(e for e in d.pool.endpoints if e.url.startswith(survivor[1]))
        assert down.down and up.served > down.served > 0
    finally:
        for proc, _ in (survivor, doomed):
            proc.kill()
            proc.wait(5)


def test_a_list_of_servers_comes_from_the_config(tmp_path):
    from clipdistill import resolve

    cfg = resolve("quick", {"vlm_backend": "openai", "work_dir": str(tmp_path),
                            "vlm_api_base": "http://a:1/v1,http://b:2/v1/"},
                  accelerator=False, weights_reachable=(True, "test"))
    d = vlm.make_describer(cfg)
    assert d.urls == ["http://a:1/v1/chat/completions", "http://b:2/v1/chat/completions"]
    assert d.concurrency == cfg.vlm_concurrency == 64  # sized for a server
    one = resolve("quick", {"vlm_backend": "openai", "work_dir": str(tmp_path),
                            "vlm_api_base": "http://a:1/v1"},
                  accelerator=False, weights_reachable=(True, "test"))
    assert vlm.make_describer(one).key == d.key  # where the model runs is not in the key
    assert vlm.description_cache_path(one, "generic") == vlm.description_cache_path(cfg, "generic")


# -- the pixel budget -------------------------------------------------------------------

BUDGET = 256 * 28 * 28  # 256 visual tokens


@pytest.fixture(scope="module")
def local_processor(tmp_path_factory):
    """The processor a local transformers run with vlm_max_pixels=BUDGET uses (the tiny
    Qwen2.5-VL checkpoint's, set up by the describer's own code)."""
    from transformers import AutoProcessor

    from clipdistill.offline.tiny_qwen_vl import build_tiny_vlm
    from clipdistill.vlm.hf import apply_image_settings

    processor = AutoProcessor.from_pretrained(build_tiny_vlm(tmp_path_factory.mktemp("tiny")))
    apply_image_settings(processor.image_processor, BUDGET, {}, "tiny Qwen2.5-VL")
    return processor.image_processor


def _sent_image(d: OpenAIDescriber, path: Path) -> tuple[str, bytes, Image.Image]:
    """The image exactly as the request body carries it: MIME header, bytes, picture."""
    body = json.loads(d._payload(path, PROMPT))
    url = body["messages"][0]["content"][0]["image_url"]["url"]
    header, b64 = url.split(",", 1)
    raw = base64.b64decode(b64)
    return header, raw, Image.open(io.BytesIO(raw))


def test_the_client_sends_the_pixels_the_local_processor_would_use(local_processor, tmp_path):
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor

    from clipdistill.vlm.pixels import QWEN_PIXELS

    rng = np.random.default_rng(3)
    pics = {"wide.jpg": rng.integers(0, 255, (700, 1000, 3), dtype=np.uint8),
            "tall.png": rng.integers(0, 255, (1900, 300, 3), dtype=np.uint8),
            "tiny.png": rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)}
    paths = []
    for name, arr in pics.items():
        paths.append(tmp_path / name)
        Image.fromarray(arr).save(paths[-1], quality=92)
    paths += sorted((SHARED_DATA / "PetImages" / "Dog").glob("*.jpg"))[:2]  # real photos, if here
    # The server's processor at the checkpoint's own bounds (what vLLM loads).
    server = Qwen2VLImageProcessor(min_pixels=QWEN_PIXELS["min_pixels"], max_pixels=QWEN_PIXELS["max_pixels"])
    d = describer("http://127.0.0.1:9/v1", max_pixels=BUDGET)
    for path in paths:
        header, raw, sent = _sent_image(d, path)
        local = local_processor(images=[vlm.open_rgb(path)], return_tensors="pt")
        served = server(images=[sent.convert("RGB")], return_tensors="pt")
        assert torch.equal(served["image_grid_thw"], local["image_grid_thw"]), path.name
        assert torch.equal(served["pixel_values"], local["pixel_values"]), path.name
        h, w = (int(x) * 14 for x in local["image_grid_thw"][0, 1:])
        assert h * w <= BUDGET
        resized = sent.size != vlm.open_rgb(path).size
        assert (raw == path.read_bytes()) == (not resized)  # the file itself, unless resized
        assert not resized or header == "data:image/png;base64"  # lossless when resized
    assert any(path.suffix == ".jpg" and _sent_image(d, path)[2].format == "PNG" for path in paths)


def test_the_budget_is_part_of_the_key_and_travels_resized(tmp_path):
    big = tmp_path / "big.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (900, 1200, 3), dtype=np.uint8)).save(big)
    with StandInVLM() as server:
        plain, capped = describer(server.base_url), describer(server.base_url, max_pixels=BUDGET)
        assert "max_pixels" not in json.loads(plain.key)  # older caches keep their keys
        assert json.loads(capped.key)["max_pixels"] == BUDGET
        for d in (plain, capped):
            describe_images(d, [big], PROMPT, cache_path=tmp_path / "c.jsonl", progress=False)
        assert server.sizes[0] == (1200, 900)
        w, h = server.sizes[1]
        assert w * h <= BUDGET and w % 28 == 0 and h % 28 == 0
        assert len(vlm.load_cache(tmp_path / "c.jsonl")) == 2
