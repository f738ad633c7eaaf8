"""The describer on the offline tiny SmolVLM (Idefics3 architecture), the CPU profiles' family.

Same code path as the hub's SmolVLM-256M-Instruct: ``from_pretrained`` on a checkpoint
folder, the processor's chat template placing SmolVLM's image tokens, batched greedy
generation, the JSON Lines cache. Random weights: the text is gibberish.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clipdistill import resolve, vlm
from clipdistill.config import TINY_SMOLVLM, TINY_VLM
from clipdistill.offline import build_tiny_smolvlm
from clipdistill.offline.tiny_smolvlm import TINY_RECIPE


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("smolvlm_work")


def _cfg(work: Path, **over):
    """A CPU smoke config: the tiny SmolVLM, one tile per image (no accelerator)."""
    return resolve("smoke", {"work_dir": str(work), "device": "cpu", "vlm_max_new_tokens": 5,
                             "vlm_batch_size": 3, **over}, accelerator=False)


@pytest.fixture(scope="module")
def describer(work):
    d = vlm.make_describer(_cfg(work))
    d.load()
    return d


@pytest.fixture(scope="module")
def images(work) -> list[Path]:
    """640x640 like chapter 01's copies, plus odd sizes (the processor squares each tile)."""
    rng = np.random.default_rng(1)
    out = []
    for i, (w, h) in enumerate([(640, 640), (640, 640), (90, 60), (56, 120), (640, 640)]):
        p = work / "imgs" / f"im{i}.jpg"
        p.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(p)
        out.append(p)
    return out


def test_cpu_smoke_uses_a_tiny_smolvlm_checkpoint_folder(work, describer):
    from transformers import Idefics3ForConditionalGeneration, Idefics3Processor

    folder = Path(describer.source)
    assert folder.parent == work / "vlm" / "models" and folder.name.startswith(TINY_SMOLVLM)
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja",
            "processor_config.json"} <= {p.name for p in folder.iterdir()}
    assert isinstance(describer.model, Idefics3ForConditionalGeneration)
    assert isinstance(describer.processor, Idefics3Processor)
    tok = describer.processor.tokenizer
    for special in ("<image>", "<fake_token_around_image>", "<global-img>", "<end_of_utterance>",
                    "<|im_start|>", "<row_1_col_1>"):
        assert tok.convert_tokens_to_ids(special) != tok.unk_token_id, special
    assert describer.model.config.image_token_id == tok.convert_tokens_to_ids("<image>")
    chat = describer.processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}],
        tokenize=False, add_generation_prompt=True)
    assert chat == "<|im_start|>User:<image>hi<end_of_utterance>\nAssistant:"  # SmolVLM's template


def test_tiny_smolvlm_is_no_bigger_than_the_tiny_qwen(work, describer):
    from clipdistill.offline.tiny_qwen_vl import build_tiny_vlm

    qwen = build_tiny_vlm(work / "qwen")
    ours = Path(describer.source)
    assert (ours / "model.safetensors").stat().st_size <= (qwen / "model.safetensors").stat().st_size
    assert sum(p.numel() for p in describer.model.parameters()) < 400_000
    mtime = (ours / "model.safetensors").stat().st_mtime_ns  # built once
    assert build_tiny_smolvlm(ours.parent) == ours
    assert (ours / "model.safetensors").stat().st_mtime_ns == mtime


def _image_tokens(describer, path: Path) -> tuple[int, int]:
    """(tiles fed to the vision tower, <image> tokens in the prompt) for one image."""
    chat = describer.processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "p"}]}],
        tokenize=False, add_generation_prompt=True)
    inputs = describer.processor(text=[chat], images=[[vlm.open_rgb(path)]], return_tensors="pt")
    image_id = describer.model.config.image_token_id
    return inputs["pixel_values"].shape[1], int((inputs["input_ids"] == image_id).sum())


def test_splitting_off_means_one_tile_per_image(work, describer, images):
    per_tile = TINY_RECIPE["image_seq_len"]
    assert _image_tokens(describer, images[0]) == (1, per_tile)
    split = vlm.make_describer(_cfg(work, vlm_image_processor={}))  # the hub's default
    split.load()
    # 640 px -> resized to the 4-tile side and cut into 4x4 tiles, plus the whole image.
    assert _image_tokens(split, images[0]) == (17, 17 * per_tile)


def test_key_records_the_image_processor_overrides(work, describer):
    key = json.loads(describer.key)
    assert key["model"] == TINY_SMOLVLM and key["image_processor"] == {"do_image_splitting": False}
    assert key["weights"].startswith(TINY_SMOLVLM) and key["max_new_tokens"] == 5
    plain = vlm.make_describer(_cfg(work, vlm_image_processor={}))
    assert "image_processor" not in json.loads(plain.key)  # older caches keep their keys
    assert plain.key != describer.key
    assert vlm.description_cache_path(_cfg(work), "generic") != vlm.description_cache_path(
        _cfg(work, vlm_image_processor={}), "generic")


def test_batched_greedy_generation_matches_one_image_at_a_time(describer, images):
    prompt = "describe this image in a sentence."
    batch = describer.describe(images[:3], prompt)
    assert len(batch) == 3 and all(isinstance(t, str) for t in batch)
    assert describer.describe(images[:3], prompt) == batch  # greedy: reproducible
    assert [describer.describe([p], prompt)[0] for p in images[:3]] == batch  # rows stay in order


def test_describe_split_caches_and_never_regenerates(work, describer, images, monkeypatch):
    cfg = _cfg(work)
    texts = vlm.describe_split(cfg, images, "generic", describer=describer, progress=False)
    path = vlm.description_cache_path(cfg, "generic", describer)
    assert len(vlm.load_cache(path)) == len(images)
    assert vlm.throughput(path, describer.key)["images"] == len(images)

    def boom(*args, **kwargs):
        raise AssertionError("a cached description was generated again")

    monkeypatch.setattr(describer, "describe", boom)
    assert vlm.describe_split(cfg, images, "generic", describer=describer, progress=False) == texts


def test_settings_a_processor_lacks_fail_in_one_sentence(work, images):
    qwen = vlm.make_describer(_cfg(work, vlm_model=TINY_VLM))  # CPU adjustments kept the override
    with pytest.raises(ValueError, match=r"'do_image_splitting'.*Qwen2VLImageProcessor.*vlm_image_processor=\{\}"):
        qwen.load()
    capped = vlm.make_describer(_cfg(work, vlm_max_pixels=10_000))
    with pytest.raises(ValueError, match="vlm_max_pixels.*Idefics3ImageProcessor"):
        capped.load()


def test_cpu_generation_runs_a_packed_copy_and_the_model_stays_stock(work, describer, images):
    """On a CPU in float32, generate() runs a weight-sharing copy with oneDNN-packed linear
    layers (as the CLIP engine does); ``describer.model`` keeps the framework's modules, and
    the packed copy says what the stock model says."""
    from clipdistill.embed import onednn

    if not onednn.available():
        pytest.skip("this torch build has no oneDNN linear ops")
    assert describer.kernels == "onednn" and describer.settings["cpu_kernels"] == "onednn"
    packed = [m for m in describer._generator.modules() if isinstance(m, onednn.PackedLinear)]
    assert packed and not any(isinstance(m, onednn.PackedLinear) for m in describer.model.modules())
    assert describer._generator.lm_head.weight is not describer.model.lm_head.weight
    embed = describer.model.get_input_embeddings().weight
    assert describer._generator.get_input_embeddings().weight is embed  # shared, not copied
    stock = vlm.make_describer(_cfg(work, vlm_cpu_kernels="torch"))
    assert stock.kernels == "torch" and "cpu_kernels" not in stock.settings
    prompt = "describe this image in a sentence."
    assert stock.describe(images[:3], prompt) == describer.describe(images[:3], prompt)


def test_a_second_prompt_reuses_the_image_features_and_says_the_same(work, images, monkeypatch):
    """Chapter 03 describes each image under two prompts: the vision tower runs once per
    image, and the text is what a describer encoding the pixels again would write."""
    shared = vlm.make_describer(_cfg(work))
    shared.load()
    if shared.features._encoder(shared._generator) is None:
        pytest.skip("this transformers cannot take precomputed image features (mm_encoder_outputs)")
    calls = []
    encoder = shared._generator.base_model.get_image_features

    @functools.wraps(encoder)  # the same signature: generate() reads it
    def counting(*args, **kwargs):
        calls.append(1)
        return encoder(*args, **kwargs)

    monkeypatch.setattr(shared._generator.base_model, "get_image_features", counting)
    first = shared.describe(images[:3], "describe this image in a sentence.")
    second = shared.describe(images[:3], "what animal is this?")
    assert len(calls) == 1 and shared.features.hits == 3 and shared.features.misses == 3
    fresh = vlm.make_describer(_cfg(work))
    assert fresh.describe(images[:3], "what animal is this?") == second
    assert fresh.describe(images[:3], "describe this image in a sentence.") == first
    assert shared.describe(images[1:4], "what animal is this?")  # a batch with a new image
    assert len(calls) == 2
