"""What a model name means: an open_clip architecture and tag, a Hugging Face id, or a path.

Names are forgiving where that is safe (``"ViT-B/32"`` and ``"vit-b-32"`` are ``"ViT-B-32"``)
and strict where a guess would load the wrong weights: an unknown name or tag is an error
that lists the closest valid ones.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..offline.random_clip import HF_RANDOM_ARCHS
from ..suggest import closest
from .clip_model import UnknownModelError

__all__ = ["parse_spec", "resolve_source", "open_clip_module", "unknown_tag"]


def open_clip_module():
    """open_clip, imported on first use (importing it costs seconds)."""
    import open_clip

    return open_clip


def _canonical_open_clip_name(name: str) -> str | None:
    """``"ViT-B/32"`` and ``"vit-b-32"`` -> ``"ViT-B-32"``; None when not an open_clip name."""
    models = open_clip_module().list_models()
    for candidate in (name, name.replace("/", "-")):
        if candidate in models:
            return candidate
        folded = [m for m in models if m.lower() == candidate.lower()]
        if len(folded) == 1:
            return folded[0]
    return None


def _unknown_model(name: str) -> UnknownModelError:
    near = closest(name.replace("/", "-"), open_clip_module().list_models(), n=5)
    near += [h for h in closest(name, list(HF_RANDOM_ARCHS), n=2) if h not in near]
    hint = f"Closest valid names: {', '.join(near)}." if near else "See open_clip.list_models()."
    return UnknownModelError(
        f"Unknown CLIP model {name!r}. {hint} Also accepted: a Hugging Face CLIP id such as "
        "'openai/clip-vit-base-patch16', or a local checkpoint file or folder."
    )


def unknown_tag(name: str, tag: str) -> UnknownModelError:
    tags = open_clip_module().list_pretrained_tags_by_model(name)
    near = closest(tag, tags, n=3, cutoff=0.4)
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
    known = open_clip_module().list_models()
    head = name.split("/")[0]
    return not (closest(head, known, n=1, cutoff=0.85) or closest(name.replace("/", "-"), known, n=1, cutoff=0.85))


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


def resolve_source(name: str, pretrained: str | None) -> tuple[str, str, str | None]:
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
