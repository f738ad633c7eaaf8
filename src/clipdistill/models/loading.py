"""``load_clip``: any CLIP-family model behind one interface, with the preprocessing it was
trained with.

Three sources end up as the same :class:`~clipdistill.models.ClipModel`:

- an open_clip architecture plus a pretrained tag (``"ViT-B-16", "openai"``), a local
  checkpoint file (``"ViT-B-32", "/path/to/epoch_32.pt"``) or an open_clip folder;
- a Hugging Face CLIP id (``"openai/clip-vit-base-patch16"``) or a saved HF folder;
- any of the above with **seeded random weights** (the ``smoke`` profile): the same
  architecture, preprocessing and code path, no download.

The returned ``model`` is the framework's own module, untouched. How the embedding
engine runs it on a CPU (``cpu_kernels``, and ``cpu_dtype``: bf16 autocast where the
processor multiplies bf16 fast) is decided here, because both enter the cache key, but
the engine builds its inference copy itself (:mod:`clipdistill.embed.onednn`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from .. import hub, pins, weights
from ..config import CHOICES
from ..io import file_digest, stable_hash
from .clip_model import PRECISIONS, ClipModel
from .hf_backend import load_hf
from .names import open_clip_module, resolve_source
from .open_clip_backend import load_open_clip

__all__ = ["load_clip", "load_clip_from_config"]

AMP_CHOICES = CHOICES["clip_amp"]
CPU_KERNELS = CHOICES["clip_cpu_kernels"]


def _cpu_amp(choice: str, kernels: str, precision: str) -> tuple[torch.dtype | None, dict[str, str]]:
    """bf16 autocast on the CPU, or None; and what to record about the choice."""
    from ..device import cpu_dtype
    from ..embed import onednn

    dtype, why = cpu_dtype(choice, packed=kernels == "onednn")
    if precision != "fp32":
        dtype, why = precision, f"the weights themselves are {precision}"
    elif dtype == "bfloat16" and choice == "auto" and kernels == "onednn" \
            and not onednn.available(torch.bfloat16):
        dtype, why = "float32", "this torch build has no oneDNN bf16 kernels"
    amp = torch.bfloat16 if dtype == "bfloat16" and precision == "fp32" else None
    return amp, {"cpu_dtype": dtype, "cpu_dtype_why": why}


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


def _weights_id(kind: str, name: str, pretrained: str | None, commit: str | None) -> Any:
    """What identifies the weights: the tag's source at its commit, or the checkpoint bytes."""
    at = {"commit": commit} if commit else {}  # another commit may hold other weights
    if kind == "open_clip" and pretrained:
        if Path(pretrained).expanduser().is_file():
            return {"file_sha1": file_digest(Path(pretrained).expanduser())}
        pcfg = open_clip_module().pretrained.get_pretrained_cfg(name, pretrained)
        return {"tag": pretrained, "hf_hub": pcfg.get("hf_hub", ""), "url": pcfg.get("url", ""), **at}
    if kind in ("open_clip_dir", "hf_dir"):
        folder = Path(name.removeprefix("local-dir:"))
        files = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin", ".pth", ".pt", ".json"))
        return {p.name: file_digest(p) for p in files}
    return {"id": name, **at}


def _record(kind: str, name: str, pretrained: str | None, random_weights: bool, seed: int,
            wanted: Any, commit: str | None, fetched: dict[str, Path]) -> None:
    """Tell the provenance which weights were loaded (:mod:`clipdistill.weights`)."""
    label = f"{name}/{pretrained}" if pretrained and kind == "open_clip" else name
    if random_weights:
        weights.record_random(label, seed)
    elif wanted is not None:
        weights.record(wanted.label, wanted.repo_id, wanted.revision, commit, fetched)
    else:
        local = Path(pretrained if kind == "open_clip" and pretrained else name.removeprefix("local-dir:"))
        if local.expanduser().exists():
            weights.record_local(label, local.expanduser())
        else:  # a tag open_clip downloads from a URL, or an hf-hub: spec: not pinned
            weights.record_unpinned(label)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:60] or "model"


def load_clip(name: str, pretrained: str | None = None, *, random_weights: bool = False,
              device: str | torch.device = "cpu", seed: int = 0, precision: str = "fp32",
              amp: str = "auto", quick_gelu: bool | None = None, cpu_kernels: str = "auto",
              cpu_dtype: str = "auto", pin_config: Any = None) -> ClipModel:
    """Load a CLIP-family model (see the module docstring for what ``name`` may be).

    ``random_weights=True`` builds the same architecture and preprocessing with weights
    drawn from ``seed`` (offline). ``precision`` casts the weights; ``amp`` is autocast on
    CUDA while embedding ("auto": bf16 where supported, else fp16; never on CPU).
    ``quick_gelu`` overrides the activation: by default it follows the pretrained tag, and
    a local checkpoint file of OpenAI-derived weights needs ``quick_gelu=True`` (or the
    ``<name>-quickgelu`` architecture).
    ``cpu_kernels`` says how the embedding engine runs an fp32 model on a CPU: "auto"
    packs a copy's linear layers for oneDNN where torch has the ops (1.8x on CPUs where
    MKL falls back to AVX2), "onednn" insists, "torch" runs the stock module.
    ``cpu_dtype`` is the engine's precision on a CPU: "auto" autocasts to bfloat16 where
    the processor has bf16 matrix units (:func:`clipdistill.device.cpu_dtype`; AMX, or
    AVX512-BF16 with the oneDNN kernels), "float32" or "bfloat16" insist. The choice and
    why are in ``clip.info["cpu_dtype"]`` and ``["cpu_dtype_why"]``.
    Hub weights load at the commit :mod:`clipdistill.pins` names for them (``pin_config``:
    a Config whose ``pin_weights``/``hub_revisions`` choose otherwise), and every weight
    loaded is recorded for the provenance (:mod:`clipdistill.weights`).
    """
    from ..embed import onednn

    if precision not in PRECISIONS:
        raise ValueError(f"Bad precision {precision!r}: valid are {', '.join(PRECISIONS)}.")
    if cpu_kernels not in CPU_KERNELS:
        raise ValueError(f"Bad cpu_kernels {cpu_kernels!r}: valid are {', '.join(CPU_KERNELS)}.")
    device = torch.device(device)
    kind, name, pretrained = resolve_source(name, pretrained)
    amp_dtype = _amp_dtype(amp, device, precision)
    kernels = onednn.engine_kernels(cpu_kernels, device, precision)
    cpu_info: dict[str, str] = {}
    if device.type == "cpu":
        amp_dtype, cpu_info = _cpu_amp(cpu_dtype, kernels, precision)
    wanted = None if random_weights or kind not in ("open_clip", "hf") else hub.clip_weights(name, pretrained)
    commit = None
    if wanted is not None:  # seconds, not minutes, when the hub is silent
        wanted, commit, cache_only = weights.prepare(wanted, pin_config)
    if kind.startswith("open_clip"):
        fetched = weights.fetch(wanted, commit, cache_only) if wanted is not None else {}
        tokenizer = hub.tokenizer_repo(name) if kind == "open_clip" else None
        clip = load_open_clip(kind, name, pretrained, random_weights, device, seed, precision, quick_gelu,
                              checkpoint=next(iter(fetched.values()), None),
                              tokenizer_revision=tokenizer and pins.revision(tokenizer, pin_config))
    else:
        hub_args = {} if wanted is None else {"revision": commit, "local_files_only": cache_only}
        clip = load_hf(kind, name, random_weights, device, seed, precision, **hub_args)
        fetched = {} if wanted is None else weights.cached_weight_files(wanted, commit)
    _record(kind, name, pretrained, random_weights, seed, wanted, commit, fetched)
    clip.amp_dtype = amp_dtype
    clip.cpu_kernels = kernels
    clip.info.update(cpu_info)
    clip.model.eval()
    source = {"random_seed": seed} if random_weights else _weights_id(kind, name, pretrained, commit)
    # Packed kernels round differently (~1e-6), and the cache key names what changes a value;
    # a bf16 row is not an fp32 row: the autocast dtype (CPU or GPU) is in the key.
    named_kernels = [] if kernels == "torch" else [kernels]
    digest = stable_hash(kind, name, source, clip.info.get("preprocess"), clip.info.get("quick_gelu"),
                         precision, str(amp_dtype), *named_kernels, length=12)
    tag = _slug(Path(pretrained).stem) if pretrained else ""
    tag = "-".join(t for t in (tag, f"random-s{seed}" if random_weights else "") if t)
    clip.key = "-".join(p for p in (_slug(name.removeprefix("local-dir:").split("/")[-1]), tag, digest) if p)
    clip.info["seed"] = seed if random_weights else None
    return clip


def load_clip_from_config(cfg: Any, name: str | None = None, pretrained: str | None = None) -> ClipModel:
    """The chapter's model: cfg.clip_model/cfg.clip_pretrained (random weights in smoke)."""
    from ..device import torch_device

    return load_clip(name or cfg.clip_model, pretrained if name else (pretrained or cfg.clip_pretrained),
                     random_weights=bool(cfg.smoke), device=torch_device(cfg), seed=cfg.seed,
                     amp=getattr(cfg, "clip_amp", "auto"), cpu_kernels=getattr(cfg, "clip_cpu_kernels", "auto"),
                     cpu_dtype=getattr(cfg, "clip_cpu_dtype", "auto"), pin_config=cfg)
