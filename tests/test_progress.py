"""The package's one progress bar: one line per bar once a notebook is saved."""

from __future__ import annotations

import re

import pytest

from clipdistill import progress


class _Handle:
    """Stands in for an IPython display handle: records what the bar shows."""

    def __init__(self, data):
        self.shown = [data["text/plain"]]

    def update(self, data, raw=False):
        self.shown.append(data["text/plain"])


@pytest.fixture
def handles(monkeypatch):
    made = []

    def display(data, raw=False, display_id=False):
        made.append(_Handle(data))
        return made[-1]

    import IPython.display

    monkeypatch.setattr(IPython.display, "display", display)
    monkeypatch.setattr(progress, "in_kernel", lambda: True)
    return made


def test_progress_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("CLIPDISTILL_PROGRESS", "off")
    bar = progress.progress_bar(10, "x")
    assert bar.disable
    bar.close()


def test_a_kernel_bar_is_one_display_that_ends_on_its_final_line(handles):
    with progress.progress_bar(10, "embedding", unit="img") as bar:
        for _ in range(10):
            bar.update(1)
    assert len(handles) == 1  # one output, updated in place: one line in the saved notebook
    final = handles[0].shown[-1]
    assert "embedding" in final and "10/10" in final and "\n" not in final


def test_the_saved_line_drops_the_postfix_and_keeps_a_whole_bar(handles):
    """The sweep's postfix names each run; on the final, saved line it once squeezed the
    bar to one character and was cut mid-word."""
    with progress.progress_bar(16, "distillation sweep", unit="run") as bar:
        for i in range(16):
            bar.set_postfix_str(f"generic cat_dog_10k +48 mobilenet_v3_small epoch 2/2 "
                                f"val_cos 0.{i:03d}")
            bar.update(1)
    shown = handles[0].shown
    assert any("generic cat_dog_10k" in line for line in shown)  # live: the step shows
    final = shown[-1]
    assert "16/16" in final and "run" in final and "mobilenet" not in final
    assert re.search(r"\|#{10,}\|", final) and len(final) <= 80  # a whole bar, in 80 columns


def test_an_inner_bar_clears_itself(handles):
    outer = progress.progress_bar(2, "sweep")
    for _ in range(2):
        with progress.progress_bar(3, "epochs", leave=False) as inner:
            inner.update(3)
        outer.update(1)
    outer.close()
    assert [h.shown[-1] for h in handles[1:]] == ["", ""]
    assert "2/2" in handles[0].shown[-1]


def test_bars_inside_nested_are_steps_of_the_outer_one(handles):
    """The sweep's teachers embed and describe inside ``nested()``: their bars clear."""
    outer = progress.progress_bar(1, "distillation sweep")
    with progress.nested():
        with progress.progress_bar(4, "teacher: CLIP image embeddings") as inner:
            inner.update(4)
    outer.update(1)
    outer.close()
    with progress.progress_bar(1, "after") as later:  # outside again: kept
        later.update(1)
    assert handles[1].shown[-1] == "" and "1/1" in handles[0].shown[-1]
    assert "after" in handles[2].shown[-1]


KILLED = """
import sys
from clipdistill.progress import progress_bar
other = progress_bar(10, "resizing", enabled=False)
other.update(10)  # another bar: not the one named
bar = progress_bar(10, "embedding images", enabled=False)
for step in range(10):
    print(step, flush=True)
    bar.update(2)
print("finished", flush=True)
"""


@pytest.mark.parametrize("spec, printed, killed", [
    ("embedding images:6", "0\n1\n2\n", True),  # the 3rd update reaches 6 steps: dead
    ("embedding:100", "".join(f"{i}\n" for i in range(10)) + "finished\n", False),
    ("", "".join(f"{i}\n" for i in range(10)) + "finished\n", False),
])
def test_a_run_can_be_killed_at_a_chosen_step_of_a_named_bar(spec, printed, killed):
    """What the resumption tests use (test_reruns.py): SIGKILL, no cleanup, at a step."""
    import os
    import signal
    import subprocess
    import sys

    env = {**os.environ, "CLIPDISTILL_KILL_AFTER": spec}
    out = subprocess.run([sys.executable, "-c", KILLED], env=env, capture_output=True, text=True)
    assert out.stdout == printed
    assert out.returncode == (-signal.SIGKILL if killed else 0), out.stderr[-500:]
