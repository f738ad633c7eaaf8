"""Identical reruns: the same profile, data and weights give the same numbers, killed or not.

The first run is the session's smoke book (tests/conftest.py), uninterrupted. The second
runs in a fresh folder and is killed outright (SIGKILL, as an out-of-memory kill would) in
the middle of chapters 02, 03 and 05, each time at a step chosen through
``CLIPDISTILL_KILL_AFTER`` (clipdistill.progress), not at a moment a timer picks: after
the first batch of embeddings, the first batch of descriptions, the first training epoch.
Each killed chapter is then run again and resumes from what its caches and checkpoints
kept. Every number in every results file must come out identical to the first run's.
What may differ is named: times and speeds (also where a sentence quotes them), dates,
memory, and the folder paths.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import pytest
from conftest import copy_project

from clipdistill.runner import ChapterFailed, find_chapters, run_chapters

pytestmark = pytest.mark.slow

# Where each chapter is killed: "<progress bar>:<steps done>" (smoke sizes: 16 images a
# batch for embeddings, 4 a batch for descriptions, 2 epochs a student).
KILLS = {"02": "embedding images:16", "03": "describing:4", "05": "distil:1"}

# Measured, not computed: wall-clock times and speeds, dates, memory, the machine.
NOT_NUMBERS_OF_THE_METHOD = re.compile(
    r"(^|_)(seconds|time|date|started)($|_)|_s$|throughput|speed|latency|_ms$|memory|peak|rss|"
    r"hardware|versions|images/s|img/s", re.IGNORECASE)


# ... and the same measurements quoted in a sentence ("26x the speed of the CLIP tower").
MEASURED_IN_TEXT = re.compile(r"\d[\d.,]*\s*(x the speed|x faster|images?/s|img/s|texts?/s|"
                              r"ms\b|s\b|seconds\b)")


def _leaves(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    if isinstance(value, dict):
        if any(isinstance(value.get(k), str) and NOT_NUMBERS_OF_THE_METHOD.search(value[k])
               for k in ("metric", "unit")):
            return  # a row of measured speeds (chapter 06's comparison: metric "images/s")
        for key, item in value.items():
            yield from _leaves(item, (*path, str(key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, (*path, i))
    else:
        yield path, value


def _numbers(results: Path) -> dict[str, dict[tuple, Any]]:
    """Every value of every results file and table, folder paths made relative, measured
    times and speeds left out (by the name of the key or column holding them)."""
    root = str(results.parents[1])
    out = {}
    for path in sorted(results.glob("*.json")):
        if path.name in ("run.json", "chapters.json"):  # the runner's own logs of times
            continue
        data = json.loads(path.read_text())
        out[path.name] = {
            k: (MEASURED_IN_TEXT.sub("<measured>", v.replace(root, "<root>"))
                if isinstance(v, str) else v)
            for k, v in _leaves(data)
            if not any(isinstance(p, str) and NOT_NUMBERS_OF_THE_METHOD.search(p) for p in k)
        }
    for path in sorted(results.glob("*.csv")):
        table = pd.read_csv(path)
        keep = [c for c in table.columns if not NOT_NUMBERS_OF_THE_METHOD.search(str(c))]
        out[path.name] = {(i, c): table[c].iloc[i] for c in keep for i in range(len(table))}
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def test_a_second_run_killed_and_resumed_mid_chapter_gives_every_number_again(
        smoke_book, tmp_path, monkeypatch):
    first = json.loads((smoke_book / "results" / "smoke" / "run.json").read_text())
    root = copy_project(tmp_path / "second")
    results = root / "results" / "smoke"
    for notebook in find_chapters(root / "notebooks"):
        number = notebook.stem[:2]
        if number in KILLS:
            monkeypatch.setenv("CLIPDISTILL_KILL_AFTER", KILLS[number])
            with pytest.raises(ChapterFailed) as killed:
                run_chapters("smoke", root=root, overrides=first["overrides"], only=[number])
            monkeypatch.delenv("CLIPDISTILL_KILL_AFTER")
            assert "died" in str(killed.value).lower() or "dead" in str(killed.value).lower(), killed.value
            assert not (results / f"{notebook.stem}.json").exists()  # killed before its end
        run_chapters("smoke", root=root, overrides=first["overrides"], only=[number])

    ours, theirs = _numbers(smoke_book / "results" / "smoke"), _numbers(results)
    assert sorted(ours) == sorted(theirs)
    differ = [f"{name} {'/'.join(map(str, key))}: {ours[name].get(key)!r} != {theirs[name].get(key)!r}"
              for name in ours for key in sorted(set(ours[name]) | set(theirs[name]), key=str)
              if not _same(ours[name].get(key), theirs[name].get(key))]
    assert not differ, f"{len(differ)} values differ:\n" + "\n".join(differ[:40])
    assert any(isinstance(v, float) for values in ours.values() for v in values.values())
