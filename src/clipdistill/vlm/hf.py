"""Describe images with a vision-language checkpoint through transformers.

One code path for every checkpoint: Qwen2.5-VL-3B/7B (GPU profiles), SmolVLM-256M (CPU
profiles) and the offline tiny models are all loaded with ``AutoProcessor`` and
``AutoModelForImageTextToText``, prompted through the processor's own chat template (which
places each model's image tokens), batched with left padding, greedy by default. What
differs between families is data: ``max_pixels`` for Qwen's dynamic resolution, and
``image_processor`` overrides such as SmolVLM's ``{"do_image_splitting": False}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..io import file_digest, stable_hash
from .base import DescribeError, KeyedBySettings, open_rgb
from .image_features import FeatureMemo, image_key

__all__ = ["TransformersDescriber", "resolve_dtype", "resolve_attention", "apply_image_settings"]


def resolve_dtype(dtype: str, device: Any, *, packed: bool = False) -> str:
    """``auto`` -> bfloat16 on CUDA, float16 on Apple GPUs; on a CPU, bfloat16 where the
    processor has bf16 matrix units (:func:`clipdistill.device.cpu_dtype`: AMX, or
    AVX512-BF16 when generation runs oneDNN's ``packed`` kernels), else float32."""
    if dtype != "auto":
        return dtype
    kind = getattr(device, "type", str(device))
    if kind == "cpu":
        from ..device import cpu_dtype

        return cpu_dtype("auto", packed=packed)[0]
    return {"cuda": "bfloat16", "mps": "float16"}.get(kind, "float32")


def resolve_attention(attn: str, device: Any) -> str:
    """``auto`` -> FlashAttention-2 when installed and on CUDA, else PyTorch SDPA."""
    if attn != "auto":
        return attn
    if getattr(device, "type", str(device)) == "cuda":
        try:
            import flash_attn  # noqa: F401

            return "flash_attention_2"
        except ImportError:
            pass
    return "sdpa"


def apply_image_settings(ip: Any, max_pixels: int, overrides: dict[str, Any], name: str) -> None:
    """Set the run's image settings on a loaded image processor, or fail in one sentence.

    ``max_pixels`` caps Qwen-style dynamic resolution (``size`` holds the pixel bounds);
    ``overrides`` replace named settings the processor already has, e.g. SmolVLM's
    ``do_image_splitting``: a key the processor lacks would silently do nothing.
    """
    kind = type(ip).__name__
    if max_pixels:
        size = getattr(ip, "size", None)  # Qwen: shortest/longest edge hold min/max pixels
        if getattr(size, "shortest_edge", None) is None or getattr(size, "longest_edge", None) is None:
            raise ValueError(f"vlm_max_pixels applies to Qwen-style processors; {name}'s "
                             f"{kind} has no pixel budget: set vlm_max_pixels=0.")
        ip.size = {"shortest_edge": min(size["shortest_edge"], max_pixels), "longest_edge": max_pixels}
    known = ip.to_dict()
    for key, value in overrides.items():
        if key not in known:
            raise ValueError(f"vlm_image_processor sets {key!r}, which {name}'s {kind} does not "
                             f"have (it has: {', '.join(sorted(known))}); remove it or set "
                             "vlm_image_processor={}.")
        setattr(ip, key, value)


def _weights_id(source: str) -> str:
    """What identifies the weights: the hub id itself, or a local folder's config + files."""
    folder = Path(source).expanduser()
    if not folder.is_dir():
        return source
    parts = [file_digest(folder / "config.json")] if (folder / "config.json").is_file() else []
    parts += sorted((p.name, p.stat().st_size) for p in folder.glob("*.safetensors"))
    return f"{folder.name}@{stable_hash(parts, length=12)}"


class TransformersDescriber(KeyedBySettings):
    """An image-text-to-text model answering one prompt per image, a batch at a time.

    The model loads on first use (``load()``), so building a describer to read its
    ``key`` or find its cache is free.
    """

    backend = "transformers"

    def __init__(self, source: str, *, name: str | None = None, weights_id: str | None = None,
                 device: Any = "cpu", dtype: str = "auto", attn: str = "auto",
                 max_new_tokens: int = 64, temperature: float = 0.0,
                 repetition_penalty: float = 1.0, max_pixels: int = 0,
                 image_processor: dict[str, Any] | None = None, seed: int = 0,
                 cpu_kernels: str = "auto", pin_config: Any = None):
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}.")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}.")
        import torch

        from ..embed import onednn

        self.source = str(source)
        self.name = name or self.source
        self.device = device
        on_cpu = getattr(device, "type", str(device)) == "cpu"
        bf16_packs = on_cpu and cpu_kernels != "torch" and onednn.available(torch.bfloat16)
        self.dtype = resolve_dtype(dtype, device, packed=bf16_packs)
        # bfloat16 on a CPU with oneDNN: fp32 weights, generating on a copy packed in bf16
        # under autocast (stock bf16 weights measured 4x slower than fp32 on AVX512-BF16).
        self.cpu_autocast = bf16_packs and self.dtype == "bfloat16"
        self.attn = resolve_attention(attn, device)
        self.max_new_tokens = int(max_new_tokens)
        self.temperature = float(temperature)
        self.repetition_penalty = float(repetition_penalty)
        self.max_pixels = int(max_pixels)
        self.image_processor = dict(sorted((image_processor or {}).items()))
        self.seed = int(seed)
        self._weights = weights_id or _weights_id(self.source)
        self.pin_config = pin_config  # a Config choosing the hub commit (clipdistill.pins)
        self._hub: tuple[Any, str, bool] | None = None  # (weights, commit, cache_only) once asked
        # On a CPU, generation runs a copy with oneDNN-packed linear layers (the vision
        # tower is most of a description's cost there); ``model`` stays stock.
        precision = "fp32" if self.dtype == "float32" or self.cpu_autocast else self.dtype
        self.kernels = onednn.engine_kernels(cpu_kernels, self.device, precision)
        self.model = None
        self.processor = None
        self._generator = None
        self.features = FeatureMemo()  # a second prompt reuses the first one's image features

    def _model_settings(self) -> dict[str, Any]:
        """Attention kernels compute the same maths: left out. Precision is not (a bf16
        CPU copy is ``dtype`` bfloat16 with ``cpu_kernels`` onednn)."""
        s = {"model": self.name, "weights": self._weights, "dtype": self.dtype,
             "max_pixels": self.max_pixels}
        if self._hub_weights() is not None:  # another commit may describe differently
            s["commit"] = self.commit()
        if self.image_processor:  # absent when empty: older caches keep their keys
            s["image_processor"] = self.image_processor
        if self.kernels != "torch":  # packed kernels round differently: greedy text may differ
            s["cpu_kernels"] = self.kernels
        return s

    def __repr__(self) -> str:
        return (f"TransformersDescriber({self.name!r}, dtype={self.dtype}, attn={self.attn}, "
                f"kernels={self.kernels})")

    def _hub_weights(self) -> Any:
        from .. import hub

        return hub.transformers_weights(self.source)  # None for a local folder

    def commit(self) -> str:
        """The hub commit this describer loads: the pinned one, read without a request."""
        from .. import pins

        wanted = self._hub_weights()
        pinned = pins.revision(wanted.repo_id, self.pin_config)
        if self._hub is None and pins.is_commit(pinned):
            return pinned
        return self._prepare()[1]

    def _prepare(self) -> tuple[Any, str, bool]:
        """Fails in seconds when the hub is silent; ``cache_only``: the hub is off or silent,
        so the cache alone serves (no per-file wait for an answer that will not come)."""
        from .. import weights

        if self._hub is None:
            self._hub = weights.prepare(self._hub_weights(), self.pin_config)
        return self._hub

    def load(self) -> None:
        """Load processor and model (once), and record the weights for the provenance."""
        if self.model is not None:
            return
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        from .. import weights

        wanted = self._hub_weights()
        hub_args: dict[str, Any] = {}
        if wanted is not None:
            wanted, commit, cache_only = self._prepare()
            hub_args = {"revision": commit, "local_files_only": cache_only}
        processor = AutoProcessor.from_pretrained(self.source, **hub_args)
        processor.tokenizer.padding_side = "left"  # batched generation continues on the right
        apply_image_settings(processor.image_processor, self.max_pixels, self.image_processor,
                             self.name)
        load_dtype = "float32" if self.cpu_autocast else self.dtype  # bf16 lives in the copy
        model = AutoModelForImageTextToText.from_pretrained(
            self.source, dtype=getattr(torch, load_dtype), attn_implementation=self.attn,
            device_map=str(self.device), **hub_args,
        )
        self.processor, self.model = processor, model.eval()
        if wanted is None:
            weights.record_local(self.name, self.source)
        else:
            weights.record(wanted.label, wanted.repo_id, wanted.revision, hub_args["revision"],
                           weights.cached_weight_files(wanted, hub_args["revision"]))
        self._generator = self._inference_copy()

    def _inference_copy(self) -> Any:
        """``model``, or on a CPU a copy sharing its weights with packed linear layers (in
        bf16 where ``cpu_autocast``), checked against it on a short text-only forward pass
        (else stock kernels)."""
        if self.kernels != "onednn":
            return self.model
        import torch

        from ..embed import onednn

        fast = onednn._shared_copy(self.model).eval()
        ids = torch.arange(1, 9).unsqueeze(0)
        dtype = torch.bfloat16 if self.cpu_autocast else torch.float32
        if not onednn.pack_linear_layers(fast, probe=lambda: fast(input_ids=ids).logits, dtype=dtype):
            import warnings

            warnings.warn(f"{self.name}: the oneDNN copy disagreed with the stock model; "
                          "describing with torch's kernels instead.", stacklevel=3)
            return self.model
        return fast

    def generation_config(self) -> Any:
        """The settings every ``generate`` call of this describer uses (after ``load``)."""
        from transformers import GenerationConfig

        greedy = self.temperature == 0
        # Start from the checkpoint's config (eos/pad ids) but set every sampling knob
        # ourselves: the hub's Qwen config samples (with top_k=1, top_p=0.001) by default.
        # Neutral values, not None: generate() fills None from the checkpoint's config.
        # Sampling, when asked for, is plain temperature sampling (no top-k, no top-p).
        return GenerationConfig.from_dict({
            **self.model.generation_config.to_dict(),
            "do_sample": not greedy, "temperature": 1.0 if greedy else self.temperature,
            "top_p": 1.0, "top_k": 50 if greedy else 0,
            "repetition_penalty": self.repetition_penalty, "max_new_tokens": self.max_new_tokens,
        })

    def describe(self, paths: Sequence[Path], prompt: str) -> list[str]:
        import torch

        self.load()
        from ..data.images import BadImage

        images = []
        for p in paths:
            try:
                images.append(open_rgb(p))
            except BadImage as exc:
                raise DescribeError(f"Cannot describe {Path(p).name}: {exc}.") from exc
        message = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
        chat = self.processor.apply_chat_template(message, tokenize=False, add_generation_prompt=True)
        # One image per prompt, nested: some processors (LFM2-VL) do not split a flat list.
        inputs = self.processor(text=[chat] * len(images), images=[[im] for im in images],
                                padding=True, return_tensors="pt").to(self.model.device)
        if self.temperature > 0:
            torch.manual_seed(self.seed)
        with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=self.cpu_autocast):
            inputs = self.features.generate_inputs(self._generator, inputs, [image_key(p) for p in paths])
            out = self._generator.generate(**inputs, generation_config=self.generation_config())
        new = out[:, inputs["input_ids"].shape[1]:]
        texts = self.processor.batch_decode(new, skip_special_tokens=True)
        return [t.strip() for t in texts]

