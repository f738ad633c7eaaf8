"""A stand-in for an OpenAI-compatible VLM server (vLLM's API) on 127.0.0.1.

What it is for: the openai backend's window, endpoints, retries and cache are exercised
by tests and measured by ``benchmarks/bench_vlm_server.py`` against real HTTP, with no
model and no GPU. Each reply takes a random time drawn from a lognormal distribution of
the given mean (real generation times are spread like that: most answers near the mean,
a long tail of slow ones), and says which image and prompt it was asked about, so a test
can check every description landed on the right image:

    a stand-in description of image <sha1 of the image bytes, 12 hex> (prompt <6 hex>)

It answers ``POST /v1/chat/completions`` and ``GET /v1/models``. It is not a model: its
"descriptions" are never results.

In this process::

    with StandInVLM(mean_s=0.05) as server:
        cfg = resolve(..., {"vlm_backend": "openai", "vlm_api_base": server.base_url})

As its own process (to be killed for real, or to keep its threads off the client's
interpreter)::

    python -m clipdistill.offline.vlm_server --mean-s 1.0 --sigma 0.5
    # prints http://127.0.0.1:<port>/v1 on its first line, then serves until killed
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import os
import random
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Sequence

__all__ = ["StandInVLM", "stand_in_text", "start_process", "MODEL"]

MODEL = "stand-in-vlm"


def stand_in_text(image_bytes: bytes, prompt: str) -> str:
    """The reply the stand-in gives for an image (its bytes as sent) and a prompt."""
    image = hashlib.sha1(image_bytes).hexdigest()[:12]
    asked = hashlib.sha1(prompt.encode("utf-8")).hexdigest()[:6]
    return f"a stand-in description of image {image} (prompt {asked})"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # hundreds of clients connect at once


class StandInVLM:
    """The server, in a thread of this process; ``mean_s`` 0 answers at once."""

    def __init__(self, mean_s: float = 0.0, sigma: float = 0.5, seed: int = 0, port: int = 0):
        if mean_s < 0 or sigma < 0:
            raise ValueError("mean_s and sigma must be >= 0.")
        self.mean_s, self.sigma = float(mean_s), float(sigma)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.served = 0
        self.active = 0  # requests being answered right now
        self.images: dict[str, int] = {}  # sha1 of the image bytes -> requests answered
        self.sizes: list[tuple[int, int]] = []  # (width, height) of every image received
        self._httpd = _Server(("127.0.0.1", port), self._handler())
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def latency(self) -> float:
        """One draw: lognormal with mean ``mean_s`` (mu = ln(mean) - sigma^2 / 2)."""
        if self.mean_s == 0:
            return 0.0
        with self._lock:
            return self._rng.lognormvariate(math.log(self.mean_s) - self.sigma ** 2 / 2, self.sigma)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode("utf-8")
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path.rstrip("/") in ("/v1/models", "/models"):
                    self._send(200, {"object": "list", "data": [{"id": MODEL, "object": "model"}]})
                else:
                    self._send(404, {"error": f"no route {self.path}"})

            def do_POST(self) -> None:  # noqa: N802
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                    content = body["messages"][0]["content"]
                    url = next(c["image_url"]["url"] for c in content if c["type"] == "image_url")
                    prompt = next(c["text"] for c in content if c["type"] == "text")
                    image = base64.b64decode(url.split(",", 1)[1])
                except (ValueError, KeyError, IndexError, StopIteration, TypeError):
                    self._send(400, {"error": "expected a chat completion with one image and one text"})
                    return
                with server._lock:
                    server.active += 1
                try:
                    time.sleep(server.latency())
                    server._count(image)
                    text = stand_in_text(image, prompt)
                    self._send(200, {"object": "chat.completion", "model": body.get("model", MODEL),
                                     "choices": [{"index": 0, "finish_reason": "stop",
                                                  "message": {"role": "assistant", "content": text}}]})
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away (killed, or gave up): nothing to tell it
                finally:
                    with server._lock:
                        server.active -= 1

        return Handler

    def _count(self, image: bytes) -> None:
        from io import BytesIO

        from PIL import Image

        digest = hashlib.sha1(image).hexdigest()
        try:
            with Image.open(BytesIO(image)) as im:
                size = im.size
        except Exception:  # noqa: BLE001 - a stand-in counts what it can
            size = (0, 0)
        with self._lock:
            self.served += 1
            self.images[digest] = self.images.get(digest, 0) + 1
            self.sizes.append(size)

    def start(self) -> "StandInVLM":
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="stand-in-vlm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "StandInVLM":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_process(mean_s: float = 0.0, sigma: float = 0.5, seed: int = 0,
                  timeout_s: float = 30.0) -> tuple[subprocess.Popen, str]:
    """The stand-in in a child process; returns it and its base URL once it listens."""
    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "clipdistill.offline.vlm_server", "--mean-s", str(mean_s),
         "--sigma", str(sigma), "--seed", str(seed)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    if not line or not line[0].startswith("http://"):
        proc.kill()
        raise RuntimeError(f"the stand-in VLM server did not start within {timeout_s:g} s.")
    return proc, line[0].strip()


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="an OpenAI-compatible stand-in VLM server on 127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0: any free port")
    ap.add_argument("--mean-s", type=float, default=0.0, help="mean reply latency in seconds")
    ap.add_argument("--sigma", type=float, default=0.5, help="lognormal shape of the latency")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    server = StandInVLM(args.mean_s, args.sigma, args.seed, args.port)
    print(server.base_url, flush=True)
    try:
        server._httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
