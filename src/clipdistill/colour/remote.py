"""Models whose code lives in their hub repository (LLM2CLIP): loaded only on explicit opt-in.

``transformers`` runs such code with ``trust_remote_code=True``: Python downloaded from
the model's repository, executed with your permissions. Whether to allow that is a
security decision, so clipdistill never makes it for you: a run may use these models only
with ``--trust-remote-code`` on the command line (or ``colour_trust_remote_code=true``),
and no profile sets it. Pin a revision you have read if you turn it on: every repository
below is downloaded at ``pins.revision(repo, cfg)``, so ``--set 'hub_revisions={...}'``
(or an entry in pins.json) fixes the code that runs.

LLM2CLIP (Huang et al., 2024) keeps a CLIP image tower and replaces the text tower with a
fine-tuned Llama-3-8B read through LLM2Vec; the loader follows the model card, and it runs
every prompt style, RGB digits (style 4) included. Nothing here can be tested
offline beyond the opt-in and the refusals: there is no random-weight build of it, its
modelling code lives only in its hub repositories, and the llm2vec package it needs pins
transformers<=4.44.2 (0.2.3), which cannot be installed beside this package's
transformers>=5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from . import ColourError

__all__ = ["REMOTE_CODE_MODELS", "needs_remote_code", "check_remote_code", "load_remote"]

REMOTE_CODE_MODELS: dict[str, dict[str, Any]] = {
    "microsoft/LLM2CLIP-Openai-B-16": {
        "image_processor": "openai/clip-vit-base-patch16",
        "llm": "microsoft/LLM2CLIP-Llama-3-8B-Instruct-CC-Finetuned",
        # LLM2Vec picks its pooling by the base model's name, as the model card sets it.
        "llm_name_or_path": "meta-llama/Meta-Llama-3-8B-Instruct",
    },
}


def needs_remote_code(spec: str) -> bool:
    return spec in REMOTE_CODE_MODELS


def check_remote_code(specs: Sequence[str], allowed: bool, smoke: bool) -> None:
    """Refuse remote-code models unless the user opted in (and never with random weights)."""
    for spec in specs:
        if not needs_remote_code(spec):
            continue
        if not allowed:
            raise ColourError(
                f"{spec} runs Python code from its hub repository; allow it explicitly with "
                "--trust-remote-code (or --set colour_trust_remote_code=true) if you trust that code.")
        if smoke:
            raise ColourError(f"{spec} has no offline random-weight build: the smoke profile cannot "
                              "run it (use quick or paper).")


def _clip_model_class():
    from ..models import ClipModel

    @dataclass(repr=False)
    class RemoteClip(ClipModel):
        """A ClipModel whose "tokens" are LLM2Vec sentence features (the text tower's input)."""

        text_encoder: Any = None

        def tokenize(self, texts: Sequence[str]):
            return self.text_encoder.encode(list(texts), convert_to_tensor=True)

        def encode_text(self, tokens, normalize: bool = False, *, module=None, full_length=False):
            import torch  # its "tokens" are sentence features: nothing to cut

            net = self.model if module is None else module
            out = net.get_text_features(tokens.to(self.device, self._param_dtype()))
            return torch.nn.functional.normalize(out, dim=-1) if normalize else out

        def encode_image(self, pixels, normalize: bool = False, *, module=None):
            import torch

            net = self.model if module is None else module
            out = net.get_image_features(pixels.to(self.device, self._param_dtype()))
            return torch.nn.functional.normalize(out, dim=-1) if normalize else out

    return RemoteClip


def load_remote(cfg: Any, spec: str) -> Any:
    """Load ``spec`` with its own code, as its model card does (UNTESTED here: no hub)."""
    check_remote_code([spec], bool(cfg.colour_trust_remote_code), bool(cfg.smoke))
    meta = REMOTE_CODE_MODELS[spec]
    try:
        from llm2vec import LLM2Vec
    except ImportError:
        raise ColourError(f"{spec} needs the llm2vec package for its text tower, whose "
                          "releases (0.2.3) require transformers<=4.44.2 while clipdistill "
                          "needs transformers>=5: run it from a separate environment.") from None
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer, CLIPImageProcessor

    from .. import pins
    from ..io import stable_hash
    from ..models.hf_backend import HFPreprocess
    from ..device import torch_device

    device = torch_device(cfg)
    precision = "bf16" if device.type == "cuda" else "fp32"
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    def at(repo: str) -> dict[str, str]:
        return {"revision": pins.revision(repo, cfg)}

    model = AutoModel.from_pretrained(spec, dtype=dtype, trust_remote_code=True,
                                      **at(spec)).to(device).eval()
    llm_config = AutoConfig.from_pretrained(meta["llm"], trust_remote_code=True, **at(meta["llm"]))
    llm = AutoModel.from_pretrained(meta["llm"], dtype=dtype, config=llm_config,
                                    trust_remote_code=True, **at(meta["llm"])).to(device).eval()
    llm.config._name_or_path = meta["llm_name_or_path"]
    encoder = LLM2Vec(llm, AutoTokenizer.from_pretrained(meta["llm"], **at(meta["llm"])),
                      pooling_mode="mean", max_length=512, doc_max_length=512)
    processor = CLIPImageProcessor.from_pretrained(meta["image_processor"],
                                                   **at(meta["image_processor"]))
    with torch.inference_mode():
        probe = model.get_image_features(torch.zeros(1, 3, 224, 224, device=device, dtype=dtype))
    revisions = {repo: pins.revision(repo, cfg) for repo in (spec, meta["llm"], meta["image_processor"])}
    key = f"LLM2CLIP-{stable_hash(spec, meta, precision, revisions, length=12)}"
    return _clip_model_class()(
        model=model, preprocess=HFPreprocess(processor), name=spec, pretrained=None,
        random_weights=False, device=device, precision=precision, embed_dim=int(probe.shape[-1]),
        key=key, backend="remote", info={"remote_code": True, "llm": meta["llm"],
                                         "image_processor": meta["image_processor"]},
        text_encoder=encoder)
