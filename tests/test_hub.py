"""clipdistill.hub: which files a model needs, whether they are cached, whether the hub answers.

The hub here is clipdistill.offline.hub_server on 127.0.0.1. huggingface_hub in this process is
pointed at it by patching its constants (they are read from the environment at import);
monkeypatch puts them back, so the rest of the suite stays offline. The end-to-end checks,
with real environments in child processes, are in test_first_contact.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from clipdistill.offline.hub_server import Blackhole, FileServer, HubStandIn

from clipdistill import hub
from clipdistill.config import resolve


@pytest.fixture()
def hub_env(monkeypatch, tmp_path):
    """``point(url, timeout)``: huggingface_hub online, talking to ``url``, with an empty cache."""
    from huggingface_hub import constants

    def point(url: str, timeout: float = 10) -> None:
        monkeypatch.setattr(constants, "ENDPOINT", url)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                            url + "/{repo_id}/resolve/{revision}/{filename}")
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
        monkeypatch.setattr(constants, "HF_HUB_ETAG_TIMEOUT", timeout)
        for var in ("NO_PROXY", "no_proxy"):
            monkeypatch.setenv(var, "127.0.0.1,localhost")

    hub.forget_silence()
    yield point
    hub.forget_silence()


def _download(repo_id: str, filename: str) -> str:
    from huggingface_hub import hf_hub_download

    return hf_hub_download(repo_id, filename)


# -- which files ---------------------------------------------------------------------------

def test_open_clip_files_come_from_open_clips_own_table():
    import open_clip
    from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

    w = hub.clip_weights("ViT-B-32", "openai")
    assert w.repo_id + "/" == open_clip.pretrained.get_pretrained_cfg("ViT-B-32", "openai")["hf_hub"]
    # open_clip 3.x downloads the safetensors first and falls back to the .bin
    assert w.files == ((HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME),)
    assert w.files == (("open_clip_model.safetensors", "open_clip_pytorch_model.bin"),)
    assert hub.clip_weights("RN50/openai").repo_id == "timm/resnet50_clip.openai"
    # a tag that names its own file keeps it, with its safetensors twin tried first
    tag = next((m, t) for m, t in open_clip.list_pretrained()
               if open_clip.pretrained.get_pretrained_cfg(m, t).get("hf_hub", "").endswith(".bin"))
    named = hub.clip_weights(*tag)
    assert named.files[0][-1].endswith(".bin") and named.files[0][0].endswith(".safetensors")


def test_transformers_files_and_what_needs_none(tmp_path):
    w = hub.clip_weights("openai/clip-vit-base-patch32")
    assert w.repo_id == "openai/clip-vit-base-patch32" and w.files[0] == ("config.json",)
    assert "model.safetensors" in w.files[1] and "model.safetensors.index.json" in w.files[1]
    assert hub.clip_weights(str(tmp_path)) is None  # a local folder downloads nothing
    assert hub.transformers_weights(str(tmp_path)) is None


def test_profile_weights_follow_the_config():
    cpu = [w.label for w in hub.profile_weights(resolve("quick", accelerator=False))]
    assert cpu == ["ViT-B-32/openai", "RN50/openai", "MobileCLIP2-S0/dfndr2b",
                   "openai/clip-vit-base-patch32", "HuggingFaceTB/SmolVLM-256M-Instruct"]
    gpu = [w.label for w in hub.profile_weights(resolve("paper", accelerator=True))]
    assert gpu[0] == "ViT-B-16/openai" and "Qwen/Qwen2.5-VL-7B-Instruct" in gpu
    served = resolve("quick", {"vlm_backend": "openai", "vlm_api_base": "http://x/v1"}, accelerator=False)
    assert "HuggingFaceTB/SmolVLM-256M-Instruct" not in [w.label for w in hub.profile_weights(served)]


# -- the cache -------------------------------------------------------------------------------

def test_both_open_clip_file_names_count_as_cached(tmp_path, hub_env):
    """open_clip 3.x fetches open_clip_model.safetensors, older ones the .bin: either is
    "cached". (Only the names matter to the cache; real weights load in test_first_contact.)"""
    import torch

    bin_repo, safe_repo = tmp_path / "bin", tmp_path / "safe"
    bin_repo.mkdir(), safe_repo.mkdir()
    torch.save({"w": torch.zeros(2)}, bin_repo / "open_clip_pytorch_model.bin")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(safe_repo / "open_clip_model.safetensors"))
    with HubStandIn({"timm/vit_base_patch32_clip_224.openai": bin_repo,
                     "timm/resnet50_clip.openai": safe_repo}) as stand_in:
        hub_env(stand_in.url)
        b32, rn50 = hub.clip_weights("ViT-B-32", "openai"), hub.clip_weights("RN50", "openai")
        assert not hub.cached(b32) and not hub.cached(rn50)
        _download(b32.repo_id, "open_clip_pytorch_model.bin")
        _download(rn50.repo_id, "open_clip_model.safetensors")
        assert hub.cached(b32) and hub.cached(rn50)


def test_a_sharded_checkpoint_is_cached_only_with_every_shard(tmp_path, hub_env):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "config.json").write_text("{}")
    shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    (repo / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {"a": shards[0], "b": shards[1]}}))
    from safetensors.torch import save_file
    import torch

    for i, name in enumerate(shards):
        save_file({"t": torch.full((2,), float(i))}, str(repo / name))
    with HubStandIn({"Qwen/Qwen2.5-VL-7B-Instruct": repo}) as stand_in:
        hub_env(stand_in.url)
        w = hub.transformers_weights("Qwen/Qwen2.5-VL-7B-Instruct")
        for name in ("config.json", "model.safetensors.index.json", shards[0]):
            _download(w.repo_id, name)
        assert not hub.cached(w)
        _download(w.repo_id, shards[1])
        assert hub.cached(w)


# -- the probe and the decisions -------------------------------------------------------------

def test_a_silent_hub_fails_in_seconds_with_one_sentence(hub_env):
    w = hub.clip_weights("ViT-B-32", "openai")
    with Blackhole() as hole:
        hub_env(hole.url, timeout=1)
        start = time.monotonic()
        answer = hub.probe(w)
        assert not answer.ok and answer.silent
        assert f"the hub at {hole.url} did not answer within 1 s" in answer.reason
        with pytest.raises(hub.HubUnavailable) as info:
            hub.require(w)  # asked once per process: the second question costs nothing
        assert time.monotonic() - start < 10
        ok, why = hub.weights_available(resolve("quick", accelerator=False))
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("Cannot download ViT-B-32/openai")
    for needle in ("network or HF_ENDPOINT is the problem", "--profile smoke", "HF_HUB_OFFLINE=1"):
        assert needle in msg
    assert not ok and "did not answer" in why and "not in the Hugging Face cache" in why


def test_a_refused_connection_is_named_as_such(hub_env):
    import socket

    with socket.socket() as s:  # a port nobody listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    hub_env(f"http://127.0.0.1:{port}")
    answer = hub.probe(hub.clip_weights("ViT-B-32", "openai"))
    assert answer.silent and answer.reason.endswith("could not be reached (ConnectError)")


def test_the_clip_and_vlm_loaders_ask_before_they_download(hub_env):
    """load_clip and the describer fail on a silent hub before open_clip or transformers
    start their own minutes of retries; auto falls back to smoke and says why."""
    import open_clip  # noqa: F401 - imported first: the clock below times the network alone
    from transformers import AutoModelForImageTextToText, AutoProcessor  # noqa: F401

    from clipdistill import models
    from clipdistill.vlm import make_describer

    quick = resolve("quick", accelerator=False)
    with Blackhole() as hole:
        hub_env(hole.url, timeout=1)
        for load, label in ((lambda: models.load_clip_from_config(quick), "ViT-B-32/openai"),
                            (lambda: make_describer(quick).load(), quick.vlm_model)):
            hub.forget_silence()
            start = time.monotonic()
            with pytest.raises(hub.HubUnavailable, match=f"^Cannot download {label} .*did not answer"):
                load()
            assert time.monotonic() - start < 10  # the libraries' own retries: minutes
        hub.forget_silence()
        with pytest.warns(UserWarning, match="fell back to 'smoke'"):
            auto = resolve("auto", accelerator=False)
    assert auto.smoke and f"the hub at {hole.url} did not answer within 1 s" in auto.profile_note


def test_an_answer_is_not_silence(tmp_path, hub_env):
    """A hub that answers 'no such repo' and a web server that is not a hub are told apart
    from a dead network, and named."""
    with HubStandIn({}) as stand_in:
        hub_env(stand_in.url)
        answer = hub.probe(hub.clip_weights("ViT-B-32", "openai"))
        assert not answer.ok and not answer.silent and "answered 401" in answer.reason
        with pytest.raises(hub.HubUnavailable, match="check HF_ENDPOINT and the repository name"):
            hub.require(hub.transformers_weights("Qwen/Qwen2.5-VL-3B-Instruct"))
    (tmp_path / "site" / "org" / "m" / "resolve" / "main").mkdir(parents=True)
    (tmp_path / "site" / "org" / "m" / "resolve" / "main" / "config.json").write_text("{}")
    with FileServer(tmp_path / "site") as web:
        hub_env(web.url)
        answer = hub.probe(hub.transformers_weights("org/m"))
    assert not answer.ok and "not as a Hugging Face hub does" in answer.reason


def test_cached_weights_load_without_the_hub(tmp_path, hub_env, monkeypatch):
    from huggingface_hub import constants

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "config.json").write_text("{}")
    (repo / "model.safetensors").write_bytes(b"\0" * 16)
    w = hub.transformers_weights("Qwen/Qwen2.5-VL-3B-Instruct")
    with HubStandIn({w.repo_id: repo}) as stand_in:
        hub_env(stand_in.url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
        with pytest.raises(hub.HubUnavailable, match="not in the Hugging Face cache .* HF_HUB_OFFLINE is set"):
            hub.require(w)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        assert hub.require(w) is False  # the hub answers: nothing to decide
        _download(w.repo_id, "config.json"), _download(w.repo_id, "model.safetensors")
    with Blackhole() as hole:
        hub_env(hole.url, timeout=1)
        with pytest.warns(UserWarning, match="using the cached Qwen/Qwen2.5-VL-3B-Instruct"):
            assert hub.require(w) is True  # silent hub, cached weights: local files only
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert hub.require(w) is True


@pytest.mark.parametrize("value, expected", [("1", True), ("yes", True), ("ON", True), ("true", True),
                                             ("0", False), ("no", False)])
def test_offline_is_huggingface_hubs_own_reading_of_the_variable(value, expected):
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env["HF_HUB_OFFLINE"] = value
    code = "from clipdistill import hub; print(hub.offline())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(expected)


def test_auto_decides_with_the_hub_module(monkeypatch):
    """resolve('auto') asks clipdistill.hub about the quick run it would become."""
    seen = []

    def fake(cfg):
        seen.append(cfg)
        return False, "HF_HUB_OFFLINE is set and ViT-B-32/openai is not in the Hugging Face cache"

    monkeypatch.setattr(hub, "weights_available", fake)
    with pytest.warns(UserWarning, match="fell back to 'smoke'"):
        cfg = resolve("auto", {"clip_model": "ViT-B-16"}, accelerator=False)
    assert cfg.smoke and "HF_HUB_OFFLINE is set" in cfg.profile_note
    assert seen[0].profile == "quick" and seen[0].clip_model == "ViT-B-16"  # overrides count
