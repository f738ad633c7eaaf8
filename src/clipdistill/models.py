"""Load any CLIP-family model behind one small interface, with the preprocessing it was trained with.

Three sources end up as the same :class:`ClipModel`:

- an open_clip architecture plus a pretrained tag (``"ViT-B-16", "openai"``), a local
  checkpoint file (``"ViT-B-32", "/path/to/epoch_32.pt"``) or an open_clip folder;
- a Hugging Face CLIP id (``"openai/clip-vit-base-patch16"``) or a saved HF folder;
- any of the above with **seeded random weights** (the ``smoke`` profile): the same
  architecture, preprocessing and code path, no download.

QuickGELU: OpenAI trained CLIP with ``x * sigmoid(1.702 x)``, not exact GELU. In
open_clip 3.x a bare ``create_model("ViT-B-32", pretrained="openai")`` keeps the config's
plain GELU and only *warns* about the mismatch, which costs accuracy silently. Every
pretrained tag records which activation it was trained with, so :func:`load_clip` always
builds the model with the tag's setting (OpenAI tags: QuickGELU on; LAION, DataComp,
WebLI: off). Hugging Face CLIP configs carry ``hidden_act="quick_gelu"`` themselves.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from .config import CHOICES
from .io import file_digest, stable_hash

__all__ = [
    "ClipModel",
    "UnknownModelError",
    "load_clip",
    "load_clip_from_config",
    "model_table",
    "parse_spec",
    "describe",
    "HF_RANDOM_ARCHS",
]

PRECISIONS = ("fp32", "fp16", "bf16")
AMP_CHOICES = CHOICES["clip_amp"]
CPU_KERNELS = CHOICES["clip_cpu_kernels"]

# Hugging Face CLIP ids we can build with random weights offline (the smoke profile has
# no hub): CLIPConfig overrides per id. The defaults of CLIPConfig are ViT-B/32.
HF_RANDOM_ARCHS: dict[str, dict[str, Any]] = {
    "openai/clip-vit-base-patch32": {"vision": {"patch_size": 32}, "text": {}, "projection_dim": 512},
    "openai/clip-vit-base-patch16": {"vision": {"patch_size": 16}, "text": {}, "projection_dim": 512},
    "openai/clip-vit-large-patch14": {
        "vision": {"patch_size": 14, "hidden_size": 1024, "intermediate_size": 4096,
                   "num_attention_heads": 16, "num_hidden_layers": 24},
        "text": {"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12},
        "projection_dim": 768,
    },
}


class UnknownModelError(ValueError):
    """A model name or pretrained tag that does not exist; the message lists the closest."""


@dataclass
class ClipModel:
    """A loaded CLIP-family model with its own preprocessing and tokenizer.

    ``key`` names everything that changes an embedding (architecture, weights, seed for
    random weights, preprocessing, precision, autocast): the embedding cache is keyed by it.
    """

    model: torch.nn.Module
    preprocess: Callable[[Any], torch.Tensor]
    name: str
    pretrained: str | None
    random_weights: bool
    device: torch.device
    precision: str
    embed_dim: int
    key: str
    backend: str  # "open_clip" | "transformers"
    amp_dtype: torch.dtype | None = None
    info: dict[str, Any] = field(default_factory=dict)
    _tokenizer_factory: Callable[[], Callable[[list[str]], torch.Tensor]] | None = field(default=None, repr=False)
    _tokenizer: Callable[[list[str]], torch.Tensor] | None = field(default=None, repr=False)

    # -- text ---------------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        """Token ids (N, context) on the CPU. Built on first use: SigLIP's needs the hub."""
        if self._tokenizer is None:
            assert self._tokenizer_factory is not None
            self._tokenizer = self._tokenizer_factory()
        return self._tokenizer(list(texts))

    def encode_text(self, tokens: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        tokens = tokens.to(self.device, non_blocking=True)
        if self.backend == "open_clip":
            out = self.model.encode_text(tokens)
        else:
            out = _pooled(self.model.get_text_features(input_ids=tokens))
        return torch.nn.functional.normalize(out, dim=-1) if normalize else out

    # -- images -------------------------------------------------------------------------
    def encode_image(self, pixels: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        pixels = pixels.to(self.device, dtype=self._param_dtype(), non_blocking=True)
        if self.backend == "open_clip":
            out = self.model.encode_image(pixels)
        else:
            out = _pooled(self.model.get_image_features(pixel_values=pixels))
        return torch.nn.functional.normalize(out, dim=-1) if normalize else out

    # -- the rest -----------------------------------------------------------------------
    @property
    def logit_scale(self) -> float:
        """exp(learned log-scale): 100 for the OpenAI weights (temperature 0.01)."""
        return float(self.model.logit_scale.detach().float().exp().item())

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision on the GPU (when enabled at load time), a no-op elsewhere."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _param_dtype(self) -> torch.dtype:
        return {"fp16": torch.float16, "bf16": torch.bfloat16}.get(self.precision, torch.float32)

    def __repr__(self) -> str:  # the dataclass repr would print the whole network
        weights = f"random(seed={self.info.get('seed')})" if self.random_weights else self.pretrained
        return (f"ClipModel({self.name!r}, weights={weights!r}, backend={self.backend!r}, "
                f"embed_dim={self.embed_dim}, device={self.device.type!r}, "
                f"kernels={self.info.get('cpu_kernels', 'torch')!r}, key={self.key!r})")


def _pooled(out: Any) -> torch.Tensor:
    """transformers 5 returns an output object whose pooler_output is the projection."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


# ---------------------------------------------------------------------------------------
# Name resolution and the unknown-model error
# ---------------------------------------------------------------------------------------
def _open_clip():
    import open_clip

    return open_clip


def _closest(name: str, valid: Sequence[str], n: int = 5, cutoff: float = 0.5) -> list[str]:
    lower = {v.lower(): v for v in valid}
    near = difflib.get_close_matches(name.lower(), list(lower), n=n, cutoff=cutoff)
    return [lower[v] for v in near]


def _canonical_open_clip_name(name: str) -> str | None:
    """``"ViT-B/32"`` and ``"vit-b-32"`` -> ``"ViT-B-32"``; None when not an open_clip name."""
    models = _open_clip().list_models()
    for candidate in (name, name.replace("/", "-")):
        if candidate in models:
            return candidate
        folded = [m for m in models if m.lower() == candidate.lower()]
        if len(folded) == 1:
            return folded[0]
    return None


def _unknown_model(name: str) -> UnknownModelError:
    near = _closest(name.replace("/", "-"), _open_clip().list_models())
    near += [h for h in _closest(name, list(HF_RANDOM_ARCHS), n=2) if h not in near]
    hint = f"Closest valid names: {', '.join(near)}." if near else "See open_clip.list_models()."
    return UnknownModelError(
        f"Unknown CLIP model {name!r}. {hint} Also accepted: a Hugging Face CLIP id such as "
        "'openai/clip-vit-base-patch16', or a local checkpoint file or folder."
    )


def _unknown_tag(name: str, tag: str) -> UnknownModelError:
    tags = _open_clip().list_pretrained_tags_by_model(name)
    near = _closest(tag, tags, n=3, cutoff=0.4)
    hint = f" Closest: {', '.join(near)}." if near else ""
    valid = ", ".join(tags) if tags else "none (this architecture has no released weights)"
    return UnknownModelError(
        f"Unknown pretrained tag {tag!r} for open_clip model {name!r}.{hint} Valid tags: {valid} "
        "(or a path to a local checkpoint file, or random_weights=True)."
    )


def _looks_like_hf_id(name: str) -> bool:
    """``org/name``, unless it is a near-miss of an open_clip name (``ViT-B-322/openai``)."""
    if not re.fullmatch(r"[A-Za-z0-9][\w.\-]*/[\w.\-]+", name):
        return False
    known = _open_clip().list_models()
    head = name.split("/")[0]
    return not (_closest(head, known, n=1, cutoff=0.85) or _closest(name.replace("/", "-"), known, n=1, cutoff=0.85))


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``"ViT-B-32/openai"`` -> ``("ViT-B-32", "openai")``; HF ids and paths have no tag."""
    if Path(spec).expanduser().exists() or spec.startswith(("hf-hub:", "local-dir:")):
        return spec, None
    if "/" in spec:
        head, tail = spec.rsplit("/", 1)
        if _canonical_open_clip_name(head) is not None:
            return head, tail
    if _canonical_open_clip_name(spec) is not None:
        return spec, None
    if _looks_like_hf_id(spec):
        return spec, None
    raise _unknown_model(spec.split("/")[0] if "/" in spec else spec)


def _resolve(name: str, pretrained: str | None) -> tuple[str, str, str | None]:
    """-> (kind, name, pretrained) with kind in open_clip | open_clip_dir | hf | hf_dir."""
    path = Path(name).expanduser()
    if name.startswith("local-dir:"):
        return "open_clip_dir", name, None
    if name.startswith("hf-hub:"):
        return "open_clip_hub", name, None
    if path.is_dir():
        if (path / "open_clip_config.json").is_file():
            return "open_clip_dir", f"local-dir:{path}", None
        if (path / "config.json").is_file():
            return "hf_dir", str(path), None
        raise UnknownModelError(
            f"Folder {str(path)!r} is neither an open_clip folder (open_clip_config.json) nor a "
            "Hugging Face CLIP folder (config.json)."
        )
    canonical = _canonical_open_clip_name(name)
    if canonical is not None:
        return "open_clip", canonical, pretrained or None
    if _looks_like_hf_id(name):
        return "hf", name, None
    raise _unknown_model(name)


# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------
def _amp_dtype(amp: str, device: torch.device, precision: str) -> torch.dtype | None:
    if amp not in AMP_CHOICES:
        raise ValueError(f"Bad amp {amp!r}: valid are {', '.join(AMP_CHOICES)}.")
    if device.type != "cuda" or amp == "off" or precision != "fp32":
        return None
    if amp == "fp16":
        return torch.float16
    if amp == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


@contextlib.contextmanager
def _seeded(seed: int):
    """Seed the initialisation without disturbing the caller's random streams."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class _DropRandomInitNotice:
    """open_clip logs "No pretrained weights loaded ... initialized randomly" on the root
    logger; for random_weights=True that is the request, not news."""

    def filter(self, record) -> bool:  # logging.Filter protocol
        return "initialized randomly" not in record.getMessage()


@contextlib.contextmanager
def _quiet_random_init():
    import logging

    notice = _DropRandomInitNotice()
    root = logging.getLogger()
    root.addFilter(notice)
    try:
        yield
    finally:
        root.removeFilter(notice)


def _weights_id(kind: str, name: str, pretrained: str | None) -> Any:
    """What identifies the weights: the tag's source, or the checkpoint bytes."""
    if kind == "open_clip" and pretrained:
        if Path(pretrained).expanduser().is_file():
            return {"file_sha1": file_digest(Path(pretrained).expanduser())}
        pcfg = _open_clip().pretrained.get_pretrained_cfg(name, pretrained)
        return {"tag": pretrained, "hf_hub": pcfg.get("hf_hub", ""), "url": pcfg.get("url", "")}
    if kind in ("open_clip_dir", "hf_dir"):
        folder = Path(name.removeprefix("local-dir:"))
        files = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin", ".pth", ".pt", ".json"))
        return {p.name: file_digest(p) for p in files}
    return {"id": name}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:60] or "model"


def load_clip(name: str, pretrained: str | None = None, *, random_weights: bool = False,
              device: str | torch.device = "cpu", seed: int = 0, precision: str = "fp32",
              amp: str = "auto", quick_gelu: bool | None = None, cpu_kernels: str = "auto") -> ClipModel:
    """Load a CLIP-family model (see the module docstring for what ``name`` may be).

    ``random_weights=True`` builds the same architecture and preprocessing with weights
    drawn from ``seed`` (offline). ``precision`` casts the weights; ``amp`` is autocast on
    CUDA while embedding ("auto": bf16 where supported, else fp16; never on CPU).
    ``quick_gelu`` overrides the activation: by default it follows the pretrained tag, and
    a local checkpoint file of OpenAI-derived weights needs ``quick_gelu=True`` (or the
    ``<name>-quickgelu`` architecture).
    ``cpu_kernels`` picks the fp32 CPU matrix kernels (see :mod:`clipdistill.onednn`):
    "auto" packs the linear layers for oneDNN where torch has it (1.8x on CPUs where MKL
    falls back to AVX2), "onednn" insists, "torch" keeps the stock layers (the model is then
    exactly what open_clip/transformers built). The packed model is for inference only.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"Bad precision {precision!r}: valid are {', '.join(PRECISIONS)}.")
    if cpu_kernels not in CPU_KERNELS:
        raise ValueError(f"Bad cpu_kernels {cpu_kernels!r}: valid are {', '.join(CPU_KERNELS)}.")
    device = torch.device(device)
    kind, name, pretrained = _resolve(name, pretrained)
    amp_dtype = _amp_dtype(amp, device, precision)
    if not random_weights and kind in ("open_clip", "hf"):  # seconds, not minutes, when the hub is silent
        from . import hub

        hub.require(hub.clip_weights(name, pretrained))
    if kind.startswith("open_clip"):
        clip = _load_open_clip(kind, name, pretrained, random_weights, device, seed, precision, quick_gelu)
    else:
        clip = _load_hf(kind, name, random_weights, device, seed, precision)
    clip.amp_dtype = amp_dtype
    clip.model.eval()
    clip.info["cpu_kernels"] = _use_cpu_kernels(clip, cpu_kernels)
    weights = {"random_seed": seed} if random_weights else _weights_id(kind, name, pretrained)
    # Packed kernels round differently (~1e-6), and the cache key names what changes a value.
    kernels = [] if clip.info["cpu_kernels"] == "torch" else [clip.info["cpu_kernels"]]
    digest = stable_hash(kind, name, weights, clip.info.get("preprocess"), clip.info.get("quick_gelu"),
                         precision, str(amp_dtype), *kernels, length=12)
    tag = _slug(Path(pretrained).stem) if pretrained else ""
    tag = "-".join(t for t in (tag, f"random-s{seed}" if random_weights else "") if t)
    clip.key = "-".join(p for p in (_slug(name.removeprefix("local-dir:").split("/")[-1]), tag, digest) if p)
    clip.info["seed"] = seed if random_weights else None
    return clip


def _use_cpu_kernels(clip: ClipModel, choice: str) -> str:
    """Pack the model for oneDNN when asked and possible; returns the kernels now in use.

    Both towers are probed on a fixed image and token row before and after packing, so a
    model whose packed form disagrees with its stock one stays stock.
    """
    from . import onednn

    if choice == "torch" or clip.device.type != "cpu" or clip.precision != "fp32":
        if choice == "onednn":
            raise ValueError(f"cpu_kernels='onednn' needs an fp32 model on the CPU, "
                             f"not {clip.precision} on {clip.device}.")
        return "torch"
    size = clip.info.get("image_size") or 224
    image = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    tokens = torch.zeros(1, clip.info.get("context_length") or 77, dtype=torch.long)

    def probe() -> tuple[torch.Tensor, torch.Tensor]:
        return clip.encode_image(image), clip.encode_text(tokens)

    if onednn.pack_linear_layers(clip.model, probe=probe):
        return "onednn"
    if choice == "onednn":
        raise RuntimeError(f"cpu_kernels='onednn': {clip.name} could not be packed for oneDNN "
                           "(the ops are missing from this torch build, or the packed model disagreed).")
    return "torch"


def _open_clip_tag_cfg(name: str, pretrained: str | None, random_weights: bool) -> dict[str, Any]:
    """The tag's record (preprocessing, QuickGELU); a file path or no tag gives {}."""
    oc = _open_clip()
    if not pretrained:
        if not random_weights:
            tags = oc.list_pretrained_tags_by_model(name)
            raise UnknownModelError(
                f"Model {name!r} needs pretrained weights: pass a tag (valid: "
                f"{', '.join(tags) or 'none released'}), a checkpoint path, or random_weights=True."
            )
        return {}
    if Path(pretrained).expanduser().is_file():
        return {}
    if not oc.pretrained.is_pretrained_cfg(name, pretrained):
        raise _unknown_tag(name, pretrained)
    return dict(oc.pretrained.get_pretrained_cfg(name, pretrained))


def _load_open_clip(kind: str, name: str, pretrained: str | None, random_weights: bool,
                    device: torch.device, seed: int, precision: str,
                    quick_gelu: bool | None = None) -> ClipModel:
    oc = _open_clip()
    from open_clip.transform import PreprocessCfg, image_transform_v2

    tag_cfg = _open_clip_tag_cfg(name, pretrained, random_weights) if kind == "open_clip" else {}
    if quick_gelu is None:
        quick_gelu = bool(tag_cfg.get("quick_gelu", False))
    preprocess_overlay = {k: v for k, v in tag_cfg.items()
                          if k in ("mean", "std", "interpolation", "resize_mode", "fill_color")}
    kwargs: dict[str, Any] = dict(precision=precision, device=device, force_quick_gelu=quick_gelu,
                                  pretrained_image=False, pretrained_text=not random_weights)
    if kind == "open_clip_hub" and random_weights:
        raise UnknownModelError(f"{name!r} reads its architecture from the hub: random weights need a "
                                "built-in open_clip name or a local folder.")
    with _seeded(seed), warnings.catch_warnings(), _quiet_random_init():
        warnings.filterwarnings("ignore", message=".*QuickGELU mismatch.*")
        if random_weights:
            # Same architecture and preprocessing as the tag, no weights fetched.
            model = oc.create_model(name, pretrained=None, load_weights=False,
                                    force_preprocess_cfg=preprocess_overlay, **kwargs)
        else:
            model = oc.create_model(name, pretrained=pretrained, require_pretrained=True, **kwargs)
    from open_clip.model import get_model_preprocess_cfg

    pp_cfg = get_model_preprocess_cfg(model)
    preprocess = image_transform_v2(PreprocessCfg(**pp_cfg), is_train=False)
    model_cfg = oc.get_model_config(name) or {}
    embed_dim = int(model_cfg.get("embed_dim") or _probe_embed_dim(model))
    context_length = int(getattr(model, "context_length", 0) or model_cfg.get("text_cfg", {}).get("context_length", 77))
    vocab = getattr(model, "vocab_size", None) or getattr(getattr(model, "text", None), "vocab_size", None)

    def make_tokenizer() -> Callable[[list[str]], torch.Tensor]:
        try:
            return oc.get_tokenizer(name, context_length=context_length)
        except Exception as exc:  # noqa: BLE001 - an HF tokenizer that is not cached
            raise RuntimeError(
                f"Cannot build the tokenizer of {name!r} ({type(exc).__name__}): it is a Hugging Face "
                "tokenizer that needs the hub or its local cache."
            ) from None

    info = {
        "quick_gelu": bool(model_cfg.get("quick_gelu", False)) or quick_gelu,
        "preprocess": {k: (list(v) if isinstance(v, tuple) else v) for k, v in pp_cfg.items()},
        "image_size": _as_int_size(pp_cfg.get("size")),
        "context_length": context_length,
        "vocab_size": int(vocab) if vocab else None,
        "params": _tower_params(model, "open_clip"),
        "model_class": type(model).__name__,
    }
    return ClipModel(model=model, preprocess=preprocess, name=name, pretrained=pretrained,
                     random_weights=random_weights, device=device, precision=precision,
                     embed_dim=embed_dim, key="", backend="open_clip", info=info,
                     _tokenizer_factory=make_tokenizer)


def _as_int_size(size: Any) -> int | None:
    if size is None:
        return None
    if isinstance(size, (list, tuple)):
        return int(size[0]) if len(set(size)) == 1 else int(max(size))
    return int(size)


def _probe_embed_dim(model: torch.nn.Module) -> int:
    proj = getattr(model, "text_projection", None)
    if isinstance(proj, torch.Tensor):
        return int(proj.shape[-1])
    if isinstance(proj, torch.nn.Linear):
        return int(proj.out_features)
    return int(getattr(model.visual, "output_dim"))


def _tower_params(model: torch.nn.Module, backend: str) -> dict[str, int]:
    """Parameters of the image tower and of everything text-side (the scale excluded)."""
    if backend == "open_clip":
        image = sum(p.numel() for p in model.visual.parameters())
    else:
        image = sum(p.numel() for p in model.vision_model.parameters()) + \
            sum(p.numel() for p in model.visual_projection.parameters())
    scalars = sum(getattr(model, n).numel() for n in ("logit_scale", "logit_bias")
                  if isinstance(getattr(model, n, None), torch.Tensor))
    total = sum(p.numel() for p in model.parameters())
    return {"image": int(image), "text": int(total - image - scalars), "total": int(total)}


# -- Hugging Face ------------------------------------------------------------------------
def _openai_bpe_tokenizer(context_length: int = 77):
    """A transformers CLIPTokenizer built offline from open_clip's bundled OpenAI BPE.

    It is the same vocabulary and the same merges as ``openai/clip-vit-*``'s tokenizer,
    so random-weight HF models tokenize exactly like the real ones.
    """
    from open_clip.tokenizer import SimpleTokenizer
    from transformers import CLIPTokenizer

    simple = SimpleTokenizer()
    rename = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}
    vocab = {rename.get(tok, tok): idx for tok, idx in simple.encoder.items()}
    pairs = sorted(simple.bpe_ranks, key=simple.bpe_ranks.get)
    merges = [" ".join(m) for m in pairs]
    try:  # transformers >= 5: vocabulary and merge pairs in memory
        tok = CLIPTokenizer(vocab=vocab, merges=[tuple(m) for m in pairs], model_max_length=context_length)
    except TypeError:  # transformers 4.x reads them from files
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
            (Path(tmp) / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n",
                                                  encoding="utf-8")
            tok = CLIPTokenizer(vocab_file=str(Path(tmp) / "vocab.json"),
                                merges_file=str(Path(tmp) / "merges.txt"), model_max_length=context_length)
    return tok


def _hf_random_config(name: str):
    from transformers import CLIPConfig

    if name not in HF_RANDOM_ARCHS:
        raise UnknownModelError(
            f"No offline architecture for Hugging Face id {name!r} with random weights. Known: "
            f"{', '.join(HF_RANDOM_ARCHS)} (or load it with pretrained weights from the hub/cache)."
        )
    arch = HF_RANDOM_ARCHS[name]
    return CLIPConfig(text_config=arch["text"], vision_config=arch["vision"],
                      projection_dim=arch["projection_dim"])


def _hf_config(kind: str, name: str, random_weights: bool):
    if random_weights and kind == "hf":
        return _hf_random_config(name)
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(name)
    except Exception as exc:  # noqa: BLE001 - offline, private or a typo: say which
        raise UnknownModelError(
            f"Cannot load Hugging Face model {name!r} ({type(exc).__name__}): not on the hub or "
            f"not in the local cache. Offline, use random_weights=True with one of "
            f"{', '.join(HF_RANDOM_ARCHS)}, or an open_clip name."
        ) from None
    if getattr(config, "model_type", "") != "clip":
        raise UnknownModelError(f"{name!r} is a {config.model_type!r} model, not CLIP.")
    return config


class _HFPreprocess:
    """PIL image -> pixel tensor with the model's own image processor. A class, not a
    closure, so DataLoader workers can pickle it where processes are spawned (macOS)."""

    def __init__(self, processor: Any) -> None:
        self.processor = processor

    def __call__(self, image: Any) -> torch.Tensor:
        return self.processor(images=image, return_tensors="pt")["pixel_values"][0]

    def __repr__(self) -> str:
        return f"HFPreprocess({type(self.processor).__name__})"


def _load_hf(kind: str, name: str, random_weights: bool, device: torch.device, seed: int,
             precision: str) -> ClipModel:
    from transformers import CLIPImageProcessor, CLIPModel, CLIPTokenizer

    config = _hf_config(kind, name, random_weights)
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision, torch.float32)
    with _seeded(seed):
        if random_weights:
            model = CLIPModel(config)
        else:
            model = CLIPModel.from_pretrained(name, dtype=dtype)
    model = model.to(device=device, dtype=dtype)
    res = int(config.vision_config.image_size)
    if random_weights:
        processor = CLIPImageProcessor(size={"shortest_edge": res}, crop_size={"height": res, "width": res})
    else:
        processor = CLIPImageProcessor.from_pretrained(name)
    context_length = int(config.text_config.max_position_embeddings)

    preprocess = _HFPreprocess(processor)

    def make_tokenizer() -> Callable[[list[str]], torch.Tensor]:
        tok = _openai_bpe_tokenizer(context_length) if random_weights else CLIPTokenizer.from_pretrained(name)

        def tokenize(texts: list[str]) -> torch.Tensor:
            # Padding sits after the end token, so the causal mask makes it inert.
            return tok(texts, padding="max_length", truncation=True, max_length=context_length,
                       return_tensors="pt")["input_ids"]

        return tokenize

    pp = {k: v for k, v in processor.to_dict().items() if not k.startswith("_")}
    info = {
        "quick_gelu": config.text_config.hidden_act == "quick_gelu",
        "preprocess": json.loads(json.dumps(pp, default=str)),
        "image_size": res,
        "context_length": context_length,
        "vocab_size": int(config.text_config.vocab_size),
        "params": _tower_params(model, "transformers"),
        "model_class": type(model).__name__,
    }
    return ClipModel(model=model, preprocess=preprocess, name=name, pretrained=None,
                     random_weights=random_weights, device=device, precision=precision,
                     embed_dim=int(config.projection_dim), key="", backend="transformers",
                     info=info, _tokenizer_factory=make_tokenizer)


def load_clip_from_config(cfg: Any, name: str | None = None, pretrained: str | None = None) -> ClipModel:
    """The chapter's model: cfg.clip_model/cfg.clip_pretrained (random weights in smoke)."""
    from .session import torch_device

    return load_clip(name or cfg.clip_model, pretrained if name else (pretrained or cfg.clip_pretrained),
                     random_weights=bool(cfg.smoke), device=torch_device(cfg), seed=cfg.seed,
                     amp=getattr(cfg, "clip_amp", "auto"), cpu_kernels=getattr(cfg, "clip_cpu_kernels", "auto"))


# ---------------------------------------------------------------------------------------
# The model table
# ---------------------------------------------------------------------------------------
def describe(spec: str, random_weights: bool = True) -> dict[str, Any]:
    """One row of :func:`model_table`, built on the meta device (no memory, no weights)."""
    name, tag = parse_spec(spec)
    kind, name, tag = _resolve(name, tag)
    if kind == "open_clip":
        tag_cfg = _open_clip_tag_cfg(name, tag, True)
        overlay = {k: v for k, v in tag_cfg.items() if k in ("mean", "std", "interpolation", "resize_mode")}
        with warnings.catch_warnings(), torch.device("meta"), _quiet_random_init():  # shapes only
            warnings.simplefilter("ignore")
            model = _open_clip().create_model(
                name, pretrained=None, load_weights=False, device="meta",
                force_quick_gelu=bool(tag_cfg.get("quick_gelu", False)), pretrained_image=False,
                pretrained_text=False, force_preprocess_cfg=overlay)
        from open_clip.model import get_model_preprocess_cfg

        pp = get_model_preprocess_cfg(model)
        model_cfg = _open_clip().get_model_config(name) or {}
        row = {
            "image params (M)": _tower_params(model, "open_clip")["image"] / 1e6,
            "text params (M)": _tower_params(model, "open_clip")["text"] / 1e6,
            "resolution": _as_int_size(pp.get("size")),
            "context length": int(getattr(model, "context_length", 0) or 0) or None,
            "vocab size": getattr(model, "vocab_size", None) or getattr(getattr(model, "text", None), "vocab_size", None),
            "embed dim": model_cfg.get("embed_dim"),
            "QuickGELU": bool(tag_cfg.get("quick_gelu", False)),
            "normalisation": _normalisation_name(pp),
        }
    elif kind in ("hf", "hf_dir"):
        from transformers import CLIPModel

        config = _hf_config(kind, name, random_weights)
        with torch.device("meta"):
            model = CLIPModel(config)
        row = {
            "image params (M)": _tower_params(model, "transformers")["image"] / 1e6,
            "text params (M)": _tower_params(model, "transformers")["text"] / 1e6,
            "resolution": int(config.vision_config.image_size),
            "context length": int(config.text_config.max_position_embeddings),
            "vocab size": int(config.text_config.vocab_size),
            "embed dim": int(config.projection_dim),
            "QuickGELU": config.text_config.hidden_act == "quick_gelu",
            "normalisation": "OpenAI",
        }
    else:
        clip = load_clip(name, tag, random_weights=True)
        p = clip.info["params"]
        row = {"image params (M)": p["image"] / 1e6, "text params (M)": p["text"] / 1e6,
               "resolution": clip.info["image_size"], "context length": clip.info["context_length"],
               "vocab size": clip.info["vocab_size"], "embed dim": clip.embed_dim,
               "QuickGELU": clip.info["quick_gelu"],
               "normalisation": _normalisation_name(clip.info["preprocess"])}
    row["total params (M)"] = row["image params (M)"] + row["text params (M)"]
    return {"model": spec, "weights": "random" if random_weights else (tag or "checkpoint"), **row}


def _normalisation_name(pp: dict[str, Any]) -> str:
    from open_clip.constants import OPENAI_DATASET_MEAN

    mean, std = tuple(pp.get("mean", ()) or ()), tuple(pp.get("std", ()) or ())
    if mean == tuple(OPENAI_DATASET_MEAN):
        return "OpenAI"
    if mean == (0.0, 0.0, 0.0) and std == (1.0, 1.0, 1.0):
        return "none (0-1)"
    return f"mean {mean[0]:g}, std {std[0]:g}" if mean and std else "?"


def model_table(specs: Sequence[str], random_weights: bool = False):
    """A pandas DataFrame: parameters per tower, resolution, context, vocabulary, embed dim.

    Only the architecture is needed, so nothing is downloaded for open_clip names; for HF
    ids ``random_weights`` says whether the config may come from the hub or must be built in.
    """
    import pandas as pd

    rows = [describe(spec, random_weights) for spec in specs]
    df = pd.DataFrame(rows).set_index("model")
    for col in ("image params (M)", "text params (M)", "total params (M)"):
        df[col] = df[col].round(1)
    return df


os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # DataLoader workers fork after tokenizing
