"""The embedding engine: every image and prompt goes through the encoder once, ever.

Images stream in batches: each file's bytes are read *once*, hashed (the cache key is the
content, not the name), and those same bytes are decoded and preprocessed unless the cache
already holds them. On a GPU, DataLoader worker processes decode while the GPU encodes; on
a CPU, where the encoder already uses every core, threads decode each batch between
encoder steps (see ``_decode_between_batches``). When the cache holds rows, the files are
hashed in the calling process first (threads) and only the misses are decoded: a warm call
decodes nothing. Batches run under ``torch.inference_mode()`` (and
autocast on a GPU); the L2-normalised rows are written to the cache after every batch, so
an interrupted run resumes where it stopped.

Cache layout (all writes atomic, through :mod:`clipdistill.io`)::

    <cache_dir>/<clip.key>/model.json         what the key stands for (name, weights, preprocessing)
    <cache_dir>/<clip.key>/images/*.npz       shards: keys (sha1 of the file bytes), emb (N, D) float32
    <cache_dir>/<clip.key>/texts/*.npz        shards: keys (sha1 of the UTF-8 text), emb (N, D) float32

``clip.key`` covers the architecture, the weights (tag source, checkpoint bytes or the
seed of random weights), the preprocessing, the precision and the autocast dtype, so a
different model or preprocessing never reads another's rows. Each batch adds one small
shard; many shards are merged into one when a call ends.
"""

from __future__ import annotations

import io as _io
import math
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .io import atomic_write_bytes, atomic_write_json, bytes_digest, stable_hash
from .progress import progress_bar

__all__ = [
    "embed_images",
    "embed_texts",
    "EmbeddingStore",
    "cache_dir_for",
    "content_digest",
    "benchmark",
    "progress_bar",
]

MERGE_ABOVE = 64  # shards per store before a call merges them into one file
content_digest = bytes_digest  # an image's cache key: the hash of its bytes (== io.file_digest)


def cache_dir_for(cfg: Any) -> Path:
    """Where a chapter keeps embeddings: ``<work_dir>/embeddings`` (shared by profiles)."""
    return Path(cfg.work_dir) / "embeddings"


# ---------------------------------------------------------------------------------------
# The on-disk store
# ---------------------------------------------------------------------------------------
class EmbeddingStore:
    """Content-keyed rows in small ``.npz`` shards; a shard is written whole or not at all.

    Readers in the same process keep what they loaded and only read shards that appeared
    since, so asking again is cheap.
    """

    _memo: dict[str, tuple[frozenset[str], dict[str, np.ndarray]]] = {}
    _lock = threading.Lock()

    def __init__(self, folder: str | os.PathLike, dim: int) -> None:
        self.folder = Path(folder)
        self.dim = int(dim)

    def _shards(self) -> list[Path]:
        return sorted(self.folder.glob("*.npz")) if self.folder.is_dir() else []

    def load(self) -> dict[str, np.ndarray]:
        """key -> float32 row, for everything stored so far."""
        with self._lock:
            names, rows = self._memo.get(str(self.folder), (frozenset(), {}))
            shards = self._shards()
            current = frozenset(p.name for p in shards)
            if not names <= current:  # shards vanished (merged, or the cache was wiped): reread all
                names, rows = frozenset(), {}
            rows = dict(rows)
            for path in shards:
                if path.name in names:
                    continue
                try:
                    with np.load(path, allow_pickle=False) as z:
                        keys, emb = z["keys"], z["emb"]
                except FileNotFoundError:  # merged away by another process meanwhile
                    continue
                except Exception as exc:  # noqa: BLE001 - a damaged shard costs a recompute only
                    import warnings

                    warnings.warn(f"Ignoring unreadable cache shard {path}: {exc}", stacklevel=2)
                    continue
                if emb.ndim != 2 or emb.shape[1] != self.dim or len(keys) != len(emb):
                    continue
                for k, row in zip(keys.tolist(), emb):
                    rows[k] = row
            self._memo[str(self.folder)] = (current, rows)
            return rows

    def put(self, keys: Sequence[str], emb: np.ndarray) -> Path:
        """Write one shard (atomically) and return its path."""
        emb = np.ascontiguousarray(emb, dtype=np.float32)
        if emb.shape != (len(keys), self.dim):
            raise ValueError(f"shard shape {emb.shape} does not match {len(keys)} keys x {self.dim}")
        name = f"part-{stable_hash(list(keys), length=20)}.npz"
        return self._write(self.folder / name, list(keys), emb)

    @staticmethod
    def _write(path: Path, keys: list[str], emb: np.ndarray) -> Path:
        buf = _io.BytesIO()
        np.savez(buf, keys=np.asarray(keys, dtype=str), emb=emb)
        return atomic_write_bytes(path, buf.getbuffer())  # a view: no second copy of the file

    def merge(self, above: int | None = None) -> None:
        """Fold many shards into one (written first, then the parts removed).

        Streams: the keys are read first to size the merged matrix, then one shard's rows
        at a time are copied into it, so the peak is one matrix (plus its file image), not
        a row dict, a stacked copy and two serialised copies.
        """
        shards = self._shards()
        if len(shards) <= (MERGE_ABOVE if above is None else above):
            return
        listed: list[tuple[Path, list[str]]] = []
        for path in shards:
            try:
                with np.load(path, allow_pickle=False) as z:
                    listed.append((path, z["keys"].tolist()))
            except Exception:  # noqa: BLE001 - leave what cannot be read where it is
                continue
        keys = sorted({k for _, ks in listed for k in ks})
        if not keys:
            return
        where = {k: i for i, k in enumerate(keys)}
        emb = np.empty((len(keys), self.dim), dtype=np.float32)
        filled = np.zeros(len(keys), dtype=bool)
        merged_parts = []
        for path, ks in listed:
            try:
                with np.load(path, allow_pickle=False) as z:
                    part = z["emb"]
            except Exception:  # noqa: BLE001 - vanished (merged by another process) or damaged
                continue
            if part.ndim != 2 or part.shape != (len(ks), self.dim):
                continue  # load() ignores it too; leave it where it is
            rows = [where[k] for k in ks]
            emb[rows] = part  # a key in several shards: the later one wins, as load() does
            filled[rows] = True
            merged_parts.append(path)
        if not filled.all():  # keys whose shard went away between the two passes
            keys = [k for k, f in zip(keys, filled) if f]
            emb = emb[filled]
        if not keys:
            return
        merged = self.folder / f"merged-{stable_hash(keys, length=20)}.npz"
        self._write(merged, keys, emb)
        for path in merged_parts:
            if path != merged:
                path.unlink(missing_ok=True)

    def __len__(self) -> int:
        return len(self.load())


def _store(cache_dir: str | os.PathLike | None, clip: Any, kind: str) -> EmbeddingStore | None:
    if cache_dir is None:
        return None
    root = Path(cache_dir) / clip.key
    meta = root / "model.json"
    if not meta.is_file():
        atomic_write_json(meta, {
            "key": clip.key, "name": clip.name, "pretrained": clip.pretrained,
            "random_weights": clip.random_weights, "backend": clip.backend,
            "precision": clip.precision, "amp": str(clip.amp_dtype), "embed_dim": clip.embed_dim,
            **{k: v for k, v in clip.info.items() if k != "params"},
        })
    return EmbeddingStore(root / kind, clip.embed_dim)


# ---------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------
class _ImageFiles(torch.utils.data.Dataset):
    """Read each file once: hash the bytes, decode (chapter 01's safe loader) from memory.

    Files whose content the cache already holds (``known``) are not decoded. The rows are
    keyed by the digest of exactly the bytes that were decoded.
    """

    def __init__(self, paths: Sequence[str], known: frozenset[str], preprocess: Callable) -> None:
        self.paths, self.known, self.preprocess = paths, known, preprocess

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[int, str, torch.Tensor | None]:
        from .data.images import BadImage, open_rgb

        path = self.paths[i]
        data = _read(path)
        digest = content_digest(data)
        if digest in self.known:
            return i, digest, None
        try:
            image, _ = open_rgb(path, data=data)
        except BadImage as exc:
            raise RuntimeError(f"Cannot embed image {path}: {exc.reason} {exc.detail}".rstrip()) from None
        return i, digest, self.preprocess(image)


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise RuntimeError(f"Cannot read image {path}: {exc}") from None


def _digests(paths: Sequence[str], threads: int) -> list[str]:
    """Content digests of ``paths``, read and hashed by ``threads`` threads (hashlib and
    file reads release the GIL), in order."""
    digest = lambda p: content_digest(_read(p))  # noqa: E731
    if threads <= 1 or len(paths) < 64:
        return [digest(p) for p in paths]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(digest, paths, chunksize=32))


def _collate(items: list[tuple[int, str, torch.Tensor | None]]) -> dict[str, Any]:
    misses = [t for _, _, t in items if t is not None]
    return {
        "index": [i for i, _, _ in items],
        "digest": [d for _, d, _ in items],
        "miss": [t is not None for _, _, t in items],
        "pixels": torch.stack(misses) if misses else None,
    }


# ---------------------------------------------------------------------------------------
# Preprocessing split: uint8 from the decoders, float in the batch
# ---------------------------------------------------------------------------------------
def _uint8_chw(image: Any) -> torch.Tensor:
    """An 8-bit RGB PIL image as a (3, H, W) uint8 tensor: ToTensor without the /255."""
    if getattr(image, "mode", None) != "RGB":
        raise TypeError(f"expected an 8-bit RGB image here, got mode {getattr(image, 'mode', type(image))!r}")
    return torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).permute(2, 0, 1).contiguous()


class _ToFloatAndNormalize:
    """ToTensor's /255 and Normalize, on a whole uint8 batch: the same arithmetic, in bulk."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        x = batch.to(torch.float32).div_(255)
        return x.sub_(self.mean.to(x.device)).div_(self.std.to(x.device))


def split_preprocess(preprocess: Callable) -> tuple[Callable, Callable[[torch.Tensor], torch.Tensor]]:
    """``(per_image, per_batch)`` with ``per_batch(stack(per_image(img) ...))`` equal to
    ``stack(preprocess(img) ...)``, bit for bit.

    Why: a torchvision pipeline ending in ToTensor + Normalize makes every decoder turn
    each image into float32 and normalise it alone, and ship 4x the bytes to the encoder.
    Split there, decoders hand over uint8 and the batch is converted in one vectorised
    step (on the GPU, after a 4x smaller copy): measured, two DataLoader workers decoded
    ~800 instead of ~600 images/s. Any other preprocessing (Hugging Face processors) is
    left whole.
    """
    from torchvision import transforms as T

    steps = list(getattr(preprocess, "transforms", None) or [])
    if (isinstance(preprocess, T.Compose) and len(steps) >= 2
            and type(steps[-2]).__name__ in ("ToTensor", "MaybeToTensor")
            and type(steps[-1]) is T.Normalize):
        return T.Compose([*steps[:-2], _uint8_chw]), _ToFloatAndNormalize(steps[-1].mean, steps[-1].std)
    return preprocess, lambda batch: batch


def _batches(dataset: "_ImageFiles", batch_size: int, num_workers: int, device: torch.device):
    """Collated batches of ``dataset`` in order: decoding threads between encoder steps on
    a CPU, DataLoader worker processes (pinned memory on CUDA) on an accelerator."""
    if device.type == "cpu":
        threads = max(1, int(num_workers), torch.get_num_threads())  # one per core the encoder uses
        return _decode_between_batches(dataset, batch_size, threads)
    n_batches = math.ceil(len(dataset) / batch_size)
    workers = min(int(num_workers), n_batches) if n_batches > 1 else 0  # one batch: no process start-up
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=_collate,
        pin_memory=device.type == "cuda", persistent_workers=False,
    )


def _decode_between_batches(dataset: "_ImageFiles", batch_size: int, threads: int):
    """Batches decoded by ``threads`` threads in this process, one batch at a time.

    Why not DataLoader workers on a CPU: the encoder already keeps every core busy (one
    intra-op thread per core), so worker processes decoding alongside it can only steal
    cores, and a parallel region waits for its slowest thread: measured on 2 cores, the
    encoder ran 10-14% slower beside two workers, plus ~0.25 s to start them per call.
    Decoding between encoder steps on every core costs ~5% instead (PIL and hashlib
    release the GIL), with nothing to start. A GPU keeps the workers (the CPU is free).
    """
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="clipdistill-decode") as pool:
        for start in range(0, len(dataset), batch_size):
            stop = min(start + batch_size, len(dataset))
            yield _collate(list(pool.map(dataset.__getitem__, range(start, stop))))


@torch.inference_mode()
def _encode_images(clip: Any, pixels: torch.Tensor,
                   per_batch: Callable[[torch.Tensor], torch.Tensor]) -> np.ndarray:
    pixels = per_batch(pixels.to(clip.device, non_blocking=True))
    with clip.autocast():
        feats = clip.encode_image(pixels)
    return torch.nn.functional.normalize(feats.float(), dim=-1).cpu().numpy()


def embed_images(clip: Any, paths: Sequence[str | os.PathLike], *, cache_dir: str | os.PathLike | None = None,
                 batch_size: int = 32, num_workers: int = 2, progress: bool = True,
                 desc: str = "embedding images") -> np.ndarray:
    """(N, D) float32, L2-normalised; row i is ``paths[i]``. Cached by content when ``cache_dir``.

    A changed file (same path, new bytes) has a new digest and is re-embedded; rows
    computed before an interruption are reused. A file that cannot be read raises an
    error naming it (chapter 01 filters bad files before anything gets here).

    When the cache holds rows already, every file is hashed here first (threads: cheap)
    and only the misses are decoded, so a warm call decodes nothing. With an empty cache
    everything is a miss: each file is read, hashed and decoded in one go.
    ``num_workers``: DataLoader worker processes on a GPU; on a CPU, the least number of
    decoding threads (at least one per intra-op thread of torch).
    """
    paths = [os.fspath(p) for p in paths]
    out = np.zeros((len(paths), clip.embed_dim), dtype=np.float32)
    if not paths:
        return out
    store = _store(cache_dir, clip, "images")
    cached = store.load() if store is not None else {}
    bar = progress_bar(len(paths), desc, enabled=progress, unit="img")
    try:
        todo = list(range(len(paths)))
        if cached:
            todo = []
            for i, d in enumerate(_digests(paths, threads=int(num_workers))):
                row = cached.get(d)
                if row is None:
                    todo.append(i)
                else:
                    out[i] = row
            bar.update(len(paths) - len(todo))
        if todo:
            _embed_misses(clip, [paths[i] for i in todo], todo, out, cached, store, batch_size,
                          num_workers, bar)
    finally:
        bar.close()
    if store is not None:
        store.merge()
    return out


def _embed_misses(clip: Any, paths: list[str], rows: list[int], out: np.ndarray,
                  cached: dict[str, np.ndarray], store: "EmbeddingStore | None", batch_size: int,
                  num_workers: int, bar: Any) -> None:
    """Stream ``paths`` through decoding (:func:`_batches`) and the encoder into ``out[rows]``."""
    per_image, per_batch = split_preprocess(clip.preprocess)
    dataset = _ImageFiles(paths, frozenset(cached), per_image)
    for batch in _batches(dataset, batch_size, num_workers, clip.device):
        index, digests, miss = batch["index"], batch["digest"], batch["miss"]
        if batch["pixels"] is not None:
            emb = _encode_images(clip, batch["pixels"], per_batch)
            new_keys = [d for d, m in zip(digests, miss) if m]
            if store is not None:
                store.put(new_keys, emb)
            fresh = dict(zip(new_keys, emb))
        else:
            fresh = {}
        for i, d in zip(index, digests):
            out[rows[i]] = fresh[d] if d in fresh else cached[d]
        bar.update(len(index))


# ---------------------------------------------------------------------------------------
# Texts
# ---------------------------------------------------------------------------------------
def text_digest(text: str) -> str:
    return content_digest(text.encode("utf-8"))


@torch.inference_mode()
def _encode_texts(clip: Any, texts: list[str]) -> np.ndarray:
    tokens = clip.tokenize(texts)
    with clip.autocast():
        feats = clip.encode_text(tokens)
    return torch.nn.functional.normalize(feats.float(), dim=-1).cpu().numpy()


def embed_texts(clip: Any, texts: Sequence[str], *, cache_dir: str | os.PathLike | None = None,
                batch_size: int = 256, progress: bool = True, desc: str = "embedding texts") -> np.ndarray:
    """(N, D) float32, L2-normalised; row i is ``texts[i]``. Cached per exact text."""
    texts = [str(t) for t in texts]
    out = np.zeros((len(texts), clip.embed_dim), dtype=np.float32)
    if not texts:
        return out
    store = _store(cache_dir, clip, "texts")
    cached = store.load() if store is not None else {}
    keys = [text_digest(t) for t in texts]
    todo: dict[str, str] = {}
    for k, t in zip(keys, texts):
        if k not in cached and k not in todo:
            todo[k] = t
    rows = dict(cached) if todo else cached
    if todo:
        items = list(todo.items())
        bar = progress_bar(len(items), desc, enabled=progress and len(items) > batch_size, unit="text")
        try:
            for start in range(0, len(items), batch_size):
                chunk = items[start:start + batch_size]
                emb = _encode_texts(clip, [t for _, t in chunk])
                if store is not None:
                    store.put([k for k, _ in chunk], emb)
                rows.update(zip((k for k, _ in chunk), emb))
                bar.update(len(chunk))
        finally:
            bar.close()
        if store is not None:
            store.merge()
    for i, k in enumerate(keys):
        out[i] = rows[k]
    return out


# ---------------------------------------------------------------------------------------
# Throughput
# ---------------------------------------------------------------------------------------
def _peak_memory_mb(device: torch.device) -> tuple[float, str]:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "GPU peak allocated"
    try:
        import resource

        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return kb / 1024 / (1024 if sys.platform == "darwin" else 1), "process peak RSS"
    except ImportError:  # pragma: no cover - Windows
        return float("nan"), "unavailable"


def benchmark(clip: Any, paths: Sequence[str | os.PathLike], *, batch_size: int = 32,
              num_workers: int = 2, texts: Sequence[str] = ()) -> dict[str, Any]:
    """Images/s end to end (read, decode, preprocess, encode) with an empty cache, then warm.

    Uses a throwaway cache so "cold" is really cold however often the chapter ran.
    ``texts``, if given, are timed through the tokenizer and text encoder (texts/s). Peak
    memory is the GPU's allocator peak, or the process's peak RSS on a CPU.
    """
    paths = list(paths)
    if clip.device.type == "cuda":
        torch.cuda.synchronize(clip.device)
        torch.cuda.reset_peak_memory_stats(clip.device)
    result: dict[str, Any] = {"images": len(paths), "batch_size": batch_size, "device": clip.device.type}
    with tempfile.TemporaryDirectory(prefix="clipdistill-bench-") as tmp:
        for phase in ("cold", "warm"):
            start = time.perf_counter()
            embed_images(clip, paths, cache_dir=tmp, batch_size=batch_size, num_workers=num_workers,
                         progress=False)
            if clip.device.type == "cuda":
                torch.cuda.synchronize(clip.device)
            seconds = time.perf_counter() - start
            result[f"{phase}_seconds"] = seconds
            result[f"{phase}_images_per_s"] = len(paths) / seconds if seconds > 0 else float("inf")
        if texts:
            texts = list(texts)
            start = time.perf_counter()
            for i in range(0, len(texts), 256):  # every text through the encoder: no cache, no dedup
                _encode_texts(clip, texts[i:i + 256])
            if clip.device.type == "cuda":
                torch.cuda.synchronize(clip.device)
            seconds = time.perf_counter() - start
            result["texts"] = len(texts)
            result["texts_per_s"] = len(texts) / seconds if seconds > 0 else float("inf")
    result["peak_memory_mb"], result["memory_kind"] = _peak_memory_mb(clip.device)
    return result
