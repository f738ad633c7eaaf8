"""Splitting long work into shards that separate processes (or machines) run at once.

``--shard i/N`` (0 <= i < N) takes every N-th *block* of the work list, starting with
block i, so shards are the same size to within a block and the union of the N shards is
the list. A block is one batch for embedding: each shard then encodes exactly the
batches one process would have encoded, so its rows are bit for bit the same (a
different batch size can change the last bit of a row on some kernels). Shards need no
coordination: each writes its own part of the cache, and the parts merge into the
cache the chapters read.
"""

from __future__ import annotations

from itertools import islice
from typing import Iterable, Iterator, TypeVar

__all__ = ["parse_shard", "take_shard"]

T = TypeVar("T")


def parse_shard(text: str) -> tuple[int, int]:
    """``"3/8"`` -> ``(3, 8)``: the fourth of eight shards, or a one-sentence error."""
    try:
        index, count = (int(x) for x in str(text).split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like i/N (e.g. 0/8), got {text!r}.") from None
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"--shard {text}: need 0 <= i < N (shards are numbered from 0, "
                         f"like SLURM_ARRAY_TASK_ID with --array=0-{max(count - 1, 0)}).")
    return index, count


def take_shard(items: Iterable[T], index: int, count: int, block: int = 1) -> Iterator[T]:
    """Every ``count``-th block of ``block`` items, starting with block ``index`` (lazy:
    a generator of millions of paths stays a generator)."""
    if count == 1:
        yield from items
        return
    source = iter(items)
    b = 0
    while chunk := list(islice(source, block)):
        if b % count == index:
            yield from chunk
        b += 1
