"""Describe images through any OpenAI-compatible chat-completions server, or several.

vLLM (``vllm serve Qwen/Qwen2.5-VL-7B-Instruct`` -> ``http://localhost:8000/v1``), Ollama
(``http://localhost:11434/v1``), LM Studio (``http://localhost:1234/v1``) and hosted APIs
all speak this protocol. Images travel inline as base64 data URLs, so the server needs no
access to the files; with a pixel budget they are resized first (:mod:`.pixels`).
Requests run in a sliding window (:mod:`.window`), ``concurrency`` per server, each
server chosen least-busy-first and skipped while it is down (:mod:`.endpoints`).

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
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from .base import DescribeError, KeyedBySettings
from .endpoints import EndpointPool
from .window import sliding_window

__all__ = ["OpenAIDescriber", "API_KEY_ENV", "image_data_url", "chat_completions_url"]

API_KEY_ENV = "CLIPDISTILL_VLM_API_KEY"

# Worth another try: the server is busy, restarting or briefly broken.
RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
_SENT_AS_IS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}


class _Retryable(Exception):
    """One attempt failed in a way a later attempt may not."""


class _Unreachable(_Retryable):
    """The server refused, reset or dropped the connection: try another one."""


def chat_completions_url(api_base: str) -> str:
    """``http://host:8000/v1`` -> ``http://host:8000/v1/chat/completions`` (either accepted)."""
    base = api_base.strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ValueError(f"vlm_api_base must start with http:// or https://, got {api_base!r}.")
    return base if base.endswith("/chat/completions") else base + "/chat/completions"


def api_bases(value: str | Sequence[str]) -> list[str]:
    """``vlm_api_base`` as a list: one URL, a comma-separated string, or a list."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return [str(u).strip() for u in items if str(u).strip()]


def image_data_url(path: str | os.PathLike, max_pixels: int = 0) -> str:
    """The image as a ``data:`` URL: the file's own bytes when servers read that format,
    no EXIF rotation is pending and the pixel budget (``max_pixels``; 0: none) leaves its
    size alone; else the upright image, fitted to the budget, as PNG."""
    from PIL import Image

    from .base import open_rgb
    from .pixels import fit_to_budget, png_bytes

    raw = Path(path).read_bytes()
    with Image.open(io.BytesIO(raw)) as im:
        fmt = im.format
        orientation = im.getexif().get(0x0112, 1)
    upright = fmt in _SENT_AS_IS and orientation in (None, 1)
    image = None if upright and not max_pixels else open_rgb(path)
    fitted = fit_to_budget(image, max_pixels) if max_pixels else None
    if upright and fitted is None:
        mime = _SENT_AS_IS[fmt]
    else:
        raw, mime = png_bytes(fitted if fitted is not None else image), "image/png"
    return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"


def _mask(text: str) -> str:
    """Hide the API key wherever a server or library might have echoed it."""
    key = os.environ.get(API_KEY_ENV, "")
    return text.replace(key, "***") if len(key) >= 4 else text


class OpenAIDescriber(KeyedBySettings):
    """Chat-completions requests in a sliding window, with timeouts and retries.

    Failures a retry can fix (5xx, 429, timeouts, malformed replies) are retried
    ``max_retries`` times with exponential backoff; a refused or dropped connection
    takes that server out for a while and the request goes to another at once; the rest
    (401, 404, ...) fail at once. ``describe_stream`` hands each text over as it arrives
    (the driver writes it to the cache there and then); ``describe`` returns a batch, its
    finished texts travelling in :class:`DescribeError` ``.partial`` when some failed.
    """

    backend = "openai"

    def __init__(self, model: str, api_base: str | Sequence[str], *, max_new_tokens: int = 64,
                 temperature: float = 0.0, repetition_penalty: float = 1.0,
                 concurrency: int = 64, timeout_s: float = 120.0, max_retries: int = 4,
                 backoff_s: float = 1.0, seed: int = 0, max_pixels: int = 0):
        bases = api_bases(api_base or "")
        if not bases:
            raise ValueError("The openai backend needs vlm_api_base, e.g. http://localhost:8000/v1 "
                             "(or a list of servers).")
        if concurrency < 1 or max_retries < 0 or timeout_s <= 0:
            raise ValueError("vlm_concurrency must be >= 1, vlm_max_retries >= 0 and vlm_timeout_s > 0.")
        if max_pixels < 0:
            raise ValueError(f"vlm_max_pixels must be >= 0 (0: no budget), got {max_pixels}.")
        self.model = model
        self.urls = [chat_completions_url(b) for b in bases]
        self.url = self.urls[0]
        self.max_pixels = int(max_pixels)
        self.max_new_tokens = int(max_new_tokens)
        self.temperature = float(temperature)
        self.repetition_penalty = float(repetition_penalty)
        self.concurrency = int(concurrency)
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.backoff_s = float(backoff_s)
        self.seed = int(seed)
        self.pool = EndpointPool(self.urls, self.concurrency, cooldown_s=self.backoff_s)

    def _model_settings(self) -> dict[str, Any]:
        """The servers' URLs are left out: the same model moved to another port, or
        served by more machines, gives the same descriptions. The pixel budget is in
        (absent when 0: older caches keep their keys). The API key is never part of
        anything."""
        s: dict[str, Any] = {"model": self.model}
        if self.max_pixels:
            s["max_pixels"] = self.max_pixels
        return s

    def __repr__(self) -> str:
        where = self.url if len(self.urls) == 1 else f"{len(self.urls)} servers"
        return (f"OpenAIDescriber({self.model!r}, url={where!r}, "
                f"concurrency={self.concurrency} per server)")

    # -- one request ---------------------------------------------------------------
    def _payload(self, path: Path, prompt: str) -> bytes:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": image_data_url(path, self.max_pixels)}},
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

    def _attempt(self, url: str, payload: bytes, name: str) -> str:
        request = urllib.request.Request(url, data=payload, headers=self._headers(), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = _mask(exc.read(300).decode("utf-8", "replace").strip())
            message = f"HTTP {exc.code} from {url} for {name}: {detail or exc.reason}"
            if exc.code in RETRY_STATUS or exc.code >= 500:
                raise _Retryable(message, _retry_after(exc)) from None
            hint = f" (is {API_KEY_ENV} set?)" if exc.code in (401, 403) else ""
            raise DescribeError(_mask(message) + hint) from None
        except (TimeoutError, socket.timeout) as exc:  # slow is not dead: retry, same pool
            raise _Retryable(f"no answer from {url} within {self.timeout_s:g} s for {name}") from exc
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, (TimeoutError, socket.timeout)):
                raise _Retryable(f"no answer from {url} within {self.timeout_s:g} s for {name}") from None
            raise _Unreachable(_mask(f"could not reach {url} for {name}: {reason}")) from None
        try:
            reply = json.loads(raw)
            text = reply["choices"][0]["message"]["content"]
            if isinstance(text, list):  # some servers return content parts
                text = "".join(part.get("text", "") for part in text if isinstance(part, dict))
            if not isinstance(text, str):
                raise TypeError(type(text).__name__)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            snippet = _mask(raw[:120].decode("utf-8", "replace"))
            raise _Retryable(f"malformed reply from {url} for {name}: {snippet!r}") from None
        return text.strip()

    def describe_one(self, path: Path, prompt: str) -> str:
        """One image, on the least busy server. Retried with exponential backoff (and
        jitter) on transient failures; a lost connection moves it to another server at
        once, costing no retry while another server is up."""
        payload = self._payload(Path(path), prompt)
        name = Path(path).name
        attempt, moves = 0, 0
        while True:
            endpoint = self.pool.acquire()
            try:
                text = self._attempt(endpoint.url, payload, name)
            except _Unreachable as exc:
                self.pool.release(endpoint, reachable=False)
                if self.pool.alive() and moves < 8 * len(self.pool):
                    moves += 1  # another server is up: go there now
                    continue
                error = exc
            except _Retryable as exc:
                self.pool.release(endpoint, reachable=True)
                error = exc
            except BaseException:
                self.pool.release(endpoint, reachable=True)
                raise
            else:
                self.pool.release(endpoint, reachable=True)
                return text
            if attempt == self.max_retries:
                raise DescribeError(f"Gave up on {name} after {attempt + 1} attempts: {error.args[0]}")
            if not isinstance(error, _Unreachable):  # a dead server waits in the pool instead
                wait = self.backoff_s * 2 ** attempt * random.uniform(0.5, 1.0)
                retry_after = error.args[1] if len(error.args) > 1 else None
                time.sleep(max(wait, retry_after or 0.0))
            attempt += 1

    # -- many images -----------------------------------------------------------------
    def describe_stream(self, items: Iterable[tuple[Any, Path]], prompt: str
                        ) -> Iterator[tuple[Any, str | DescribeError]]:
        """``(key, path)`` pairs in, ``(key, text or DescribeError)`` out as each request
        finishes, with ``concurrency`` requests in flight per server."""
        window = self.concurrency * len(self.urls)
        for (key, _), text, exc in sliding_window(lambda item: self.describe_one(item[1], prompt),
                                                  items, window, name="clipdistill-vlm"):
            if exc is None:
                yield key, text
            elif isinstance(exc, DescribeError):
                yield key, DescribeError(_mask(str(exc)))
            elif isinstance(exc, Exception):
                yield key, DescribeError(_mask(f"{type(exc).__name__}: {exc}"))
            else:  # KeyboardInterrupt and friends stop the run
                raise exc

    def describe(self, paths: Sequence[Path], prompt: str) -> list[str]:
        """All of ``paths`` through the window; every request runs to its end before a
        failure is raised, so the rest are kept (``DescribeError.partial``)."""
        done: dict[int, str] = {}
        errors: list[str] = []
        for i, result in self.describe_stream(enumerate(paths), prompt):
            if isinstance(result, DescribeError):
                errors.append(str(result))
            else:
                done[i] = result
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
