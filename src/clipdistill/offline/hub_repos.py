"""Hub repositories built at test time: random weights in the real file names and formats.

Each builder writes a folder laid out like the real repository on the hub, so
:class:`.hub_server.HubStandIn` can serve it under the real repo id and the real loaders
(open_clip, transformers) download and load it unchanged. Nothing here is committed: the
weights are drawn from a seed when a test or a benchmark asks for them.
"""

from __future__ import annotations

import json
import posixpath
from pathlib import Path


def open_clip_repo(dest: Path, model: str = "ViT-B-32", tag: str = "openai", *,
                   safetensors: bool = True, pytorch_bin: bool = False, seed: int = 0) -> tuple[str, Path]:
    """``(repo_id, folder)`` of the repo open_clip downloads ``model``/``tag`` from.

    The repo id and file names are read from open_clip's own pretrained table and
    constants, and the state dict is the one open_clip builds for that tag (real shapes),
    with random values: ``open_clip_model.safetensors`` (what open_clip 3.x fetches first)
    and/or ``open_clip_pytorch_model.bin`` (its fallback, a torch pickle).
    """
    import open_clip
    import torch
    from open_clip.constants import HF_CONFIG_NAME, HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME
    from safetensors.torch import save_file

    pcfg = open_clip.pretrained.get_pretrained_cfg(model, tag)
    repo_id, filename = posixpath.split(pcfg["hf_hub"])
    assert not filename, f"{model}/{tag} names a file of its own ({filename}): extend this builder"
    folder = Path(dest) / repo_id.replace("/", "--")
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    net = open_clip.create_model(model, pretrained=None, load_weights=False,
                                 force_quick_gelu=bool(pcfg.get("quick_gelu")),
                                 pretrained_image=False, pretrained_text=False)
    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    if safetensors:
        save_file(state, str(folder / HF_SAFE_WEIGHTS_NAME))
    if pytorch_bin:
        torch.save(state, folder / HF_WEIGHTS_NAME)
    preprocess = {k: pcfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in pcfg}
    (folder / HF_CONFIG_NAME).write_text(json.dumps(
        {"model_cfg": open_clip.get_model_config(model), "preprocess_cfg": preprocess}, indent=2))
    return repo_id, folder


def hf_clip_repo(dest: Path, repo_id: str = "openai/clip-vit-base-patch32", seed: int = 0) -> Path:
    """A transformers CLIP checkpoint as ``openai/clip-vit-*`` ships it: config.json,
    model.safetensors, preprocessor_config.json and the OpenAI BPE tokenizer files."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    from clipdistill.offline.random_clip import HF_RANDOM_ARCHS, openai_bpe_tokenizer

    arch = HF_RANDOM_ARCHS[repo_id]
    config = CLIPConfig(text_config=arch["text"], vision_config=arch["vision"],
                        projection_dim=arch["projection_dim"])
    config.text_config.hidden_act = config.vision_config.hidden_act = "quick_gelu"  # as OpenAI's
    folder = Path(dest) / repo_id.replace("/", "--")
    torch.manual_seed(seed)
    CLIPModel(config).save_pretrained(folder)
    res = config.vision_config.image_size
    CLIPImageProcessor(size={"shortest_edge": res},
                       crop_size={"height": res, "width": res}).save_pretrained(folder)
    openai_bpe_tokenizer(config.text_config.max_position_embeddings).save_pretrained(folder)
    return folder


def qwen_vl_repo(dest: Path, shard_size: str = "300KB") -> Path:
    """A Qwen2.5-VL-Instruct checkpoint in the hub's layout at a tiny size: the offline
    builder's config, tokenizer, processor and chat template, and its weights split into
    ``model-0000i-of-0000n.safetensors`` shards with ``model.safetensors.index.json``, as
    the 3B and 7B repos ship them."""
    import shutil

    from transformers import Qwen2_5_VLForConditionalGeneration

    from clipdistill.offline.tiny_qwen_vl import build_tiny_vlm

    tiny = build_tiny_vlm(Path(dest) / "built")
    folder = Path(dest) / "qwen2.5-vl-sharded"
    shutil.copytree(tiny, folder, ignore=shutil.ignore_patterns("*.safetensors"))
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny)
    model.save_pretrained(folder, max_shard_size=shard_size)
    assert (folder / "model.safetensors.index.json").is_file(), "no shards: lower shard_size"
    return folder
