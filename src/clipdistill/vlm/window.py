"""A sliding window of work in flight: a new item starts the moment any item finishes.

Why not batches: a batch of requests to a server waits for its slowest member, so with
latencies spread like real generation (some answers take three times the mean) the
window sits half empty most of the time. Against a stand-in server with lognormal
latency (mean 1 s), batches of 2W with W in flight reached 51% (W=64) and 42% (W=256)
of the ideal W/s, this window 96% (``benchmarks/bench_vlm_server.py``).
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Iterable, Iterator, TypeVar

__all__ = ["sliding_window"]

T = TypeVar("T")
R = TypeVar("R")


def sliding_window(fn: Callable[[T], R], items: Iterable[T], size: int,
                   name: str = "clipdistill-window") -> Iterator[tuple[T, R | None, BaseException | None]]:
    """``fn`` on every item, ``size`` at a time in threads; yields ``(item, result, error)``
    in the order they finish (``error`` is None on success, ``result`` None on failure).

    Items are drawn from ``items`` only as slots free up, so a generator of a million
    paths never sits in memory. Closing the iterator early (an exception in the loop,
    Ctrl-C) starts nothing new; calls already running finish in the background.
    """
    if size < 1:
        raise ValueError(f"the window must hold at least one item, got {size}.")
    source = iter(items)
    done: queue.SimpleQueue[tuple[T, Any, BaseException | None]] = queue.SimpleQueue()
    stop = threading.Event()
    lock = threading.Lock()

    def next_item() -> tuple[bool, Any]:
        with lock:  # one generator, several threads
            if stop.is_set():
                return False, None
            try:
                return True, next(source)
            except StopIteration:
                return False, None

    def worker() -> None:
        while True:
            ok, item = next_item()
            if not ok:
                return
            try:
                done.put((item, fn(item), None))
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                done.put((item, None, exc))

    threads = [threading.Thread(target=worker, name=f"{name}-{i}", daemon=True) for i in range(size)]
    for t in threads:
        t.start()
    try:
        while True:
            try:
                yield done.get(timeout=0.1)
            except queue.Empty:
                if not any(t.is_alive() for t in threads) and done.empty():
                    return
    finally:
        stop.set()
