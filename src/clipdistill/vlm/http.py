"""Describe images through any OpenAI-compatible chat-completions server.

vLLM (``vllm serve Qwen/Qwen2.5-VL-7B-Instruct`` -> ``http://localhost:8000/v1``), Ollama
(``http://localhost:11434/v1``), LM Studio (``http://localhost:1234/v1``) and hosted APIs
all speak this protocol. Images travel inline as base64 data URLs, so the server needs no
access to the files.

The API key is read from the environment variable ``CLIPDISTILL_VLM_API_KEY`` at each
request and nowhere else: it is not a config field (papermill writes notebook parameters
into the executed notebook, which the book publishes), not an attribute, not part of the
cache key, and it is masked in every error message.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import random
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence

from .base import DescribeError, KeyedBySettings

__all__ = ["OpenAIDescriber", "API_KEY_ENV", "image_data_url", "chat_completions_url"]

API_KEY_ENV = "CLIPDISTILL_VLM_API_KEY"

# Worth another try: the server is busy, restarting or briefly broken.
RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
_SENT_AS_IS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}


class _Retryable(Exception):
    """One attempt failed in a way a later attempt may not."""


def chat_completions_url(api_base: str) -> str:
    """``http://host:8000/v1`` -> ``http://host:8000/v1/chat/completions`` (either accepted)."""
    base = api_base.strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ValueError(f"vlm_api_base must start with http:// or https://, got {api_base!r}.")
    return base if base.endswith("/chat/completions") else base + "/chat/completions"


def image_data_url(path: str | os.PathLike) -> str:
    """The image as a ``data:`` URL: the file's own bytes when servers read that format
    and no EXIF rotation is pending, else an upright PNG re-encode."""
    from PIL import Image

    from .base import open_rgb

    raw = Path(path).read_bytes()
    with Image.open(io.BytesIO(raw)) as im:
        fmt = im.format
        orientation = im.getexif().get(0x0112, 1)
    if fmt in _SENT_AS_IS and orientation in (None, 1):
        mime = _SENT_AS_IS[fmt]
    else:
        buf = io.BytesIO()
        open_rgb(path).save(buf, format="PNG")
        raw, mime = buf.getvalue(), "image/png"
    return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"


def _mask(text: str) -> str:
    """Hide the API key wherever a server or library might have echoed it."""
    key = os.environ.get(API_KEY_ENV, "")
    return text.replace(key, "***") if len(key) >= 4 else text


class OpenAIDescriber(KeyedBySettings):
    """Concurrent chat-completions requests with timeouts and retries (exponential backoff).

    Failures a retry can fix (5xx, 429, timeouts, dropped connections, malformed replies)
    are retried ``max_retries`` times; the rest (401, 404, ...) fail at once. Either way
    the batch's finished descriptions travel in :class:`DescribeError` ``.partial`` so
    the cache keeps them.
    """

    backend = "openai"

    def __init__(self, model: str, api_base: str, *, max_new_tokens: int = 64,
                 temperature: float = 0.0, repetition_penalty: float = 1.0,
                 concurrency: int = 4, timeout_s: float = 120.0, max_retries: int = 4,
                 backoff_s: float = 1.0, seed: int = 0):
        if not api_base:
            raise ValueError("The openai backend needs vlm_api_base, e.g. http://localhost:8000/v1.")
        if concurrency < 1 or max_retries < 0 or timeout_s <= 0:
            raise ValueError("vlm_concurrency must be >= 1, vlm_max_retries >= 0 and vlm_timeout_s > 0.")
        self.model = model
        self.url = chat_completions_url(api_base)
        self.max_new_tokens = int(max_new_tokens)
        self.temperature = float(temperature)
        self.repetition_penalty = float(repetition_penalty)
        self.concurrency = int(concurrency)
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.backoff_s = float(backoff_s)
        self.seed = int(seed)

    def _model_settings(self) -> dict[str, Any]:
        """The server's URL is left out: the same model moved to another port gives the
        same descriptions. The API key is never part of anything."""
        return {"model": self.model}

    def __repr__(self) -> str:
        return f"OpenAIDescriber({self.model!r}, url={self.url!r}, concurrency={self.concurrency})"

    # -- one request ---------------------------------------------------------------
    def _payload(self, path: Path, prompt: str) -> bytes:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": image_data_url(path)}},
                {"type": "text", "text": prompt},
            ]}],
            "max_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "n": 1,
        }
        if self.temperature > 0:
            body["seed"] = self.seed
        if self.repetition_penalty != 1.0:
            body["repetition_penalty"] = self.repetition_penalty  # vLLM's extension
        return json.dumps(body).encode("utf-8")

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(API_KEY_ENV)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _attempt(self, payload: bytes, name: str) -> str:
        request = urllib.request.Request(self.url, data=payload, headers=self._headers(), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = _mask(exc.read(300).decode("utf-8", "replace").strip())
            message = f"HTTP {exc.code} from {self.url} for {name}: {detail or exc.reason}"
            if exc.code in RETRY_STATUS or exc.code >= 500:
                raise _Retryable(message, _retry_after(exc)) from None
            hint = f" (is {API_KEY_ENV} set?)" if exc.code in (401, 403) else ""
            raise DescribeError(_mask(message) + hint) from None
        except (TimeoutError, socket.timeout) as exc:
            raise _Retryable(f"no answer from {self.url} within {self.timeout_s:g} s for {name}") from exc
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, (TimeoutError, socket.timeout)):
                raise _Retryable(f"no answer from {self.url} within {self.timeout_s:g} s for {name}") from None
            raise _Retryable(_mask(f"could not reach {self.url} for {name}: {reason}")) from None
        try:
            reply = json.loads(raw)
            text = reply["choices"][0]["message"]["content"]
            if isinstance(text, list):  # some servers return content parts
                text = "".join(part.get("text", "") for part in text if isinstance(part, dict))
            if not isinstance(text, str):
                raise TypeError(type(text).__name__)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            snippet = _mask(raw[:120].decode("utf-8", "replace"))
            raise _Retryable(f"malformed reply from {self.url} for {name}: {snippet!r}") from None
        return text.strip()

    def describe_one(self, path: Path, prompt: str) -> str:
        """One image, retried with exponential backoff (and jitter) on transient failures."""
        payload = self._payload(Path(path), prompt)
        name = Path(path).name
        for attempt in range(self.max_retries + 1):
            try:
                return self._attempt(payload, name)
            except _Retryable as exc:
                if attempt == self.max_retries:
                    raise DescribeError(
                        f"Gave up on {name} after {attempt + 1} attempts: {exc.args[0]}") from None
                wait = self.backoff_s * 2 ** attempt * random.uniform(0.5, 1.0)
                retry_after = exc.args[1] if len(exc.args) > 1 else None
                time.sleep(max(wait, retry_after or 0.0))
        raise AssertionError("unreachable")  # pragma: no cover

    # -- a batch -------------------------------------------------------------------
    def describe(self, paths: Sequence[Path], prompt: str) -> list[str]:
        """All of ``paths`` at ``concurrency`` requests in flight; every request runs to
        its end before a failure is raised, so the rest of the batch is kept."""
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(paths)) or 1) as pool:
            futures = [pool.submit(self.describe_one, p, prompt) for p in paths]
        done: dict[int, str] = {}
        errors: list[str] = []
        for i, fut in enumerate(futures):
            exc = fut.exception()
            if exc is None:
                done[i] = fut.result()
            else:
                errors.append(_mask(str(exc)) if isinstance(exc, DescribeError)
                              else _mask(f"{type(exc).__name__}: {exc}"))
        if errors:
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise DescribeError(f"{errors[0]}{more}", partial=done)
        return [done[i] for i in range(len(paths))]


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    """A server's Retry-After in seconds (capped at a minute), when it sent one."""
    try:
        value = float(exc.headers.get("Retry-After", ""))
    except (TypeError, ValueError, AttributeError):
        return None
    return min(max(value, 0.0), 60.0)
