"""The transformers describer on the offline tiny Qwen2.5-VL (random weights, gibberish text).

The code path is the one the hub checkpoints take: ``from_pretrained`` on a checkpoint
folder, the processor's chat template, batched greedy generation with left padding.
A CPU smoke run uses the tiny SmolVLM (tests/test_vlm_smolvlm.py); these tests pin the
tiny Qwen2.5-VL, the GPU profiles' family.
"""

from __future__ import annotations

import json
import signal
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clipdistill import resolve, vlm
from clipdistill.offline.tiny_qwen_vl import build_tiny_vlm
from clipdistill.config import TINY_VLM, VLM_PROMPTS
from test_vlm_cache import kill_once_written

QWEN = {"vlm_model": TINY_VLM, "vlm_image_processor": {}}  # the GPU profiles' family

@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("vlm_work")


@pytest.fixture(scope="module")
def cfg(work):
    return resolve("smoke", {"work_dir": str(work), "device": "cpu", "vlm_max_new_tokens": 6,
                             "vlm_batch_size": 2, **QWEN}, accelerator=False)


@pytest.fixture(scope="module")
def describer(cfg):
    d = vlm.make_describer(cfg)
    d.load()
    return d


@pytest.fixture(scope="module")
def images(work) -> list[Path]:
    """Different sizes, so batches need padding (different numbers of image tokens)."""
    rng = np.random.default_rng(0)
    sizes = [(40, 40), (90, 60), (56, 120), (64, 64), (30, 80), (100, 100)]
    out = []
    for i, (w, h) in enumerate(sizes):
        p = work / "imgs" / f"im{i}.png"
        p.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(p)
        out.append(p)
    return out


def test_tiny_model_is_a_real_qwen25vl_checkpoint_folder(cfg, describer):
    from transformers import Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor

    folder = Path(describer.source)
    assert folder.parent == Path(cfg.work_dir) / "vlm" / "models"
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"} <= {
        p.name for p in folder.iterdir()}
    assert isinstance(describer.model, Qwen2_5_VLForConditionalGeneration)
    assert isinstance(describer.processor, Qwen2_5_VLProcessor)
    n_params = sum(p.numel() for p in describer.model.parameters())
    assert n_params < 2_000_000  # tiny: a few MB
    tok = describer.processor.tokenizer
    for special in ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                    "<|image_pad|>", "<|endoftext|>"):
        assert tok.convert_tokens_to_ids(special) != tok.unk_token_id
    config = describer.model.config
    assert config.image_token_id == tok.convert_tokens_to_ids("<|image_pad|>")
    chat = describer.processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}],
        tokenize=False, add_generation_prompt=True)
    assert "<|vision_start|><|image_pad|><|vision_end|>hi<|im_end|>" in chat
    assert chat.endswith("<|im_start|>assistant\n")
    # built once: asking again returns the same folder without rebuilding
    mtime = (folder / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_vlm(folder.parent) == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == mtime


def test_key_names_model_and_generation_settings(cfg, describer):
    key = json.loads(describer.key)
    assert key["model"] == TINY_VLM and key["backend"] == "transformers"
    assert key["max_new_tokens"] == 6 and key["temperature"] == 0.0
    assert key["dtype"] == describer.dtype in ("float32", "bfloat16")  # auto: by the CPU's units
    assert key["weights"].startswith(TINY_VLM)
    longer = vlm.make_describer(resolve("smoke", {"work_dir": cfg.work_dir, "device": "cpu",
                                                  "vlm_max_new_tokens": 7, **QWEN}, accelerator=False))
    assert longer.key != describer.key and longer.model is None  # lazy: nothing loaded yet


def test_batched_greedy_generation_is_deterministic(describer, images):
    prompt = VLM_PROMPTS["specific"]
    first = describer.describe(images[:3], prompt)
    assert len(first) == 3 and all(isinstance(t, str) for t in first)
    assert describer.describe(images[:3], prompt) == first
    gen = describer.generation_config()
    assert gen.do_sample is False and gen.max_new_tokens == 6


def test_interrupted_tiny_run_resumes_to_the_uninterrupted_file(describer, images, tmp_path):
    clean = tmp_path / "clean.jsonl"
    texts = vlm.describe_images(describer, images, "describe this image in a sentence.",
                                cache_path=clean, batch_size=2, progress=False)
    assert len(texts) == len(images)

    class StopAfter:
        def __init__(self, inner, batches):
            self.inner, self.key, self.left = inner, inner.key, batches

        def describe(self, paths, prompt):
            if self.left == 0:
                raise KeyboardInterrupt
            self.left -= 1
            return self.inner.describe(paths, prompt)

    cache = tmp_path / "resumed.jsonl"
    with pytest.raises(KeyboardInterrupt):
        vlm.describe_images(StopAfter(describer, 2), images, "describe this image in a sentence.",
                            cache_path=cache, batch_size=2, progress=False)
    assert len(vlm.load_cache(cache)) == 4
    again = vlm.describe_images(describer, images, "describe this image in a sentence.",
                                cache_path=cache, batch_size=2, progress=False)
    assert again == texts
    assert cache.read_bytes() == clean.read_bytes()


def test_killed_tiny_process_resumes_without_duplicates(cfg, describer, images, tmp_path):
    """SIGKILL a process running the tiny model mid-run; the rerun completes the same file."""
    prompt = cfg.vlm_prompts["generic"]
    clean = tmp_path / "clean.jsonl"
    vlm.describe_images(describer, images, prompt, cache_path=clean, batch_size=2, progress=False)

    cache = tmp_path / "killed.jsonl"
    script = textwrap.dedent(f"""
        import time
        from clipdistill import resolve, vlm
        cfg = resolve("smoke", {{"work_dir": {cfg.work_dir!r}, "device": "cpu",
                                 "vlm_max_new_tokens": 6, "vlm_model": {TINY_VLM!r},
                                 "vlm_image_processor": {{}}}}, accelerator=False)
        inner = vlm.make_describer(cfg)

        class Slow:  # the real describer, slowed so the kill lands mid-run
            key = inner.key
            def load(self):
                inner.load()
            def describe(self, paths, prompt):
                out = inner.describe(paths, prompt)
                time.sleep(1.0)
                return out

        vlm.describe_images(Slow(), {[str(p) for p in images]!r}, {prompt!r},
                            cache_path={str(cache)!r}, batch_size=2, progress=False)
    """)
    assert kill_once_written(script, cache) == -signal.SIGKILL, "the run ended before the kill"
    assert 2 <= len(vlm.load_cache(cache)) < len(images)
    vlm.describe_images(describer, images, prompt, cache_path=cache, batch_size=2, progress=False)
    assert cache.read_bytes() == clean.read_bytes()


def test_describe_split_uses_the_config_cache(cfg, images):
    texts = vlm.describe_split(cfg, images[:2], "generic", progress=False)
    path = vlm.description_cache_path(cfg, "generic")
    assert path.is_file() and len(vlm.load_cache(path)) == 2
    assert vlm.describe_split(cfg, images[:2], "generic", progress=False) == texts
    t = vlm.throughput(path)
    assert t["images"] == 2 and t["images_per_s"] > 0


def test_pixel_cap_and_sampling_are_settings(cfg, images):
    capped = vlm.make_describer(resolve("smoke", {"work_dir": cfg.work_dir, "device": "cpu",
                                                  **QWEN, "vlm_max_pixels": 28 * 28 * 4,
                                                  "vlm_temperature": 0.8, "vlm_max_new_tokens": 4},
                                        accelerator=False))
    capped.load()
    assert capped.processor.image_processor.size["longest_edge"] == 28 * 28 * 4
    key = json.loads(capped.key)
    assert key["max_pixels"] == 28 * 28 * 4 and key["seed"] == cfg.seed
    a = capped.describe(images[:2], "p")
    assert capped.describe(images[:2], "p") == a  # seeded sampling repeats
    assert capped.generation_config().do_sample is True


def test_cached_descriptions_never_generate(cfg, images):
    vlm.describe_split(cfg, images[:1], "specific", progress=False)
    got = vlm.cached_descriptions(cfg, images[:2], "specific")
    assert isinstance(got[0], str) and got[1] is None


def test_cap_per_class_keeps_order():
    paths, labels = vlm.cap_per_class(["a", "b", "c", "d", "e"], [0, 1, 0, 0, 1], 2)
    assert [p.name for p in paths] == ["a", "b", "c", "e"] and labels.tolist() == [0, 1, 0, 1]
    assert len(vlm.cap_per_class(["a", "b"], [0, 0], 0)[0]) == 2


def test_a_bad_image_fails_clearly(describer, images, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(vlm.DescribeError, match="broken.jpg: not an image"):
        vlm.describe_images(describer, [images[0], bad], "p", cache_path=tmp_path / "c.jsonl",
                            progress=False)


def test_the_checkpoints_sampling_defaults_do_not_leak_in(describer, images):
    """Qwen's hub generation_config samples; greedy decoding must ignore it."""
    before = describer.describe(images[:2], "p")
    gc = describer.model.generation_config
    saved = gc.to_dict()
    try:
        gc.do_sample, gc.temperature, gc.top_p, gc.top_k, gc.repetition_penalty = True, 0.1, 0.001, 1, 1.05
        gen = describer.generation_config()
        assert (gen.do_sample, gen.temperature, gen.top_p, gen.repetition_penalty) == (False, 1.0, 1.0, 1.0)
        assert describer.describe(images[:2], "p") == before
    finally:
        for k in ("do_sample", "temperature", "top_p", "top_k", "repetition_penalty"):
            setattr(gc, k, saved.get(k))
