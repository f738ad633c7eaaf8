"""`paper`'s downloads against local stand-ins of the servers (nothing leaves 127.0.0.1).

A stdlib HTTP server plays Microsoft's download host (a small zip in the PetImages layout),
Google's Open Images bucket (the class-name and image-label CSVs) and the public S3
bucket of images. It honours Range requests, and can cut a response short (an interrupted
download), ignore Range, or refuse with 403.
"""

from __future__ import annotations

import io
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clipdistill import resolve
from clipdistill.data import downloads, sources
from clipdistill.data.sources import DataError


class Files:
    """What the server holds, and how it misbehaves."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.cut_after: dict[str, int] = {}  # path -> bytes sent before dropping (once)
        self.forbidden: set[str] = set()
        self.ignore_range = False
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)


def _handler(state: Files):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def do_GET(self) -> None:  # noqa: N802
            path, rng = self.path, self.headers.get("Range")
            state.requests.append((path, rng))
            if path in state.forbidden or any(path.startswith(p) for p in state.forbidden if p.endswith("/")):
                self.send_error(403, "Forbidden")
                return
            if path not in state.files:
                self.send_error(404, "Not Found")
                return
            data, start = state.files[path], 0
            if rng and not state.ignore_range:
                start = int(rng.split("=")[1].split("-")[0])
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            cut = state.cut_after.pop(path, None)
            self.wfile.write(body if cut is None else body[:cut])
            if cut is not None:
                self.wfile.flush()
                self.close_connection = True

    return Handler


@pytest.fixture
def server():
    state = Files()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()
    httpd.server_close()


def _jpeg(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


# -- the resumable transfer -------------------------------------------------------------------

def test_fetch_resumes_an_interrupted_download(server, tmp_path):
    data = bytes(range(256)) * 4000  # ~1 MB
    server.files["/big.bin"] = data
    server.cut_after["/big.bin"] = 300_000
    dest = tmp_path / "big.bin"
    with pytest.raises(downloads.DownloadError, match="dropped"):
        downloads.fetch(server.base + "/big.bin", dest, progress=False)
    part = tmp_path / "big.bin.part"
    assert not dest.exists() and part.stat().st_size == 300_000  # what arrived is kept
    assert downloads.fetch(server.base + "/big.bin", dest, progress=False) == dest
    assert dest.read_bytes() == data and not part.exists()
    assert server.requests[-1] == ("/big.bin", "bytes=300000-")  # only the rest was asked for
    n = len(server.requests)
    downloads.fetch(server.base + "/big.bin", dest, progress=False)  # there already: no request
    assert len(server.requests) == n


def test_fetch_restarts_when_the_server_ignores_range(server, tmp_path):
    data = b"abcdef" * 1000
    server.files["/f"] = data
    server.ignore_range = True
    (tmp_path / "f.part").write_bytes(b"zzzz")  # stale bytes that must not survive
    downloads.fetch(server.base + "/f", tmp_path / "f", progress=False)
    assert (tmp_path / "f").read_bytes() == data


def test_fetch_checks_size_and_checksum(server, tmp_path):
    import hashlib

    server.files["/f"] = b"x" * 100
    with pytest.raises(downloads.DownloadError, match="expected 99"):
        downloads.fetch(server.base + "/f", tmp_path / "f", size=99, progress=False)
    assert not (tmp_path / "f").exists() and not (tmp_path / "f.part").exists()
    with pytest.raises(downloads.DownloadError, match="SHA-256"):
        downloads.fetch(server.base + "/f", tmp_path / "f", sha256="0" * 64, progress=False)
    good = hashlib.sha256(b"x" * 100).hexdigest()
    assert downloads.fetch(server.base + "/f", tmp_path / "f", sha256=good, progress=False).is_file()


def test_fetch_fails_at_once_without_server_or_permission(server, tmp_path):
    server.files["/f"] = b"data"
    server.forbidden.add("/f")
    with pytest.raises(downloads.DownloadError, match="HTTP 403"):
        downloads.fetch(server.base + "/f", tmp_path / "f", progress=False)
    with pytest.raises(downloads.DownloadError, match="no connection"):
        downloads.fetch("http://127.0.0.1:9/f", tmp_path / "g", progress=False, timeout=5)


# -- Kaggle PetImages -------------------------------------------------------------------------

def _pet_zip(per_class: int, corrupt: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("readme[1].txt", "Microsoft Kaggle Cats and Dogs Dataset")
        for cls in ("Cat", "Dog"):
            for i in range(per_class):
                zf.writestr(f"PetImages/{cls}/{i}.jpg", _jpeg(i + (cls == "Dog") * 1000))
            zf.writestr(f"PetImages/{cls}/Thumbs.db", b"\0" * 10)
    data = bytearray(buf.getvalue())
    if corrupt:  # flip a byte inside the first JPEG's data: its CRC no longer matches
        at = data.find(b"\xff\xd8\xff") + 50
        data[at] ^= 0xFF
    return bytes(data)


def _paper_cfg(tmp_path, **over):
    return resolve("paper", {"work_dir": str(tmp_path / "work"), "device": "cpu", **over},
                   accelerator=True)


def test_petimages_downloads_checks_and_feeds_chapter_01(server, tmp_path, monkeypatch):
    server.files["/pets.zip"] = _pet_zip(5)
    monkeypatch.setattr(downloads, "PETIMAGES_URL", server.base + "/pets.zip")
    monkeypatch.setattr(downloads, "PETIMAGES_JPEGS", {"Cat": 5, "Dog": 5})
    src = sources.resolve_pets_source(_paper_cfg(tmp_path))
    assert src.name == "petimages" and src.classes == ["cat", "dog"]
    assert len(src.files["cat"]) == 6  # 5 JPEGs + Thumbs.db: found, then skipped by chapter 01
    assert not list(src.root.parent.rglob("readme*"))  # only the class folders are extracted
    n = len(server.requests)
    assert sources.resolve_pets_source(_paper_cfg(tmp_path)).root == src.root
    assert len(server.requests) == n  # extracted once: nothing fetched again


def test_petimages_rejects_a_damaged_or_wrong_archive(server, tmp_path, monkeypatch):
    monkeypatch.setattr(downloads, "PETIMAGES_JPEGS", {"Cat": 5, "Dog": 5})
    server.files["/bad.zip"] = _pet_zip(5, corrupt=True)
    with pytest.raises(downloads.DownloadError, match="damaged"):
        downloads.petimages(tmp_path / "a", url=server.base + "/bad.zip", progress=False)
    assert not (tmp_path / "a" / "kagglecatsanddogs_5340.zip").exists()  # fetched again next time
    server.files["/short.zip"] = _pet_zip(4)
    with pytest.raises(downloads.DownloadError, match="has 4 JPEGs in PetImages/Cat"):
        downloads.petimages(tmp_path / "b", url=server.base + "/short.zip", progress=False)
    assert not (tmp_path / "b" / "PetImages").exists()


def test_petimages_failure_is_one_sentence_with_the_command(server, tmp_path, monkeypatch):
    server.forbidden.add("/pets.zip")
    monkeypatch.setattr(downloads, "PETIMAGES_URL", server.base + "/pets.zip")
    with pytest.raises(DataError) as err:
        sources.resolve_pets_source(_paper_cfg(tmp_path))
    msg = str(err.value)
    root = tmp_path / "work" / "downloads"
    assert "HTTP 403" in msg and "\n" not in msg and msg.endswith(".")
    assert f"curl -L -C - -o {root}/pets.zip {server.base}/pets.zip" in msg
    assert f"--set data_root={root}" in msg
    with pytest.raises(DataError, match="needs data_root"):  # smoke never downloads
        sources.resolve_pets_source(resolve("smoke", {"pets_source": "petimages",
                                                      "work_dir": str(tmp_path)}, accelerator=True))


# -- Open Images ------------------------------------------------------------------------------

def _openimages(server: Files, monkeypatch) -> dict[str, set[str]]:
    """Class names, two label files and the images, in Open Images' formats and paths."""
    classes = "/m/01yrx,Cat\n/m/0bt9lr,Dog\n/m/0jbk,Animal\n/m/01g317,Person\n/m/0k4j,Car\n/m/abc,Dog bed\n"
    server.files["/oi/oidv7-class-descriptions.csv"] = classes.encode()
    kinds: dict[str, set[str]] = {"pet": set(), "other": set()}
    for split, prefix in (("validation", "a"), ("test", "b")):
        rows = ["ImageID,Source,LabelName,Confidence"]
        for i in range(12):
            image_id = f"{prefix}{i:015x}"
            label = ["/m/01yrx", "/m/0bt9lr", "/m/abc", "/m/0k4j", "/m/01g317"][i % 5]
            positive = i % 7 != 6  # some labels are verified absent: those images stay eligible
            rows.append(f"{image_id},verification,{label},{int(positive)}")
            rows.append(f"{image_id},verification,/m/0jbk,1")
            pet = positive and label in ("/m/01yrx", "/m/0bt9lr", "/m/abc")
            kinds["pet" if pet else "other"].add(f"{split}/{image_id}")
            server.files[f"/s3/{split}/{image_id}.jpg"] = _jpeg(i + 100 * (prefix == "b"))
        name = {"validation": "oidv7-val", "test": "oidv7-test"}[split]
        server.files[f"/oi/{name}-annotations-human-imagelabels.csv"] = ("\n".join(rows) + "\n").encode()
    monkeypatch.setattr(downloads, "OPENIMAGES_CLASSES", server.base + "/oi/oidv7-class-descriptions.csv")
    monkeypatch.setattr(downloads, "OPENIMAGES_LABELS", {
        "validation": server.base + "/oi/oidv7-val-annotations-human-imagelabels.csv",
        "test": server.base + "/oi/oidv7-test-annotations-human-imagelabels.csv"})
    monkeypatch.setattr(downloads, "OPENIMAGES_IMAGES", server.base + "/s3/{split}/{image_id}.jpg")
    return kinds


def test_openimages_sample_excludes_pets_is_seeded_nested_and_resumable(server, tmp_path, monkeypatch):
    kinds = _openimages(server, monkeypatch)
    assert downloads.pet_label_ids(_fetched(server, tmp_path)) == {"/m/01yrx", "/m/0bt9lr", "/m/abc"}
    root = tmp_path / "oi"
    small = downloads.openimages_sample(root, 3, seed=0, progress=False)
    assert len(small) == 3 and all(p.is_file() for p in small)
    big = downloads.openimages_sample(root, len(kinds["other"]), seed=0, progress=False)
    assert big[:3] == small  # nested: a larger sample only adds
    names = {p.stem.replace("-", "/", 1) for p in big}
    assert names == kinds["other"]  # every eligible image, no cat, dog or dog bed
    assert not list(root.rglob("*.part"))
    fetched = [p for p, _ in server.requests if p.startswith("/s3/")]
    assert len(fetched) == len(set(fetched)) == len(kinds["other"])  # none fetched twice
    again = downloads.sample_ids(tmp_path / "oi2", 1, progress=False)
    first = downloads.sample_ids(root, 0, progress=False)
    assert sorted(again) == sorted(first) and again != first  # the seed picks the order


def _fetched(server: Files, tmp_path: Path) -> Path:
    return downloads.fetch(downloads.OPENIMAGES_CLASSES, tmp_path / "classes.csv", progress=False)


def test_openimages_feed_the_other_pool_and_fail_in_one_sentence(server, tmp_path, monkeypatch):
    kinds = _openimages(server, monkeypatch)
    cfg = _paper_cfg(tmp_path)
    src = sources.other_source(cfg, 4)
    assert src.name == "openimages" and 4 <= len(src.files["other"]) <= len(kinds["other"])
    # Images refused: the manifest exists, so the sentence names the official downloader.
    server.forbidden.add("/s3/")
    with pytest.raises(DataError) as err:
        sources.other_source(_paper_cfg(tmp_path / "again"), 4)
    msg = str(err.value)
    assert "HTTP 403" in msg and "\n" not in msg and msg.endswith(".")
    assert "downloader.py" in msg and "--set other_dir=" in msg
    ids = Path(msg.split("downloader.py ")[1].split(" ")[0])
    assert ids.read_text().split()[0].split("/")[0] in ("validation", "test")
    # Label files refused: the sentence names them and says to rerun the same command.
    server.forbidden.add("/oi/")
    with pytest.raises(DataError, match=r"curl -L -C - --remote-name-all .*rerun the same command\.$"):
        sources.other_source(_paper_cfg(tmp_path / "third"), 4)



# -- ImageNetV2 (its hub path and layout: tests/test_imagenetv2.py) ----------------------------

def test_imagenetv2_resumes_an_interrupted_download(server, tmp_path):
    from clipdistill.data import imagenetv2
    from clipdistill.offline.imagenetv2_archive import build_archive

    layout = {"classes": 3, "per_class": 2}
    made = build_archive(tmp_path / "served.tar.gz", **layout)
    server.files["/v2.tar.gz"] = (tmp_path / "served.tar.gz").read_bytes()
    server.cut_after["/v2.tar.gz"] = made["size"] // 2
    url = server.base + "/v2.tar.gz"
    with pytest.raises(downloads.DownloadError, match="dropped"):
        imagenetv2.imagenetv2(tmp_path / "root", url=url, progress=False, **made, **layout)
    got = imagenetv2.imagenetv2(tmp_path / "root", url=url, progress=False, **made, **layout)
    assert server.requests[-1] == ("/v2.tar.gz", f"bytes={made['size'] // 2}-")
    assert sum(len(f) for f in imagenetv2.class_files(got).values()) == 6
