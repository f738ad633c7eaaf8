"""The OpenAI-compatible backend against a scripted chat-completions server on 127.0.0.1.

Per image the server plays a list of behaviours, one per attempt (``ok``, ``500``,
``429``, ``401``, ``slow``, ``garbage``, ``nochoices``, ``drop``), so retries, timeouts,
malformed replies and hard failures are all exercised without a model.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clipdistill import resolve, vlm
from clipdistill.vlm import API_KEY_ENV, DescribeError, OpenAIDescriber, describe_images
from clipdistill.vlm.http import chat_completions_url, image_data_url

SECRET = "sk-test-5ecret-d0-not-leak-42"


class Script:
    """What the server does for each image (by sha1 of its bytes), attempt by attempt."""

    def __init__(self):
        self.plans: dict[str, list[str]] = {}
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.slow_s = 1.0

    def next_for(self, digest: str) -> str:
        with self.lock:
            plan = self.plans.get(digest, [])
            return plan.pop(0) if len(plan) > 1 else (plan[0] if plan else "ok")

    def attempts(self, digest: str) -> int:
        return sum(r["digest"] == digest for r in self.requests)


def reply_text(digest: str) -> str:
    return f"a picture {digest[:10]}"


def make_handler(script: Script):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest output clean
            pass

        def _send(self, code: int, body: bytes, headers: dict | None = None):
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            url = body["messages"][0]["content"][0]["image_url"]["url"]
            header, b64 = url.split(",", 1)
            digest = hashlib.sha1(base64.b64decode(b64)).hexdigest()
            auth = self.headers.get("Authorization")
            with script.lock:
                script.requests.append({"digest": digest, "auth": auth, "body": body,
                                        "path": self.path, "mime": header})
            action = script.next_for(digest)
            try:
                if action == "ok":
                    self._send(200, json.dumps({"choices": [{"message": {
                        "role": "assistant", "content": " " + reply_text(digest) + " "}}]}).encode())
                elif action == "500":
                    self._send(500, f"internal error, your key was {auth}".encode())
                elif action == "429":
                    self._send(429, b'{"error": "slow down"}', {"Retry-After": "0"})
                elif action == "401":
                    self._send(401, f'{{"error": "invalid api key {auth}"}}'.encode())
                elif action == "slow":
                    time.sleep(script.slow_s)
                    self._send(200, b'{"choices": [{"message": {"content": "too late"}}]}')
                elif action == "garbage":
                    self._send(200, f"<html>proxy error {auth}</html>".encode())
                elif action == "nochoices":
                    self._send(200, b'{"choices": []}')
                elif action == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
            except (BrokenPipeError, ConnectionResetError, OSError):
                pass

    return Handler


@pytest.fixture
def server():
    script = Script()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(script))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    script.base = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    yield script
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(1)
    paths = []
    for i in range(6):
        p = tmp_path / "imgs" / f"pet{i}.jpg"
        p.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (16, 16 + i, 3), dtype=np.uint8)).save(p, quality=90)
        paths.append(p)
    return paths


def sha1(p: Path) -> str:
    return hashlib.sha1(p.read_bytes()).hexdigest()


def describer(base: str, **kw) -> OpenAIDescriber:
    opts = dict(max_new_tokens=20, concurrency=3, timeout_s=2.0, max_retries=3, backoff_s=0.01)
    opts.update(kw)
    return OpenAIDescriber("qwen2.5-vl-test", base, **opts)


def test_describes_concurrently_with_the_key_from_the_environment(server, images, tmp_path, monkeypatch):
    monkeypatch.setenv(API_KEY_ENV, SECRET)
    d = describer(server.base)
    texts = describe_images(d, images, "describe this image in a sentence.",
                            cache_path=tmp_path / "c.jsonl", batch_size=6, progress=False)
    assert texts == [reply_text(sha1(p)) for p in images]  # stripped, in input order
    assert len(server.requests) == 6
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["auth"] == f"Bearer {SECRET}"
    assert req["mime"] == "data:image/jpeg;base64"  # the JPEG's own bytes, not a re-encode
    body = req["body"]
    assert body["model"] == "qwen2.5-vl-test" and body["max_tokens"] == 20
    assert body["temperature"] == 0.0 and "repetition_penalty" not in body
    assert body["messages"][0]["content"][1] == {"type": "text", "text": "describe this image in a sentence."}


def test_no_key_no_authorization_header(server, images, tmp_path, monkeypatch):
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    describe_images(describer(server.base), images[:1], "p", cache_path=tmp_path / "c.jsonl", progress=False)
    assert server.requests[0]["auth"] is None


def test_transient_failures_are_retried(server, images, tmp_path):
    server.slow_s = 1.0
    plans = [["500", "500", "ok"], ["garbage", "ok"], ["nochoices", "ok"], ["slow", "ok"],
             ["429", "ok"], ["drop", "ok"]]
    for p, plan in zip(images, plans):
        server.plans[sha1(p)] = plan
    d = describer(server.base, timeout_s=0.3, concurrency=6)
    texts = describe_images(d, images, "p", cache_path=tmp_path / "c.jsonl", batch_size=6, progress=False)
    assert texts == [reply_text(sha1(p)) for p in images]
    assert [server.attempts(sha1(p)) for p in images] == [3, 2, 2, 2, 2, 2]


def test_a_hopeless_image_fails_clearly_and_nothing_done_is_lost(server, images, tmp_path):
    bad = images[4]
    server.plans[sha1(bad)] = ["500"]  # forever
    cache = tmp_path / "c.jsonl"
    with pytest.raises(DescribeError, match=r"Gave up on pet4\.jpg after 3 attempts: HTTP 500"):
        describe_images(describer(server.base, max_retries=2), images, "p", cache_path=cache,
                        batch_size=3, progress=False)
    kept = {r["image"] for r in vlm.load_cache(cache).values()}
    assert kept == {sha1(p) for p in images if p != bad}  # incl. pet3 and pet5, same batch
    assert server.attempts(sha1(bad)) == 3

    server.plans[sha1(bad)] = ["ok"]  # the server recovers
    server.requests.clear()
    texts = describe_images(describer(server.base), images, "p", cache_path=cache, batch_size=3,
                            progress=False)
    assert [r["digest"] for r in server.requests] == [sha1(bad)]  # only what was missing
    assert texts == [reply_text(sha1(p)) for p in images]
    assert len(vlm.load_cache(cache)) == 6


def test_timeouts_exhaust_retries_with_a_clear_message(server, images, tmp_path):
    server.slow_s = 0.6
    server.plans[sha1(images[0])] = ["slow"]
    with pytest.raises(DescribeError, match=r"no answer from http://127\.0\.0\.1:\d+/v1/chat/completions within 0\.2 s"):
        describe_images(describer(server.base, timeout_s=0.2, max_retries=1), images[:1], "p",
                        cache_path=tmp_path / "c.jsonl", progress=False)


def test_unreachable_server_fails_clearly(images, tmp_path):
    d = describer("http://127.0.0.1:9/v1", max_retries=1)  # port 9: nothing listens
    with pytest.raises(DescribeError, match="could not reach http://127.0.0.1:9/v1/chat/completions"):
        describe_images(d, images[:1], "p", cache_path=tmp_path / "c.jsonl", progress=False)


def test_the_key_never_appears_in_any_output(server, images, tmp_path, monkeypatch, capsys, caplog):
    """The server echoes the Authorization header in its error bodies; nothing may repeat it."""
    monkeypatch.setenv(API_KEY_ENV, SECRET)
    caplog.set_level(logging.DEBUG)
    server.plans[sha1(images[0])] = ["garbage", "500", "ok"]
    server.plans[sha1(images[1])] = ["401"]
    server.plans[sha1(images[2])] = ["500"]
    cache = tmp_path / "c.jsonl"
    d = describer(server.base, max_retries=2)
    seen = [d.key, repr(d), json.dumps(d.settings), str(vars(d))]
    for batch in (images[:1], images[1:2], images[2:3]):
        try:
            describe_images(d, batch, "p", cache_path=cache, progress=True)
        except DescribeError as exc:
            seen += [str(exc), repr(exc), str(exc.__cause__), str(exc.__context__)]
    assert "401" in seen[-8] and API_KEY_ENV in seen[-8]  # the auth failure says what to check
    assert "***" in " ".join(seen)  # echoed keys were masked, not dropped silently
    out = capsys.readouterr()
    seen += [out.out, out.err, caplog.text, cache.read_text()]
    seen += [p.read_text() for p in tmp_path.glob("*.json")]
    assert server.attempts(sha1(images[1])) == 1  # 401 is not retried
    for text in seen:
        assert SECRET not in text


def test_api_key_is_not_a_config_field():
    cfg = resolve("quick", accelerator=False, weights_reachable=(True, "test"))
    assert not [k for k in cfg.to_dict() if "key" in k.lower() and "vlm" in k.lower()]


def test_make_describer_reads_the_config(server, tmp_path):
    cfg = resolve("quick", {"vlm_backend": "openai", "vlm_api_base": server.base + "/",
                            "vlm_model": "my-served-model", "vlm_concurrency": 7,
                            "vlm_timeout_s": 3.5, "vlm_max_retries": 1, "vlm_temperature": 0.5,
                            "work_dir": str(tmp_path)},
                  accelerator=False, weights_reachable=(True, "test"))
    d = vlm.make_describer(cfg)
    assert isinstance(d, OpenAIDescriber)
    assert (d.url, d.model, d.concurrency, d.timeout_s, d.max_retries) == (
        server.base + "/chat/completions", "my-served-model", 7, 3.5, 1)
    assert json.loads(d.key)["seed"] == cfg.seed  # sampling: the seed changes the text
    with pytest.raises(ValueError, match="vlm_api_base"):
        vlm.make_describer(resolve("quick", {"vlm_backend": "openai"}, accelerator=False,
                                   weights_reachable=(True, "test")))
    with pytest.raises(ValueError, match="transformers"):
        vlm.make_describer(resolve("smoke", {"vlm_backend": "openai", "vlm_api_base": server.base},
                                   accelerator=False))


def test_urls_and_image_encoding(tmp_path):
    assert chat_completions_url("http://h:1/v1/") == "http://h:1/v1/chat/completions"
    assert chat_completions_url("http://h:1/v1/chat/completions") == "http://h:1/v1/chat/completions"
    with pytest.raises(ValueError, match="http://"):
        chat_completions_url("localhost:8000/v1")
    png = tmp_path / "a.png"
    Image.new("RGB", (3, 2), (1, 2, 3)).save(png)
    assert image_data_url(png) == "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
    rotated = tmp_path / "r.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (10, 4)).save(rotated, exif=exif)
    url = image_data_url(rotated)  # the server may ignore EXIF: send it upright
    assert url.startswith("data:image/png;base64,")
    assert Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size == (4, 10)


def test_describe_split_over_http_fills_the_config_cache(server, images, tmp_path):
    cfg = resolve("quick", {"vlm_backend": "openai", "vlm_api_base": server.base,
                            "work_dir": str(tmp_path), "vlm_batch_size": 1, "vlm_concurrency": 3},
                  accelerator=False, weights_reachable=(True, "test"))
    texts = vlm.describe_split(cfg, images, "specific", progress=False)
    assert texts == [reply_text(sha1(p)) for p in images]
    assert server.requests[0]["body"]["messages"][0]["content"][1]["text"] == cfg.vlm_prompts["specific"]
    path = vlm.description_cache_path(cfg, "specific")
    assert len(vlm.load_cache(path)) == 6
    n = len(server.requests)
    assert vlm.describe_split(cfg, images, "specific", progress=False) == texts
    assert len(server.requests) == n  # identical settings: nothing asked again
