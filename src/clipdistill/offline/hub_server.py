"""A Hugging Face hub on 127.0.0.1 for tests and benchmarks: folders served under real repo ids.

Point ``HF_ENDPOINT`` at :attr:`HubStandIn.url` and huggingface_hub (so open_clip and
transformers) downloads from it exactly as from the hub: the same requests, headers,
redirects and cache layout. What it answers, as the hub does:

- ``HEAD|GET /{repo}/resolve/{revision}/{file}``: a small file comes back with ``ETag``
  (its git blob id), ``Content-Length`` and ``X-Repo-Commit``; a weights file (an LFS file
  on the hub) is a 302 to a second origin, the "CDN", with ``X-Linked-Etag`` (its sha256)
  and ``X-Linked-Size``; a missing file is a 404 with ``X-Error-Code: EntryNotFound``, an
  unknown repo a 401 with ``RepoNotFound``.
- ``GET /api/models/{repo}[/revision/{rev}]``: the model info (sha and siblings), and
  ``GET /api/models/{repo}/tree/{rev}[/{path}]``: the file listing.

A dataset repository is served under ``datasets/{repo}`` (register it with that prefix,
``"datasets/org/name"``), as its files are on the hub. It is generic,
``{repo_id: folder}``, so any model or archive a test builds can be served. Every
request is logged in :attr:`HubStandIn.requests`. :class:`Blackhole` is the opposite: a
port that accepts connections and never answers (a network that swallows packets).
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".msgpack", ".h5", ".onnx", ".gguf",
                ".gz", ".tar", ".zip")
_CHUNK = 1 << 20


def _git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


class _Repo:
    """One served repository: its files, their hub metadata, a commit id made from them."""

    def __init__(self, repo_id: str, folder: Path):
        self.repo_id, self.folder = repo_id, Path(folder)
        self.files: dict[str, dict] = {}
        for path in sorted(p for p in self.folder.rglob("*") if p.is_file()):
            name = path.relative_to(self.folder).as_posix()
            size = path.stat().st_size
            if name.endswith(LFS_SUFFIXES):
                sha = _sha256(path)
                self.files[name] = {"path": path, "size": size, "lfs": sha, "oid": sha[:40]}
            else:
                self.files[name] = {"path": path, "size": size, "lfs": None,
                                    "oid": _git_blob_id(path.read_bytes())}
        listing = json.dumps({k: v["oid"] for k, v in self.files.items()}, sort_keys=True)
        self.commit = hashlib.sha1(f"{repo_id}\n{listing}".encode()).hexdigest()

    def info(self) -> dict:
        return {"id": self.repo_id, "modelId": self.repo_id, "sha": self.commit, "private": False,
                "gated": False, "disabled": False, "tags": [], "downloads": 0, "likes": 0,
                "siblings": [{"rfilename": name} for name in self.files]}

    def tree(self, prefix: str) -> list[dict]:
        prefix = prefix.strip("/")
        out, dirs = [], set()
        for name, f in self.files.items():
            if prefix and not name.startswith(prefix + "/"):
                continue
            rest = name[len(prefix) + 1:] if prefix else name
            if "/" in rest:
                dirs.add((f"{prefix}/" if prefix else "") + rest.split("/", 1)[0])
                continue
            entry = {"type": "file", "path": name, "size": f["size"], "oid": f["oid"]}
            if f["lfs"]:
                entry["lfs"] = {"oid": f["lfs"], "size": f["size"], "pointerSize": 134}
            out.append(entry)
        out += [{"type": "directory", "path": d, "oid": "0" * 40, "size": 0} for d in sorted(dirs)]
        return out


class HubStandIn:
    """``with HubStandIn({"org/name": folder}) as hub: os.environ["HF_ENDPOINT"] = hub.url``."""

    def __init__(self, repos: dict[str, str | Path] | None = None):
        self.repos: dict[str, _Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        for repo_id, folder in (repos or {}).items():
            self.add(repo_id, folder)
        self._hub = ThreadingHTTPServer(("127.0.0.1", 0), self._handler("hub"))
        self._cdn = ThreadingHTTPServer(("127.0.0.1", 0), self._handler("cdn"))
        for server in (self._hub, self._cdn):
            server.daemon_threads = True
        self._threads: list[threading.Thread] = []

    def add(self, repo_id: str, folder: str | Path) -> None:
        """Serve ``folder`` as ``repo_id`` (the listing is read now: add after writing)."""
        self.repos[repo_id] = _Repo(repo_id, Path(folder))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._hub.server_address[1]}"

    @property
    def cdn_url(self) -> str:
        return f"http://127.0.0.1:{self._cdn.server_address[1]}"

    def downloads(self) -> list[str]:
        """Paths of the file bodies served (GETs), hub and CDN alike."""
        return [path for method, path in self.requests if method == "GET"]

    def start(self) -> "HubStandIn":
        for server in (self._hub, self._cdn):
            t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        for server in (self._hub, self._cdn):
            server.shutdown()
            server.server_close()

    def __enter__(self) -> "HubStandIn":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- the HTTP side -----------------------------------------------------------------------
    def _handler(self, role: str):
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet: the log is stand_in.requests
                pass

            def do_HEAD(self) -> None:
                self._serve(body=False)

            def do_GET(self) -> None:
                self._serve(body=True)

            def _serve(self, body: bool) -> None:
                path = unquote(urlsplit(self.path).path)
                with stand_in._lock:
                    stand_in.requests.append((self.command, path))
                try:
                    if role == "cdn":
                        stand_in._cdn_file(self, path, body)
                    else:
                        stand_in._route(self, path, body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler

    @staticmethod
    def _reply(h: BaseHTTPRequestHandler, status: int, headers: dict[str, str],
               data: bytes = b"", body: bool = True) -> None:
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", headers.get("Content-Length", str(len(data))))
        h.end_headers()
        if body and data:
            h.wfile.write(data)

    def _json(self, h, payload, body: bool, status: int = 200, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        self._reply(h, status, {"Content-Type": "application/json", **(headers or {})}, data, body)

    def _error(self, h, status: int, code: str, message: str, body: bool, commit: str | None = None) -> None:
        headers = {"X-Error-Code": code, "X-Error-Message": message}
        if commit:
            headers["X-Repo-Commit"] = commit
        self._json(h, {"error": message}, body, status, headers)

    def _find_repo(self, parts: list[str]) -> tuple[_Repo | None, list[str]]:
        """Repo ids have one slash (``org/name``) or none (``gpt2``), and a dataset's the
        ``datasets/`` prefix of its URLs: try the longer first."""
        for n in (3, 2, 1):
            rid = "/".join(parts[:n])
            if rid in self.repos:
                return self.repos[rid], parts[n:]
        return None, parts

    def _route(self, h, path: str, body: bool) -> None:
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["api", "models"]:
            return self._api(h, parts[2:], body)
        repo, rest = self._find_repo(parts)
        if repo is None or len(rest) < 3 or rest[0] != "resolve":
            return self._error(h, 401, "RepoNotFound", f"Repository not found: {path}", body)
        revision, filename = rest[1], "/".join(rest[2:])
        if revision not in ("main", repo.commit):
            return self._error(h, 404, "RevisionNotFound", f"Invalid rev id: {revision}", body)
        f = repo.files.get(filename)
        if f is None:
            return self._error(h, 404, "EntryNotFound", f"{filename} does not exist on {revision}",
                               body, commit=repo.commit)
        common = {"X-Repo-Commit": repo.commit, "Accept-Ranges": "bytes"}
        if f["lfs"]:  # the hub redirects LFS files to its CDN, another origin
            self._reply(h, 302, {**common, "Location": f"{self.cdn_url}/cdn/{f['lfs']}",
                                 "X-Linked-Etag": f'"{f["lfs"]}"', "X-Linked-Size": str(f["size"]),
                                 "ETag": f'"{f["oid"]}"'}, b"", body)
            return
        data = f["path"].read_bytes()
        self._reply(h, 200, {**common, "ETag": f'"{f["oid"]}"',
                             "Content-Type": "application/octet-stream"}, data, body)

    def _api(self, h, parts: list[str], body: bool) -> None:
        repo, rest = self._find_repo(parts)
        if repo is None:
            return self._error(h, 401, "RepoNotFound", "Repository not found", body)
        if not rest or rest[0] == "revision":
            return self._json(h, repo.info(), body)
        if rest[0] == "tree" and len(rest) >= 2:
            return self._json(h, repo.tree("/".join(rest[2:])), body)
        return self._error(h, 404, "EntryNotFound", f"no such endpoint: {'/'.join(rest)}", body)

    def _cdn_file(self, h, path: str, body: bool) -> None:
        match = re.fullmatch(r"/cdn/([0-9a-f]{64})", path)
        found = None
        if match:
            found = next((f for r in self.repos.values() for f in r.files.values()
                          if f["lfs"] == match.group(1)), None)
        if found is None:
            return self._reply(h, 404, {}, b"Not Found", body)
        size, start = found["size"], 0
        ranged = re.fullmatch(r"bytes=(\d+)-", h.headers.get("Range", ""))
        if ranged and int(ranged.group(1)) < size:
            start = int(ranged.group(1))
        headers = {"Content-Length": str(size - start), "Content-Type": "application/octet-stream",
                   "ETag": f'"{found["lfs"]}"', "Accept-Ranges": "bytes"}
        if start:
            headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
        h.send_response(206 if start else 200)
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        if body:
            with open(found["path"], "rb") as f:
                f.seek(start)
                for block in iter(lambda: f.read(_CHUNK), b""):
                    h.wfile.write(block)


class Blackhole:
    """A port that accepts TCP connections and never answers: a network swallowing packets."""

    def __init__(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self._held.append(conn)  # read nothing, say nothing

    def __enter__(self) -> "Blackhole":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for conn in self._held:
            conn.close()
        self._sock.close()


class FileServer:
    """A folder served as static files on 127.0.0.1 (dataset archives for torchvision)."""

    def __init__(self, folder: str | Path):
        import functools
        from http.server import SimpleHTTPRequestHandler

        served = self.requests = []

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def send_head(self):
                served.append((self.command, self.path))
                return super().send_head()

        self._server = ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> "FileServer":
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                         daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


def reader_env(hf_home: str | Path, **extra: str) -> dict[str, str]:
    """A reader's environment for a child process: this one's, without any hub, offline or
    transformers switch, with a fresh ``HF_HOME`` and loopback not proxied; ``extra`` on top
    (e.g. ``HF_ENDPOINT=server.url``)."""
    import os

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HF_", "TRANSFORMERS_", "HUGGINGFACE_"))}
    env.update(HF_HOME=str(hf_home), NO_PROXY="127.0.0.1,localhost",
               no_proxy="127.0.0.1,localhost", **extra)
    return env
